"""The client: builds requests and hands out cold observables.

Nothing is sent until subscribe; each subscription sends its own request. By
default the blocking read runs on the client's bounded thread pool, so
``subscribe()`` returns at once (``.run()`` blocks until the end).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import reactivex
from reactivex import abc
from reactivex import operators as ops

from ._params import finisher, response_format_of, weakly, wire_value
from ._reader import public_url
from ._runner import RequestRunner
from ._spec import RequestSpec, Secret, Timeout
from ._version import __version__
from .blocking import wait
from .chunk_stream import ChunkStream, RequestContext
from .errors import InsecureTransportError
from .model_catalog import ModelCatalog
from .models import Model, Pricing, decode_models_body
from .response import Response

__all__ = ["Client", "Timeout", "DEFAULT_BASE_URL", "DEFAULT_MODEL"]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_MODEL = "openai/gpt-4o-mini"
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024

Messages = Sequence[Mapping[str, Any]] | str


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _normalize_messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise TypeError(
                f"each message must be a mapping like {{'role': 'user', 'content': ...}}, not {type(message).__name__}"
            )
        out.append(dict(message))
    return out


class Client:
    """An OpenRouter client whose requests are cold observables.

    Args:
        api_key: the OpenRouter key; defaults to ``$OPENROUTER_API_KEY``. Without
            one no ``Authorization`` header is sent (fine for the fake server; the
            real API answers 401 :class:`~openrouter_rx.errors.AuthenticationError`).
        base_url: API root; defaults to ``$OPENROUTER_BASE_URL``, else OpenRouter's. A key is
            never sent over plain ``http://`` except to a loopback host
            (:class:`~openrouter_rx.errors.InsecureTransportError`).
        timeout: a :class:`Timeout` (connect, idle, total), or a number for idle.
        site_url: sent as ``HTTP-Referer`` (app attribution).
        site_name: sent as ``X-Title``.
        pool_size: reader threads and pooled connections (at most this many
            requests read at once; more wait for a free thread).
        max_event_bytes: the largest SSE event accepted (ProtocolError beyond).
        validate_chunks: validate every chunk with the marshmallow schema
            (13-20x the cost of decoding it; off by default).
        headers: extra headers for every request.
        models_ttl: seconds the model list fetched by :meth:`models` stays cached (``None``:
            until ``client.model_catalog.invalidate()``; ``0``: no caching).

    Example::

        client = orx.Client()
        client.stream("Say hi").pipe(ops.map(lambda c: c.content)).subscribe(print)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        site_url: str | None = None,
        site_name: str | None = None,
        pool_size: int = 10,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        validate_chunks: bool = False,
        headers: Mapping[str, str] | None = None,
        models_ttl: float | None = 300.0,
    ) -> None:
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
        key = api_key if api_key is not None else os.environ.get("OPENROUTER_API_KEY")
        # A key that cannot go in a header (whitespace, control or non-ASCII characters) is
        # kept: every request then fails with InvalidHeaderError, which never quotes it.
        self._key = Secret(key) if key else None
        if base_url is None:
            base_url = os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if self._key is not None and parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise InsecureTransportError(f"refusing to send the API key over plain http to {parts.hostname}; use https")
        if isinstance(timeout, int | float):
            timeout = Timeout(idle=float(timeout))
        self.timeout = timeout or Timeout()
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.site_url = site_url
        self.site_name = site_name
        self.pool_size = pool_size
        self.max_event_bytes = max_event_bytes
        self.validate_chunks = validate_chunks
        self._extra_headers = dict(headers or {})
        self._runner = RequestRunner(pool_size)
        self._active = self._runner.active  # the exchanges in flight (read by tests)
        self._model_catalog = ModelCatalog(self._fetch_models, models_ttl)

    # -- plumbing ------------------------------------------------------------
    def __repr__(self) -> str:
        key = "set" if self._key is not None else "unset"
        return (
            f"Client(base_url={public_url(self.base_url)!r}, api_key=<{key}>, timeout={self.timeout!r}, "
            f"pool_size={self.pool_size})"
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (the key itself is never exposed)."""
        return self._key is not None

    @property
    def scheduler(self) -> abc.SchedulerBase:
        """The client's bounded pool where reads run by default."""
        return self._runner.pool

    def close(self) -> None:
        """Release the pool, the watchdog and pooled connections. Idempotent.

        Requests still in flight end with an :class:`~openrouter_rx.errors.APIConnectionError`
        (never silently: a blocked ``.run()`` returns).
        """
        self._runner.close()

    def _headers(self, streaming: bool, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if streaming else "application/json",
            "User-Agent": f"openrouter-rx/{__version__}",
        }
        if streaming:
            # A compressor at the server or a proxy may hold events back to fill its blocks;
            # a compressed reply is still decoded (completions keep requests' gzip, deflate).
            headers["Accept-Encoding"] = "identity"
        if self.site_url:
            headers["HTTP-Referer"] = self.site_url
        if self.site_name:
            headers["X-Title"] = self.site_name
        headers.update(self._extra_headers)
        if extra:
            headers.update(extra)
        return headers

    def build_body(
        self, messages: Messages, model: str | None, streaming: bool, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The JSON body for a request: every OpenRouter field passes through.

        ``None`` values are dropped; objects with ``to_dict()`` are converted; ``tools`` may hold
        ``Tool`` objects and functions, ``response_format`` a marshmallow schema (see ``_params``).
        """
        body: dict[str, Any] = {"messages": _normalize_messages(messages)}
        if model is not None:
            body["model"] = model
        for name, value in params.items():
            wired = None if value is None else wire_value(name, value)
            if wired is not None:
                body[name] = wired
        body["stream"] = streaming
        return body

    def _spec(
        self,
        messages: Messages,
        model: str | None,
        streaming: bool,
        timeout: Timeout | float | None,
        extra_headers: Mapping[str, str] | None,
        params: Mapping[str, Any],
        context: RequestContext | None = None,
    ) -> RequestSpec:
        if isinstance(timeout, int | float):
            timeout = Timeout(connect=self.timeout.connect, idle=float(timeout), total=self.timeout.total)
        body = self.build_body(messages, model, streaming, params)
        return RequestSpec(
            url=f"{self.base_url}/chat/completions",
            body=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
            headers=self._headers(streaming, extra_headers),
            timeout=timeout or self.timeout,
            max_event_bytes=self.max_event_bytes,
            validate_chunks=self.validate_chunks,
            streaming=streaming,
            model=model,
            auth=self._key,  # the Authorization header is made only when the request is sent
            context=context,
        )

    def _subscribe(
        self, spec: RequestSpec, scheduler: abc.SchedulerBase | None
    ) -> Callable[[abc.ObserverBase[Any], abc.SchedulerBase | None], abc.DisposableBase]:
        """The subscribe function of a cold observable of ``spec``: one Exchange per subscription."""
        return self._runner.subscribe_function(spec, scheduler)

    # -- public API ----------------------------------------------------------
    def stream(
        self,
        messages: Messages,
        model: str | None = DEFAULT_MODEL,
        *,
        scheduler: abc.SchedulerBase | None = None,
        timeout: Timeout | float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChunkStream:
        """A cold observable of the chunks of one streamed chat completion.

        Each subscription sends its own request; disposing closes the connection
        at once. Completes after ``data: [DONE]``; errors with a typed
        :class:`~openrouter_rx.errors.OpenRouterError`.

        Args:
            messages: the conversation (a str is one user message).
            model: the OpenRouter model id (``None`` to omit, e.g. with ``models=``).
            scheduler: where the blocking read runs. Default: the scheduler given
                to ``subscribe(scheduler=...)``, else the client's pool. Pass
                ``CurrentThreadScheduler()`` (or ``ImmediateScheduler``) to read
                synchronously inside ``subscribe()``.
            timeout: overrides the client's :class:`Timeout` for this request
                (a number sets ``idle``).
            extra_headers: extra headers for this request.
            **params: any OpenRouter body field (temperature, max_tokens, tools,
                tool_choice, response_format, models, provider, reasoning,
                plugins, transforms, ...), passed through unchanged.
        """
        form = response_format_of(params)
        context = RequestContext(form, finisher(form, model, weakly(self.pricing_for)))  # chunks keep it
        spec = self._spec(messages, model, True, timeout, extra_headers, params, context)
        subscribe = self._subscribe(spec, scheduler)

        def non_streaming() -> reactivex.Observable[Response]:
            return self.complete(
                messages, model, scheduler=scheduler, timeout=timeout, extra_headers=extra_headers, **params
            )

        return ChunkStream(subscribe, non_streaming, context)

    def complete(
        self,
        messages: Messages,
        model: str | None = DEFAULT_MODEL,
        *,
        scheduler: abc.SchedulerBase | None = None,
        timeout: Timeout | float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> reactivex.Observable[Response]:
        """A cold observable of one non-streaming completion: one
        :class:`~openrouter_rx.Response`, then completed. Same arguments as
        :meth:`stream`."""
        finish = finisher(response_format_of(params), model, self.pricing_for)
        return reactivex.create(
            self._subscribe(self._spec(messages, model, False, timeout, extra_headers, params), scheduler)
        ).pipe(ops.map(finish))

    def complete_sync(
        self,
        messages: Messages,
        model: str | None = DEFAULT_MODEL,
        *,
        timeout: Timeout | float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> Response:
        """Send one non-streaming completion and block until its :class:`~openrouter_rx.Response`.

        :meth:`complete` through :func:`openrouter_rx.blocking.wait`: same arguments, the typed
        error raised as it is, Ctrl-C closes the connection. For plain synchronous code, e.g. a
        non-streaming fallback inside an ``on_error`` callback.

        The reply is read on the client's pool, except when this is called from inside one of the
        client's own reads (an Rx callback on a pool thread): then on a thread of its own, so it
        never waits for a pool thread that may be the very one waiting.
        """
        response: Response = wait(
            self.complete(messages, model, timeout=timeout, extra_headers=extra_headers, **params)
        )
        return response

    # -- the model catalog -----------------------------------------------------------
    def _fetch_models(self) -> reactivex.Observable[tuple[Model, ...]]:
        """A cold observable of one ``GET /models`` request: the parsed list, then completed."""
        headers = self._headers(False, None)
        del headers["Content-Type"]  # no body
        spec = RequestSpec(
            url=f"{self.base_url}/models", body=b"", headers=headers, timeout=self.timeout,
            max_event_bytes=self.max_event_bytes, validate_chunks=False, streaming=False, model=None,
            auth=self._key, method="GET", decode=decode_models_body,
        )  # fmt: skip
        return reactivex.create(self._subscribe(spec, None))

    @property
    def model_catalog(self) -> ModelCatalog:
        """This client's :class:`~openrouter_rx.model_catalog.ModelCatalog` (cache, TTL, clock)."""
        return self._model_catalog

    def models(self, *, refresh: bool = False) -> reactivex.Observable[Model]:
        """A cold observable of every model OpenRouter lists (``GET /models``), then completed.

        Cached for ``models_ttl`` seconds (no request within it); concurrent subscriptions share one
        request; ``refresh=True`` skips the cache. Errors are typed as for chat requests; malformed
        entries are skipped with a WARNING. See :class:`~openrouter_rx.model_catalog.ModelCatalog`.
        Example: ``client.models().pipe(ops.filter(lambda m: m.supports("tools"))).subscribe(print)``
        """
        return self._model_catalog.models(refresh=refresh)

    def model_info(self, model_id: str) -> reactivex.Observable[Model]:
        """One :class:`~openrouter_rx.models.Model` (id or canonical slug) via :meth:`models`;
        :class:`~openrouter_rx.errors.NotFoundError` naming the closest ids when there is none."""
        return self._model_catalog.model_info(model_id)

    def pricing_for(self, model_id: str) -> Pricing | None:
        """``model_id``'s pricing from the cached list; never blocks or sends anything. ``None`` before
        the first :meth:`models`, for an unknown model and for variable pricing (``openrouter/auto``)."""
        return self._model_catalog.pricing_for(model_id)
