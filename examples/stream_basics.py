"""Stream a chat completion, cancel one early, and handle a typed error.

Runs offline against the embedded fake OpenRouter server unless OPENROUTER_API_KEY
is set:  python examples/stream_basics.py
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx.testing import ErrorReply, FakeOpenRouter, StreamReply, text_chunks


def main() -> None:
    with ExitStack() as stack:
        if os.environ.get("OPENROUTER_API_KEY"):
            client = stack.enter_context(orx.Client())
            fake = None
        else:
            fake = stack.enter_context(FakeOpenRouter(default_delay=0.02))
            client = stack.enter_context(orx.Client(base_url=fake.base_url))
            print("(offline: using the embedded fake OpenRouter server)")

        messages = [{"role": "user", "content": "Name three rivers, one per line."}]

        # 1. Stream and print as it arrives; .run() blocks until the end.
        def show(chunk: orx.Chunk) -> None:
            print(chunk.content, end="", flush=True)

        chunks = client.stream(messages).pipe(ops.do_action(show), ops.to_list()).run()
        response = orx.Response.from_chunks(chunks)
        print(f"\n-> {len(chunks)} chunks, finish_reason={response.finish_reason}, usage={response.usage}")

        # 2. take(3) disposes the subscription: the connection closes after three chunks.
        first_three = client.stream(messages).pipe(ops.take(3), ops.to_list()).run()
        print(f"-> took {len(first_three)} chunks and closed the connection")

        # 3. Errors are typed; a partial answer is never lost.
        if fake is not None:
            fake.enqueue(ErrorReply(429, "Rate limit exceeded", headers={"Retry-After": "2"}))
            fake.enqueue(StreamReply(text_chunks("This answer gets cut"), disconnect_after=3))
        for _ in range(2):
            try:
                client.stream(messages).run()
            except orx.RateLimitError as err:
                print(f"-> rate limited, retry after {err.retry_after}s")
            except orx.OpenRouterError as err:
                partial = err.partial.content if err.partial else ""
                print(f"-> {type(err).__name__}: {err} (partial: {partial!r})")
            else:  # live, the failures are not scripted: most requests just succeed
                print("-> no error this time")


if __name__ == "__main__":
    main()
