"""pytest plugin (registered through the ``pytest11`` entry point): the ``fake_openrouter`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import FakeOpenRouter

__all__ = ["fake_openrouter"]


@pytest.fixture
def fake_openrouter() -> Iterator[FakeOpenRouter]:
    """A started :class:`FakeOpenRouter` on an ephemeral loopback port, stopped after the test."""
    with FakeOpenRouter() as fake:
        yield fake
