"""The examples run offline, as a new user would run them (the CLI's tests are in tests/test_cli*.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENROUTER_API_KEY", None)
    return env


def _runnable_examples() -> list[Path]:
    """Every example script a new user runs as ``python examples/...py``: GUI examples (marked
    ``# example: needs-display`` in their first lines) and copyable test files (``test_*.py``) are
    run by their own tests."""
    found = []
    for path in sorted((ROOT / "examples").rglob("*.py")):
        head = path.read_text(encoding="utf-8")[:400]
        if path.name.startswith(("test_", "_")) or "# example: needs-display" in head:
            continue
        found.append(path)
    return found


@pytest.mark.parametrize("example", _runnable_examples(), ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs_offline(example: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(example)], env=_offline_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
