"""``python -m openrouter_rx``: the same as the ``openrouter-rx`` command (see docs/cli.md)."""

from __future__ import annotations

from .cli import console_main

if __name__ == "__main__":
    console_main()
