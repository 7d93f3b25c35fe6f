"""The default behaviour of the fake server when no reply was scripted for a request."""

from __future__ import annotations

import threading
import time
from typing import Any

from ._bodies import completion_body, models_body
from ._builders import KeepAlive, new_generation_id, split_pieces, text_chunks
from ._replies import CompletionReply, ErrorReply, JSONReply, Reply, StreamReply
from ._wire import RecordedRequest

__all__ = ["DefaultReplies"]

_PROVIDERS = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "meta-llama": "DeepInfra"}


class DefaultReplies:
    """Realistic answers for chat completions, ``/models`` and ``/generation``; 404 elsewhere.

    Remembers the generations it produced so that ``/generation?id=...`` reports matching stats.
    """

    def __init__(self) -> None:
        self._generations: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def reply(self, request: RecordedRequest, *, text: str | None, delay: float, model: str) -> Reply:
        """The default reply to ``request`` (``text``/``model`` default the answer and the model)."""
        path = request.path.rstrip("/")
        if path.endswith("/chat/completions"):
            if request.method != "POST":
                return ErrorReply(405, "Method Not Allowed")
            return self._chat(request, text, delay, model)
        if path.endswith("/models") and request.method == "GET":
            return JSONReply(models_body())
        if path.endswith("/generation") and request.method == "GET":
            return self._generation(request, model)
        return ErrorReply(404, "Not Found")

    def _chat(self, request: RecordedRequest, default_text: str | None, delay: float, default_model: str) -> Reply:
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return ErrorReply(400, 'Input required: specify "prompt" or "messages"')
        messages: list[Any] = body["messages"]
        model = str(body.get("model") or default_model)
        text = default_text
        if text is None:
            text = f"Hello from the fake OpenRouter server. You said: {_last_user_text(messages)}"
        pieces = split_pieces(text)
        finish = "stop"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(max_tokens, int) and 0 < max_tokens < len(pieces):
            pieces, finish = pieces[:max_tokens], "length"
        prompt_tokens = sum(len(split_pieces(_content_text(m))) + 4 for m in messages if isinstance(m, dict))
        cost = round(prompt_tokens * 0.00000015 + len(pieces) * 0.0000006, 12)
        generation = new_generation_id()
        provider = _PROVIDERS.get(model.split("/")[0], model.split("/")[0].title()) if "/" in model else "OpenAI"
        with self._lock:
            self._generations[generation] = {
                "model": model,
                "provider_name": provider,
                "tokens_prompt": prompt_tokens,
                "tokens_completion": len(pieces),
                "total_cost": cost,
                "finish_reason": finish,
                "streamed": request.stream,
            }
        if request.stream:
            chunks = text_chunks(
                "".join(pieces),
                model=model,
                provider=provider,
                pieces=pieces,
                finish_reason=finish,
                prompt_tokens=prompt_tokens,
                cost=cost,
                id=generation,
            )
            return StreamReply([KeepAlive(), *chunks], delay=delay)
        completion = completion_body(
            "".join(pieces),
            finish_reason=finish,
            model=model,
            provider=provider,
            prompt_tokens=prompt_tokens,
            cost=cost,
            id=generation,
        )
        return CompletionReply(completion)

    def _generation(self, request: RecordedRequest, default_model: str) -> Reply:
        generation = request.query.get("id")
        if not generation:
            return ErrorReply(400, "Missing generation id")
        with self._lock:
            known = dict(self._generations.get(generation, {}))
        tokens_prompt = int(known.get("tokens_prompt", 12))
        tokens_completion = int(known.get("tokens_completion", 24))
        data = {
            "id": generation,
            "upstream_id": "chatcmpl-" + generation.rsplit("-", 1)[-1],
            "total_cost": known.get("total_cost", 0.0000162),
            "cache_discount": None,
            "upstream_inference_cost": None,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "model": known.get("model", default_model),
            "app_id": None,
            "streamed": known.get("streamed", True),
            "cancelled": False,
            "provider_name": known.get("provider_name", "OpenAI"),
            "latency": 412,
            "moderation_latency": None,
            "generation_time": 835,
            "finish_reason": known.get("finish_reason", "stop"),
            "native_finish_reason": known.get("finish_reason", "stop"),
            "tokens_prompt": tokens_prompt,
            "tokens_completion": tokens_completion,
            "native_tokens_prompt": tokens_prompt,
            "native_tokens_completion": tokens_completion,
            "native_tokens_reasoning": 0,
            "native_tokens_cached": 0,
            "num_media_prompt": None,
            "num_media_completion": None,
            "num_search_results": None,
            "origin": "",
            "usage": known.get("total_cost", 0.0000162),
            "is_byok": False,
        }
        return JSONReply({"data": data})


def _content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message)
    return ""
