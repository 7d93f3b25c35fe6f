"""SSE framing: bytes from the socket in, event data strings out.

sseclient-py does the framing. It is fed with ``read1`` pieces (whatever bytes
have arrived, at most 64 KiB) so every event is handed over as soon as its bytes
arrive; ``SSEClient(response)`` would read 128-byte pieces and
``iter_content(None)`` reads to EOF on unchunked responses, both delaying events.

Two things sseclient-py hides are recovered here: whether the final event was
cut off by EOF (it dispatches a trailing event without its blank line) and an
event growing without bound (it buffers until the blank line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sseclient import SSEClient

from .errors import ProtocolError

__all__ = ["ByteSource", "iter_event_data", "READ_SIZE"]

READ_SIZE = 65536
_SEPARATORS = (b"\n\n", b"\r\r", b"\r\n\r\n")


def _end_of_last(window: bytes, separator: bytes) -> int:
    """Index just past the last ``separator`` in ``window``, or -1."""
    at = window.rfind(separator)
    return at + len(separator) if at >= 0 else -1


class ByteSource:
    """Iterates over the pieces ``read1`` returns and watches them on the way.

    Attributes:
        eof: set once the underlying stream returned ``b""``.
        total: bytes read so far.
        on_bytes: called with no argument after each non-empty read (progress).
    """

    __slots__ = ("_carry", "_limit", "_pending", "_read1", "eof", "on_bytes", "total")

    def __init__(self, read1: Callable[[int], bytes], max_event_bytes: int, on_bytes: Callable[[], None] | None = None):
        self._read1 = read1
        self._limit = max_event_bytes
        self._pending = 0  # bytes since the last event separator
        self._carry = b""
        self.eof = False
        self.total = 0
        self.on_bytes = on_bytes

    def __iter__(self) -> ByteSource:
        return self

    def __next__(self) -> bytes:
        piece = self._read1(READ_SIZE)
        if not piece:
            self.eof = True
            raise StopIteration
        self.total += len(piece)
        if self.on_bytes is not None:
            self.on_bytes()
        window = self._carry + piece
        end = max(_end_of_last(window, sep) for sep in _SEPARATORS)
        if end >= 0:
            self._pending = len(window) - end
        else:
            self._pending += len(piece)
        if self._pending > self._limit:
            raise ProtocolError(
                f"an SSE event exceeded the {self._limit}-byte limit (max_event_bytes)",
                data=piece[:200].decode("utf-8", "replace"),
            )
        self._carry = window[-3:]
        return piece

    def close(self) -> None:
        """sseclient-py's ``close()`` hook; the transport closes the response itself."""


def iter_event_data(source: ByteSource) -> Iterator[tuple[str, bool]]:
    """Yield ``(data, cut_off)`` for each event with data, in arrival order.

    ``cut_off`` is True for a final event that EOF ended before its blank line.
    Comment lines (``: OPENROUTER PROCESSING`` keep-alives) and empty ``data:``
    events yield nothing.
    """
    for event in SSEClient(source).events():
        if event.data:  # an empty ``data:`` line carries nothing
            yield event.data, source.eof
