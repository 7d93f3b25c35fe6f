"""SSE framing: bytes from the socket in, event data strings out.

sseclient-py does the framing. It is fed with ``read1`` pieces (whatever bytes
have arrived, at most 64 KiB) so every event is handed over as soon as its bytes
arrive; ``SSEClient(response)`` would read 128-byte pieces and
``iter_content(None)`` reads to EOF on unchunked responses, both delaying events.

The byte source prepares the pieces for it: a UTF-8 byte order mark at the very
start is dropped (sseclient-py would read it as part of the first field name and
lose the first event), and every line ending (CRLF, lone CR) becomes LF, because
sseclient-py ends an event only on ``\\n\\n``, ``\\r\\r`` or ``\\r\\n\\r\\n`` and so
misses an LF line followed by a CRLF blank line. A CR that ends one read and an LF
that starts the next are one line ending.

Three things sseclient-py hides are recovered here: whether the final event was
cut off by EOF (it dispatches a trailing event without its blank line), an event
growing without bound (it buffers until the blank line), and bytes that are not
UTF-8 (it raises ``UnicodeDecodeError``): both of the last become ProtocolError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NoReturn

from sseclient import SSEClient

from .errors import ProtocolError

__all__ = ["ByteSource", "iter_event_data", "READ_SIZE"]

READ_SIZE = 65536
_BOM = b"\xef\xbb\xbf"


class ByteSource:
    """Iterates over the pieces ``read1`` returns, normalised, and watches them on the way.

    Attributes:
        eof: set once the underlying stream returned ``b""``.
        total: bytes read so far (as received).
        on_bytes: called with no argument after each non-empty read (progress).
    """

    __slots__ = ("_after_cr", "_head", "_last_lf", "_limit", "_pending", "_read1", "eof", "on_bytes", "total")

    def __init__(self, read1: Callable[[int], bytes], max_event_bytes: int, on_bytes: Callable[[], None] | None = None):
        self._read1 = read1
        self._limit = max_event_bytes
        self._pending = 0  # bytes since the last event separator
        self._head: bytes | None = b""  # the first bytes while a BOM is still possible; None once decided
        self._after_cr = False  # the previous piece ended with CR: an LF starting this one is the same line end
        self._last_lf = False  # the previous (normalised) piece ended with LF
        self.eof = False
        self.total = 0
        self.on_bytes = on_bytes

    def __iter__(self) -> ByteSource:
        return self

    def __next__(self) -> bytes:
        piece = b""
        while not piece:
            raw = self._read1(READ_SIZE)
            if not raw:
                self.eof = True
                raise StopIteration
            self.total += len(raw)
            if self.on_bytes is not None:
                self.on_bytes()
            piece = self._normalise(raw)
        spans = self._last_lf and piece[0] == 0x0A  # the blank line spans two pieces
        if self._pending + len(piece) > self._limit:  # rare: only then can an event in it be too big
            self._check_events(piece, 1 if spans else 0, 0 if spans else self._pending)
        at = piece.rfind(b"\n\n")
        if at >= 0:
            self._pending = len(piece) - at - 2
        elif spans:
            self._pending = len(piece) - 1
        else:
            self._pending += len(piece)
        self._last_lf = piece[-1] == 0x0A
        if self._pending > self._limit:
            self._refuse(piece)
        return piece

    def _check_events(self, piece: bytes, pos: int, before: int) -> None:
        """Refuse ``piece`` if an event that ends inside it (``before`` bytes of the first one came
        in earlier pieces) is over the limit; the unfinished tail is checked by the caller."""
        while (end := piece.find(b"\n\n", pos)) >= 0:
            if before + end + 1 - pos > self._limit:  # its lines with their line ends, not the blank line
                self._refuse(piece[pos:])
            before, pos = 0, end + 2

    def _refuse(self, piece: bytes) -> NoReturn:
        raise ProtocolError(
            f"an SSE event exceeded the {self._limit}-byte limit (max_event_bytes)",
            data=piece[:200].decode("utf-8", "replace"),
        )

    def _normalise(self, piece: bytes) -> bytes:
        if self._head is not None:  # a BOM may only come first, possibly split over reads
            piece = self._head + piece
            if len(piece) < len(_BOM) and _BOM.startswith(piece):
                self._head = piece
                return b""
            self._head = None
            if piece.startswith(_BOM):
                piece = piece[len(_BOM) :]
                if not piece:
                    return b""
        if self._after_cr and piece[0] == 0x0A:
            piece = piece[1:]
            if not piece:
                self._after_cr = False
                return b""
        self._after_cr = piece[-1] == 0x0D
        if b"\r" in piece:
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return piece

    def close(self) -> None:
        """sseclient-py's ``close()`` hook; the transport closes the response itself."""


def iter_event_data(source: ByteSource) -> Iterator[tuple[str, bool]]:
    """Yield ``(data, cut_off)`` for each event with data, in arrival order.

    ``cut_off`` is True for a final event that EOF ended before its blank line.
    Comment lines (``: OPENROUTER PROCESSING`` keep-alives) and empty ``data:``
    events yield nothing.

    Raises:
        ProtocolError: an event is over the size limit or is not valid UTF-8.
    """
    try:
        for event in SSEClient(source).events():
            if event.data:  # an empty ``data:`` line carries nothing
                yield event.data, source.eof
    except UnicodeDecodeError as exc:
        excerpt = bytes(exc.object[max(0, exc.start - 60) : exc.end + 60])
        raise ProtocolError("an SSE event is not valid UTF-8", data=excerpt.decode("utf-8", "replace")[:200]) from None
