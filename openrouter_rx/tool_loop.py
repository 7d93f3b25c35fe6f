"""``tool_loop``: stream, run the tools the model asks for, answer, and ask again, as one observable.

::

    @orx.tool
    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
        \"\"\"Current weather for a city.\"\"\"
        return {"city": city, "temperature": 21, "unit": unit}

    events = orx.tool_loop(client, "Weather in Oslo?", tools=[get_weather], max_turns=4)
    final = events.pipe(ops.filter(lambda e: isinstance(e, orx.LoopFinished))).run()
    print(final.response.content)

Each turn streams one request (its chunks are :class:`TurnChunk` events), then each tool call is
validated by its tool (:class:`ToolCallRequested`) and run (:class:`ToolCallResult`), the
assistant message and the tool results are appended to the conversation, and the next turn
starts. The loop ends with :class:`LoopFinished` when a turn asks for no tool, or with
:class:`~openrouter_rx.errors.MaxTurnsError` when ``max_turns`` turns still asked for tools.

A handler that raises, arguments that fail the tool's schema and a call to an unknown tool do
not end the loop: the model receives a tool result ``{"error": {...}}`` saying what went wrong,
so it can correct itself; the event carries the exception. Request errors (HTTP, stream,
timeouts) end the loop with the typed error, ``err.partial`` holding the turn's partial response.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable, SerialDisposable

from ._repair import is_json_error
from ._toolset import ToolSet
from .chunk import Chunk
from .errors import MaxTurnsError, ToolArgumentsError
from .operators import accumulate
from .response import Response, ToolCall
from .tool_loop_events import (
    LoopFinished,
    ToolCallRequested,
    ToolCallResult,
    ToolLoopEvent,
    TurnChunk,
    TurnFinished,
    TurnStarted,
)

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "LoopFinished",
    "ToolCallRequested",
    "ToolCallResult",
    "ToolLoopEvent",
    "TurnChunk",
    "TurnFinished",
    "TurnStarted",
    "tool_loop",
]

_log = logging.getLogger("openrouter_rx")


@dataclass(frozen=True)
class _NextTurn(ToolLoopEvent):
    """Internal: the turn's tools answered; turn ``turn`` is to be sent with ``messages`` (never emitted)."""

    messages: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: Exception | None = None


def _error_content(error: Exception) -> str:
    detail: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, ToolArgumentsError) and error.messages is not None:
        detail["details"] = error.messages
        if is_json_error(error.messages):
            detail["arguments"] = error.raw  # what the model sent (the replayed call says {})
    return json.dumps({"error": detail}, default=str)


def _tool_timed_out(call: ToolCall, seconds: float) -> TimeoutError:
    return TimeoutError(f"tool {call.name!r} did not answer within {seconds:g} s")


def _call_handler(handler: Callable[..., Any], call: ToolCall) -> Any:
    if call.tool is not None and handler is call.tool.function:
        value = call.tool.invoke(call.arguments)  # the tool maps data keys back to parameter names
    else:
        arguments = call.arguments
        value = handler(**arguments) if isinstance(arguments, Mapping) else handler(arguments)
    if inspect.isawaitable(value) and not isinstance(value, Observable):  # an Observable is awaitable too
        if inspect.iscoroutine(value):
            value.close()  # never run: no "coroutine was never awaited" later
        raise TypeError(
            f"the handler of tool {call.name!r} returned an awaitable; async handlers are not awaited: "
            "return a value or an Observable (e.g. reactivex.from_future(...))"
        )
    return value


def _fatal(error: BaseException) -> Observable[Any]:
    """An observable that fails with ``error`` itself (``reactivex.throw`` would wrap a
    ``KeyboardInterrupt`` in an ``Exception``, and the caller could not catch it by its type)."""

    def subscribe(observer: abc.ObserverBase[Any], _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        observer.on_error(error)  # type: ignore[arg-type]
        return Disposable()

    return Observable(subscribe)


def _json_default(value: Any) -> Any:
    """What ``json.dumps`` cannot encode itself: a dataclass as its fields, an Enum member as
    its value, anything else as ``str(value)``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def _forces_a_tool(choice: Any) -> bool:
    """``"required"``, a named function (a dict) or a Tool/function given as ``tool_choice``."""
    return choice == "required" or (choice is not None and not isinstance(choice, str))


def _start_messages(messages: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [dict(message) for message in messages]


def tool_loop(
    client: Client,
    messages: str | Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Any],
    handlers: Mapping[str, Callable[..., Any]] | None = None,
    max_turns: int = 8,
    model: str | None = None,
    per_turn: Callable[[Observable[Chunk]], Observable[Chunk]] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    tool_timeout: float | None = 120.0,
    reset_tool_choice: bool = True,
    **params: Any,
) -> Observable[ToolLoopEvent]:
    """A cold observable of a whole tool-using conversation, turn after turn.

    Args:
        client: the :class:`~openrouter_rx.Client` that sends each turn (streamed).
        messages: the conversation so far (a str is one user message); not modified.
        tools: ``Tool`` objects, ``@tool`` functions or tool dicts, offered on every turn.
        handlers: name → function run for that tool's calls; a ``@tool`` function is its own
            handler. A mapping of arguments is passed as keyword arguments, anything else as one
            argument. The return value is sent to the model (a str as is, anything else as JSON:
            a dataclass as its fields, an Enum member as its value, other unknown objects as
            ``str()``); a handler may return an ``Observable`` (its last value is used), so slow
            tools can run elsewhere (a coroutine is not awaited: it is an error). A handler that
            raises, or returns a value with no JSON form (a dict with tuple keys, a cycle), sends
            ``{"error": {...}}`` to the model; a ``BaseException`` that is not an ``Exception``
            (``KeyboardInterrupt``, ``SystemExit``) ends the loop with that exception instead.
        max_turns: the most requests to send; reaching it while the model still calls tools is
            a :class:`~openrouter_rx.errors.MaxTurnsError` carrying the conversation.
        model: the model id (``None``: the client's default).
        per_turn: an operator applied to each turn's chunks, e.g.
            ``orx_ops.retry_with_backoff()``.
        scheduler: passed to each ``client.stream``.
        tool_timeout: seconds a handler's ``Observable`` may take before its call is answered
            with a ``TimeoutError`` (sent to the model like any handler error); ``None``: no
            limit. A plain function's call cannot be interrupted and is not limited.
        reset_tool_choice: a ``tool_choice`` that forces a call (``"required"`` or a named
            function) is sent on the first turn only, later turns say ``"auto"`` (otherwise the
            model could never answer and every loop would end in ``MaxTurnsError``). ``False``
            sends it on every turn.
        **params: any other request field (``tool_choice``, ``temperature``, ...), sent on every turn.

    Arguments that are not JSON are answered with an error that quotes them, and the replayed
    assistant message carries ``{}`` for that call (providers that parse arguments would refuse
    the next request). A schema hook that raises is reported like invalid arguments (and logged).

    Marble (one tool call, two turns)::

        turn 1 chunks:  -a-b-c|            (c finishes with finish_reason "tool_calls")
        turn 2 chunks:          -d-e|
        tool_loop:      S-A-B-(C,F,Q,R)-S-D-E-(F,L,|)
                        S TurnStarted, A..E TurnChunk, F TurnFinished, Q ToolCallRequested,
                        R ToolCallResult, L LoopFinished

    Raises (at call time):
        ValueError: a tool has no handler, a handler names no offered tool, or ``max_turns < 1``.
    """
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, not {max_turns}")
    if tool_timeout is not None and not tool_timeout > 0:
        raise ValueError(f"tool_timeout must be positive (or None), not {tool_timeout}")
    toolset = ToolSet(tools)
    table = toolset.handlers(handlers)
    missing = [name for name in toolset.names if name not in table]
    if missing:
        raise ValueError(
            f"no handler for tool(s) {missing}: pass handlers={{name: function}} or use @orx.tool functions"
        )
    wire_tools = toolset.to_wire() or None  # no tools: no `tools: []`, which providers reject (minimum 1)
    request: dict[str, Any] = dict(params)
    if model is not None:
        request["model"] = model
    first = _start_messages(messages)

    def run_call(
        turn: int, call: ToolCall, results: list[dict[str, Any]], sent: dict[str, Any]
    ) -> Observable[ToolLoopEvent]:
        problem: ToolArgumentsError | None = None
        try:
            checked = toolset.validate(call)
        except ToolArgumentsError as exc:  # also a schema hook that raised (ToolSet wraps it): tell the model
            checked, problem = call, exc
            cause = exc.__cause__
            hook_bug = isinstance(exc.messages, Mapping) and exc.messages.get("_schema") == [repr(cause)]
            _log.warning("tool loop turn %d: %s", turn, exc, exc_info=cause if hook_bug else None)
        if problem is not None and is_json_error(problem.messages):
            # Arguments that are not JSON cannot be replayed (providers that parse them reject the
            # next request): the assistant message says {} and the error tells the model what it sent.
            sent["function"]["arguments"] = "{}"
        requested: Observable[ToolLoopEvent] = reactivex.of(ToolCallRequested(turn, checked, problem))
        outcome: Observable[_Outcome]
        if problem is not None:
            outcome = reactivex.of(_Outcome(error=problem))
        else:
            try:
                value = _call_handler(table[checked.name or ""], checked)
            except Exception as exc:
                _log.warning("tool loop turn %d: tool %r raised %r", turn, checked.name, exc, exc_info=True)
                value = None
                outcome = reactivex.of(_Outcome(error=exc))
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: end the loop, never tell the model
                return reactivex.concat(requested, _fatal(exc))
            else:
                if isinstance(value, Observable):
                    if tool_timeout is not None:
                        value = value.pipe(
                            ops.timeout(tool_timeout, reactivex.throw(_tool_timed_out(checked, tool_timeout)))
                        )
                    outcome = value.pipe(
                        ops.last_or_default(None),
                        ops.map(lambda v: _Outcome(value=v)),
                        ops.catch(lambda exc, _: reactivex.of(_Outcome(error=exc))),
                    )
                else:
                    outcome = reactivex.of(_Outcome(value=value))

        def to_event(result: _Outcome) -> ToolLoopEvent:
            error, content = result.error, result.value
            if error is None and not isinstance(content, str):
                try:
                    content = json.dumps(content, default=_json_default)
                except (TypeError, ValueError, RecursionError) as exc:  # tuple keys, a cycle: tell the model
                    _log.warning("tool loop turn %d: the result of tool %r is not JSON: %r", turn, checked.name, exc)
                    error = exc
            if error is not None:
                content = _error_content(error)
            message = checked.to_result_message(content)
            results.append(message)
            return ToolCallResult(turn, checked, result.value, message, error)

        return reactivex.concat(requested, outcome.pipe(ops.map(to_event)))

    def after(turn: int, conversation: list[dict[str, Any]], response: Response) -> Observable[ToolLoopEvent]:
        assistant = response.to_message()
        finished: Observable[ToolLoopEvent] = reactivex.of(TurnFinished(turn, response))
        calls = response.tool_calls
        if not calls:
            done = LoopFinished(turn, response, tuple([*conversation, assistant]))
            return reactivex.concat(finished, reactivex.of(done))
        if turn >= max_turns:
            error = MaxTurnsError(
                f"the model still called tools after max_turns={max_turns} turns "
                f"({', '.join(repr(c.name) for c in calls)}); err.messages is the conversation to resend "
                "to go on, err.partial the last answer",
                messages=list(conversation),
                turns=turn,
                partial=response,
            )
            return reactivex.concat(finished, reactivex.throw(error))
        results: list[dict[str, Any]] = []
        steps: list[Observable[ToolLoopEvent]] = [finished]
        for call, sent in zip(calls, assistant["tool_calls"], strict=True):
            steps.append(reactivex.defer(lambda _, c=call, w=sent: run_call(turn, c, results, w)))  # type: ignore[misc]
        steps.append(reactivex.defer(lambda _: reactivex.of(_NextTurn(turn + 1, (*conversation, assistant, *results)))))
        return reactivex.concat(*steps)

    def run_turn(turn: int, conversation: list[dict[str, Any]]) -> Observable[ToolLoopEvent]:
        fields = request
        if turn > 1 and reset_tool_choice and _forces_a_tool(request.get("tool_choice")):
            fields = {**request, "tool_choice": "auto"}  # else the model could never answer
        chunks: Observable[Chunk] = client.stream(conversation, scheduler=scheduler, tools=wire_tools, **fields)
        if per_turn is not None:
            chunks = per_turn(chunks)

        def to_event(chunk: Chunk) -> ToolLoopEvent:
            return TurnChunk(turn, chunk)

        def next_steps(response: Response) -> Observable[ToolLoopEvent]:
            return after(turn, conversation, response)

        def both(shared: Observable[Chunk]) -> Observable[ToolLoopEvent]:
            live: Observable[ToolLoopEvent] = shared.pipe(ops.map(to_event))
            responses: Observable[Response] = shared.pipe(accumulate())
            rest: Observable[ToolLoopEvent] = responses.pipe(ops.flat_map(next_steps))
            return reactivex.merge(live, rest)

        started: Observable[ToolLoopEvent] = reactivex.of(TurnStarted(turn, tuple(conversation)))
        return reactivex.concat(started, chunks.pipe(ops.publish(both)))

    def subscribe(
        observer: abc.ObserverBase[ToolLoopEvent], sched: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        # Each turn is subscribed here after the last one completed, never inside its observers
        # (turn n's events would pass n levels of calls: ~120 turns overflowed the stack). The
        # lock makes the starts a loop, not a recursion, when a turn completes synchronously.
        current, lock, queued, running = SerialDisposable(), threading.Lock(), [(1, list(first))], [False]

        def start() -> None:
            with lock:
                if running[0]:
                    return
                running[0] = True
            while True:
                with lock:
                    if not queued or current.is_disposed:
                        running[0] = False
                        return
                    turn, conversation = queued.pop()
                try:
                    current.disposable = subscribe_turn(turn, conversation)
                except Exception as exc:  # making the request failed (e.g. a bad parameter)
                    observer.on_error(exc)

        def subscribe_turn(turn: int, conversation: list[dict[str, Any]]) -> abc.DisposableBase:
            following: list[_NextTurn] = []

            def on_next(event: ToolLoopEvent) -> None:
                following.append(event) if isinstance(event, _NextTurn) else observer.on_next(event)

            def on_completed() -> None:
                if not following:
                    return observer.on_completed()
                with lock:
                    queued.append((following[0].turn, [dict(m) for m in following[0].messages]))
                start()

            return run_turn(turn, conversation).subscribe(on_next, observer.on_error, on_completed, scheduler=sched)

        start()
        return current

    return Observable(subscribe)
