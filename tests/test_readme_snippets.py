"""The README's marble-testing snippet runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_marble_testing_snippet_passes() -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section("Testing your pipeline with marbles"), re.S)
    assert blocks, "the README lost its marble-testing example"
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
    assert len(tests) == 3
    for test in tests:
        test()


def test_quick_starts_run_as_written(fake_openrouter: Any, monkeypatch: Any, capsys: Any) -> None:
    """Both quick starts, as written, against the fake server (``OPENROUTER_BASE_URL``, no key)."""
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setenv("OPENROUTER_BASE_URL", fake_openrouter.base_url)
    rx_block = re.findall(r"```python\n(.*?)```", _section("Quick start: the Rx way"), re.S)[0]
    callback_block = re.findall(r"```python\n(.*?)```", _section("Quick start: callbacks"), re.S)[0]
    namespace: dict[str, Any] = {}
    try:
        exec(compile(rx_block, "README.md (Rx quick start)", "exec", dont_inherit=True), namespace)
        exec(compile(callback_block, "README.md (callbacks quick start)", "exec", dont_inherit=True), namespace)
        assert namespace["response"].content.startswith("Hello from the fake OpenRouter server")
        assert namespace["messages"][-1]["role"] == "assistant"
        assert namespace["sc"].usage_tracker.requests == 1
        fake_openrouter.wait_for_requests(3)  # the subscribed stream, the accumulated one, the facade's
    finally:
        for name in ("client", "sc"):
            if name in namespace:
                namespace[name].close()
    assert "tokens, $" in capsys.readouterr().out
