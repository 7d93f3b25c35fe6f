"""``StreamingClient``: the callback way to stream, for code (and people) used to the Ruby gem.

::

    sc = orx.StreamingClient()
    sc.on_stream("on_chunk", lambda chunk: print(chunk.content, end="", flush=True))
    response = sc.stream_complete("Write a haiku about streams")

It is a thin facade over the Rx core: ``stream_complete`` composes ``sc.client.stream(...)``,
``retry_with_backoff``, ``fallback_to_non_streaming`` and ``track_usage``, and consumes the
result with :func:`openrouter_rx.blocking.iterate` on the calling thread, so every callback
runs on the thread that called ``stream_complete``. The Rx way stays one attribute away:
``sc.client.stream(...)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import closing
from typing import Any, TypeVar, overload

from reactivex import Observable, from_iterable

from . import blocking
from ._call_arguments import DEFAULT, Default, Options, call_arguments, stream_start
from ._callbacks import CallbackPolicy, CallbackRegistry
from ._spec import Timeout
from ._stream_call import StreamCall, has_tool_calls
from .chunk import Chunk
from .chunk_stream import context_of
from .client import Client, Messages
from .config import settings
from .errors import CallbackError, StructuredOutputError
from .healer import Healer
from .operators import fallback_to_non_streaming as fallback_operator
from .operators import retry_with_backoff, structured_output
from .operators import track_usage as track_usage_operator
from .operators._common import attach_partial
from .response import Response
from .structured import HealAttempt
from .usage import UsageTracker

__all__ = ["StreamingClient"]

_F = TypeVar("_F", bound=Callable[..., Any])


class StreamingClient:
    """Callbacks over the Rx core: ``on_stream(event, fn)`` and a blocking ``stream_complete``.

    Events of one :meth:`stream_complete` call, in order, all on the calling thread:
    ``on_start`` (a :class:`~openrouter_rx.options.StreamStart`, once, before the request is
    sent), then per chunk ``on_chunk``, the per-call ``callback``, ``on_tool_call_chunk`` (chunks
    with tool-call deltas); then ``on_finish`` (the Response, or ``None`` when not accumulating)
    or, on failure, ``on_error`` (the typed error, with ``err.partial``) before it is raised.

    Arguments left as ``None`` come from :func:`orx.settings() <openrouter_rx.config.settings>`,
    read once, here.

    Args:
        api_key: the OpenRouter key (alias ``access_token``); default: settings, then
            ``$OPENROUTER_API_KEY``. Never shown in a repr.
        base_url: the API root; default: settings, then ``$OPENROUTER_BASE_URL``, then OpenRouter's.
        request_timeout: seconds without data (the idle timeout), or an :class:`~openrouter_rx.Timeout`.
        site_name: sent as ``X-Title``.
        site_url: sent as ``HTTP-Referer``.
        track_usage: keep an :class:`~openrouter_rx.UsageTracker` at :attr:`usage_tracker` (every
            request, the healer's included).
        pool_size: reader threads and pooled connections of the Client (default 10).
        retries: ``retry_with_backoff(max_retries=retries)`` before any output (0: none).
        fallback_to_non_streaming: after the retries, send the request unstreamed when the stream
            fails before any output.
        auto_heal_responses: with a ``response_format``, fix an invalid structured output with
            ``healer_model`` (at most ``max_heal_attempts`` calls).
        healer_model: the healing model.
        max_heal_attempts: healer calls at most.
        model: this client's default model.
        client: an existing :class:`~openrouter_rx.Client` to use (then no connection arguments;
            it is not closed by :meth:`close`).
        callback_errors: ``"raise"`` (a raising callback stops the request:
            :class:`~openrouter_rx.errors.CallbackError`) or ``"log"`` (logged at WARNING, reported
            to ``on_error``, the stream goes on).
        access_token: the Ruby gem's name of ``api_key``.

    Raises:
        TypeError: ``api_key`` and ``access_token`` differ, or ``client=`` with connection arguments.
        ValueError: ``retries < 0``, ``max_heal_attempts < 1``, an unknown ``callback_errors``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        request_timeout: Timeout | float | None = None,
        site_name: str | None = None,
        site_url: str | None = None,
        track_usage: bool | None = None,
        pool_size: int | None = None,
        retries: int | None = None,
        fallback_to_non_streaming: bool = False,
        auto_heal_responses: bool | None = None,
        healer_model: str | None = None,
        max_heal_attempts: int | None = None,
        model: str | None = None,
        client: Client | None = None,
        callback_errors: CallbackPolicy = "raise",
        *,
        access_token: str | None = None,
    ) -> None:
        conf = settings()
        if access_token is not None:
            if api_key is not None and api_key != access_token:
                raise TypeError("give api_key or access_token (the same thing), not two different keys")
            api_key = access_token
        self._callbacks = CallbackRegistry(callback_errors)
        self.model: str | None = model if model is not None else conf.default_model
        self.retries = conf.retries if retries is None else retries
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, not {self.retries}")
        self.fallback_to_non_streaming = bool(fallback_to_non_streaming)
        self.auto_heal_responses = conf.auto_heal_responses if auto_heal_responses is None else auto_heal_responses
        self.healer_model = healer_model if healer_model is not None else conf.healer_model
        heals = self.max_heal_attempts = max_heal_attempts if max_heal_attempts is not None else conf.max_heal_attempts
        if isinstance(heals, bool) or not (isinstance(heals, int) and heals >= 1):
            raise ValueError(f"max_heal_attempts must be an int >= 1, not {heals!r}")
        connection = (api_key, base_url, request_timeout, site_name, site_url, pool_size)
        if client is not None:
            if any(value is not None for value in connection):
                raise TypeError("client= takes an existing Client: give the connection arguments to that Client")
            self.client = client
            self._owns_client = False
        else:  # made last: nothing to close when an argument above is refused
            self.client = Client(
                api_key=api_key if api_key is not None else conf.api_key,
                base_url=base_url if base_url is not None else conf.base_url,
                timeout=request_timeout if request_timeout is not None else conf.request_timeout,
                site_url=site_url if site_url is not None else conf.site_url,
                site_name=site_name if site_name is not None else conf.site_name,
                pool_size=pool_size if pool_size is not None else 10,
            )
            self._owns_client = True
        tracking = conf.track_usage if track_usage is None else track_usage
        self.usage_tracker: UsageTracker | None = UsageTracker(pricing=self.client.pricing_for) if tracking else None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"StreamingClient(client={self.client!r}, model={self.model!r}, retries={self.retries}, "
            f"fallback_to_non_streaming={self.fallback_to_non_streaming}, "
            f"auto_heal_responses={self.auto_heal_responses}, callback_errors={self.callback_errors!r})"
        )

    @property
    def callback_errors(self) -> CallbackPolicy:
        """The policy for a raising callback: ``"raise"`` or ``"log"``."""
        return self._callbacks.policy

    def close(self) -> None:
        """Close the Client this StreamingClient made (a Client given with ``client=`` stays open).

        Idempotent. Once its own Client is closed, every request method raises ``RuntimeError`` at
        once (no callback fires); a wrapper of a given Client stays usable.
        """
        if self._owns_client:
            self._closed = True
            self.client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this StreamingClient is closed")

    def __enter__(self) -> StreamingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- callbacks -------------------------------------------------------------------
    @overload
    def on_stream(self, event: str) -> Callable[[_F], _F]: ...

    @overload
    def on_stream(self, event: str, fn: Callable[[Any], Any]) -> StreamingClient: ...

    def on_stream(
        self, event: str, fn: Callable[[Any], Any] | Default = DEFAULT
    ) -> StreamingClient | Callable[[_F], _F]:
        """Register ``fn`` for ``event``; returns ``self`` for chaining. Without ``fn``, a decorator
        that registers the function and returns it unchanged.

        Example::

            sc.on_stream("on_chunk", handle_chunk).on_stream("on_error", report)

            @sc.on_stream("on_finish")
            def done(response): ...

        Raises:
            ValueError: an unknown event (the message lists the five valid ones).
            TypeError: ``fn`` (or the decorated object) is not callable (``None`` included).
        """
        self._callbacks.check(event)
        if fn is DEFAULT:

            def register(function: _F) -> _F:
                return self._callbacks.add(event, function)

            return register
        self._callbacks.add(event, fn)
        return self

    def clear_callbacks(self, event: str | None = None) -> StreamingClient:
        """Forget the callbacks of ``event``, or of every event; returns ``self``."""
        self._callbacks.clear(event)
        return self

    # -- requests --------------------------------------------------------------------
    def stream_complete(
        self,
        messages: Messages,
        options: Options = None,
        *,
        model: str | Default | None = DEFAULT,
        accumulate_response: bool = True,
        tools: Sequence[Any] | None = None,
        response_format: Any = None,
        callback: Callable[[Chunk], Any] | None = None,
        timeout: Timeout | float | None = None,
        **params: Any,
    ) -> Response | None:
        """Stream one chat completion, firing the callbacks, and block until it ends.

        Args:
            messages: the conversation (a str is one user message).
            options: a :class:`~openrouter_rx.options.CompletionOptions` (or a dict of body fields);
                ``model``, ``tools``, ``response_format`` and ``**params`` win over it (a param
                given as ``None`` unsets the option).
            model: the model (default: the options', else this client's; ``None`` omits it).
            accumulate_response: build and return the Response; ``False`` keeps nothing here but
                a chunk count and returns ``None`` (the transport still keeps the text so far, for
                ``err.partial``).
            tools: Tool objects, ``@tool`` functions or tool dicts.
            response_format: a marshmallow schema, an :class:`~openrouter_rx.ResponseFormat` or a
                dict; the Response's ``structured_output`` then gives the data (healed when
                ``auto_heal_responses`` is on).
            callback: called with every chunk, after the ``on_chunk`` callbacks.
            timeout: this request's timeout (a number sets the idle timeout; see ``Client.stream``).
            **params: any other OpenRouter body field.

        Returns:
            The accumulated :class:`~openrouter_rx.Response`, or ``None`` when not accumulating.

        Raises:
            OpenRouterError: the request's typed error (``err.partial``: the response so far),
                after the ``on_error`` callbacks; :class:`~openrouter_rx.errors.CallbackError`
                when a callback raised (policy ``"raise"``). KeyboardInterrupt closes the
                connection and propagates. Invalid arguments (TypeError, ValueError) and a
                closed client (RuntimeError) are raised before ``on_start``.
        """
        self._check_open()
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        chosen, body = call_arguments(options, model, tools, response_format, params, self.model)
        source = self._pipeline(messages, chosen, body, timeout)
        start = stream_start(self.client, messages, chosen, body)
        call = StreamCall(accumulate_response, context_of(source))
        callbacks, wrap = self._callbacks, call.wrap
        try:
            callbacks.fire("on_start", start, wrap)
            call.started = time.monotonic()
            with closing(blocking.iterate(source)) as chunks:
                for chunk in chunks:
                    call.add(chunk)
                    callbacks.fire("on_chunk", chunk, wrap)
                    if callback is not None:
                        callbacks.call("callback", callback, chunk, wrap)
                    if callbacks.of("on_tool_call_chunk") and has_tool_calls(chunk):
                        callbacks.fire("on_tool_call_chunk", chunk, wrap)
            response = call.response()
            if response is not None and response.response_format is not None and self.auto_heal_responses:
                response = self._healed(response)
            call.final = response
            callbacks.fire("on_finish", response, wrap)
        except Exception as error:
            partial = None if isinstance(error, CallbackError) else call.partial()  # a CallbackError has its own
            if partial is not None:
                attach_partial(error, partial, call.count)
            callbacks.report(error)
            raise
        return response

    def stream(
        self, messages: Messages, callback: Callable[[str], Any], options: Options = None, **params: Any
    ) -> None:
        """Stream one completion and call ``callback`` with each piece of text (choice 0's content).

        Same arguments as :meth:`stream_complete` (nothing is accumulated); the registered
        callbacks fire too. A failing ``callback`` is reported as event ``"callback"``.
        """

        if not callable(callback):
            raise TypeError(f"stream() needs a callback for the text, not {type(callback).__name__}")

        def text_only(chunk: Chunk) -> None:
            if chunk.content:
                callback(chunk.content)

        self.stream_complete(messages, options, accumulate_response=False, callback=text_only, **params)

    def complete_sync(
        self,
        messages: Messages,
        options: Options = None,
        *,
        model: str | Default | None = DEFAULT,
        timeout: Timeout | float | None = None,
        **params: Any,
    ) -> Response:
        """A blocking, non-streaming completion (``Client.complete_sync``) with this client's model
        and options; recorded in :attr:`usage_tracker` when tracking (healer calls too), healed like
        :meth:`stream_complete` when ``auto_heal_responses`` is on. No callbacks fire.

        Example (the Ruby guide's fallback inside ``on_error``)::

            sc.on_stream("on_error", lambda err: print(sc.complete_sync(messages).content))
        """
        self._check_open()
        chosen, body = call_arguments(options, model, None, None, params, self.model)
        response = self.client.complete_sync(messages, chosen, timeout=timeout, **body)
        self._record(response, chosen)
        if response.response_format is not None and self.auto_heal_responses:
            response = self._healed(response)
        return response

    # -- plumbing --------------------------------------------------------------------
    def _pipeline(
        self, messages: Messages, model: str | None, body: dict[str, Any], timeout: Timeout | float | None
    ) -> Observable[Chunk]:
        """``client.stream`` with the retry, fallback and usage operators this client is set up with."""
        source: Observable[Chunk] = self.client.stream(messages, model, timeout=timeout, **body)
        if self.retries:
            source = source.pipe(retry_with_backoff(max_retries=self.retries))
        if self.fallback_to_non_streaming:
            source = source.pipe(fallback_operator())
        if self.usage_tracker is not None:
            source = source.pipe(track_usage_operator(self.usage_tracker))
        return source

    def _healed(self, response: Response) -> Response:
        """``response`` with ``structured_output`` settled by the ``structured_output`` operator with
        a :class:`~openrouter_rx.Healer`: the healed value, or, when even healing failed, the
        operator's :class:`~openrouter_rx.errors.StructuredOutputError` (every attempt, the
        healer's included; ``err.partial`` is the response), raised when it is read."""
        healer = Healer(self.client, model=self.healer_model, max_attempts=self.max_heal_attempts)
        parse = structured_output(response.response_format, heal=healer, on_attempt=self._record_healer)
        try:
            value = blocking.wait(from_iterable(response.to_chunks()).pipe(parse))
        except StructuredOutputError as failure:
            failure.partial = response
            response._settle_structured_output(failure=failure)
        else:
            response._settle_structured_output(value)
        return response

    def _record_healer(self, attempt: HealAttempt) -> None:
        """Healing is billed: record each healer reply's usage in :attr:`usage_tracker`."""
        self._record(attempt.response, attempt.model)

    def _record(self, reply: object, model: str | None) -> None:
        """Record the usage of an unstreamed ``reply`` (a Response) in :attr:`usage_tracker`, if kept."""
        if self.usage_tracker is not None and isinstance(reply, Response) and reply.usage is not None:
            self.usage_tracker.record(reply.usage, reply.model or model)
