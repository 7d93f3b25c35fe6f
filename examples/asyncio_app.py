"""openrouter_rx in an asyncio program: await a Response, ``async for`` over chunks, cancel, gather.

Runs offline against the embedded fake OpenRouter server unless OPENROUTER_API_KEY is set:
    python examples/asyncio_app.py

``openrouter_rx.aio`` bridges any observable to asyncio. The HTTP reads still run on the client's
thread pool; every value is handed over to the event loop, so the code below runs on the loop's
thread like any coroutine. Cancelling the task that waits (``task.cancel()``, ``asyncio.timeout``)
disposes the subscription, which closes the HTTP connection at once.
"""

from __future__ import annotations

import asyncio

import openrouter_rx as orx
from openrouter_rx import aio
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import FakeOpenRouter, StreamReply, demo_client, text_chunks

LONG_ANSWER = " ".join(f"word{i}" for i in range(200))


async def await_a_response(client: orx.Client) -> None:
    """1. ``await`` the accumulated Response (the last value of ``accumulate()``)."""
    response = await aio.last(client.stream("Name a river.").pipe(orx_ops.accumulate()))
    print(f"1. awaited: {response.content!r} (finish_reason={response.finish_reason}, {response.total_tokens} tokens)")


async def stream_chunks(client: orx.Client) -> None:
    """2. ``async for`` over the content deltas, printed as they arrive; ``async with`` makes sure
    the subscription is disposed however the block is left."""
    print("2. streamed: ", end="")
    async with aio.iterate(client.stream("Say hello.").pipe(orx_ops.content())) as texts:
        async for text in texts:
            print(text, end="", flush=True)
    print()


async def cancel_a_stream(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    """3. Cancel the task that reads a long answer after three chunks: the connection closes."""
    if fake is not None:
        fake.enqueue(StreamReply(text_chunks(LONG_ANSWER), delay=0.02))  # ~4 s if read to the end
    received: list[str] = []
    three = asyncio.Event()

    async def read_everything() -> None:
        async for chunk in aio.iterate(client.stream("Count to two hundred, slowly.")):
            received.append(chunk.content or "")
            if len(received) == 3:
                three.set()

    task = asyncio.create_task(read_everything())
    await three.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"3. cancelled the task after {len(received)} chunks ({''.join(received)!r})")
    if fake is not None and fake.last_request is not None:
        request = fake.last_request
        gone = await asyncio.to_thread(request.wait_disconnected, 5.0)
        print(f"   the fake server saw the client go away before the reply was finished: {gone}")


async def several_at_once(client: orx.Client) -> None:
    """4. Several requests at once with ``asyncio.gather`` (each reads on its own pool thread)."""
    questions = ["What is 2 + 2?", "Name a colour.", "Name a planet."]
    responses = await asyncio.gather(
        *(aio.last(client.stream(question).pipe(orx_ops.accumulate())) for question in questions)
    )
    for question, response in zip(questions, responses, strict=True):
        print(f"4. {question} -> {response.content!r}")


async def errors_are_raised_in_the_task(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    """5. A failed stream raises its typed error in the task; the partial answer is on it."""
    if fake is None:
        return  # a real model rarely fails on demand
    fake.enqueue(StreamReply(text_chunks("This answer gets cut off here"), disconnect_after=4))
    try:
        async for _ in aio.iterate(client.stream("Tell me something.")):
            pass
    except orx.OpenRouterError as err:
        partial = err.partial.content if err.partial is not None else ""
        print(f"5. {type(err).__name__}: kept the partial answer {partial!r}")


async def main(client: orx.Client, fake: FakeOpenRouter | None) -> None:
    await await_a_response(client)
    await stream_chunks(client)
    await cancel_a_stream(client, fake)
    await several_at_once(client)
    await errors_are_raised_in_the_task(client, fake)


if __name__ == "__main__":
    with demo_client() as (demo, fake_server):
        asyncio.run(main(demo, fake_server))
