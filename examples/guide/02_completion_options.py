"""Ruby guide, "Using CompletionOptions": one reusable set of request options, overridden per call.

    python examples/guide/02_completion_options.py

``CompletionOptions`` holds OpenRouter body fields (model, temperature, max_tokens, ...); only
the fields that are set are sent. The callback way passes it as the second argument of
``stream_complete`` / the third of ``stream``; keyword arguments override it for one call. The
Rx way spreads ``options.to_params()`` into ``client.stream(...)``; ``merge(...)`` makes the
per-request variant. Offline, the fake server shows what each request carried.
"""

from __future__ import annotations

from typing import Any

from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import FakeOpenRouter, demo_client

MESSAGES = [{"role": "user", "content": "Describe the sea in five words."}]


def sent(fake: FakeOpenRouter | None) -> str:
    """What the last request carried (offline only)."""
    if fake is None or fake.last_request is None:
        return ""
    body: dict[str, Any] = fake.last_request.json
    return (
        f"   [sent model={body.get('model')} temperature={body.get('temperature')} max_tokens={body.get('max_tokens')}]"
    )


def main() -> None:
    stream_opts = orx.CompletionOptions(model="openai/gpt-4o-mini", temperature=0.8, max_tokens=2000)
    print("options:", stream_opts.to_params())

    with demo_client() as (client, fake):
        streaming_client = orx.StreamingClient(client=client)

        # -- the callback way --------------------------------------------------------------------
        response = streaming_client.stream_complete(MESSAGES, stream_opts, accumulate_response=True)
        assert response is not None
        print("stream_complete:", response.content, sent(fake))

        print("stream:          ", end="")
        streaming_client.stream(MESSAGES, lambda text: print(text, end="", flush=True), stream_opts)
        print(sent(fake))

        print("stream, t=0.2:   ", end="")  # a keyword overrides the options for this call only
        streaming_client.stream(MESSAGES, lambda text: print(text, end="", flush=True), stream_opts, temperature=0.2)
        print(sent(fake))

        # -- the Rx way: the options are plain keyword arguments of client.stream -------------------
        pieces = client.stream(MESSAGES, **stream_opts.merge(temperature=0.2).to_params()).pipe(
            orx_ops.content(), ops.to_list()
        )
        print("Rx, t=0.2:       ", "".join(pieces.run()), sent(fake))


if __name__ == "__main__":
    main()
