"""run_batch over real HTTP against the loopback emulator: faults, kill -9 and resume, cache."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

import seedless
from seedless import RetryPolicy
from seedless.batch import Job, Ledger, run_batch
from seedless.batch.ledger import LEDGER_NAME
from seedless.cache import DiskCache
from seedless.testing import Emulator

TODAY = date(2026, 11, 25)
MODEL = "openai:flux-dev"
SRC = Path(seedless.__file__).resolve().parents[1]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def client_for(emu: Emulator, **kwargs: object) -> seedless.AsyncClient:
    kwargs.setdefault(
        "retry", RetryPolicy(max_attempts=5, initial=0.01, max_backoff=0.05, jitter=0.0)
    )
    return seedless.AsyncClient(endpoints=emu.endpoints(), clock=lambda: TODAY, **kwargs)  # type: ignore[arg-type]


def jobs(count: int) -> list[Job]:
    return [
        Job.generate(f"a fox, take {i}", model=MODEL, seed=i, size="512x512", id=f"fox-{i:03d}")
        for i in range(count)
    ]


def job_rows(out: Path, table: str = "jobs") -> list[sqlite3.Row]:
    conn = sqlite3.connect(out / LEDGER_NAME)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(f"SELECT * FROM {table}"))
    finally:
        conn.close()


async def test_fault_mix_over_http(emu: Emulator, tmp_path: Path) -> None:
    emu.openai.fail_next(429, times=2, retry_after=0.05)
    emu.openai.fail_next(500)
    emu.openai.drop_next()
    emu.openai.fail_next(503)
    emu.openai.block_next()
    async with client_for(emu) as client:
        report = await run_batch(client, jobs(12), tmp_path, progress=False, max_concurrency=4)
    rows = {r["job_id"]: r for r in job_rows(tmp_path)}
    blocked = [r for r in rows.values() if r["status"] == "failed"]
    assert len(blocked) == 1 and blocked[0]["error_class"] == "ContentBlockedError"
    assert "safety" in blocked[0]["error_message"] and blocked[0]["retryable"] == 0
    assert blocked[0]["http_status"] == 400
    done = [r for r in rows.values() if r["status"] == "done"]
    assert len(done) == 11 and report.done == 11 and report.failed == 1
    assert report.failures == {"ContentBlockedError": 1}
    retries = [a for a in job_rows(tmp_path, "attempts") if a["outcome"] == "retry"]
    assert sorted(a["http_status"] or 0 for a in retries) == [0, 429, 429, 500, 503]
    assert {a["error_class"] for a in retries} == {"RateLimitError", "ServerError"}
    rate_limited = [a for a in retries if a["http_status"] == 429]
    assert all(a["retry_delay_s"] == pytest.approx(0.05) for a in rate_limited)  # Retry-After
    for row in done:
        data = (tmp_path / row["output_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        Image.open(tmp_path / row["output_path"]).verify()
    with Ledger.open(tmp_path) as ledger:
        summary = ledger.summary(ledger.resolve_run(None))
    assert summary.cost_usd == pytest.approx(11 * 0.02) and summary.spent_usd == pytest.approx(
        11 * 0.02
    )
    assert summary.failures == {"ContentBlockedError": 1} and summary.retries == 5


async def test_seeded_rerun_is_served_from_the_cache_over_http(
    emu: Emulator, tmp_path: Path
) -> None:
    async with client_for(emu, cache=DiskCache(tmp_path / "cache")) as client:
        first = await run_batch(client, jobs(4), tmp_path / "a", progress=False)
        sent = len(emu.openai.requests)
        second = await run_batch(client, jobs(4), tmp_path / "b", progress=False)
    assert first.cost_usd == pytest.approx(0.08) and second.cost_usd == 0.0 and second.cached == 4
    assert len(emu.openai.requests) == sent  # nothing went over the wire
    for a, b in zip(
        sorted((tmp_path / "a").glob("*.png")), sorted((tmp_path / "b").glob("*.png")), strict=True
    ):
        assert a.read_bytes() == b.read_bytes()


async def test_best_of_jobs_keep_the_winner_and_pay_for_every_candidate(
    emu: Emulator, tmp_path: Path
) -> None:
    import numpy as np

    from seedless.batch import BestOf

    def brightness(candidate: Image.Image) -> float:
        return float(np.asarray(candidate.convert("L"), dtype=float).mean() / 255)

    job = Job(request=seedless.GenerateRequest(prompt="a fox", model=MODEL, seed=5, size="512x512"),
              best_of=BestOf(n=3, scorer=brightness), id="best")  # fmt: skip
    async with client_for(emu) as client:
        report = await run_batch(client, [job], tmp_path, progress=False, budget=1.0)
    assert report.done == 1 and report.estimate is not None
    assert report.estimate.cost_usd == pytest.approx(3 * 0.02)  # worst case: all candidates
    (row,) = job_rows(tmp_path)
    assert row["kind"] == "best_of" and row["cost_usd"] == pytest.approx(0.06)
    assert 0.0 <= row["score"] <= 1.0 and len(emu.openai.requests) == 3
    assert len(list(tmp_path.glob("best*.png"))) == 1


KILLED_RUN = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import date
    import seedless
    from seedless.batch import Job, run_batch
    from seedless.testing import Emulator

    async def main() -> None:
        with Emulator(latency=0.15) as emu:
            today = date(2026, 11, 25)
            client = seedless.AsyncClient(endpoints=emu.endpoints(), clock=lambda: today)
            jobs = [Job.generate(f"a fox, take {i}", model="openai:flux-dev", seed=i,
                                 size="512x512", id=f"fox-{i:03d}") for i in range(40)]
            print("started", flush=True)
            await run_batch(client, jobs, sys.argv[1], progress=False, max_concurrency=4)

    asyncio.run(main())
    """
)


async def test_kill_9_mid_run_then_resume(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(out)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pngs = list(out.glob("fox-*.png")) if out.exists() else []
            if len(pngs) >= 6:
                break
            time.sleep(0.02)
        else:  # pragma: no cover - diagnostics
            pytest.fail("the batch made no progress before the deadline")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    before = {r["job_id"]: r["status"] for r in job_rows(out)}
    assert 0 < list(before.values()).count("done") < 40  # killed mid-run
    # a leftover temp file, as a kill during a write leaves one (the job's row is "writing":
    # a job's files are written only once that row is committed)
    first = min(job_id for job_id, status in before.items() if status == "done")
    conn = sqlite3.connect(out / LEDGER_NAME)
    conn.execute("UPDATE jobs SET status = 'writing' WHERE job_id = ?", (first,))
    conn.commit()
    conn.close()
    (out / f".{first}.png.abcd_123.tmp").write_bytes(b"\x89PNG half")

    async with client_for(emu) as client:
        report = await run_batch(client, jobs(40), out, progress=False, max_concurrency=8)
    assert report.ok and report.done + report.already_done == 40
    assert report.already_done >= list(before.values()).count("done")
    files = sorted(
        p.name for p in out.iterdir() if not p.name.startswith(("seedless-ledger", ".seedless"))
    )
    assert files == [f"fox-{i:03d}.png" for i in range(40)]  # no temp files, no duplicates
    rows = job_rows(out)
    assert len(rows) == 40 and {r["status"] for r in rows} == {"done"}
    for row in rows:
        data = (out / row["output_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        Image.open(out / row["output_path"]).verify()  # every output decodes
    with Ledger.open(out) as ledger:
        summary = ledger.summary(ledger.resolve_run(None))
    assert summary.cost_usd == pytest.approx(40 * 0.02)  # the sum over distinct done jobs
    # resumed jobs were not paid for again: the new process sent only the unfinished ones
    # (an answer the killed run had spooled, paid but not yet written, is written now)
    assert len(emu.openai.requests) == report.done - report.reused


def test_ctrl_c_stops_dispatching_and_leaves_the_ledger_consistent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if out.exists() and len(list(out.glob("fox-*.png"))) >= 4:
                break
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:  # pragma: no cover - only if the child hung
            child.kill()
            child.communicate()
    assert b"KeyboardInterrupt" in err  # Ctrl-C is re-raised after the ledger is settled
    rows = job_rows(out)
    statuses = [r["status"] for r in rows]
    assert "running" not in statuses and "writing" not in statuses
    assert statuses.count("interrupted") >= 1 and len(rows) < 40  # in flight: interrupted
    done = {r["output_path"] for r in rows if r["status"] == "done"}
    on_disk = {p.name for p in out.glob("fox-*.png")}
    assert done == on_disk and not list(out.glob(".*.tmp"))
