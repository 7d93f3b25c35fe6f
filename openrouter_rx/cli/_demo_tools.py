"""``openrouter-rx chat --tools-demo``: two small tools run through ``tool_loop``.

Each request's chunks are drawn as they stream; each tool call and its result get a line;
then the answer. The ``meter()`` operator measures every request (``per_turn``), so the
footer's numbers are those of the last request, with the cost of all of them.
"""

from __future__ import annotations

import argparse
import ast
import operator
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from typing import Any, Literal

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import Subject

from ..blocking import iterate
from ..chunk import Chunk
from ..client import Client
from ..metrics import StreamMetrics
from ..operators import meter, retry_with_backoff
from ..tool_loop import tool_loop
from ..tool_loop_events import LoopFinished, ToolCallRequested, ToolCallResult, TurnChunk, TurnFinished
from ..tools import Tool, tool
from ._chat import Progress, build_messages, run_guarded
from ._render import Renderer, Summary

__all__ = ["DEMO_TOOLS", "calculator", "get_weather", "run_tools_demo"]

_WEATHER = {"paris": (18, "light rain"), "oslo": (4, "clear"), "tokyo": (22, "cloudy")}


@tool
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, Any]:
    """The current weather in a city (a canned demo answer, no network).

    Args:
        city: the city name, e.g. "Paris".
        unit: "C" or "F".
    """
    celsius, sky = _WEATHER.get(city.strip().lower(), (15, "overcast"))
    temperature = celsius if unit == "C" else round(celsius * 9 / 5 + 32)
    return {"city": city, "temperature": temperature, "unit": unit, "sky": sky}


_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return float(_OPERATORS[type(node.op)](_evaluate(node.left), right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_evaluate(node.operand)))
    raise ValueError(f"unsupported expression element: {type(node).__name__}")


@tool
def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression (numbers, + - * / % ** and parentheses).

    Args:
        expression: e.g. "(21 * 2) / 7".
    """
    if len(expression) > 200:
        raise ValueError("expression too long")
    return _evaluate(ast.parse(expression, mode="eval"))


DEMO_TOOLS: tuple[Tool, ...] = (get_weather, calculator)


def _metered(sink: Subject[StreamMetrics]) -> Callable[[Observable[Chunk]], Observable[Chunk]]:
    """``per_turn``: the turn's chunks unchanged, and its ``meter()`` snapshots into ``sink``."""

    def operator_(chunks: Observable[Chunk]) -> Observable[Chunk]:
        def select(shared: Observable[Chunk]) -> Observable[Chunk]:
            measured = shared.pipe(meter(), ops.do_action(sink.on_next), ops.ignore_elements())
            return reactivex.merge(measured, shared)

        return chunks.pipe(ops.publish(select))

    return operator_


def _per_turn(sink: Subject[StreamMetrics], retries: int) -> Callable[[Observable[Chunk]], Observable[Chunk]]:
    """Each request: retried before any output (``--retries``), then metered."""
    metered = _metered(sink)
    if retries <= 0:
        return metered
    retry = retry_with_backoff(max_retries=retries)
    return lambda chunks: metered(retry(chunks))


def _sum_costs(costs: list[Decimal | None]) -> Decimal | None:
    return None if any(cost is None for cost in costs) else sum((c for c in costs if c is not None), Decimal(0))


def run_tools_demo(args: argparse.Namespace, client: Client, renderer: Renderer) -> int:
    """``chat --tools-demo``: the tool loop, drawn."""
    progress = Progress()
    params = {"temperature": args.temperature, "max_tokens": args.max_tokens}

    def body() -> Summary:
        renderer.start(args.model, "tools")
        metrics: Subject[StreamMetrics] = Subject()
        loop = tool_loop(
            client, build_messages(args), tools=DEMO_TOOLS, model=args.model, max_turns=4,
            per_turn=_per_turn(metrics, args.retries), **params,
        )  # fmt: skip
        events = reactivex.merge(
            metrics.pipe(ops.map(lambda m: ("metrics", m))), loop.pipe(ops.map(lambda e: ("loop", e)))
        )
        costs: list[Decimal | None] = []
        with closing(iterate(events)) as values:
            for kind, value in values:
                if kind == "metrics":
                    progress.metrics = value
                    renderer.metrics(value)
                elif isinstance(value, TurnChunk):
                    renderer.chunk(value.chunk)
                elif isinstance(value, ToolCallRequested):
                    renderer.tool_call(value.call, value.error)
                elif isinstance(value, ToolCallResult):
                    renderer.tool_result(value.call, value.value, value.error)
                elif isinstance(value, TurnFinished):
                    costs.append(value.response.cost_estimate)
                    progress.response = value.response
                    if value.response.has_tool_calls:
                        renderer.turn_finished(value.response)
                elif isinstance(value, LoopFinished):
                    return Summary(value.response, progress.metrics, turns=value.turn, total_cost=_sum_costs(costs))
        raise RuntimeError("the tool loop ended without an answer")  # pragma: no cover - LoopFinished or an error

    return run_guarded(renderer, progress, body)
