"""Transport: one HTTP exchange per subscription, read on the caller's chosen thread.

An :class:`Exchange` sends the request, turns the reply into chunk events (or one
response) for an observer, and can be aborted at any moment from any thread:
``cancel()`` (dispose) and ``expire()`` (the watchdog's idle/total deadline) set a
flag and shut the socket down, which wakes a read blocked in ``recv()`` at once.
After an abort the reader swallows whatever exception the dead socket raises and
reports only what the flag says (nothing for a dispose, a timeout error for an
expiry).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from reactivex import abc

from . import schemas
from ._accumulator import ResponseAccumulator
from ._sse import ByteSource, iter_event_data
from ._status import status_error, stream_error
from ._watchdog import Watchdog
from .chunk import Chunk
from .errors import (
    APIConnectionError,
    ConnectTimeout,
    IdleTimeout,
    OpenRouterError,
    ProtocolError,
    TotalTimeout,
    TruncatedStreamError,
)
from .response import Response

__all__ = ["Exchange", "RequestSpec", "Timeout"]

log = logging.getLogger("openrouter_rx")

_ERROR_BODY_LIMIT = 64 * 1024
_DRAIN_SECONDS = 1.0
_DRAIN_LIMIT = 64 * 1024


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


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """Everything one exchange needs; built once per ``stream()``/``complete()`` call."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    timeout: Timeout
    max_event_bytes: int
    validate_chunks: bool
    streaming: bool
    model: str | None


class _Aborted(Exception):
    """Internal: the exchange was cancelled or expired while blocked."""


class _Downstream(Exception):
    """Internal: ``on_next`` raised (carries the original exception)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class Exchange:
    """One request/reply for one subscription (see module docstring)."""

    def __init__(self, session: requests.Session, spec: RequestSpec, watchdog: Watchdog) -> None:
        self._session = session
        self._spec = spec
        self._watchdog = watchdog
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self.cancelled = False
        self.expired: str | None = None
        self.finished = False
        self.started = time.monotonic()
        self.last_progress = self.started
        self._drain_until: float | None = None
        self._running = False

    # -- watchdog protocol -------------------------------------------------
    def deadline(self) -> float | None:
        """When the watchdog should expire this exchange (``None``: never/finished)."""
        if self.finished or self.cancelled or self.expired:
            return None
        if self._drain_until is not None:
            return self._drain_until
        timeout = self._spec.timeout
        deadlines = []
        if timeout.idle is not None:
            deadlines.append(self.last_progress + timeout.idle)
        if timeout.total is not None:
            deadlines.append(self.started + timeout.total)
        return min(deadlines) if deadlines else None

    def expire(self) -> None:
        """Abort because a deadline passed (runs on the watchdog thread)."""
        total = self._spec.timeout.total
        if self._drain_until is None:
            self.expired = "total" if total is not None and time.monotonic() >= self.started + total else "idle"
        self._abort()

    # -- disposal ----------------------------------------------------------
    def cancel(self) -> None:
        """Dispose: never blocks; safe from any thread, also re-entrantly from on_next."""
        if self.cancelled or self.finished:
            return
        self.cancelled = True
        self._abort()

    def _abort(self) -> None:
        with self._lock:
            response = self._response
        if response is None:
            return  # still connecting: the reader checks the flags once headers arrive
        try:
            response.raw.shutdown()
        except Exception:  # already released, or urllib3 without shutdown()
            pass
        try:
            response.close()
        except Exception:
            pass

    @property
    def aborted(self) -> bool:
        return self.cancelled or self.expired is not None

    # -- running -----------------------------------------------------------
    def close_by_client(self, observer: abc.ObserverBase[Any]) -> None:
        """The client is closing: end this exchange with an :class:`APIConnectionError`.

        A running exchange is aborted and its reader reports the error; one still
        waiting for a reader thread reports it here, since it will never run.
        """
        with self._lock:
            waiting = not self._running and not self.finished
            if waiting:
                self.finished = True
        if waiting:
            if not self.cancelled:
                observer.on_error(self._abort_error("closed"))
            return
        if not (self.finished or self.cancelled):
            self.expired = "closed"
            self._abort()

    def run(self, observer: abc.ObserverBase[Any]) -> None:
        """Send the request and deliver the reply to ``observer`` (blocking)."""
        with self._lock:
            if self.cancelled or self.finished:
                return
            self._running = True
        # Time spent waiting for a free reader thread does not count against the limits.
        self.started = self.last_progress = time.monotonic()
        self._watchdog.watch(self)
        acc = ResponseAccumulator()
        try:
            response = self._send()
            if self._spec.streaming:
                self._read_stream(response, observer, acc)
            else:
                self._read_completion(response, observer)
        except _Aborted:
            pass
        except _Downstream as wrapped:
            # A downstream on_next raised: close the connection and report the error there.
            if not self.cancelled:
                log.debug("stream ended by an exception raised downstream: %r", wrapped.error)
                self._abort()
                self._emit_error(observer, wrapped.error)
        except OpenRouterError as exc:
            self._fail(observer, exc, acc)
        except Exception as exc:  # anything else is reported, never lost
            if self.aborted and not self.cancelled:
                self._fail(observer, self._abort_error(), acc)
            elif not self.cancelled:
                log.debug("stream failed: %r", exc)
                self._abort()
                self._emit_error(observer, exc)
        finally:
            self.finished = True
            if log.isEnabledFor(logging.DEBUG):
                outcome = "cancelled" if self.cancelled else (self.expired or "done")
                log.debug(
                    "%s after %.3fs, %d chunks (%s)",
                    self._spec.url,
                    time.monotonic() - self.started,
                    acc.chunk_count,
                    outcome,
                )
            with self._lock:
                leftover, self._response = self._response, None
            if leftover is not None:
                leftover.close()

    def _fail(self, observer: abc.ObserverBase[Any], exc: OpenRouterError, acc: ResponseAccumulator) -> None:
        if self.cancelled:
            return
        if acc.chunk_count and exc.partial is None:
            exc.partial = acc.response()
            exc.chunk_count = acc.chunk_count
        self._emit_error(observer, exc)

    def _emit_error(self, observer: abc.ObserverBase[Any], exc: Exception) -> None:
        if not self.cancelled:
            observer.on_error(exc)

    def _abort_error(self, reason: str | None = None) -> OpenRouterError:
        timeout = self._spec.timeout
        reason = reason or self.expired
        if reason == "closed":
            return APIConnectionError("the Client was closed while this request was in flight")
        if reason == "total":
            return TotalTimeout(f"the request took longer than {timeout.total}s (Timeout.total)", timeout=timeout.total)
        return IdleTimeout(
            f"no data for {timeout.idle}s (Timeout.idle; keep-alive comments do not count)", timeout=timeout.idle
        )

    def _check(self) -> None:
        if self.cancelled:
            raise _Aborted
        if self.expired:
            raise self._abort_error()

    def _send(self) -> requests.Response:
        spec = self._spec
        read = spec.timeout.idle
        if spec.timeout.total is not None:
            read = spec.timeout.total if read is None else min(read, spec.timeout.total)
        log.debug("POST %s model=%s stream=%s", spec.url, spec.model, spec.streaming)
        try:
            response = self._session.post(
                spec.url, data=spec.body, headers=dict(spec.headers), stream=True, timeout=(spec.timeout.connect, read)
            )
        except requests.exceptions.ConnectTimeout:
            self._check()
            raise ConnectTimeout(
                f"could not connect within {spec.timeout.connect}s (Timeout.connect)", timeout=spec.timeout.connect
            ) from None
        except requests.exceptions.ReadTimeout:
            self._check()
            self.expired = self.expired or "idle"
            raise self._abort_error() from None
        except requests.exceptions.RequestException as exc:
            self._check()
            raise APIConnectionError(f"connection to {_origin(spec.url)} failed: {_reason(exc)}") from None
        with self._lock:
            self._response = response
        self._check()
        self.last_progress = time.monotonic()
        if response.status_code >= 400:
            body = self._read_limited(response, _ERROR_BODY_LIMIT)
            raise status_error(response.status_code, response.headers, body, response.reason or "")
        return response

    def _read_limited(self, response: requests.Response, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            while size < limit:
                piece = response.raw.read1(min(65536, limit - size))
                if not piece:
                    break
                self.last_progress = time.monotonic()
                parts.append(piece)
                size += len(piece)
        except Exception:
            self._check()
            if not parts:
                raise
        self._check()
        return b"".join(parts)

    def _read_stream(
        self, response: requests.Response, observer: abc.ObserverBase[Any], acc: ResponseAccumulator
    ) -> None:
        content_type = response.headers.get("Content-Type", "")
        if "event-stream" not in content_type:
            self._unexpected_body(response, content_type)
        source = ByteSource(response.raw.read1, self._spec.max_event_bytes)
        validate = self._spec.validate_chunks
        finished = False
        done = False
        try:
            for data, cut_off in iter_event_data(source):
                if self.aborted:
                    break
                self.last_progress = time.monotonic()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    decoded = json.loads(data)
                except ValueError:
                    if cut_off:
                        raise TruncatedStreamError("the stream ended in the middle of an event") from None
                    raise ProtocolError("an SSE data line is not valid JSON", data=data[:200]) from None
                if validate:
                    schemas.validate(schemas.ChunkSchema, decoded, "chunk")
                chunk = Chunk.from_dict(decoded)
                if chunk.error is not None or _has_error_finish(chunk):
                    acc.add(chunk)  # the partial keeps any text the error chunk carried
                    exc = stream_error(chunk.error)
                    exc.chunk = chunk
                    raise exc
                if not finished:
                    finished = any(choice.finish_reason is not None for choice in chunk.choices)
                acc.add(chunk)
                if self.cancelled:
                    raise _Aborted
                try:
                    observer.on_next(chunk)
                except Exception as exc:
                    raise _Downstream(exc) from exc
        except (OpenRouterError, _Downstream):
            self._check()
            raise
        except Exception as exc:
            self._check()
            if isinstance(exc, requests.exceptions.RequestException | OSError) or _is_urllib3_error(exc):
                if "timed out" in str(exc).lower():
                    self.expired = "idle"
                    raise self._abort_error() from None
                raise TruncatedStreamError(f"the connection was lost mid-stream: {_reason(exc)}") from None
            raise
        self._check()
        if done:
            self._drain(response)
        elif not finished:
            raise TruncatedStreamError("the stream ended before [DONE] and before any finish_reason")
        self.finished = True
        observer.on_completed()

    def _drain(self, response: requests.Response) -> None:
        """Read the tail after ``[DONE]`` so the connection can go back to the pool."""
        self._drain_until = time.monotonic() + _DRAIN_SECONDS
        try:
            size = 0
            while size < _DRAIN_LIMIT:
                piece = response.raw.read1(65536)
                if not piece:
                    response.raw.release_conn()
                    return
                size += len(piece)
        except Exception:
            return

    def _unexpected_body(self, response: requests.Response, content_type: str) -> None:
        body = self._read_limited(response, _ERROR_BODY_LIMIT)
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, Mapping) and isinstance(decoded.get("error"), Mapping):
            raise stream_error(decoded["error"])
        raise ProtocolError(
            f"expected text/event-stream, got {content_type or 'no content type'}",
            data=body[:200].decode("utf-8", "replace"),
        )

    def _read_completion(self, response: requests.Response, observer: abc.ObserverBase[Any]) -> None:
        limit = self._spec.max_event_bytes * 16
        body = self._read_limited(response, limit + 1)
        if len(body) > limit:
            raise ProtocolError(f"the completion body exceeded {limit} bytes")
        text = body.strip()
        if not text:
            raise TruncatedStreamError("the completion body was empty")
        try:
            decoded = json.loads(text)
        except ValueError:
            raise ProtocolError(
                "the completion body is not valid JSON", data=text[:200].decode("utf-8", "replace")
            ) from None
        if isinstance(decoded, Mapping) and isinstance(decoded.get("error"), Mapping):
            raise stream_error(decoded["error"], "the completion failed")
        schemas.validate(schemas.CompletionSchema, decoded, "completion")
        result = Response.from_completion(decoded)
        self.finished = True
        observer.on_next(result)
        observer.on_completed()


def _has_error_finish(chunk: Chunk) -> bool:
    return any(choice.finish_reason == "error" for choice in chunk.choices)


def _is_urllib3_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("urllib3") or type(exc).__module__.startswith("http.client")


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: BaseException) -> str:
    """A short cause for a connection error (requests' text names host and path, never headers)."""
    return (str(exc) or type(exc).__name__)[:300]
