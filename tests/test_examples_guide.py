"""The guide examples, the data app and the copyable marble-test example run and say what they should."""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PROMPTS = EXAMPLES / "data" / "prompts.csv"


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENROUTER_API_KEY", None)
    return env


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=_offline_env(), capture_output=True, text=True, timeout=60, check=False
    )


def _prompt_ids() -> list[str]:
    with PROMPTS.open(newline="", encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


# -- the copyable marble-test example ------------------------------------------------------------


def test_the_marble_test_example_passes_as_a_user_runs_it() -> None:
    result = _run("-m", "pytest", "examples/test_my_operator.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b8 passed\b", result.stdout), result.stdout


# -- the data app --------------------------------------------------------------------------------


def _check_rows(rows: list[dict[str, str]], stdout: str) -> None:
    ids = _prompt_ids()
    assert sorted(row["id"] for row in rows) == sorted(ids)  # one row per prompt, none twice
    by_id = {row["id"]: row for row in rows}
    limited, broken = by_id[ids[1]], by_id[ids[-1]]
    assert limited["status"] == "ok" and int(limited["attempts"]) == 2  # the 429 was retried
    assert "fake server" in limited["content"]
    assert broken["status"] == "error" and broken["error"].startswith("TruncatedStreamError")
    assert broken["content"] and broken["content"] in f"An answer to '{broken['prompt']}'"  # the partial text
    others = [row for row in rows if row["id"] not in (limited["id"], broken["id"])]
    assert all(row["status"] == "ok" and int(row["attempts"]) == 1 for row in others)
    assert all(float(row["tokens_per_second"]) > 0 and int(row["completion_tokens"]) > 0 for row in others)
    ok = len(ids) - 1
    assert f"{len(ids)} prompts: {ok} ok, 1 failed, 1 retries" in stdout
    completion = sum(int(row["completion_tokens"]) for row in rows)
    assert re.search(rf"tokens: \d+ prompt \+ {completion} completion", stdout), stdout
    assert f"over {ok} requests with usage" in stdout


def test_the_data_app_writes_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "results.db"
    result = _run("examples/data_app.py", "--out", str(out), "--concurrency", "3")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(out) as db:
        db.row_factory = sqlite3.Row
        rows = [{key: str(row[key]) for key in row.keys()} for row in db.execute("SELECT * FROM results")]
    _check_rows(rows, result.stdout)


def test_the_data_app_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = _run("examples/data_app.py", "--out", str(out), "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    _check_rows(rows, result.stdout)
    # concurrency 1: the rows are written in the order of the CSV
    assert [row["id"] for row in rows] == _prompt_ids()


def test_the_data_app_refuses_a_zero_concurrency() -> None:
    result = _run("examples/data_app.py", "--concurrency", "0")
    assert result.returncode == 2 and "--concurrency must be at least 1" in result.stderr


# -- the guide scripts: stronger checks than the generic smoke test ----------------------------------

GUIDE = EXAMPLES / "guide"

EXPECTED = {
    "03_callbacks.py": [
        "Starting request to anthropic/claude-3.5-sonnet",
        "Messages: 1 messages",
        "[decorated on_finish] 'Quantum computers",
        "valid events: on_start, on_chunk, on_tool_call_chunk, on_finish, on_error",
    ],
    "06_error_handling_and_fallbacks.py": [
        "stream_complete raised BadGatewayError",
        "fallback used: Hamlet avenges his father, at a great cost (answered by the non-streaming fallback).",
    ],
    "09_structured_outputs.py": [
        "User: John Doe, Age: 30",
        "-> {'name': 'John Doe', 'age': 30, 'email': 'john@example.com'}",  # healed
        "structured_output: {'name': 'John Doe', 'age': 30, 'email': 'john@example.com'}",
    ],
    "10_configuration.py": [
        "auto_heal_responses=True, healer_model='openai/gpt-4o-mini'",
        "[sent X-Title='My App', HTTP-Referer='https://myapp.example']",
        "after reset: auto_heal_responses=False",
    ],
    "12_websocket_integration.py": [
        f"[{way}] rendered 'WebSockets keep one connection open, so the server can push each piece of text at once.', "
        "then {'type': 'complete', 'total_tokens': "
        for way in ("callback way", "Rx way", "asyncio")
    ],
    "14_troubleshooting.py": [
        "Request timed out (IdleTimeout), falling back to regular client",
        "partial kept: 'Rivers shape '; fallback: Rivers carve valleys (answered by the regular client).",
        "on_finish ran 12 times",
        "tool calls ['get_weather']",
    ],
    "15_best_practices.py": [
        "server error: (busy: 503, please try again in a minute)",
        "timeout: Crumb & Co.",
        "bad key: (sorry, the assistant is unavailable: AuthenticationError)",
        "Rx way, timeout: Crumb & Co. (from openai/gpt-4o-mini",
    ],
}


@pytest.fixture(scope="module")
def guide_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """The checked scripts, run at the same time (each is a separate offline process)."""
    with ThreadPoolExecutor(max_workers=len(EXPECTED)) as pool:
        runs = dict(zip(EXPECTED, pool.map(lambda name: _run(str(GUIDE / name)), EXPECTED), strict=True))
    return runs


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_a_guide_script_says_what_it_shows(
    script: str, guide_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = guide_runs[script]
    assert result.returncode == 0, result.stderr
    for line in EXPECTED[script]:
        assert line in result.stdout, f"{line!r} not in:\n{result.stdout}"
    if script == "06_error_handling_and_fallbacks.py":
        assert result.stdout.count("(answered by the non-streaming fallback)") == 3  # all three ways
    if script == "15_best_practices.py":
        assert "Slow streaming response" in result.stderr  # the on_finish monitor logged it


def test_the_guide_readme_maps_every_script_and_every_ruby_section() -> None:
    readme = (GUIDE / "README.md").read_text(encoding="utf-8")
    scripts = sorted(path.name for path in GUIDE.glob("*.py"))
    assert len(scripts) == 15
    for name in scripts:
        assert f"]({name})" in readme, name
        source = (GUIDE / name).read_text(encoding="utf-8")
        assert source.startswith('"""Ruby guide, "'), name  # each names the section it ports
        assert "Rx way" in source and "callback way" in source, name
    sections = [
        "Quick Start", "Using CompletionOptions", "Streaming with Callbacks", "Streaming with Tool Calls",
        "Real-time Processing", "Error Handling and Fallbacks", "Performance Monitoring", "Response Accumulation",
        "Structured Outputs with Streaming", "Configuration Options", "Memory Management", "WebSocket Integration",
        "Background Job Integration", "Comparison: Streaming vs Regular Client", "Best Practices: Error Handling",
        "Best Practices: Performance Optimization", "Troubleshooting: Connection Timeouts",
        "Troubleshooting: Memory Leaks", "Troubleshooting: Missing Chunks",
    ]  # fmt: skip
    for section in sections:
        assert f"| {section}" in readme, section
