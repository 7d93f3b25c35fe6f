"""``ChunkStream``: the cold observable ``Client.stream`` returns, which also knows its request.

It is an ordinary ``Observable[Chunk]``; in addition :meth:`ChunkStream.non_streaming` gives the
same request sent without streaming, which ``fallback_to_non_streaming`` uses so the user never
repeats the request's arguments.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivex import Observable, abc

from .chunk import Chunk
from .response import Response

__all__ = ["ChunkStream", "RequestContext", "context_of", "same_request"]


Subscribe = Callable[[abc.ObserverBase[Chunk], abc.SchedulerBase | None], abc.DisposableBase]


@dataclass(frozen=True)
class RequestContext:
    """What one request knows about the Responses built from its chunks: its
    ``response_format`` (a format object, or ``None``) and how to complete a Response (attach
    that format and the model's cached pricing). Carried by the request's :class:`ChunkStream`
    and by each of its chunks (:attr:`Chunk.context <openrouter_rx.Chunk.context>`). Never does I/O."""

    response_format: Any = None
    finish: Callable[[Response], Response] | None = None

    def finish_response(self, response: Response) -> Response:
        """``response`` with what the request knows added."""
        return self.finish(response) if self.finish is not None else response

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled without ``finish`` (it refers to the client, which cannot travel): a copy keeps
        the format when it pickles (a schema class defined at module level), and Responses made
        from its chunks get no cached pricing. Pickling a chunk never fails because of its context."""
        try:
            pickle.dumps(self.response_format)
        except Exception:  # e.g. a schema class defined inside a function
            return (RequestContext, ())
        return (RequestContext, (self.response_format,))

    def __copy__(self) -> RequestContext:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> RequestContext:
        return self  # immutable: a deep copy of a chunk shares its request, not a copy of the client

    def stamp(self, chunk: Chunk) -> Chunk:
        """``chunk``, marked as this request's (set once, when the chunk is made)."""
        object.__setattr__(chunk, "context", self)  # frozen: the field is filled in place, before anyone sees it
        return chunk


class ChunkStream(Observable[Chunk]):
    """A cold ``Observable[Chunk]`` of one streamed request that can also make the request unstreamed.

    Operators that pass chunks through unchanged (``retry_with_backoff``, ``idle_timeout``,
    ``track_usage``, ``fallback_to_non_streaming``) keep this type, so the fallback still works
    after them; the request's :class:`RequestContext` travels both here and on every chunk.
    """

    def __init__(
        self,
        subscribe: Subscribe,
        non_streaming: Callable[[], Observable[Response]],
        context: RequestContext | None = None,
    ) -> None:
        super().__init__(subscribe)
        self._non_streaming = non_streaming
        self.context = context

    @classmethod
    def of(
        cls,
        chunks: Observable[Chunk],
        non_streaming: Callable[[], Observable[Response]],
        context: RequestContext | None = None,
    ) -> ChunkStream:
        """Wrap an observable of chunks together with the way to make its request unstreamed
        (and, optionally, its :class:`RequestContext`)."""

        def subscribe(
            observer: abc.ObserverBase[Chunk], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            return chunks.subscribe(observer, scheduler=scheduler)

        return cls(subscribe, non_streaming, context)

    @property
    def response_format(self) -> Any:
        """The request's ``response_format`` as a format object (``None`` when it had none):
        ``structured_output()`` without arguments uses it."""
        return self.context.response_format if self.context is not None else None

    def non_streaming(self) -> Observable[Response]:
        """A cold observable of the same request sent with ``stream: false`` (one Response)."""
        return self._non_streaming()

    def finish_response(self, response: Response) -> Response:
        """``response`` (built from this stream's chunks) with what the request knows added:
        its ``response_format`` (so ``response.structured_output`` works) and the model's
        pricing when the client has it cached (so ``cost_estimate`` works without usage.cost)."""
        return self.context.finish_response(response) if self.context is not None else response


def context_of(source: Observable[Any]) -> RequestContext | None:
    """The request context ``source`` is known to have at pipe time (``None``: look at the chunks)."""
    return source.context if isinstance(source, ChunkStream) else None


def same_request(source: Observable[Any], subscribe: Subscribe) -> Observable[Chunk]:
    """An observable made of ``subscribe``: a :class:`ChunkStream` of the same request as
    ``source`` when ``source`` is one (so pass-through operators keep the fallback working),
    else a plain ``Observable``. No extra forwarding layer either way."""
    if isinstance(source, ChunkStream):
        return ChunkStream(subscribe, source.non_streaming, source.context)
    return Observable(subscribe)
