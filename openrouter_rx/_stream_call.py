"""The state of one ``StreamingClient.stream_complete`` call: the accumulator (or only a count),
its timing, and the partial response a failure carries."""

from __future__ import annotations

import time

from ._accumulator import ResponseAccumulator
from .chunk import Chunk
from .chunk_stream import RequestContext
from .errors import CallbackError
from .response import Response

__all__ = ["StreamCall", "has_tool_calls"]


def has_tool_calls(chunk: Chunk) -> bool:
    """Whether any choice of ``chunk`` carries tool-call deltas."""
    return any(choice.delta.tool_calls for choice in chunk.choices)


class StreamCall:
    """One ``stream_complete`` call: the chunks folded into a Response (``accumulate=False``: only
    counted), timed from :attr:`started` like the ``accumulate`` operator, and finished with the
    request's context (``known``, else the first chunk's) so ``structured_output`` and
    ``cost_estimate`` work."""

    __slots__ = ("acc", "count", "final", "first_output", "known", "started", "told")

    def __init__(self, accumulate: bool, known: RequestContext | None) -> None:
        self.acc = ResponseAccumulator() if accumulate else None
        self.count = 0
        self.known = known
        self.told: RequestContext | None = None
        self.started = time.monotonic()
        self.first_output: float | None = None
        self.final: Response | None = None

    def add(self, chunk: Chunk) -> None:
        """Count ``chunk`` and, when accumulating, fold it in."""
        self.count += 1
        if self.acc is None:
            return
        if self.told is None:
            self.told = chunk.context
        if self.first_output is None and chunk.has_output:
            self.first_output = time.monotonic() - self.started
        self.acc.add(chunk)

    def response(self) -> Response | None:
        """The response so far (``None`` when not accumulating), with the request's format and pricing."""
        if self.final is not None:
            return self.final
        if self.acc is None:
            return None
        context = self.told if self.told is not None else self.known
        response = self.acc.response(
            response_time=time.monotonic() - self.started,
            time_to_first_token=self.first_output,
            response_format=context.response_format if context is not None else None,
        )
        return context.finish_response(response) if context is not None else response

    def partial(self) -> Response | None:
        """What a failure carries: the final response once built, else the response so far
        (``None`` before the first chunk, or when not accumulating)."""
        if self.final is None and not self.count:
            return None
        return self.response()

    def wrap(self, event: str, raised: Exception) -> CallbackError:
        """The :class:`CallbackError` for a callback of ``event`` that raised ``raised``."""
        return CallbackError(
            f"{event} callback raised {type(raised).__name__}: {raised}",
            event=event,
            partial=self.partial(),
            chunk_count=self.count,
        )
