"""``tool_calls`` and ``tool_call_deltas``: the model's tool calls, whole or as raw deltas."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, overload

from reactivex import Observable, abc

from .._accumulator import PendingCall, ResponseAccumulator, ToolCallTracker
from .._toolset import ToolSet
from ..chunk import Chunk, ToolCallDelta
from ..errors import ProtocolError, ToolArgumentsError
from ..response import ToolCall
from ._common import attach_partial, complete_with

__all__ = ["tool_call_deltas", "tool_calls"]


class _CallEmitter:
    """Tracks one choice's tool calls and says which are complete. One job, no Rx."""

    __slots__ = ("_done", "_tracker")

    def __init__(self) -> None:
        self._tracker = ToolCallTracker()
        self._done: set[int] = set()  # id() of the pending calls already emitted

    def add(self, delta: ToolCallDelta) -> list[ToolCall]:
        """Record a delta; returns the calls it completes.

        A new call completes every earlier call at a lower or the same index (a new id at an
        index replaces the call there).
        """
        current = self._tracker.current(delta.index)
        if current is not None and id(current) in self._done and not self._tracker.starts_new(delta):
            if delta.arguments or (delta.name and delta.name != current.name):
                raise ProtocolError(
                    f"tool call {delta.index} received more data after a later call had started",
                    data=repr(delta)[:200],
                )
            return []  # a repeated id or an empty fragment after completion: nothing new
        if not self._tracker.add(delta):
            return []
        return [
            self._finish(call)
            for call in self._tracker.pending()[:-1]
            if id(call) not in self._done and call.index <= delta.index
        ]

    def _finish(self, call: PendingCall) -> ToolCall:
        self._done.add(id(call))
        return call.build()

    def flush(self) -> list[ToolCall]:
        """Every call not yet emitted, in order of first appearance."""
        return [self._finish(call) for call in self._tracker.pending() if id(call) not in self._done]


@overload
def tool_calls(
    choice: int = 0, *, tools: Iterable[Any] | None = None, errors: Literal["raise"] = "raise"
) -> Callable[[Observable[Chunk]], Observable[ToolCall]]: ...


@overload
def tool_calls(
    choice: int = 0, *, tools: Iterable[Any] | None = None, errors: Literal["emit"]
) -> Callable[[Observable[Chunk]], Observable[ToolCall | ToolArgumentsError]]: ...


def tool_calls(
    choice: int = 0, *, tools: Iterable[Any] | None = None, errors: Literal["raise", "emit"] = "raise"
) -> Callable[[Observable[Chunk]], Observable[Any]]:
    """Emit each :class:`~openrouter_rx.ToolCall` of choice ``choice`` as soon as it is complete.

    A call is complete when a call with a later index starts, when the choice's
    ``finish_reason`` arrives, or when the stream completes: never because its arguments happen
    to parse as JSON. Deltas are joined by ``index`` (indexes need not start at 0; an id repeated
    on every delta is kept once; several deltas for one index in one chunk, a whole call in one
    delta, and a first delta without a name are all handled); a new ``id`` at an index already
    in use starts a new call (providers that send every call at index 0). Arguments stay text until
    ``call.arguments`` parses them (``ToolArgumentsError`` with the raw text if invalid).

    A call still receiving arguments when the stream fails is not emitted; the error carries
    ``err.partial`` (with every call received so far). Argument text arriving for a call after
    a later one started is a :class:`~openrouter_rx.errors.ProtocolError`.

    With ``tools`` (``Tool`` objects, ``@tool`` functions or tool dicts: the ones the request
    offered), each call is validated by its tool as it completes: ``call.arguments`` is then the
    data the tool's marshmallow schema loaded, ``call.tool`` the tool and ``call.run()`` runs its
    function. A call to a tool that was not offered is an
    :class:`~openrouter_rx.errors.UnknownToolError`; arguments that are not JSON or fail the
    schema a :class:`~openrouter_rx.errors.ToolArgumentsError` (``raw`` text, marshmallow's
    ``messages``, the ``call``). With ``errors="raise"`` (the default) that error ends the stream
    (with ``err.partial``); with ``errors="emit"`` it is emitted in the call's place and the
    stream goes on, so a tool loop can tell the model what was wrong.

    Marble::

        chunks:        -a-b-c-d-f-u-|     a,b: call 0; c,d: call 1; f: finish_reason
        tool_calls():  -----x---y---|     x = call 0 (when c starts call 1), y = call 1 (at f)

    Example::

        for call in client.stream(messages, tools=tools).pipe(orx_ops.tool_calls(), ops.to_list()).run():
            messages.append(call.to_result_message(run_tool(call.name, **call.arguments)))

        # validated: call.arguments is what the tool's schema loaded
        client.stream(messages, tools=[get_weather]).pipe(orx_ops.tool_calls(tools=[get_weather]))
    """
    if errors not in ("raise", "emit"):
        raise ValueError(f"errors must be 'raise' or 'emit', not {errors!r}")
    toolset = ToolSet(tools) if tools is not None else None

    def operator(source: Observable[Chunk]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            emitter = _CallEmitter()
            acc = ResponseAccumulator()
            stopped = False

            def fail(error: Exception) -> None:
                nonlocal stopped
                stopped = True
                observer.on_error(attach_partial(error, acc.response(), acc.chunk_count))

            def checked(calls: list[ToolCall]) -> list[Any] | None:
                """The calls validated (``None`` after failing the stream with a raised error)."""
                if toolset is None:
                    return calls  # as they are: no copy per delta
                out: list[Any] = []
                for call in calls:
                    try:
                        out.append(toolset.validate(call))
                    except ToolArgumentsError as exc:
                        if errors == "raise":
                            for value in out:
                                observer.on_next(value)
                            fail(exc)
                            return None
                        out.append(exc)
                return out

            def emit(calls: list[ToolCall]) -> bool:
                values = checked(calls)
                if values is None:
                    return False
                for value in values:
                    observer.on_next(value)
                return True

            def on_next(chunk: Chunk) -> None:
                if stopped:
                    return
                acc.add(chunk)
                for item in chunk.choices:
                    if item.index != choice:
                        continue
                    for delta in item.delta.tool_calls:
                        try:
                            completed = emitter.add(delta)
                        except ProtocolError as exc:  # only the emitter's own: not one raised downstream
                            fail(exc)
                            return
                        if not emit(completed):
                            return
                    if item.finish_reason is not None and not emit(emitter.flush()):
                        return

            def on_completed() -> None:
                if stopped:
                    return
                values = checked(emitter.flush())
                if values is not None:
                    complete_with(observer, values)

            def on_error(error: Exception) -> None:
                if not stopped:
                    fail(error)

            return source.subscribe(on_next, on_error, on_completed, scheduler=subscribe_scheduler)

        return Observable(subscribe)

    return operator


def tool_call_deltas(choice: int = 0) -> Callable[[Observable[Chunk]], Observable[ToolCallDelta]]:
    """The raw :class:`~openrouter_rx.ToolCallDelta` fragments of choice ``choice``, as they arrive.

    For live display of arguments being written (the Ruby gem's ``on_tool_call_chunk``). Use
    :func:`tool_calls` to get whole calls.

    Marble::

        chunks:              -a-----b-|     a has 2 deltas, b has 1
        tool_call_deltas():  -(p,q)-r-|     (a group is at the frame of its "(" and lasts as many
                                             frames as it has characters, so r is at frame 7)
    """

    def operator(source: Observable[Chunk]) -> Observable[ToolCallDelta]:
        def subscribe(
            observer: abc.ObserverBase[ToolCallDelta], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(chunk: Chunk) -> None:
                for item in chunk.choices:
                    if item.index == choice:
                        for delta in item.delta.tool_calls:
                            observer.on_next(delta)

            return source.subscribe(on_next, observer.on_error, observer.on_completed, scheduler=subscribe_scheduler)

        return Observable(subscribe)

    return operator
