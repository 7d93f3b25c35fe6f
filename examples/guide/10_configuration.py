"""Ruby guide, "Configuration Options": client settings and the process-wide defaults.

    python examples/guide/10_configuration.py

``StreamingClient(...)`` takes the Ruby options by the same names (``access_token`` is an alias
of ``api_key``); ``request_timeout`` is the longest wait for data (idle), in seconds, or an
``orx.Timeout``. ``orx.configure(...)`` replaces ``OpenRouter.configure do |config| ... end``:
keyword arguments instead of a block, read once when a StreamingClient is made (its own
arguments win). The Rx way: the same settings on ``orx.Client`` and ``track_usage(tracker)``.
"""

from __future__ import annotations

import os
from typing import Any

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import FakeOpenRouter, demo_client

MESSAGES = [{"role": "user", "content": "Hello!"}]


def headers_seen(fake: FakeOpenRouter | None) -> str:
    """The attribution headers of the last request (offline only)."""
    if fake is None or fake.last_request is None:
        return ""
    headers: Any = fake.last_request.headers
    return f"[sent X-Title={headers.get('X-Title')!r}, HTTP-Referer={headers.get('HTTP-Referer')!r}]"


def main() -> None:
    # Process-wide defaults: healing for structured outputs, as in the Ruby guide.
    orx.configure(auto_heal_responses=True, healer_model="openai/gpt-4o-mini")
    print(f"settings: {orx.settings()}")
    try:
        with demo_client() as (_, fake):
            base_url = fake.base_url if fake is not None else orx.DEFAULT_BASE_URL
            # -- the callback way ---------------------------------------------------------------------
            with orx.StreamingClient(
                access_token=os.environ.get("OPENROUTER_API_KEY"),
                base_url=base_url,  # offline: the fake server; leave it out for OpenRouter
                request_timeout=60,  # seconds without data before IdleTimeout
                site_name="My App",
                site_url="https://myapp.example",
                track_usage=True,
            ) as streaming_client:  # it made its own Client: closed at the end of the block
                response = streaming_client.stream_complete(MESSAGES)
                assert response is not None
                print(f"callback way: {response.content} {headers_seen(fake)}")
                tracker = streaming_client.usage_tracker
                assert tracker is not None
                print(f"usage_tracker: {tracker.requests} request(s), {tracker.total_tokens} tokens, ${tracker.cost:f}")

            # -- the Rx way: the same settings on the Client, usage with an operator ----------------------
            tracker = orx.UsageTracker()
            with orx.Client(
                base_url=base_url, timeout=orx.Timeout(idle=60), site_name="My App", site_url="https://myapp.example"
            ) as rx_client:
                response = rx_client.stream(MESSAGES).pipe(orx_ops.track_usage(tracker), orx_ops.accumulate()).run()
            print(f"Rx way: {response.content} {headers_seen(fake)}")
            print(f"UsageTracker: {tracker.summary()['total_tokens']} tokens")
    finally:
        orx.configure(reset=True)  # back to the defaults (a test or a long-lived app would do the same)
    print(f"after reset: auto_heal_responses={orx.settings().auto_heal_responses}")


if __name__ == "__main__":
    main()
