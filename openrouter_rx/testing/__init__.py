"""Test helpers for code built on ``openrouter_rx``: a fake OpenRouter server and wire builders.

:class:`FakeOpenRouter` is a real HTTP server on the loopback interface. Script its replies with
:meth:`FakeOpenRouter.enqueue` (:class:`StreamReply`, :class:`ErrorReply`, :class:`CompletionReply`,
:class:`RawReply`, :class:`JSONReply`, :class:`SSEFileReply`, :class:`CassetteReply`,
:class:`RecordedFolderReply`) and build the chunks with :class:`ChunkFactory`, :func:`text_chunks`,
:func:`tool_call_chunks`, :func:`completion_body` and friends. With pytest, the
``fake_openrouter`` fixture gives a started server.

For operators, :func:`run_marbles` runs a pipeline over a marble string in virtual time, with
:func:`chunk_lookup` / :func:`chunk_marbles` naming the chunks.
"""

from ._bodies import completion_body, models_body
from ._builders import (
    ChunkFactory,
    Event,
    KeepAlive,
    Pause,
    Pieces,
    encode_event,
    new_call_id,
    new_generation_id,
    split_pieces,
    sse_bytes,
    text_chunks,
    tool_call_chunks,
    usage_dict,
)
from ._cassette import CassetteReply, RecordedFolderReply, RecordedInteraction, load_cassette
from ._demo import demo_client
from ._marbles import MarbleRun, chunk_lookup, chunk_marbles, run_marbles, to_chunk
from ._replies import (
    CompletionReply,
    ErrorReply,
    JSONReply,
    RawReply,
    Reply,
    SSEFileReply,
    StreamReply,
    split_sse_events,
)
from ._server import FakeOpenRouter, Responder
from ._wire import RecordedRequest, ResponseWriter

__all__ = [
    "CassetteReply",
    "ChunkFactory",
    "CompletionReply",
    "ErrorReply",
    "Event",
    "FakeOpenRouter",
    "JSONReply",
    "MarbleRun",
    "KeepAlive",
    "Pause",
    "Pieces",
    "RawReply",
    "RecordedFolderReply",
    "RecordedInteraction",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ResponseWriter",
    "SSEFileReply",
    "StreamReply",
    "chunk_lookup",
    "chunk_marbles",
    "completion_body",
    "demo_client",
    "encode_event",
    "load_cassette",
    "models_body",
    "new_call_id",
    "run_marbles",
    "new_generation_id",
    "split_pieces",
    "split_sse_events",
    "sse_bytes",
    "text_chunks",
    "to_chunk",
    "tool_call_chunks",
    "usage_dict",
]
