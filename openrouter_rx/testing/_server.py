"""``FakeOpenRouter``: a real HTTP server on the loopback interface that imitates OpenRouter."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._defaults import DefaultReplies
from ._replies import ErrorReply, Reply
from ._wire import ClientGone, RecordedRequest, ResponseWriter, ServerStopping

__all__ = ["FakeOpenRouter", "Responder"]

Responder = Callable[[RecordedRequest], Reply | None]
"""Called for a request when the queue is empty; returning ``None`` selects the default reply."""

API_PREFIX = "/api/v1"
_STOP_GRACE = 0.8


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenRouter"

    @property
    def _fake(self) -> FakeOpenRouter:
        server = self.server
        assert isinstance(server, _Server)
        return server.fake

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class signature
        """Silence http.server's access log."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _record(self) -> RecordedRequest:
        body = self._read_body()
        split = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return RecordedRequest(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            json=RecordedRequest.decode_json(body),
            received_at=time.monotonic(),
            client_port=int(self.client_address[1]),
        )

    def _dispatch(self) -> None:
        fake = self._fake
        try:
            request = self._record()
        except (OSError, ValueError):
            self.close_connection = True
            return
        fake._add_request(request)
        out = ResponseWriter(self, request, fake._stopping)
        try:
            fake._reply_for(request).write(out)
            out.end()
        except (ClientGone, ServerStopping):
            self.close_connection = True
        except Exception as exc:  # a bug in a scripted reply or responder: report it, answer 500
            fake._report(exc)
            self.close_connection = True
            if not out.started:
                try:
                    ErrorReply(500, f"FakeOpenRouter: {type(exc).__name__}: {exc}").write(out)
                except (ClientGone, ServerStopping):
                    pass
            else:
                out.abort()
        finally:
            request.finished.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: FakeOpenRouter) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.threads: set[threading.Thread] = set()
        self.track_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's reverse DNS lookup of the host (socket.getfqdn), which can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host.decode() if isinstance(host, bytes) else str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="FakeOpenRouter-handler", daemon=True
        )
        with self.track_lock:
            self.connections.add(request)
            self.threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.track_lock:
                self.connections.discard(request)
                self.threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (OSError, ValueError)):
            self.fake._report(exc)

    def release_all(self) -> list[threading.Thread]:
        """Shut down every open client connection; return the handler threads still running."""
        with self.track_lock:
            connections, threads = list(self.connections), list(self.threads)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return threads


class FakeOpenRouter:
    """A real HTTP server on ``127.0.0.1`` that imitates OpenRouter's API for tests.

    Replies are taken, one per request and whatever the path, from the FIFO filled by
    :meth:`enqueue`; when it is empty, :attr:`responder` is asked, and failing that the default
    behaviour answers: a realistic streamed (or non-streamed) chat completion echoing the last
    user message, a short ``/models`` list, ``/generation`` stats, and 404 elsewhere.

    Use it as a context manager (or call :meth:`start` / :meth:`stop`)::

        with FakeOpenRouter() as fake:
            fake.enqueue(StreamReply(text_chunks("Hi!")))
            client = Client(base_url=fake.base_url)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        default_text: str | None = None,
        default_delay: float = 0.0,
        default_model: str = "openai/gpt-4o-mini",
    ) -> None:
        self.host = host
        self.port = port
        self.default_text = default_text
        self.default_delay = default_delay
        self.default_model = default_model
        self.responder: Responder | None = None
        """Used when the queue is empty: returns a reply, or ``None`` for the default behaviour."""
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised while serving (bugs in scripted replies or responders)."""
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._defaults = DefaultReplies()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeOpenRouter:
        """Start serving in a daemon thread (no-op if already running); returns ``self``."""
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        server = _Server((self.host, self.port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeOpenRouter", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving promptly, closing every connection (stalled replies included)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        deadline = time.monotonic() + _STOP_GRACE
        self._stopping.set()
        server.shutdown()
        server.server_close()
        for handler in server.release_all():
            handler.join(max(0.0, deadline - time.monotonic()))
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FakeOpenRouter:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is started."""
        return self._server is not None

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("FakeOpenRouter is not started")
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    @property
    def base_url(self) -> str:
        """The API base URL to give a client, ``http://127.0.0.1:PORT/api/v1``."""
        return self.url + API_PREFIX

    # -- scripting and inspection ----------------------------------------------------

    def enqueue(self, *replies: Reply) -> FakeOpenRouter:
        """Queue replies; each request (any path) takes the oldest one. Returns ``self``."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"not a Reply: {reply!r}")
        with self._cond:
            self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._cond:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or ``None``."""
        with self._cond:
            return self._requests[-1] if self._requests else None

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests arrived; raises ``TimeoutError`` otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"expected {n} request(s) within {timeout}s, got {len(self._requests)}")
            return list(self._requests)

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._cond:
            self._queue.clear()
            self._requests.clear()

    def _add_request(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _report(self, exc: BaseException) -> None:
        self.errors.append(exc)
        print("FakeOpenRouter: error while serving a request:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._cond:
            if self._queue:
                return self._queue.popleft()
        responder = self.responder
        if responder is not None:
            reply = responder(request)
            if reply is not None:
                return reply
        return self.default_reply(request)

    # -- default behaviour -------------------------------------------------------------

    def default_reply(self, request: RecordedRequest) -> Reply:
        """The reply given when neither the queue nor the responder provides one."""
        return self._defaults.reply(request, text=self.default_text, delay=self.default_delay, model=self.default_model)
