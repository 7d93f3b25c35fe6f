"""What one request needs: its time limits, the API key (never shown) and the request spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidHeaderError

__all__ = ["RequestSpec", "Secret", "Timeout", "check_header"]


@dataclass(frozen=True, slots=True)
class Timeout:
    """Time limits of one request, in seconds (``None`` disables one).

    Attributes:
        connect: to establish the TCP/TLS connection (:class:`ConnectTimeout`).
        idle: the longest wait for the response headers and then between two
            data events; keep-alive comments do NOT reset it (:class:`IdleTimeout`).
            For ``complete()`` any byte counts, since OpenRouter keeps a
            non-streaming request alive with whitespace.
        total: the whole request, from subscribe to the last byte (:class:`TotalTimeout`).
    """

    connect: float | None = 10.0
    idle: float | None = 120.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "idle", "total"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"Timeout.{name} must be a positive number of seconds or None, not {value!r}")


def _key_problem(key: str) -> str | None:
    """Why ``key`` cannot go in an ``Authorization`` header, without quoting any of it."""
    if key != key.strip():
        return "the API key has leading or trailing whitespace (a newline read from a file?): strip it"
    for char in key:
        code = ord(char)
        if code < 0x21 or code == 0x7F:
            return "the API key contains whitespace or a control character"
        if code > 0x7E:
            return "the API key contains a non-ASCII character (a pasted ellipsis or smart quote?): copy it again"
    return None


class Secret:
    """Holds the API key; its repr and str never show it.

    Attributes:
        problem: why the key cannot be sent as it is (``None`` when it can).
    """

    __slots__ = ("_value", "problem")

    def __init__(self, value: str) -> None:
        self._value = value
        self.problem = _key_problem(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickle the key by accident
        raise TypeError("the API key cannot be pickled")


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """Everything one exchange needs; built once per ``stream()``/``complete()`` call.

    The ``Authorization`` header is not in ``headers``: it is made from ``auth``
    when the request is sent, so no repr of the spec can show the key.

    ``method`` and ``decode`` serve the other endpoints (``GET /models``): a non-streaming
    reply body goes to ``decode(body, limit)`` (at most ``limit + 1`` bytes are read), whose
    result is the one value emitted; without ``decode`` it is a chat completion's
    :class:`~openrouter_rx.Response`.
    """

    url: str
    body: bytes
    headers: Mapping[str, str] = field(repr=False)
    timeout: Timeout
    max_event_bytes: int
    validate_chunks: bool
    streaming: bool
    model: str | None
    auth: Secret | None = None
    method: str = "POST"
    decode: Callable[[bytes, int], Any] | None = field(default=None, repr=False, compare=False)
    context: Any = field(default=None, repr=False, compare=False)
    """The request's ``RequestContext``, stamped on every chunk read (streaming only)."""


def check_header(name: str, value: object) -> None:
    """Refuse a header HTTP cannot carry, naming it but never quoting its value.

    ``None`` is accepted (requests drops the header); ``str`` and ``bytes`` are checked for
    surrounding whitespace, control characters and (for ``str``) characters outside latin-1.
    """
    if value is None:
        return
    if isinstance(value, bytes):
        text = value.decode("latin-1")
    elif isinstance(value, str):
        text = value
    else:
        raise InvalidHeaderError(f"the {name} header cannot be sent: its value must be str or bytes")
    problem = None
    if text != text.strip():
        problem = "surrounding whitespace (a newline read from a file?)"
    elif any(ord(c) < 32 or ord(c) == 127 for c in text):
        problem = "a control character"
    else:
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            problem = "a character outside latin-1 (a pasted ellipsis or smart quote?)"
    if problem is not None:
        raise InvalidHeaderError(f"the {name} header cannot be sent: its value has {problem}")
