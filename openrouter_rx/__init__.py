"""openrouter_rx: OpenRouter's streaming chat completions as cold RxPY observables.

::

    import openrouter_rx as orx
    from reactivex import operators as ops

    client = orx.Client()                      # key from OPENROUTER_API_KEY
    client.stream([{"role": "user", "content": "Hi"}], model="openai/gpt-4o-mini").pipe(
        ops.map(lambda chunk: chunk.content),
    ).subscribe(lambda text: print(text, end="", flush=True))
"""

import logging as _logging

from . import aio, blocking, errors, json_schema, operators
from ._accumulator import ResponseAccumulator, ToolCallTracker
from ._version import __version__
from .chunk import Chunk, ChunkChoice, Delta, ToolCallDelta, Usage
from .chunk_stream import ChunkStream
from .client import DEFAULT_BASE_URL, DEFAULT_MODEL, Client, Timeout
from .config import Settings, configure, settings
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    CallbackError,
    ConnectTimeout,
    IdleTimeout,
    InsecureTransportError,
    InsufficientCreditsError,
    InvalidHeaderError,
    MaxTurnsError,
    ModerationError,
    NotFoundError,
    OpenRouterError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    SchemaConversionError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
    StructuredOutputError,
    ToolArgumentsError,
    TotalTimeout,
    TruncatedStreamError,
    UnknownToolError,
    UnprocessableEntityError,
)
from .healer import Healer
from .json_schema import load_data, schema_name, to_json_schema
from .metrics import StreamMetrics
from .model_catalog import ModelCatalog
from .models import VARIABLE_PRICE, Model, Pricing
from .options import CompletionOptions, StreamStart
from .response import Response, ResponseChoice, ToolCall
from .streaming_client import StreamingClient
from .structured import HealAttempt, JSONFormat, ResponseFormat
from .tool_loop import (
    LoopFinished,
    ToolCallRequested,
    ToolCallResult,
    ToolLoopEvent,
    TurnChunk,
    TurnFinished,
    TurnStarted,
    tool_loop,
)
from .tools import Tool, tool
from .usage import UNKNOWN_MODEL, UsageTotals, UsageTracker

# A library logs, the application decides where logs go (no "No handlers" fallback to stderr).
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "__version__",
    "errors",
    "operators",
    "aio",
    "blocking",
    "StreamingClient",
    "CompletionOptions",
    "StreamStart",
    "Settings",
    "configure",
    "settings",
    "ChunkStream",
    "Client",
    "Timeout",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "Chunk",
    "ChunkChoice",
    "Delta",
    "ToolCallDelta",
    "Usage",
    "Response",
    "ResponseChoice",
    "ToolCall",
    "StreamMetrics",
    "Tool",
    "tool",
    "tool_loop",
    "ToolLoopEvent",
    "TurnStarted",
    "TurnChunk",
    "TurnFinished",
    "ToolCallRequested",
    "ToolCallResult",
    "LoopFinished",
    "ResponseFormat",
    "JSONFormat",
    "HealAttempt",
    "Healer",
    "Model",
    "Pricing",
    "ModelCatalog",
    "VARIABLE_PRICE",
    "to_json_schema",
    "load_data",
    "schema_name",
    "json_schema",
    "UsageTracker",
    "UsageTotals",
    "UNKNOWN_MODEL",
    "ResponseAccumulator",
    "ToolCallTracker",
    "OpenRouterError",
    "APIStatusError",
    "BadRequestError",
    "CallbackError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionDeniedError",
    "ModerationError",
    "NotFoundError",
    "RequestTimeoutError",
    "PayloadTooLargeError",
    "UnprocessableEntityError",
    "RateLimitError",
    "ServerError",
    "BadGatewayError",
    "ServiceUnavailableError",
    "StreamError",
    "TruncatedStreamError",
    "ProtocolError",
    "APIConnectionError",
    "APITimeoutError",
    "ConnectTimeout",
    "IdleTimeout",
    "TotalTimeout",
    "ToolArgumentsError",
    "UnknownToolError",
    "MaxTurnsError",
    "StructuredOutputError",
    "SchemaConversionError",
    "InsecureTransportError",
    "InvalidHeaderError",
]
