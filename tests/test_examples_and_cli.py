"""The examples and the console script run offline, as a new user would run them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openrouter_rx.cli import main

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


def test_cli_chat_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    out, err = io.StringIO(), io.StringIO()
    assert main(["chat", "Say hello", "-m", "openai/gpt-4o-mini"], out=out, err=err) == 0
    assert "openrouter_rx" in out.getvalue()
    assert "fake OpenRouter server" in err.getvalue().splitlines()[0]
    assert "tokens" in err.getvalue() and "tok/s" in err.getvalue() and "cost $" in err.getvalue()


def test_cli_reports_typed_errors(fake_openrouter, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from openrouter_rx.testing import ErrorReply

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-cli-secret")
    fake_openrouter.enqueue(ErrorReply(401, "No auth credentials found"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["chat", "hi", "--base-url", fake_openrouter.base_url], out=out, err=err)
    assert code == 1
    assert "AuthenticationError" in err.getvalue() and "sk-or-cli-secret" not in err.getvalue()


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openrouter_rx", "chat", "hi"],
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tok/s" in result.stderr
