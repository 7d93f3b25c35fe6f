"""``demo_client``: a Client for examples and demos, live with a key, else on the fake server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TextIO

from ..client import Client
from ._server import FakeOpenRouter

__all__ = ["demo_client"]


@contextmanager
def demo_client(
    *, offline: bool | None = None, announce: TextIO | None = None, **client_options: Any
) -> Iterator[tuple[Client, FakeOpenRouter | None]]:
    """``(client, fake)``: the real OpenRouter when ``OPENROUTER_API_KEY`` is set (``fake`` is
    ``None``), else a started :class:`FakeOpenRouter` and a client pointed at it, which a demo
    scripts with ``fake.enqueue(...)``. Both are closed on exit.

    Args:
        offline: ``True`` forces the fake server, ``False`` the real one; ``None`` (default)
            decides by the key.
        announce: where to say that the fake server is used (default ``sys.stdout``).
        **client_options: passed to :class:`~openrouter_rx.Client`.

    Example::

        with demo_client() as (client, fake):
            if fake is not None:
                fake.enqueue(StreamReply(text_chunks("Hello!")))
            print(client.stream("Hi").pipe(orx_ops.accumulate()).run().content)
    """
    use_fake = offline if offline is not None else not os.environ.get("OPENROUTER_API_KEY")
    with ExitStack() as stack:
        fake: FakeOpenRouter | None = None
        if use_fake:
            fake = stack.enter_context(FakeOpenRouter())
            client_options = {**client_options, "base_url": fake.base_url}
            print("(offline: using the embedded fake OpenRouter server)", file=announce or sys.stdout)
        client = stack.enter_context(Client(**client_options))
        yield client, fake
