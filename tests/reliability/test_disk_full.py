"""A full disk: the batch stops with one clear error, its ledger consistent (every job done,
failed or to run again; none stuck), and a resume once there is room finishes without paying
twice. Disk space is simulated in process (an injected disk of fixed size under the spool
writes and the ledger's reserve), and is real in a subprocess under a file-size limit
(``RLIMIT_FSIZE``: the kernel refuses the write, as on a full disk)."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless import DiskFullError, FunctionProvider, ModelSpec, ProviderReply, RawImage
from seedless.batch import Job, Ledger, run_batch
from seedless.batch import spool as spool_module
from seedless.batch.ledger import LEDGER_NAME
from seedless.batch.store import Store

FINAL = {"done", "failed", "retryable", "interrupted"}


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value % 256, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


class Paid:
    """A seedless-less provider (no seed, no cache can serve it) counting answered calls."""

    def __init__(self) -> None:
        self.answered: Counter[str] = Counter()

    async def __call__(self, request: Any, spec: ModelSpec) -> ProviderReply:
        await asyncio.sleep(0.01 + 0.003 * (hash(request.prompt) % 5))
        self.answered[request.prompt] += 1
        return ProviderReply(images=[RawImage(_png(len(self.answered)), "image/png")])


def _client(paid: Paid) -> seedless.AsyncClient:
    row = ModelSpec(
        provider="fake", id="noseed", operations=frozenset({"generate"}), prices={"*": 0.04}
    )
    pillow = seedless.capabilities().get("local:pillow")
    assert pillow is not None
    return seedless.AsyncClient(
        providers={"fake": FunctionProvider(paid)},
        matrix=seedless.Matrix([row, pillow]),
        max_concurrency=3,
    )


def _statuses(out: Path) -> Counter[str]:
    return Counter(_by_job(out).values())


def _by_job(out: Path) -> dict[str, str]:
    conn = sqlite3.connect(out / LEDGER_NAME)
    try:
        return dict(conn.execute("SELECT job_id, status FROM jobs"))
    finally:
        conn.close()


class FakeDisk:
    """``free`` bytes for spool writes; giving up the ledger's reserve frees ``reserve``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, free: int, reserve: int) -> None:
        self.free = free
        spool_files = spool_module.spool
        release = Store.release_reserve

        def spool(blobs: list[tuple[str, bytes, str]]) -> list[tuple[str, str]]:
            size = sum(len(data) for _, data, _ in blobs)
            if size > self.free:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.free -= size
            return spool_files(blobs)

        def release_reserve(store: Store) -> bool:
            released = release(store)
            self.free += reserve if released else 0
            return released

        monkeypatch.setattr(spool_module, "spool", spool)
        monkeypatch.setattr(Store, "release_reserve", release_reserve)


async def test_a_full_disk_stops_the_batch_consistently_and_the_resume_pays_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid = Paid()
    client = _client(paid)
    jobs = [Job.generate(f"fox {i}", model="fake:noseed", id=f"fox-{i:02d}") for i in range(24)]
    size = len(_png(1))
    FakeDisk(monkeypatch, free=6 * size, reserve=4 * size)  # room for the answers in flight
    with pytest.raises(DiskFullError, match=r"is full.*Free some space") as caught:
        await run_batch(client, jobs, tmp_path, progress=False)
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    first = _statuses(tmp_path)
    assert set(first) <= FINAL, first  # none left running or writing
    assert first["done"] >= 7  # the answer that found the disk full was written (reserve)
    assert not (tmp_path / f".{LEDGER_NAME}.reserve").exists()

    monkeypatch.undo()  # room again
    again = await run_batch(client, jobs, tmp_path, progress=False)
    assert again.ok and again.already_done == first["done"]
    assert set(paid.answered.values()) == {1} and len(paid.answered) == 24  # each paid once
    assert _statuses(tmp_path) == {"done": 24}
    assert not list(tmp_path.glob(".*.spool")) and not list(tmp_path.glob(".*.tmp"))
    await client.aclose()


def _fill(ledger: Ledger) -> None:
    """Let the ledger's file grow no further (SQLite's own cap: writes get SQLITE_FULL)."""
    pages = ledger.store.conn.execute("PRAGMA page_count").fetchone()[0]
    ledger.store.conn.execute(f"PRAGMA max_page_count = {pages}")


def _start(ledger: Ledger, i: int) -> None:
    ledger.start(
        "run", job_id=f"job-{i}", kind="generate", job_hash="h" * 64, request_hash="r",
        input_hash=None, recipe_hash=None, provider="p", model="p:m", seed=None, n=1,
        estimate=0.01, source="x" * 1500, invocation="inv",
    )  # fmt: skip


def test_a_ledger_write_on_a_full_disk_loses_nothing_of_its_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger.open(tmp_path)
    ledger.reserve()
    release = Store.release_reserve

    def release_and_grow(store: Store) -> bool:  # the reserve's room, for SQLite's cap
        store.conn.execute("PRAGMA max_page_count = 100000")
        return release(store)

    monkeypatch.setattr(Store, "release_reserve", release_and_grow)
    ledger.begin_run("run", str(tmp_path), budget=None)
    for i in range(3):
        _start(ledger, i)  # not committed yet: one transaction
    _fill(ledger)
    for i in range(3, 40):
        _start(ledger, i)  # the file must grow: SQLITE_FULL, SQLite rolls the transaction back
    ledger.commit()
    assert ledger.full is not None
    assert ledger.store.conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 40
    ledger.close()


def test_with_no_room_even_after_the_reserve_the_ledger_says_so_and_stays_usable(
    tmp_path: Path,
) -> None:
    ledger = Ledger.open(tmp_path)
    ledger.begin_run("run", str(tmp_path), budget=None)
    _start(ledger, 0)
    ledger.commit()
    _fill(ledger)
    with pytest.raises(DiskFullError, match="the ledger cannot record"):
        for i in range(1, 40):
            _start(ledger, i)
        ledger.commit()
    assert not ledger.store.conn.in_transaction  # not left "in" a transaction SQLite dropped
    ledger.store.conn.execute("PRAGMA max_page_count = 100000")  # space freed
    _start(ledger, 99)
    ledger.commit()  # failed before: "cannot commit - no transaction is active"
    assert {row["job_id"] for row in ledger.rows("run")} == {"job-0", "job-99"}
    ledger.close()


# ---------------------------------------------------------------------- a real write limit

_LIMITED = """
import resource, signal, sys
limit = int(sys.argv[1])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
import seedless.batch.store as store
store.RESERVE_BYTES = int(sys.argv[2])
from seedless.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _seedless(limit: int, reserve: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _LIMITED, str(limit), str(reserve), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_seedless_batch_under_a_real_write_limit(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a", "b", "d", "e"):
        Image.new("RGB", (64, 48), (120, 80, 40)).save(photos / f"{name}.jpg")
    noise = Image.effect_noise((700, 700), 90).convert("RGB")  # about 1.4 MB as PNG
    noise.save(photos / "c.png")
    look = tmp_path / "look.json"
    look.write_text('{"kind": "adjust", "brightness": 1.1}')
    out = tmp_path / "out"
    batch = ("batch", photos, "-o", out, "--effect", look, "--quiet", "-j", "1", "--no-cache")

    full = _seedless(1_000_000, 64 << 10, *batch)
    assert full.returncode == 1, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seedless: DiskFullError: the disk holding")
    assert "Free some space and run the same command again" in lines[0]
    first = _statuses(out)
    assert set(first) <= FINAL and first["done"] >= 2, first
    done_first = {job for job, status in _by_job(out).items() if status == "done"}

    still = _seedless(1_000_000, 2 << 20, *batch)  # a resume on the still-full disk
    assert still.returncode == 1 and len(still.stderr.strip().splitlines()) == 1
    assert "keeps 2 MB in reserve" in still.stderr and _statuses(out) == first

    done = _seedless(0, 64 << 10, *batch)
    assert done.returncode == 0, done.stderr
    assert _statuses(out) == {"done": 5}
    with Ledger.open(out) as ledger:  # the first run's done jobs were not done again
        attempts = Counter(row["job_id"] for row in ledger.attempt_rows("out"))
    assert all(attempts[job] == 1 for job in done_first), attempts


def test_a_batch_started_on_a_full_disk_leaves_no_ledger_without_tables(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (16, 16)).save(photos / "a.jpg")
    look = tmp_path / "look.json"
    look.write_text('{"kind": "adjust", "brightness": 1.1}')
    out = tmp_path / "out"
    result = _seedless(2000, 64 << 10, "batch", photos, "-o", out, "--effect", look)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("seedless: DiskFullError: the disk holding")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (out / LEDGER_NAME).exists()
