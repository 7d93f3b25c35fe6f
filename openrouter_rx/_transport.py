"""Transport: one HTTP exchange per subscription, read on the caller's chosen thread.

An :class:`Exchange` sends the request, turns the reply into chunk events (or one
response) for an observer, and can be aborted at any moment from any thread:
``cancel()`` (dispose), ``expire()`` (the watchdog's idle/total deadline) and
``close_by_client()`` set a flag and shut the socket down, which wakes a read
blocked in ``recv()`` at once, also before the response headers (see
:mod:`._connections`). Only the reading thread closes the response, so a
connection is never handed back to the pool twice. After an abort the reader
swallows whatever exception the dead socket raises and reports only what the flag
says (nothing for a dispose, a timeout error for an expiry).

Every error reaches ``on_error`` typed: anything unexpected from the network or
the reply becomes :class:`APIConnectionError` or :class:`ProtocolError` (with the
partial response), while an exception raised by the subscriber's own ``on_next``
is delivered as itself.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import requests
from reactivex import abc

from ._accumulator import ResponseAccumulator
from ._connections import announce_sockets_to, shutdown_socket
from ._decode import decode_chunk, decode_completion, not_an_event_stream
from ._reader import (
    Read,
    body_reader,
    describe,
    drain,
    is_decode_error,
    is_network_error,
    is_timeout,
    media_type,
    origin,
    public_url,
    read_limited,
)
from ._spec import RequestSpec, check_header
from ._sse import ByteSource, iter_event_data
from ._status import status_error, with_error_chunk
from ._watchdog import Watchdog
from .errors import (
    APIConnectionError,
    ConnectTimeout,
    IdleTimeout,
    InvalidHeaderError,
    OpenRouterError,
    ProtocolError,
    TotalTimeout,
    TruncatedStreamError,
)

__all__ = ["Exchange"]

log = logging.getLogger("openrouter_rx")

_ERROR_BODY_LIMIT = 64 * 1024
_DRAIN_SECONDS = 0.25
_DRAIN_LIMIT = 64 * 1024


class _Aborted(Exception):
    """Internal: the exchange was cancelled or expired while blocked."""


class _Downstream(Exception):
    """Internal: ``on_next`` raised (carries the original exception)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _complete_observer(observer: abc.ObserverBase[Any]) -> None:
    """``on_completed``; an exception the subscriber raises there cannot go to its ``on_error``
    any more (the sequence has ended), so it is logged with its traceback, never dropped."""
    try:
        observer.on_completed()
    except Exception:
        log.exception("a subscriber's on_completed raised; the stream itself had completed")


class Exchange:
    """One request/reply for one subscription (see module docstring)."""

    def __init__(self, session: requests.Session, spec: RequestSpec, watchdog: Watchdog) -> None:
        self._session = session
        self._spec = spec
        self._watchdog = watchdog
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self._socket: socket.socket | None = None  # before the headers: the socket to shut down
        self.cancelled = False
        self.expired: str | None = None
        self.finished = False
        self.started = time.monotonic()
        self.last_progress = self.started
        self._draining = False
        self._running = False
        self._terminated = False  # a terminal event was delivered

    # -- watchdog protocol -------------------------------------------------
    def deadline(self) -> float | None:
        """When the watchdog should expire this exchange (``None``: never/finished)."""
        if self.finished or self.cancelled or self.expired or self._draining:
            return None
        timeout = self._spec.timeout
        deadlines = []
        if timeout.idle is not None:
            deadlines.append(self.last_progress + timeout.idle)
        if timeout.total is not None:
            deadlines.append(self.started + timeout.total)
        return min(deadlines) if deadlines else None

    def expire(self) -> None:
        """Abort because a deadline passed (runs on the watchdog thread)."""
        if self.finished or self._draining:
            return
        self.expired = self.expired or self._deadline_kind()
        self._abort()

    def _deadline_kind(self) -> str:
        total = self._spec.timeout.total
        return "total" if total is not None and time.monotonic() >= self.started + total else "idle"

    # -- disposal ----------------------------------------------------------
    def cancel(self) -> None:
        """Dispose: never blocks; safe from any thread, also re-entrantly from on_next."""
        if self.cancelled or self.finished:
            return
        self.cancelled = True
        self._abort()

    def _abort(self) -> None:
        """Wake the reader: shut the socket down (the reader itself closes the response)."""
        with self._lock:
            response, sock = self._response, self._socket
        if response is None:
            if sock is not None:  # waiting for the headers (or still sending)
                shutdown_socket(sock)
            return  # else still connecting: the socket is shut down as soon as it exists
        try:
            response.raw.shutdown()
        except Exception:  # already released (the body had ended), or no socket to shut down
            pass

    def _on_socket(self, sock: socket.socket) -> None:
        """The request got (or is using) ``sock``; runs on the reader thread."""
        with self._lock:
            self._socket = sock
            aborted = self.aborted
        if aborted:
            shutdown_socket(sock)

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
            self._emit_error(observer, self._abort_error("closed"))  # guarded: a raising on_error is logged
            return
        if not (self.finished or self.cancelled):
            self.expired = self.expired or "closed"
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
                log.debug("stream ended by an exception raised downstream: %s", type(wrapped.error).__name__)
                self._abort()
                self._emit_error(observer, wrapped.error)
        except Exception as exc:  # anything else is reported typed, never lost
            self._fail(observer, self._typed(exc), acc)
        finally:
            self.finished = True
            if log.isEnabledFor(logging.DEBUG):
                outcome = "cancelled" if self.cancelled else (self.expired or "done")
                log.debug(
                    "%s after %.3fs, %d chunks (%s)",
                    public_url(self._spec.url),
                    time.monotonic() - self.started,
                    acc.chunk_count,
                    outcome,
                )
            with self._lock:
                leftover, self._response = self._response, None
            if leftover is not None:
                leftover.close()

    def _typed(self, exc: Exception) -> OpenRouterError:
        """``exc`` as the error to report. Never copies the text of an unknown exception."""
        if isinstance(exc, OpenRouterError):
            return exc
        if self.aborted:
            return self._abort_error()
        log.debug("unexpected %s while handling the reply", type(exc).__name__)
        if is_network_error(exc):
            return APIConnectionError(f"the connection failed ({type(exc).__name__})")
        return ProtocolError(f"the reply could not be handled ({type(exc).__name__})")

    def _fail(self, observer: abc.ObserverBase[Any], exc: OpenRouterError, acc: ResponseAccumulator) -> None:
        if self.cancelled or self._terminated:
            return
        if acc.chunk_count and exc.partial is None:
            exc.partial = acc.response()
            exc.chunk_count = acc.chunk_count
        self._emit_error(observer, exc)

    def _emit_error(self, observer: abc.ObserverBase[Any], exc: Exception) -> None:
        if not (self.cancelled or self._terminated):
            self._terminated = True
            try:
                observer.on_error(exc)
            except Exception:  # nowhere left to deliver it: log it with its traceback, never drop it
                log.exception("a subscriber's on_error raised while handling %s", type(exc).__name__)

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

    def _timeout_error(self) -> OpenRouterError:
        """A socket read timeout fired before the watchdog: label it by the limit that passed."""
        self._check()
        self.expired = self._deadline_kind()
        return self._abort_error()

    def _check(self) -> None:
        if self.cancelled:
            raise _Aborted
        if self.expired:
            raise self._abort_error()

    def _progress(self) -> None:
        self.last_progress = time.monotonic()

    # -- sending -----------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        spec = self._spec
        headers = dict(spec.headers)
        for name, value in headers.items():
            check_header(name, value)
        if spec.auth is not None and not any(name.lower() == "authorization" for name in headers):
            if spec.auth.problem:
                raise InvalidHeaderError(spec.auth.problem)
            headers["Authorization"] = f"Bearer {spec.auth.reveal()}"
        return headers

    def _send(self) -> requests.Response:
        spec = self._spec
        read = spec.timeout.idle
        if spec.timeout.total is not None:
            read = spec.timeout.total if read is None else min(read, spec.timeout.total)
        log.debug("%s %s model=%s stream=%s", spec.method, public_url(spec.url), spec.model, spec.streaming)
        failure: OpenRouterError | None = None
        sent = time.monotonic()
        try:
            with announce_sockets_to(self._on_socket):
                response = self._session.request(
                    spec.method,
                    spec.url,
                    data=spec.body or None,
                    headers=self._headers(),
                    stream=True,
                    timeout=(spec.timeout.connect, read),
                )
        except requests.exceptions.ConnectTimeout:
            failure = self._connect_timeout()
        except requests.exceptions.ReadTimeout:
            # urllib3 reports a TLS handshake that outlasts Timeout.connect as a read timeout;
            # a real read timeout cannot fire before `read` seconds have passed.
            if read is None or time.monotonic() - sent < read:
                failure = self._connect_timeout()
            else:
                failure = self._timeout_error()
        except requests.exceptions.InvalidHeader:
            # Its text quotes the header value: it is never copied. (_check_header catches the
            # usual causes first and names the header; this is requests' own, stricter check.)
            failure = InvalidHeaderError(
                "a header from headers= or extra_headers= cannot be sent (surrounding whitespace, "
                "a newline, a control character or a character outside latin-1)"
            )
        except requests.exceptions.ConnectionError as exc:
            failure = APIConnectionError(f"connection to {origin(spec.url)} failed: {describe(exc)}")
        except requests.exceptions.RequestException as exc:
            failure = APIConnectionError(f"the request to {origin(spec.url)} could not be sent ({type(exc).__name__})")
        finally:
            with self._lock:
                self._socket = None
        if failure is not None:
            self._check()  # an abort explains the failure better
            raise failure
        with self._lock:
            self._response = response
        self._check()
        self.last_progress = time.monotonic()
        if response.status_code >= 400:
            body, _ = read_limited(body_reader(response), _ERROR_BODY_LIMIT, self._progress)
            self._check()  # a body cut short still gives the right status error
            raise status_error(response.status_code, response.headers, body, response.reason or "")
        return response

    def _connect_timeout(self) -> OpenRouterError:
        self._check()
        connect = self._spec.timeout.connect
        return ConnectTimeout(f"could not connect within {connect}s (Timeout.connect)", timeout=connect)

    # -- reading -----------------------------------------------------------
    def _read_failure(self, exc: Exception, what: str) -> OpenRouterError:
        """The error for a read that failed with ``exc`` (after any abort was checked)."""
        self._check()
        if is_timeout(exc):
            return self._timeout_error()
        if is_decode_error(exc):
            return ProtocolError(f"the reply's Content-Encoding could not be decoded ({type(exc).__name__})")
        if is_network_error(exc):
            error = TruncatedStreamError(what)  # a plain sentence; urllib3's own words stay in __cause__
            error.__cause__ = exc
            return error
        return self._typed(exc)

    def _read_stream(
        self, response: requests.Response, observer: abc.ObserverBase[Any], acc: ResponseAccumulator
    ) -> None:
        read = body_reader(response)
        content_type = response.headers.get("Content-Type", "")
        if media_type(content_type) != "text/event-stream":
            body, _ = read_limited(read, _ERROR_BODY_LIMIT, self._progress)
            self._check()
            raise not_an_event_stream(body, content_type)
        source = ByteSource(read, self._spec.max_event_bytes)
        context, validate = self._spec.context, self._spec.validate_chunks  # once per stream, not per chunk
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
                chunk, error = decode_chunk(data, cut_off, validate)
                if context is not None:
                    context.stamp(chunk)
                if error is not None:
                    with_error_chunk(error, chunk, acc)
                    raise error
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
            count = acc.chunk_count
            received = f"{count} chunk{'' if count == 1 else 's'} ({source.total} bytes received)"
            failure = self._read_failure(exc, f"the connection was lost mid-stream after {received}")
            raise failure from failure.__cause__  # the low-level exception for a dropped connection only
        self._check()
        if not (done or finished):
            raise TruncatedStreamError("the stream ended before [DONE] and before any finish_reason")
        self._complete(observer, response, read, tail=done)

    def _complete(self, observer: abc.ObserverBase[Any], response: requests.Response, read: Read, tail: bool) -> None:
        """The stream is complete. Read what follows ``[DONE]`` first (briefly, with a hard
        bound) so the connection goes back to the pool before the subscriber can start
        another request; a tail that does not end in time closes the connection."""
        if tail:
            self._draining = True  # the watchdog leaves it alone: drain() bounds itself
            if not drain(response, read, _DRAIN_SECONDS, _DRAIN_LIMIT):
                log.debug("the reply did not end within %ss of [DONE]: closing the connection", _DRAIN_SECONDS)
                response.close()
        with self._lock:
            self.finished = True
        if self.cancelled:
            return
        self._terminated = True
        _complete_observer(observer)

    def _read_completion(self, response: requests.Response, observer: abc.ObserverBase[Any]) -> None:
        limit = self._spec.max_event_bytes * 16
        body, failure = read_limited(body_reader(response), limit + 1, self._progress)
        if failure is not None:
            what = f"the connection was lost after {len(body)} bytes of the completion were received"
            raise self._read_failure(failure, what)
        self._check()
        result = (self._spec.decode or decode_completion)(body, limit)
        with self._lock:
            self.finished = True
        if self.cancelled:
            return
        try:
            observer.on_next(result)
        except Exception as exc:
            raise _Downstream(exc) from exc
        self._terminated = True
        _complete_observer(observer)
