"""One Response's content as structured data: the rules shared by ``Response.parse`` and the
``structured_output`` operator (refusal first, then the format's attempts, a failure that says
why the reply may be broken)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import StructuredOutputError

if TYPE_CHECKING:
    from .response import Response
    from .structured import HealAttempt, JSONFormat

__all__ = ["failure_reason", "refusal_error", "structured_value"]


def failure_reason(response: Response, choice: int = 0) -> str:
    """Why a reply may not parse, from its ``finish_reason``, or because it has no content ("" when
    nothing special)."""
    picked = response.choice(choice)
    finish = picked.finish_reason
    if finish == "length":
        return "the reply was truncated by max_tokens (finish_reason 'length')"
    if finish == "content_filter":
        return "the reply was cut by a content filter (finish_reason 'content_filter')"
    if not picked.content.strip():
        return "the reply has no content" + (" (the model asked for tool calls)" if picked.tool_calls else "")
    return ""


def refusal_error(response: Response, choice: int = 0) -> StructuredOutputError | None:
    """The error for a refusal (``message.refusal``), or ``None`` when the model did not refuse."""
    picked = response.choice(choice)
    if not picked.refusal:
        return None
    return StructuredOutputError(
        f"the model refused: {picked.refusal!r}", raw=picked.content, messages={"_refusal": [picked.refusal]}
    )


def structured_value(form: JSONFormat, response: Response, *, choice: int = 0, repair: bool = True) -> Any:
    """The data ``form`` loads from choice ``choice``'s content (local repairs if needed).

    Raises:
        StructuredOutputError: refusal, or no attempt gave valid data; ``err.partial`` is ``response``.
    """
    refused = refusal_error(response, choice)
    if refused is not None:
        refused.partial = response
        raise refused
    text = response.choice(choice).content
    attempts: list[HealAttempt] = form.attempts(text, repair=repair)
    if attempts[-1].ok:
        return attempts[-1].value
    error = form.error(text, attempts, failure_reason(response, choice))
    error.partial = response
    raise error
