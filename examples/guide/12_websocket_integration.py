"""Ruby guide, "WebSocket Integration": broadcast each chunk to the browser of a chat session.

    python examples/guide/12_websocket_integration.py

``Hub`` stands in for ActionCable (or a FastAPI/Starlette WebSocket manager): ``broadcast``
puts a message on every queue subscribed to a channel, and a "browser" thread reads its queue
and prints what a page would render. The controller is the Ruby one with callbacks; the Rx way
publishes one request to two branches: the text deltas and the final summary. WebSocket servers
in Python are usually asyncio (FastAPI, Starlette, websockets): the last variant consumes the same
Rx pipeline with ``async for`` (``orx.aio.iterate``) and pushes into asyncio queues.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from typing import Any

import reactivex
from reactivex import Observable
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import StreamReply, demo_client, text_chunks

Message = dict[str, Any]
ANSWER = "WebSockets keep one connection open, so the server can push each piece of text at once."


class Hub:
    """A broadcast hub: channels of subscriber queues (thread-safe)."""

    def __init__(self) -> None:
        self._channels: defaultdict[str, list[queue.Queue[Message]]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, channel: str) -> queue.Queue[Message]:
        inbox: queue.Queue[Message] = queue.Queue()
        with self._lock:
            self._channels[channel].append(inbox)
        return inbox

    def broadcast(self, channel: str, message: Message) -> None:
        with self._lock:
            inboxes = list(self._channels[channel])
        for inbox in inboxes:
            inbox.put(message)


def browser(inbox: queue.Queue[Message], label: str) -> threading.Thread:
    """A page that renders chunks as they come and stops at the 'complete' message."""

    def run() -> None:
        text = ""
        while True:
            message = inbox.get(timeout=30)
            if message["type"] == "chunk":
                text += message["content"]
            else:
                print(f"[{label}] rendered {text!r}, then {message}")
                return

    thread = threading.Thread(target=run, name=label)
    thread.start()
    return thread


def chunk_message(text: str) -> Message:
    return {"type": "chunk", "content": text}


def complete_message(response: orx.Response) -> Message:
    return {"type": "complete", "total_tokens": response.total_tokens}


class StreamingController:
    """The Ruby controller: callbacks broadcast to the session's channel."""

    def __init__(self, hub: Hub, client: orx.Client) -> None:
        self.hub = hub
        self.client = client

    def stream_chat(self, session_id: str, messages: list[Message], model: str) -> None:
        channel = f"chat_{session_id}"
        streaming_client = orx.StreamingClient(client=self.client)  # per request: callbacks are per chat

        @streaming_client.on_stream("on_chunk")
        def send_chunk(chunk: orx.Chunk) -> None:
            if chunk.content:
                self.hub.broadcast(channel, {"type": "chunk", "content": chunk.content})

        @streaming_client.on_stream("on_finish")
        def send_complete(response: orx.Response | None) -> None:
            total = response.total_tokens if response is not None else None
            self.hub.broadcast(channel, {"type": "complete", "total_tokens": total})

        streaming_client.stream_complete(messages, model=model)

    def stream_chat_rx(self, session_id: str, messages: list[Message], model: str) -> None:
        channel = f"chat_{session_id}"

        def send(message: Message) -> Message:
            self.hub.broadcast(channel, message)
            return message

        # publish(mapper): one request feeds both branches; .run() blocks until the last message
        sent: list[Message] = (
            self.client.stream(messages, model=model).pipe(ops.publish(to_messages), ops.map(send), ops.to_list()).run()
        )
        print(f"[server] {len(sent)} messages sent on {channel}")


def to_messages(chunks: Observable[orx.Chunk]) -> Observable[Message]:
    """One request's chunks as the messages a page gets: each text delta, then a summary."""
    deltas = chunks.pipe(orx_ops.content(), ops.map(chunk_message))
    summary = chunks.pipe(orx_ops.accumulate(), ops.map(complete_message))
    return reactivex.merge(deltas, summary)


async def asyncio_server(client: orx.Client, messages: list[Message], model: str) -> None:
    """The same pipeline in an asyncio server: a page is an asyncio.Queue (a WebSocket's send)."""
    page: asyncio.Queue[Message] = asyncio.Queue()

    async def handler() -> None:  # e.g. a FastAPI websocket endpoint
        outgoing = client.stream(messages, model=model).pipe(ops.publish(to_messages))
        async for message in orx.aio.iterate(outgoing):  # cancelling this task closes the stream
            await page.put(message)  # await websocket.send_json(message)

    async def render() -> str:
        text = ""
        while (message := await page.get())["type"] == "chunk":
            text += message["content"]
        return f"[asyncio] rendered {text!r}, then {message}"

    _, rendered = await asyncio.wait_for(asyncio.gather(handler(), render()), timeout=30)
    print(rendered)


def main() -> None:
    hub = Hub()
    messages = [{"role": "user", "content": "Why do chat apps use WebSockets?"}]
    with demo_client() as (client, fake):
        if fake is not None:
            fake.enqueue(*(StreamReply(text_chunks(ANSWER), delay=0.01) for _ in range(3)))
        controller = StreamingController(hub, client)

        page = browser(hub.subscribe("chat_42"), "callback way")
        controller.stream_chat("42", messages, "openai/gpt-4o-mini")
        page.join(timeout=30)

        page = browser(hub.subscribe("chat_43"), "Rx way")
        controller.stream_chat_rx("43", messages, "openai/gpt-4o-mini")
        page.join(timeout=30)

        asyncio.run(asyncio_server(client, messages, "openai/gpt-4o-mini"))


if __name__ == "__main__":
    main()
