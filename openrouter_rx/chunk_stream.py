"""``ChunkStream``: the cold observable ``Client.stream`` returns, which also knows its request.

It is an ordinary ``Observable[Chunk]``; in addition :meth:`ChunkStream.non_streaming` gives the
same request sent without streaming, which ``fallback_to_non_streaming`` uses so the user never
repeats the request's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc

from .chunk import Chunk
from .response import Response

__all__ = ["ChunkStream", "same_request"]


Subscribe = Callable[[abc.ObserverBase[Chunk], abc.SchedulerBase | None], abc.DisposableBase]


class ChunkStream(Observable[Chunk]):
    """A cold ``Observable[Chunk]`` of one streamed request that can also make the request unstreamed.

    Operators that pass chunks through unchanged (``retry_with_backoff``, ``idle_timeout``,
    ``track_usage``) keep this type, so ``fallback_to_non_streaming`` still works after them.
    """

    def __init__(
        self,
        subscribe: Subscribe,
        non_streaming: Callable[[], Observable[Response]],
        finish: Callable[[Response], Response] | None = None,
        response_format: Any = None,
    ) -> None:
        super().__init__(subscribe)
        self._non_streaming = non_streaming
        self._finish = finish
        self.response_format = response_format
        """The request's ``response_format`` as a format object (``None`` when it had none):
        ``structured_output()`` without arguments uses it."""

    @classmethod
    def of(
        cls,
        chunks: Observable[Chunk],
        non_streaming: Callable[[], Observable[Response]],
        finish: Callable[[Response], Response] | None = None,
    ) -> ChunkStream:
        """Wrap an observable of chunks together with the way to make its request unstreamed
        (and, optionally, how to complete a Response built from it: see :meth:`finish_response`)."""

        def subscribe(
            observer: abc.ObserverBase[Chunk], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            return chunks.subscribe(observer, scheduler=scheduler)

        return cls(subscribe, non_streaming, finish)

    def non_streaming(self) -> Observable[Response]:
        """A cold observable of the same request sent with ``stream: false`` (one Response)."""
        return self._non_streaming()

    def finish_response(self, response: Response) -> Response:
        """``response`` (built from this stream's chunks) with what the request knows added:
        its ``response_format`` (so ``response.structured_output`` works) and the model's
        pricing when the client has it cached (so ``cost_estimate`` works without usage.cost).
        ``accumulate``/``snapshots`` call this; it never does I/O."""
        return self._finish(response) if self._finish is not None else response


def same_request(source: Observable[Any], subscribe: Subscribe) -> Observable[Chunk]:
    """An observable made of ``subscribe``: a :class:`ChunkStream` of the same request as
    ``source`` when ``source`` is one (so pass-through operators keep the fallback working),
    else a plain ``Observable``. No extra forwarding layer either way."""
    if isinstance(source, ChunkStream):
        return ChunkStream(subscribe, source.non_streaming, source._finish, source.response_format)
    return Observable(subscribe)
