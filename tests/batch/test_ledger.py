"""The SQLite ledger: migrations, WAL, the run lock, recovery after a crash, redaction."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from seedless.batch import Ledger
from seedless.batch.ledger import LEDGER_NAME, MIGRATIONS, OutputRecord, Status
from seedless.errors import ConfigurationError, ServerError


def start(ledger: Ledger, job_id: str, run: str = "r") -> int:
    return ledger.start(
        run, job_id=job_id, kind="generate", job_hash="h" + job_id, request_hash="q" + job_id,
        input_hash=None, recipe_hash="rh", provider="fake", model="fake:m", seed=1, n=1,
        estimate=0.02, source=None, invocation="inv",
    )  # fmt: skip


def test_schema_is_migrated_once_in_wal_mode(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        assert ledger.path == tmp_path / LEDGER_NAME
        assert ledger.migrate() == []  # already applied
    conn = sqlite3.connect(tmp_path / LEDGER_NAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [row[0] for row in conn.execute("SELECT name FROM _migrations")]
        assert names == [name for name, _ in MIGRATIONS]
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"runs", "jobs", "attempts", "outputs"} <= tables
    finally:
        conn.close()
    with Ledger.open(tmp_path) as again:  # reopening applies nothing twice
        assert again.migrate() == []


def test_the_run_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first = Ledger.open(tmp_path)
    first.lock()
    second = Ledger.open(tmp_path)
    with pytest.raises(ConfigurationError, match="another seedless batch"):
        second.lock()
    first.close()
    second.lock()  # released by close
    second.close()


def test_attempts_count_and_errors_are_redacted(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        ledger.begin_run("r", str(tmp_path), budget=None)
        assert start(ledger, "a") == 1
        error = ServerError(
            "boom with key " + "sk-" + "abcdefghijklmnop1234 inside", provider="fake", status=502
        )
        ledger.add_attempt("r", "a", 1, "retry", error=error, retry_delay=0.5)
        ledger.mark_failed("r", "a", error, status=Status.RETRYABLE, retryable=True)
        ledger.commit()
        assert start(ledger, "a") == 2
        ledger.commit()
        row = ledger.job("r", "a")
        assert row is not None and row["status"] == "running" and row["attempts"] == 2
        assert row["error_class"] is None  # cleared by the new attempt
        (attempt,) = ledger.attempt_rows("r")
        assert attempt["http_status"] == 502 and attempt["retry_delay_s"] == 0.5
        assert "sk-abc" not in attempt["error_message"] and "[secure]" in attempt["error_message"]


def test_recover_accepts_written_outputs_and_interrupts_the_rest(tmp_path: Path) -> None:
    data = b"image bytes"
    digest = hashlib.sha256(data).hexdigest()
    with Ledger.open(tmp_path) as ledger:
        ledger.begin_run("r", str(tmp_path), budget=None)
        for job_id in ("written", "lost", "torn", "running"):
            start(ledger, job_id)
        for job_id in ("written", "lost", "torn"):
            record = OutputRecord(f"{job_id}.png", digest, "image/png", len(data))
            ledger.mark_writing("r", job_id, [record], cost=0.02, latency=0.1, cached=False)
        (tmp_path / "written.png").write_bytes(data)
        (tmp_path / "torn.png").write_bytes(data[:4])
        assert ledger.recover(tmp_path) == (1, 3)
        statuses = {row["job_id"]: row["status"] for row in ledger.rows("r")}
        assert statuses == {"written": "done", "lost": "interrupted", "torn": "interrupted",
                            "running": "interrupted"}  # fmt: skip
        summary = ledger.summary("r")
        assert summary.done == 1 and summary.cost_usd == pytest.approx(0.02)
        assert summary.failures == {"InterruptedError": 3}


def test_find_refuses_to_invent_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no seedless ledger"):
        Ledger.find(tmp_path)
    Ledger.open(tmp_path).close()
    with Ledger.find(tmp_path) as ledger:
        with pytest.raises(ConfigurationError, match="holds no runs"):
            ledger.resolve_run(None)
        ledger.begin_run("one", str(tmp_path), budget=1.0)
        ledger.begin_run("two", str(tmp_path), budget=None)
        assert ledger.resolve_run(None) == "two" and ledger.resolve_run("one") == "one"
        with pytest.raises(ConfigurationError, match="it holds: two, one"):
            ledger.resolve_run("three")


def test_money_is_kept_to_the_micro_dollar_without_float_noise(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        for job_id in ("a", "b", "c"):
            start(ledger, job_id)
            ledger.add_attempt("r", job_id, 1, "done", cost=0.1)
            ledger.mark_writing("r", job_id, [], cost=0.1, latency=0.1, cached=False)
            ledger.mark_done("r", job_id)
        start(ledger, "d")
        ledger.add_attempt("r", "d", 1, "done", cost=0.1 * 3)  # a price times n images
        ledger.commit()
        summary = ledger.summary("r")
        assert summary.cost_usd == 0.3 and summary.spent_usd == 0.6
        assert ledger.spent("r") == 0.6
        attempt = list(ledger.attempt_rows("r"))[-1]
        assert attempt["cost_usd"] == 0.3
