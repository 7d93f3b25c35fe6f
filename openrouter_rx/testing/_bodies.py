"""Builders for non-streaming OpenRouter bodies: chat completions and model lists."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._builders import arguments_text, new_call_id, new_generation_id, split_pieces, usage_dict

__all__ = ["completion_body", "models_body"]


def completion_body(
    text: str | None = None,
    *,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    reasoning: str | None = None,
    finish_reason: str | None = None,
    model: str = "openai/gpt-4o-mini",
    provider: str = "OpenAI",
    usage: bool = True,
    prompt_tokens: int = 10,
    cost: float = 0.00001,
    id: str | None = None,  # noqa: A002 - the wire name
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` body.

    Tool-call arguments are serialized to JSON strings and missing ids become ``call_...``;
    ``finish_reason`` defaults to ``"tool_calls"`` when there are tool calls, else ``"stop"``.
    """
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text is not None else "",
        "refusal": None,
        "reasoning": reasoning,
    }
    completion_tokens = len(split_pieces(text or "")) + len(split_pieces(reasoning or ""))
    if tool_calls:
        entries = []
        for index, call in enumerate(tool_calls):
            arguments = arguments_text(call.get("arguments", {}))
            completion_tokens += max(1, len(arguments) // 4)
            entries.append(
                {
                    "index": index,
                    "id": str(call.get("id") or new_call_id()),
                    "type": "function",
                    "function": {"name": str(call["name"]), "arguments": arguments},
                }
            )
        message["tool_calls"] = entries
    reason = finish_reason if finish_reason is not None else ("tool_calls" if tool_calls else "stop")
    body: dict[str, Any] = {
        "id": id if id is not None else new_generation_id(),
        "provider": provider,
        "model": model,
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {
                "logprobs": None,
                "finish_reason": reason,
                "native_finish_reason": reason,
                "index": 0,
                "message": message,
            }
        ],
        "system_fingerprint": None,
    }
    if usage:
        body["usage"] = usage_dict(prompt_tokens, completion_tokens, cost=cost)
    return body


_DEFAULT_MODELS: list[tuple[str, str, int, str, str, str]] = [
    ("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128000, "0.00000015", "0.0000006", "text+image->text"),
    ("anthropic/claude-3.5-sonnet", "Anthropic: Claude 3.5 Sonnet", 200000, "0.000003", "0.000015", "text+image->text"),
    ("meta-llama/llama-3.1-8b-instruct", "Meta: Llama 3.1 8B", 131072, "0.00000002", "0.00000005", "text->text"),
]

# Prompt-cache prices of the default models, as the real list states them (read, write).
_CACHE_PRICES: dict[str, tuple[str, str | None]] = {
    "openai/gpt-4o-mini": ("0.000000075", None),
    "anthropic/claude-3.5-sonnet": ("0.0000003", "0.00000375"),
}


def _model_entry(model_id: str, name: str, context: int, prompt: str, completion: str, modality: str) -> dict[str, Any]:
    inputs, _, outputs = modality.partition("->")
    pricing = {
        "prompt": prompt,
        "completion": completion,
        "request": "0",
        "image": "0",
        "web_search": "0",
        "internal_reasoning": "0",
    }
    read, write = _CACHE_PRICES.get(model_id, (None, None))
    if read is not None:
        pricing["input_cache_read"] = read
    if write is not None:
        pricing["input_cache_write"] = write
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "hugging_face_id": "",
        "name": name,
        "created": 1721260800,
        "description": f"{name} (fake OpenRouter model list).",
        "context_length": context,
        "architecture": {
            "modality": modality,
            "input_modalities": sorted(inputs.split("+")),
            "output_modalities": outputs.split("+"),
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": pricing,
        "top_provider": {"context_length": context, "max_completion_tokens": 16384, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": [
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "tools",
            "tool_choice",
            "response_format",
            "structured_outputs",
        ],
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
    }


def models_body(models: Sequence[str | Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A ``GET /models`` body ``{"data": [...]}``; pricing values are strings, as on the wire
    (USD per token; the default Anthropic and OpenAI models also list prompt-cache prices).

    ``models`` may mix full model dicts (used as given) and ids (filled with plausible values);
    by default three well-known models are listed.
    """
    if models is None:
        return {"data": [_model_entry(*spec) for spec in _DEFAULT_MODELS]}
    data: list[dict[str, Any]] = []
    for model in models:
        if isinstance(model, str):
            name = model.split("/")[-1].replace("-", " ").title()
            data.append(_model_entry(model, name, 32768, "0.000001", "0.000002", "text->text"))
        else:
            data.append(dict(model))
    return {"data": data}
