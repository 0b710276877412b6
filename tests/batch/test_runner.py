"""run_batch with in-process providers: outputs, ledger, resume, budget, cache, Ctrl-C, limits."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless import (
    Adjust,
    ContentBlockedError,
    FunctionProvider,
    ModelSpec,
    ProviderReply,
    RateLimitError,
    RawImage,
    RetryPolicy,
    ServerError,
)
from seedless.batch import Job, Ledger, estimate, run_batch
from seedless.batch.ledger import LEDGER_NAME
from seedless.cache import DiskCache
from seedless.errors import AuthenticationError, QuotaExceededError

TODAY = date(2026, 11, 25)
FAST_RETRY = RetryPolicy(max_attempts=4, initial=0.001, max_backoff=0.01, jitter=0.0)


def png(value: int, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (value % 256, (value // 256) % 256, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


MATRIX_ROWS = [
    ModelSpec(provider="fake", id="seeded", operations=frozenset({"generate", "edit"}),
              seed="seeded", seed_range=(0, 10**9), images_per_call=1, max_reference_images=2,
              prices={"*": 0.02}),
    ModelSpec(provider="fake", id="sized", operations=frozenset({"generate"}), seed="seeded",
              sizes=("1K", "2K"), default_size="1K", prices={"1K": 0.03, "2K": 0.05}),
    ModelSpec(provider="fake", id="free", operations=frozenset({"generate"}), seed="none"),
    ModelSpec(provider="fake", id="noseed", operations=frozenset({"generate"}), seed="none",
              images_per_call=1, prices={"*": 0.04}),
    ModelSpec(provider="other", id="seeded", operations=frozenset({"generate"}), seed="seeded",
              prices={"*": 0.01}),
]  # fmt: skip


class Fake:
    """A provider whose answers (and faults) a test scripts; it counts calls and concurrency."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls: list[Any] = []
        self.faults: dict[str, list[BaseException]] = {}
        self.active = 0
        self.peak = 0

    async def __call__(self, request: Any, spec: ModelSpec) -> ProviderReply:
        self.calls.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            queue = self.faults.get(request.prompt or "")
            if queue:
                raise queue.pop(0)
            value = (request.seed or 0) + len(request.prompt or "")
            return ProviderReply(
                images=[RawImage(png(value), "image/png") for _ in range(request.n)]
            )
        finally:
            self.active -= 1


def matrix() -> seedless.Matrix:
    pillow = seedless.capabilities().get("local:pillow")
    assert pillow is not None
    return seedless.Matrix([*MATRIX_ROWS, pillow])


def make_client(fake: Fake, *, other: Fake | None = None, **kwargs: Any) -> seedless.AsyncClient:
    providers: dict[str, Any] = {"fake": FunctionProvider(fake)}
    if other is not None:
        providers["other"] = FunctionProvider(other)
    kwargs.setdefault("retry", FAST_RETRY)
    return seedless.AsyncClient(providers=providers, matrix=matrix(), clock=lambda: TODAY, **kwargs)


def jobs_of(count: int, model: str = "fake:seeded", **fields: Any) -> list[Job]:
    return [
        Job.generate(f"prompt {i}", model=model, seed=i, id=f"job-{i:04d}", **fields)
        for i in range(count)
    ]


def rows(out: Path, table: str = "jobs") -> list[sqlite3.Row]:
    conn = sqlite3.connect(out / LEDGER_NAME)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(f"SELECT * FROM {table} ORDER BY rowid"))
    finally:
        conn.close()


def outputs(out: Path) -> list[Path]:
    return sorted(
        p for p in out.rglob("*") if p.is_file() and not p.name.startswith(("seedless-ledger", "."))
    )


# ---------------------------------------------------------------------- the basics


async def test_runs_writes_records_and_resumes_without_paying_twice(tmp_path: Path) -> None:
    fake = Fake()
    client = make_client(fake)
    out = tmp_path / "out"
    report = await run_batch(client, jobs_of(12), out, progress=False)
    assert report.done == 12 and report.ok and report.cost_usd == pytest.approx(0.24)
    files = outputs(out)
    assert [f.name for f in files] == [f"job-{i:04d}.png" for i in range(12)]
    for file in files:
        Image.open(file).verify()
    job_rows = rows(out)
    assert {r["status"] for r in job_rows} == {"done"}
    first = job_rows[0]
    assert first["provider"] == "fake" and first["model"] == "fake:seeded" and first["seed"] == 0
    assert first["output_path"] == "job-0000.png" and len(first["sha256"]) == 64
    assert first["request_hash"] and first["recipe_hash"] and first["input_hash"] is None
    assert first["cost_usd"] == pytest.approx(0.02) and first["latency_s"] >= 0
    assert first["created_at"] and first["finished_at"]
    attempts = rows(out, "attempts")
    assert len(attempts) == 12 and {a["outcome"] for a in attempts} == {"done"}

    again = await run_batch(client, jobs_of(12), out, progress=False)
    assert again.already_done == 12 and again.done == 0 and again.cost_usd == 0
    assert len(fake.calls) == 12  # nothing was sent again
    assert outputs(out) == files
    with Ledger.open(out) as ledger:
        summary = ledger.summary("out")
    assert summary.done == 12 and summary.cost_usd == pytest.approx(0.24)
    assert summary.spent_usd == pytest.approx(0.24)


async def test_mixed_batch_local_edits_and_generation_from_a_generator(
    tmp_path: Path, photos: list[Path]
) -> None:
    fake = Fake()
    client = make_client(fake)

    def jobs() -> Any:  # a one-shot generator: no estimate, still streamed
        for photo in photos[:3]:
            yield Job.edit(
                photo,
                model="local:pillow",
                effect=Adjust(brightness=0.8),
                output=f"local/{photo.stem}",
            )
        yield Job.edit(photos[0], "make it moody", model="fake:seeded", seed=3, id="ai-edit")
        yield Job.generate("a fox", model="fake:seeded", seed=5, n=3, id="foxes")

    report = await run_batch(client, jobs(), tmp_path, run="mixed", progress=False)
    assert report.estimate is None and report.done == 5 and report.ok
    names = {p.relative_to(tmp_path).as_posix() for p in outputs(tmp_path)}
    for photo in photos[:3]:
        assert f"local/{photo.stem}{photo.suffix if photo.suffix != '.jpeg' else '.jpg'}" in names
    assert {"ai-edit.png", "foxes-0.png", "foxes-1.png", "foxes-2.png"} <= names
    by_id = {r["job_id"]: r for r in rows(tmp_path)}
    assert by_id["ai-edit"]["kind"] == "edit" and by_id["ai-edit"]["input_hash"]
    assert by_id["foxes"]["images"] == 3
    local = next(r for r in by_id.values() if r["provider"] == "local")
    assert local["cost_usd"] == 0.0
    assert len(rows(tmp_path, "outputs")) == 3 + 1 + 3


async def test_validation_refusals_are_recorded_not_raised(tmp_path: Path) -> None:
    client = make_client(Fake())
    jobs = [
        Job.generate("fine", model="fake:seeded", seed=1, id="ok"),
        Job.generate("seedless model", model="fake:free", seed=1, id="refused"),
        Job.generate("who", model="fake:nope", id="unknown-model"),
    ]
    report = await run_batch(client, jobs, tmp_path, progress=False)
    assert report.done == 1 and report.failed == 1 and report.retryable == 1 and not report.ok
    by_id = {r["job_id"]: r for r in rows(tmp_path)}
    assert by_id["refused"]["status"] == "failed"
    assert by_id["refused"]["error_class"] == "UnsupportedCapabilityError"
    assert "seed" in by_id["refused"]["error_message"]
    assert by_id["unknown-model"]["error_class"] == "ConfigurationError"
    assert by_id["unknown-model"]["status"] == "retryable"  # fixable setup: tried again on resume
    assert report.estimate is not None and report.estimate.invalid == 2


# ---------------------------------------------------------------------- faults


async def test_fault_mix_retryable_jobs_end_done_and_final_ones_keep_their_reason(
    tmp_path: Path,
) -> None:
    fake = Fake()
    fake.faults = {
        "prompt 1": [RateLimitError("slow down", provider="fake", status=429, retry_after=0.001)]
        * 2,
        "prompt 2": [ServerError("boom", provider="fake", status=500)],
        "prompt 3": [ServerError("connection dropped", provider="fake")],
        "prompt 4": [
            ContentBlockedError(
                "blocked: IMAGE_SAFETY", provider="fake", reason="IMAGE_SAFETY", status=400
            )
        ],
        "prompt 5": [ServerError("down", provider="fake", status=503)] * 10,  # outlasts the policy
        "prompt 6": [
            ServerError(
                "key " + "AIza" + "SyA1234567890abcdefghijklmnop leaked",
                provider="fake",
                status=500,
            )
        ]
        * 10,
    }
    client = make_client(fake)
    report = await run_batch(client, jobs_of(8), tmp_path, progress=False)
    by_id = {r["job_id"]: r for r in rows(tmp_path)}
    for i in (0, 1, 2, 3, 7):
        assert by_id[f"job-{i:04d}"]["status"] == "done"
    blocked = by_id["job-0004"]
    assert blocked["status"] == "failed" and blocked["error_class"] == "ContentBlockedError"
    assert "IMAGE_SAFETY" in blocked["error_message"] and blocked["retryable"] == 0
    assert by_id["job-0005"]["status"] == "retryable" and by_id["job-0005"]["http_status"] == 503
    assert "AIza" not in by_id["job-0006"]["error_message"]
    assert report.done == 5 and report.failed == 1 and report.retryable == 2
    assert report.failures == {"ContentBlockedError": 1, "ServerError": 2}
    attempts = rows(tmp_path, "attempts")
    retries = [a for a in attempts if a["job_id"] == "job-0001" and a["outcome"] == "retry"]
    assert (
        len(retries) == 2
        and retries[0]["error_class"] == "RateLimitError"
        and retries[0]["http_status"] == 429
    )
    assert all("AIza" not in (a["error_message"] or "") for a in attempts)

    # resume: the retryable ones run again (and now succeed), the blocked one is not retried
    fake.faults = {}
    calls = len(fake.calls)
    again = await run_batch(client, jobs_of(8), tmp_path, progress=False)
    assert again.done == 2 and again.already_done == 5 and again.already_failed == 1
    assert not again.ok and "1 failed before" in str(again)  # not every job is done
    assert len(fake.calls) == calls + 2
    assert sum(1 for r in rows(tmp_path) if r["status"] == "done") == 7
    # and asking for it retries the final failure too
    last = await run_batch(client, jobs_of(8), tmp_path, progress=False, retry_failed=True)
    assert last.done == 1 and last.ok


def failing_calls(fake: Fake, fails: Callable[[Any], bool]) -> tuple[Any, list[Any]]:
    """A provider answering as ``fake`` does, except calls for which ``fails`` says so (503,
    every attempt); also the list of every wire call it was sent."""
    sent: list[Any] = []

    async def provider(request: Any, spec: ModelSpec) -> ProviderReply:
        sent.append(request)
        if fails(request):
            raise ServerError("down", provider="fake", status=503)
        return await fake(request, spec)

    return FunctionProvider(provider), sent


async def test_a_job_failing_part_way_keeps_what_it_paid_for_and_resumes_the_rest(
    tmp_path: Path,
) -> None:
    fake = Fake()
    answered = [0]

    def fourth_call_fails(request: Any) -> bool:  # unseeded: the calls are all alike
        if broken[0] and answered[0] == 3:
            return True
        answered[0] += 1
        return False

    broken = [True]
    client = make_client(fake)
    client._providers["fake"], sent = failing_calls(fake, fourth_call_fails)
    job = [Job.generate("a fox", model="fake:noseed", n=4, id="fox")]
    report = await run_batch(client, job, tmp_path, progress=False, budget=1.0)
    assert report.retryable == 1 and report.spent_usd == pytest.approx(0.12)
    # the three images that were delivered (and paid for) are written where they belong
    assert [f.name for f in outputs(tmp_path)] == ["fox-0.png", "fox-1.png", "fox-2.png"]
    assert not list(tmp_path.glob(".*.tmp"))
    (row,) = rows(tmp_path)
    assert row["status"] == "retryable" and row["error_class"] == "ServerError"
    assert row["cost_usd"] == pytest.approx(0.12) and row["images"] == 3
    kept = rows(tmp_path, "outputs")
    assert [(o["idx"], o["path"]) for o in kept] == [(i, f"fox-{i}.png") for i in range(3)]
    with Ledger.open(tmp_path) as ledger:
        assert ledger.spent(tmp_path.name) == pytest.approx(0.12)  # the budget counts it

    # the estimate of a resume prices only the missing image; the budget counts the paid ones
    ahead = estimate(client, job, out_dir=tmp_path, budget=0.15)
    assert ahead.to_run == 1 and ahead.cost_usd == pytest.approx(0.04)
    assert ahead.spent_usd == pytest.approx(0.12) and "the run stops" in str(ahead)
    stopped = await run_batch(client, job, tmp_path, progress=False, budget=0.15)
    assert stopped.skipped == 1 and len(sent) == 4 + 3  # nothing sent (4 calls + 3 retries)

    broken[0] = False
    before = {f.name: f.read_bytes() for f in outputs(tmp_path)}
    resumed = await run_batch(client, job, tmp_path, progress=False, budget=0.16)
    assert resumed.done == 1 and resumed.ok and resumed.cost_usd == pytest.approx(0.04)
    assert [r.n for r in sent[7:]] == [1]  # only the missing image was asked for
    assert [f.name for f in outputs(tmp_path)] == [f"fox-{i}.png" for i in range(4)]
    assert all((tmp_path / name).read_bytes() == data for name, data in before.items())
    (row,) = rows(tmp_path)
    assert row["status"] == "done" and row["images"] == 4
    assert row["cost_usd"] == pytest.approx(0.16)  # what the job paid, over both runs
    assert [o["idx"] for o in rows(tmp_path, "outputs")] == [0, 1, 2, 3]
    with Ledger.open(tmp_path) as ledger:
        summary = ledger.summary(tmp_path.name)
    assert summary.cost_usd == pytest.approx(0.16) and summary.spent_usd == pytest.approx(0.16)


async def test_a_seeded_job_resumes_exactly_the_wire_calls_that_failed(tmp_path: Path) -> None:
    from seedless.client import derive_seed

    fake = Fake()
    lost_seed = derive_seed(5, 1, (0, 10**9))
    broken = [True]
    client = make_client(fake)  # no cache: the resume cannot lean on it
    client._providers["fake"], sent = failing_calls(
        fake, lambda request: broken[0] and request.seed == lost_seed
    )
    job = [Job.generate("a fox", model="fake:seeded", seed=5, n=3, id="fox")]
    await run_batch(client, job, tmp_path / "out", progress=False)
    assert [f.name for f in outputs(tmp_path / "out")] == ["fox-0.png", "fox-2.png"]

    broken[0] = False
    sent.clear()
    resumed = await run_batch(client, job, tmp_path / "out", progress=False)
    assert resumed.done == 1 and [(r.seed, r.n) for r in sent] == [(lost_seed, 1)]
    # the outputs are those a run that never failed writes
    await run_batch(client, job, tmp_path / "clean", progress=False)
    got = {f.name: f.read_bytes() for f in outputs(tmp_path / "out")}
    assert got == {f.name: f.read_bytes() for f in outputs(tmp_path / "clean")}
    assert len(set(got.values())) == 3


async def test_retrying_a_job_that_failed_for_good_part_way_asks_only_for_the_rest(
    tmp_path: Path,
) -> None:
    from seedless.client import derive_seed

    fake = Fake()
    blocked_seed = derive_seed(5, 1, (0, 10**9))
    blocked = [True]

    async def provider(request: Any, spec: ModelSpec) -> ProviderReply:
        if blocked[0] and request.seed == blocked_seed:
            raise ContentBlockedError("blocked", provider="fake", reason="SAFETY", status=400)
        return await fake(request, spec)

    client = make_client(fake)
    client._providers["fake"] = FunctionProvider(provider)
    job = [Job.generate("a fox", model="fake:seeded", seed=5, n=2, id="fox")]
    first = await run_batch(client, job, tmp_path, progress=False)
    assert first.failed == 1 and [f.name for f in outputs(tmp_path)] == ["fox-0.png"]
    assert rows(tmp_path)[0]["cost_usd"] == pytest.approx(0.02)
    blocked[0] = False
    fake.calls.clear()
    again = await run_batch(client, job, tmp_path, progress=False, retry_failed=True)
    assert again.done == 1 and [r.seed for r in fake.calls] == [blocked_seed]
    assert [f.name for f in outputs(tmp_path)] == ["fox-0.png", "fox-1.png"]


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("bad key", provider="fake", status=401),
        QuotaExceededError("out of credit", provider="fake", status=429),  # a billing stop
    ],
)
async def test_a_broken_provider_is_not_hammered(tmp_path: Path, error: Exception) -> None:
    fake = Fake()
    fake.faults = {f"prompt {i}": [error] for i in range(20)}
    client = make_client(fake, max_concurrency=1)
    report = await run_batch(client, jobs_of(20), tmp_path, progress=False, max_concurrency=1)
    assert len(fake.calls) == 1  # the rest were recorded without a call
    assert report.retryable == 20 and report.failures == {type(error).__name__: 20}
    assert {r["status"] for r in rows(tmp_path)} == {"retryable"}


# ---------------------------------------------------------------------- budget


async def test_budget_stops_before_crossing_the_cap(tmp_path: Path) -> None:
    fake = Fake(latency=0.01)
    client = make_client(fake)
    report = await run_batch(
        client, jobs_of(10), tmp_path, budget=0.07, progress=False, max_concurrency=4
    )
    assert report.estimate is not None and report.estimate.cost_usd == pytest.approx(0.20)
    assert report.done == 3 and report.cost_usd == pytest.approx(0.06)
    assert report.stopped and report.stopped.startswith("budget")
    assert len(fake.calls) == 3
    with Ledger.open(tmp_path) as ledger:
        summary = ledger.summary(ledger.resolve_run(None))
    assert summary.spent_usd <= 0.07 and summary.cost_usd == pytest.approx(0.06)
    skipped = [r for r in rows(tmp_path) if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["error_class"] == "BudgetExceededError"
    # the cap covers the whole run: resuming with the same cap dispatches nothing more
    again = await run_batch(client, jobs_of(10), tmp_path, budget=0.07, progress=False)
    assert again.done == 0 and len(fake.calls) == 3
    # raising it continues where the run stopped
    more = await run_batch(client, jobs_of(10), tmp_path, budget=1.0, progress=False)
    assert more.done == 7 and more.ok and len(fake.calls) == 10


async def test_estimate_uses_size_prices_endpoint_overrides_and_the_ledger(tmp_path: Path) -> None:
    client = make_client(
        Fake(),
        endpoints=[seedless.Endpoint(name="fake", protocol="local", prices={"seeded": 0.005})],
    )
    jobs = [
        *jobs_of(4),  # overridden: $0.005
        Job.generate("big", model="fake:sized", size="2K", seed=1, id="big"),
        Job.generate("default", model="fake:sized", seed=1, id="default"),
        Job.generate("free", model="fake:free", id="unpriced"),
    ]
    result = estimate(client, jobs)
    assert result.jobs == 7 and result.to_run == 7 and result.unpriced == 1
    assert result.cost_usd == pytest.approx(4 * 0.005 + 0.05 + 0.03)
    assert ("fake:sized", "2K") in result.lines and result.lines[
        ("fake:sized", "1K")
    ].cost_usd == 0.03
    text = str(result)
    assert "fake:seeded" in text and "unknown price" in text
    await run_batch(client, jobs[:2], tmp_path, run="r", progress=False)
    resumed = estimate(client, jobs, out_dir=tmp_path, run="r")
    assert resumed.done == 2 and resumed.to_run == 5
    # a budget cannot bound a job of unknown price: it is skipped, not run
    report = await run_batch(client, jobs, tmp_path, run="r", budget=5.0, progress=False)
    assert report.skipped == 1 and report.done == 4


# ---------------------------------------------------------------------- cache


async def test_cached_rerun_costs_nothing_and_is_marked(tmp_path: Path) -> None:
    fake = Fake()
    client = make_client(fake, cache=DiskCache(tmp_path / "cache"))
    first = await run_batch(client, jobs_of(6), tmp_path / "a", progress=False)
    assert first.cost_usd == pytest.approx(0.12) and first.cached == 0
    # the same work into another folder (a re-run notebook cell): served from disk, $0
    assert estimate(client, jobs_of(6)).cached == 6
    second = await run_batch(client, jobs_of(6), tmp_path / "b", progress=False)
    assert second.done == 6 and second.cached == 6 and second.cost_usd == 0.0
    assert len(fake.calls) == 6
    job_rows = rows(tmp_path / "b")
    assert all(r["cached"] == 1 and r["cost_usd"] == 0.0 for r in job_rows)
    assert [p.read_bytes() for p in outputs(tmp_path / "a")] == [
        p.read_bytes() for p in outputs(tmp_path / "b")
    ]


async def test_a_cache_entry_whose_image_is_gone_is_budgeted_at_its_price(tmp_path: Path) -> None:
    fake = Fake()
    client = make_client(fake, cache=DiskCache(tmp_path / "cache"))
    await run_batch(client, jobs_of(4), tmp_path / "a", progress=False)
    for blob in (tmp_path / "cache").rglob("blobs/*/*"):
        blob.unlink()  # evicted by hand, or a cache cleaner: the entries remain
    assert estimate(client, jobs_of(4)).cached == 0
    report = await run_batch(client, jobs_of(4), tmp_path / "b", progress=False, budget=0.05)
    assert report.done == 2 and report.skipped == 1 and report.stopped
    assert report.spent_usd == pytest.approx(0.04) and len(fake.calls) == 4 + 2


# ---------------------------------------------------------------------- interruption


async def test_cancel_stops_dispatching_and_leaves_the_ledger_consistent(tmp_path: Path) -> None:
    fake = Fake(latency=0.05)
    client = make_client(fake)
    task = asyncio.create_task(
        run_batch(client, jobs_of(40), tmp_path, progress=False, max_concurrency=4)
    )
    ledger_file = tmp_path / LEDGER_NAME
    for _ in range(200):
        await asyncio.sleep(0.01)
        if ledger_file.exists() and sum(1 for r in rows(tmp_path) if r["status"] == "done") >= 4:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    statuses = [r["status"] for r in rows(tmp_path)]
    assert "running" not in statuses and "writing" not in statuses
    assert statuses.count("interrupted") >= 1 and statuses.count("done") >= 4
    assert len(statuses) < 40  # dispatching stopped
    done_files = outputs(tmp_path)
    assert len(done_files) == statuses.count("done")
    # one attempt row per cancelled call, "interrupted" (not also an "error" CancelledError)
    attempts = [a for a in rows(tmp_path, "attempts") if a["outcome"] != "done"]
    assert [a["outcome"] for a in attempts] == ["interrupted"] * statuses.count("interrupted")
    # resume finishes the rest, with no duplicate
    report = await run_batch(client, jobs_of(40), tmp_path, progress=False)
    assert report.ok and report.already_done == statuses.count("done")
    assert len(outputs(tmp_path)) == 40
    assert sum(1 for r in rows(tmp_path) if r["status"] == "done") == 40


async def test_the_interrupt_log_counts_only_jobs_left_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from seedless.batch import writing as runner

    writing, release = threading.Event(), threading.Event()
    write_files = runner.spool.spool

    def held(blobs: list[tuple[str, bytes, str]]) -> list[tuple[str, str]]:
        writing.set()
        release.wait(30)
        return write_files(blobs)

    monkeypatch.setattr(runner.spool, "spool", held)
    client = make_client(Fake())
    task = asyncio.create_task(run_batch(client, jobs_of(1), tmp_path, progress=False))
    assert await asyncio.to_thread(writing.wait, 30)
    task.cancel()  # Ctrl-C while the paid-for job is being written
    for _ in range(50):  # let the cancellation reach the job (its write is still held)
        await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r["status"] for r in rows(tmp_path)] == ["done"]
    said = [r.getMessage() for r in caplog.records if "interrupted:" in r.getMessage()]
    assert len(said) == 1 and "0 in-flight job(s) cancelled" in said[0], said
    assert "; 1 already paid for were written" in said[0]


@pytest.mark.parametrize("again", [False, True], ids=["cancelled", "cancelled-twice"])
async def test_a_job_cancelled_part_way_keeps_what_it_paid_for_and_resumes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, again: bool
) -> None:
    import threading

    from seedless.batch import writing as runner

    fake = Fake()
    held, answered = asyncio.Event(), asyncio.Event()
    sent: list[Any] = []

    async def provider(request: Any, spec: ModelSpec) -> ProviderReply:
        sent.append(request)
        if len(sent) == 2:  # the second wire call is still in flight at Ctrl-C
            await held.wait()
        return await fake(request, spec)

    writing, release = threading.Event(), threading.Event()
    write_files = runner.spool.spool

    def slow_write(blobs: list[tuple[str, bytes, str]]) -> list[tuple[str, str]]:
        writing.set()
        release.wait(30)
        return write_files(blobs)

    if again:  # a second Ctrl-C lands while the paid-for image is being written
        monkeypatch.setattr(runner.spool, "spool", slow_write)
    client = make_client(fake)
    client._providers["fake"] = FunctionProvider(provider)
    client.listeners.append(lambda event: event.kind == "done" and answered.set())
    job = [Job.generate("a fox", model="fake:noseed", n=2, id="fox")]  # 2 wire calls, unseeded
    task = asyncio.create_task(run_batch(client, job, tmp_path, progress=False))
    await answered.wait()  # the first call has delivered (and been paid for)
    task.cancel()
    if again:
        assert await asyncio.to_thread(writing.wait, 30)
        task.cancel()
        release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(sent) == 2
    assert [f.name for f in outputs(tmp_path)] == ["fox-0.png"]
    assert not list(tmp_path.glob(".*.tmp"))
    (row,) = rows(tmp_path)
    assert row["status"] == "interrupted" and row["retryable"] == 1
    assert row["cost_usd"] == pytest.approx(0.04) and row["images"] == 1
    assert [(o["idx"], o["path"]) for o in rows(tmp_path, "outputs")] == [(0, "fox-0.png")]

    monkeypatch.undo()
    ahead = estimate(client, job, out_dir=tmp_path)
    assert ahead.to_run == 1 and ahead.cost_usd == pytest.approx(0.04)  # the missing call only
    kept = (tmp_path / "fox-0.png").read_bytes()
    held.set()
    resumed = await run_batch(client, job, tmp_path, progress=False)
    assert resumed.done == 1 and resumed.ok and resumed.cost_usd == pytest.approx(0.04)
    assert len(sent) == 3 and sent[2].n == 1  # only the missing image was asked for
    assert [f.name for f in outputs(tmp_path)] == ["fox-0.png", "fox-1.png"]
    assert (tmp_path / "fox-0.png").read_bytes() == kept
    (row,) = rows(tmp_path)
    assert row["status"] == "done" and row["cost_usd"] == pytest.approx(0.08)


async def test_a_crash_while_writing_is_recovered_without_paying_again(tmp_path: Path) -> None:
    fake = Fake()
    client = make_client(fake)
    await run_batch(client, jobs_of(3), tmp_path, progress=False)
    # simulate kill -9 at each point of the write protocol
    conn = sqlite3.connect(tmp_path / LEDGER_NAME)
    conn.execute("UPDATE jobs SET status = 'writing' WHERE job_id IN ('job-0000', 'job-0001')")
    conn.execute("UPDATE jobs SET status = 'running' WHERE job_id = 'job-0002'")
    conn.commit()
    conn.close()
    (tmp_path / "job-0001.png").unlink()  # killed before the rename
    (tmp_path / ".job-0001.png.abcd1234.tmp").write_bytes(b"half an ima")
    report = await run_batch(client, jobs_of(3), tmp_path, progress=False)
    assert report.recovered == 1 and report.temp_files_removed == 1
    assert report.already_done == 1 and report.done == 2
    # job 0 was not paid again, nor job 2: its output is on disk with its recorded hash
    assert len(fake.calls) == 3 + 1
    assert not list(tmp_path.glob(".*.tmp"))
    assert {r["status"] for r in rows(tmp_path)} == {"done"}


async def test_only_temp_files_of_the_batchs_own_outputs_are_removed(tmp_path: Path) -> None:
    fake = Fake()
    client = make_client(fake, cache=DiskCache(tmp_path / "cache"))  # the cache lives inside
    await run_batch(client, jobs_of(2), tmp_path, progress=False)
    conn = sqlite3.connect(tmp_path / LEDGER_NAME)
    conn.execute("UPDATE jobs SET status = 'writing' WHERE job_id = 'job-0001'")
    conn.commit()
    conn.close()
    killed = tmp_path / ".job-0001.png.abcd1234.tmp"  # a write killed mid-way
    killed.write_bytes(b"half an ima")
    others = [  # another process storing into the cache, a file of the user's
        tmp_path / "cache" / "v1" / "entries" / "ab" / ".ab12.json.k2j3h4k5.tmp",
        tmp_path / ".notes.txt.abcdefgh.tmp",
        tmp_path / "sub" / ".job-0000.png.abcd1234.tmp",
    ]
    for other in others:
        other.parent.mkdir(parents=True, exist_ok=True)
        other.write_bytes(b"not the batch's")
    report = await run_batch(client, jobs_of(2), tmp_path, progress=False)
    assert report.temp_files_removed == 1 and not killed.exists()
    assert all(other.exists() for other in others)


# ---------------------------------------------------------------------- identity


async def test_duplicates_are_ignored_and_changed_jobs_run_again(tmp_path: Path) -> None:
    fake = Fake()
    client = make_client(fake)
    jobs = [*jobs_of(3), Job.generate("other", model="fake:seeded", seed=9, id="job-0001")]
    report = await run_batch(client, jobs, tmp_path, progress=False)
    assert report.done == 3 and report.duplicates == 1 and len(fake.calls) == 3
    # the estimate (and the bar's total) leave the ignored duplicate out
    assert report.estimate is not None and report.estimate.to_run == 3
    assert report.estimate.cost_usd == pytest.approx(3 * 0.02)
    changed = [*jobs_of(2), Job.generate("prompt 2", model="fake:seeded", seed=99, id="job-0002")]
    report = await run_batch(client, changed, tmp_path, progress=False)
    assert report.already_done == 2 and report.done == 1
    row = next(r for r in rows(tmp_path) if r["job_id"] == "job-0002")
    assert row["seed"] == 99 and row["attempts"] == 2


async def test_two_jobs_that_would_write_the_same_file_stop_the_batch_before_it_pays(
    tmp_path: Path,
) -> None:
    # two photos called cat.jpg in different folders, both given output "cat" in a job file
    fake = Fake()
    client = make_client(fake)
    clash = [
        Job.generate("a", model="fake:seeded", seed=1, id="a/cat.jpg", output="cat"),
        Job.generate("b", model="fake:seeded", seed=2, id="b/cat.jpg", output="cat.png"),
    ]
    with pytest.raises(seedless.ConfigurationError, match=r"a/cat.jpg.*b/cat.jpg.*cat"):
        await run_batch(client, clash, tmp_path, progress=False)
    assert fake.calls == [] and outputs(tmp_path) == []
    # a job of n images writes <output>-0 ...: a job named like one of those clashes too
    fanned = [
        Job.generate("a", model="fake:seeded", seed=1, id="x", n=2),
        Job.generate("b", model="fake:seeded", seed=2, id="x-1"),
    ]
    with pytest.raises(seedless.ConfigurationError, match="x-1"):
        await run_batch(client, fanned, tmp_path, progress=False)
    assert fake.calls == []
    # a duplicate id is ignored, not a clash
    report = await run_batch(client, [*jobs_of(2), *jobs_of(1)], tmp_path, progress=False)
    assert report.done == 2 and report.duplicates == 1


async def test_a_job_writing_over_one_of_its_inputs_stops_the_batch_before_it_pays(
    tmp_path: Path,
) -> None:
    fake = Fake()
    client = make_client(fake)
    photo = tmp_path / "photos" / "cat.png"
    photo.parent.mkdir()
    photo.write_bytes(png(7))
    other = tmp_path / "photos" / "dog.png"
    other.write_bytes(png(8))
    # a job file beside its photos, written into its own folder
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(
        '{"id": "dog", "image": "photos/dog.png", "effect": {"brightness": 0.9}}\n'
        '{"id": "cat", "image": "photos/cat.png", "effect": {"brightness": 0.9}, '
        '"output": "photos/cat"}\n'
    )
    with pytest.raises(seedless.ConfigurationError, match=r"'cat'.*jobs.jsonl:2.*cat.png"):
        await run_batch(client, jobs_file, tmp_path, progress=False)
    assert photo.read_bytes() == png(7) and not (tmp_path / "dog.png").exists()
    # the same from Python, and through a second name for the folder (a symlink)
    (tmp_path / "link").symlink_to(tmp_path / "photos")
    job = Job.edit(photo, effect=Adjust(brightness=0.9), id="cat", output="cat")
    with pytest.raises(seedless.ConfigurationError, match=r"'cat'.*over its input"):
        await run_batch(client, [job], tmp_path / "link", progress=False)
    assert photo.read_bytes() == png(7)
    # an input of another type than the output's is not the output
    jpeg = tmp_path / "photos" / "fox.jpeg"
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG")
    job = Job.edit(jpeg, effect=Adjust(brightness=0.9), id="fox", output="fox")
    assert (await run_batch(client, [job], tmp_path / "photos", progress=False)).done == 1


def test_job_ids_default_to_the_output_or_the_request_hash() -> None:
    a = Job.generate("a fox", model="fake:seeded", seed=1)
    b = Job.generate("a fox", model="fake:seeded", seed=1)
    c = Job.generate("a fox", model="fake:seeded", seed=2)
    assert a.id == b.id != c.id and len(a.id) == 16
    assert Job.generate("x", model="m", output="sub/fox").id == "sub/fox"
    with pytest.raises(ValueError, match="relative"):
        Job.generate("x", model="m", output="../escape")


# ---------------------------------------------------------------------- limits


async def test_global_and_per_provider_concurrency_limits(tmp_path: Path) -> None:
    fake, other = Fake(latency=0.02), Fake(latency=0.02)
    client = make_client(fake, other=other, max_concurrency=32)
    jobs = [
        *jobs_of(24),
        *[Job.generate(f"o{i}", model="other:seeded", seed=i, id=f"o{i}") for i in range(24)],
    ]
    report = await run_batch(
        client, jobs, tmp_path, progress=False, max_concurrency=6, per_provider={"other": 2}
    )
    assert report.done == 48
    assert other.peak == 2
    assert fake.peak <= 6 and fake.peak + other.peak <= 6 + 2
    # a limit that makes no sense is a configuration error (the CLI reports it, no traceback)
    for limits in ({"per_provider": {"other": 0}}, {"rpm": {"other": 0}}):
        with pytest.raises(seedless.ConfigurationError, match="other"):
            await run_batch(client, jobs, tmp_path, progress=False, **limits)  # type: ignore[arg-type]
    # so is a limit for an endpoint the client does not have (a typo would limit nothing)
    for limits in ({"per_provider": {"othr": 2}}, {"rpm": {"othr": 60}}):
        with pytest.raises(seedless.ConfigurationError, match=r"'othr'.*fake.*other"):
            await run_batch(client, jobs, tmp_path, progress=False, **limits)  # type: ignore[arg-type]


async def test_rate_limit_spaces_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    from seedless.batch import Limits, runner

    now = [0.0]

    async def sleep(delay: float) -> None:  # virtual time: the clock moves, nothing waits
        now[0] += delay
        await asyncio.sleep(0)

    monkeypatch.setattr(
        runner, "Limits", functools.partial(Limits, clock=lambda: now[0], sleep=sleep)
    )
    fake = Fake()
    client = make_client(fake)
    stamps: list[float] = []
    original = fake.__call__

    async def timed(request: Any, spec: ModelSpec) -> ProviderReply:
        stamps.append(now[0])
        return await original(request, spec)

    client._providers["fake"] = FunctionProvider(timed)
    await run_batch(client, jobs_of(5), tmp_path, progress=False, rpm={"fake": 1200})  # 1 per 50 ms
    assert stamps == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2], abs=1e-9)


async def test_rate_limit_takes_a_token_for_every_wire_call_retries_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seedless.batch import RateLimiter

    taken: list[float] = []
    acquire = RateLimiter.acquire

    async def counted(self: RateLimiter, tokens: float = 1.0) -> None:
        taken.append(tokens)
        await acquire(self, tokens)

    monkeypatch.setattr(RateLimiter, "acquire", counted)
    fake = Fake()
    for i in range(3):  # each job is answered 429 once, then succeeds on its retry
        fake.faults[f"prompt {i}"] = [
            RateLimitError("slow down", provider="fake", status=429, retry_after=0.001)
        ]
    client = make_client(fake, cache=DiskCache(tmp_path / "cache"))
    report = await run_batch(client, jobs_of(3), tmp_path / "a", progress=False, rpm={"fake": 6e4})
    assert report.done == 3 and len(fake.calls) == 6
    assert sum(taken) == 6  # one token per wire call
    # calls the cache serves send nothing, so they take no token
    taken.clear()
    await run_batch(client, jobs_of(3), tmp_path / "b", progress=False, rpm={"fake": 6e4})
    assert len(fake.calls) == 6 and sum(taken) == 0


async def test_progress_bar_and_logging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="seedless")
    client = make_client(Fake())
    await run_batch(client, jobs_of(3), tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "estimate: 3 job(s)" in err and "done=3" in err and "cost=$0.06" in err
    events = [getattr(r, "seedless_event", None) for r in caplog.records]
    assert "batch.start" in events and "job.done" in events and "batch.done" in events


async def test_a_second_runner_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    fake = Fake()
    started, release = asyncio.Event(), asyncio.Event()

    async def held(request: Any, spec: ModelSpec) -> ProviderReply:
        started.set()
        await release.wait()  # the first run holds the folder until the second has tried
        return await fake(request, spec)

    client = make_client(held)
    first = asyncio.create_task(run_batch(client, jobs_of(4), tmp_path, progress=False))
    await started.wait()
    with pytest.raises(seedless.ConfigurationError, match="another seedless batch"):
        await run_batch(client, jobs_of(4), tmp_path, progress=False)
    release.set()
    assert (await first).done == 4


def _sync_batch(client: seedless.Client, jobs: list[Job], out: Path) -> Any:
    return client._run(run_batch(client.aio, jobs, out, progress=False))


def test_works_from_the_sync_client(tmp_path: Path) -> None:
    fake = Fake()
    with seedless.Client(
        providers={"fake": FunctionProvider(fake)}, matrix=matrix(), clock=lambda: TODAY
    ) as client:
        report: Callable[..., Any] = _sync_batch
        assert report(client, jobs_of(3), tmp_path).done == 3


async def test_no_image_is_left_to_retry_and_money_has_no_float_noise(tmp_path: Path) -> None:
    from seedless.errors import NoImageError

    fake = Fake()
    fake.faults["prompt 3"] = [NoImageError("the model answered in words; try again")]
    matrix_rows = [row.model_copy(update={"prices": {"*": 0.1}}) for row in MATRIX_ROWS[:1]]
    pillow = seedless.capabilities().get("local:pillow")
    assert pillow is not None
    client = seedless.AsyncClient(
        providers={"fake": FunctionProvider(fake)}, matrix=seedless.Matrix([*matrix_rows, pillow]),
        clock=lambda: TODAY, retry=FAST_RETRY,
    )  # fmt: skip
    report = await run_batch(client, jobs_of(4), tmp_path, progress=False)
    assert report.cost_usd == 0.3 and report.spent_usd == 0.3  # not 0.30000000000000004
    by_id = {r["job_id"]: r for r in rows(tmp_path)}
    assert by_id["job-0003"]["status"] == "retryable"  # its message says try again
    again = await run_batch(client, jobs_of(4), tmp_path, progress=False)
    assert again.done == 1 and again.ok
