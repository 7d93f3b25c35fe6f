"""The guide examples, the data app and the copyable marble-test example run and say what they should."""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

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
