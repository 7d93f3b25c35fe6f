"""``python -m openrouter_rx``: the same as the ``openrouter-rx`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
