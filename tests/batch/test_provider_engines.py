"""run_batch(engine="provider"): Gemini Batch Mode and the OpenAI Batch API over real HTTP
against the loopback emulators (the stock google-genai SDK and httpx underneath): shards
in file mode, results streamed, every image written, half the price, kill -9 and resume
without a second create, EXPIRED leaving the unanswered jobs retryable, refusals, status
and cancel. Small numbers: the 2,000-job run lives in bench/bench_engines.py."""

from __future__ import annotations

import io
import json
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
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless import RetryPolicy
from seedless.batch import (
    Job,
    Ledger,
    cancel_provider_batches_async,
    provider_status_async,
    run_batch,
)
from seedless.batch.ledger import LEDGER_NAME
from seedless.errors import ConfigurationError
from seedless.testing import Emulator
from wirecheck.definitions import DEFINITIONS

TODAY = date(2026, 11, 25)
GEMINI = "gemini:gemini-3-pro-image"  # $0.134 at 1K (list), $0.067 through Batch Mode
GPT = "openai:gpt-image-2"
GPT_PRICE = 0.04  # gpt-image-2 has no per-image price in the matrix: the endpoint gives one
SRC = Path(seedless.__file__).resolve().parents[1]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def endpoints(emu: Emulator) -> list[seedless.Endpoint]:
    found = emu.endpoints()
    return [
        ep.model_copy(update={"prices": {"gpt-image-2": GPT_PRICE}}) if ep.name == "openai"
        else ep
        for ep in found
    ]  # fmt: skip


def client_for(emu: Emulator) -> seedless.AsyncClient:
    retry = RetryPolicy(max_attempts=3, initial=0.01, max_backoff=0.05, jitter=0.0)
    return seedless.AsyncClient(endpoints=endpoints(emu), clock=lambda: TODAY, retry=retry)


def png(color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(buffer, "PNG")
    return buffer.getvalue()


def gemini_jobs(count: int) -> list[Job]:
    return [Job.generate(f"a fox, take {i}", model=GEMINI, id=f"fox-{i:03d}")
            for i in range(count)]  # fmt: skip


def gpt_jobs(count: int) -> list[Job]:
    """gpt-image-2 generations and edits, alternately."""
    found = []
    for i in range(count):
        if i % 2:
            found.append(Job.edit(png(), "make it darker", model=GPT, id=f"gpt-{i:03d}",
                                  size="1024x1024"))  # fmt: skip
        else:
            found.append(Job.generate(f"a lighthouse {i}", model=GPT, id=f"gpt-{i:03d}",
                                      size="1024x1024"))  # fmt: skip
    return found


ENGINES = {
    "gemini": (gemini_jobs, lambda emu: emu.gemini.batches, 0.134 / 2),
    "openai": (gpt_jobs, lambda emu: emu.openai.batches, GPT_PRICE / 2),
}


def rows(out: Path, table: str = "jobs") -> list[sqlite3.Row]:
    conn = sqlite3.connect(out / LEDGER_NAME)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(f"SELECT * FROM {table}"))
    finally:
        conn.close()


def outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.suffix == ".png")


async def provider_run(emu: Emulator, jobs: list[Job], out: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("progress", False)
    async with client_for(emu) as client:
        return await run_batch(client, jobs, out, engine="provider", **kwargs)


@pytest.mark.parametrize("name", ["gemini", "openai"])
async def test_file_mode_batches_write_every_image_at_half_price(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    make, service, batch_price = ENGINES[name]
    report = await provider_run(emu, make(7), tmp_path, shard_size=3)
    assert report.ok and report.done == 7 and report.submitted == 7
    assert report.provider_batches == 3 == len(service(emu).created)  # 3 + 3 + 1 requests
    assert outputs(tmp_path) == sorted(f"{job.id}.png" for job in make(7))
    for row in rows(tmp_path):
        assert row["status"] == "done" and row["cost_usd"] == pytest.approx(batch_price)
        Image.open(tmp_path / row["output_path"]).verify()
    with Ledger.open(tmp_path) as ledger:
        summary = ledger.summary(ledger.resolve_run(None))
        shards = ledger.shards(ledger.resolve_run(None))
    assert summary.cost_usd == pytest.approx(7 * batch_price)  # half the direct price
    # Gemini sends a tiny shard (the last, of one request) inline; OpenAI has files only
    inline = ["inline"] if name == "gemini" else ["file"]
    assert [s["mode"] for s in shards] == ["file", "file", *inline]
    assert {s["state"] for s in shards} == {"collected"}
    assert report.estimate is not None
    assert report.estimate.cost_usd == pytest.approx(7 * batch_price)
    assert not list((tmp_path / ".seedless-batches").iterdir())  # spool files cleaned up
    assert not [r for r in service(emu).service.requests
                if "generateContent" in r.path or r.path.startswith("/v1/images")]  # fmt: skip


def test_batch_lines_match_the_definitions(emu: Emulator) -> None:
    """The lines a shard holds: Gemini's ``request`` is a GenerateContentRequest, OpenAI's
    bodies are CreateImageRequest / EditImageBodyJsonParam (tests/definitions)."""
    from seedless.batch.engines.gemini import GeminiBatchEngine
    from seedless.batch.engines.openai import OpenAIBatchEngine

    problems: list[str] = []

    def report(path: str, message: str, schema: str) -> None:
        problems.append(f"{path}: {message} ({schema})")

    with seedless.Client(endpoints=endpoints(emu), clock=lambda: TODAY) as client:
        gemini = GeminiBatchEngine(client.endpoints["gemini"])
        for job in [*gemini_jobs(1), Job.edit(png(), "darker", model=GEMINI, id="e")]:
            prepared = client.prepare(job.request)
            line = json.loads(gemini.line("k", prepared.calls[0], prepared.spec))
            assert set(line) == {"key", "request"}
            DEFINITIONS.gemini["v1beta"].check(
                "GenerateContentRequest", line["request"], report, request=True
            )
        openai = OpenAIBatchEngine(client.provider("openai"))  # type: ignore[arg-type]
        doc = DEFINITIONS.openai
        for job in gpt_jobs(2):
            prepared = client.prepare(job.request)
            line = json.loads(openai.line(job.id, prepared.calls[0], prepared.spec))
            assert line["custom_id"] == job.id and line["method"] == "POST"
            _, operation = doc.route("POST", line["url"]) or (None, {})
            doc.check(doc.request_schema(operation, "application/json"), line["body"], report)
    assert problems == []


@pytest.mark.parametrize("name", ["gemini", "openai"])
async def test_expired_batch_keeps_40_percent_and_leaves_60_retryable(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    make, service, batch_price = ENGINES[name]
    shards = 2 if name == "openai" else 1  # OpenAI: generations and edits, 5 + 5
    service(emu).engine.expire_next(0.4, times=shards)
    report = await provider_run(emu, make(10), tmp_path)
    assert not report.ok and report.done == 4 and report.retryable == 6
    statuses = sorted(row["status"] for row in rows(tmp_path))
    assert statuses == ["done"] * 4 + ["retryable"] * 6
    assert len(outputs(tmp_path)) == 4  # nothing that came back is lost
    with Ledger.open(tmp_path) as ledger:
        assert ledger.spent(ledger.resolve_run(None)) == pytest.approx(4 * batch_price)
    again = await provider_run(emu, make(10), tmp_path)  # the same command: the 6 go again
    assert again.ok and again.done == 6 and again.already_done == 4
    assert len(service(emu).created) == 2 * shards and len(outputs(tmp_path)) == 10
    with Ledger.open(tmp_path) as ledger:
        assert ledger.spent(ledger.resolve_run(None)) == pytest.approx(10 * batch_price)


async def test_line_errors_and_multi_call_jobs(emu: Emulator, tmp_path: Path) -> None:
    emu.gemini.block_next("IMAGE_SAFETY")  # the first line answered is blocked
    jobs = [*gemini_jobs(3), Job.generate("two foxes", model=GEMINI, n=2, id="pair")]
    report = await provider_run(emu, jobs, tmp_path)
    assert report.done == 3 and report.failed == 1
    (blocked,) = [row for row in rows(tmp_path) if row["status"] == "failed"]
    assert blocked["error_class"] == "ContentBlockedError" and blocked["retryable"] == 0
    assert {"pair-0.png", "pair-1.png"} <= set(outputs(tmp_path))  # two wire calls, two lines


async def test_submit_then_collect_later_and_status(emu: Emulator, tmp_path: Path) -> None:
    emu.gemini.batches.engine.schedule.pending = 0.3
    first = await provider_run(emu, gemini_jobs(4), tmp_path, wait=False)
    assert not first.ok and first.submitted == 4 and first.waiting == 4 and first.done == 0
    async with client_for(emu) as client:
        (status,) = await provider_status_async(client, tmp_path)
        assert status.live and status.waiting == 4 and status.batch_id
        # a direct run leaves them alone: they are out with the provider, not lost
        direct = await run_batch(client, gemini_jobs(4), tmp_path, progress=False)
    assert direct.waiting == 4 and direct.done == 0 and not emu.gemini.requests[-1].path.endswith(
        "generateContent")  # fmt: skip
    later = await provider_run(emu, gemini_jobs(4), tmp_path)
    assert later.ok and later.done == 4 and later.submitted == 0
    assert len(emu.gemini.batches.created) == 1


async def test_cancel_keeps_answers_and_leaves_the_rest(emu: Emulator, tmp_path: Path) -> None:
    emu.openai.batches.engine.schedule.pending = 30.0
    await provider_run(emu, gpt_jobs(3), tmp_path, wait=False)
    async with client_for(emu) as client:
        statuses = await cancel_provider_batches_async(client, tmp_path)
    assert len(statuses) == 2  # generations and edits
    assert {s.provider_state for s in statuses} <= {"cancelling", "cancelled"}
    emu.openai.batches.engine.schedule.pending = 0.0
    report = await provider_run(emu, gpt_jobs(3), tmp_path)
    # cancelled before they answered anything: all three were released and sent again
    assert report.ok and report.done == 3 and report.retryable == 0
    assert len(emu.openai.batches.created) == 4


async def test_provider_engine_refuses_jobs_without_one(emu: Emulator, tmp_path: Path) -> None:
    jobs = [*gemini_jobs(2), Job.generate("a fox", model="openai:flux-dev", seed=1, id="flux")]
    async with client_for(emu) as client:
        with pytest.raises(ConfigurationError) as caught:
            await run_batch(client, jobs, tmp_path, engine="provider", progress=False)
        message = str(caught.value)
        assert "openai:flux-dev" in message and GEMINI in message and "auto" in message
        assert emu.requests == []  # nothing was sent
        report = await run_batch(client, jobs, tmp_path, engine="auto", progress=False,
                                 poll_interval=0.02)  # fmt: skip
    assert report.ok and report.done == 3 and report.submitted == 2
    assert len(emu.openai.requests) == 1  # flux went direct


async def test_direct_batches_behave_as_before(emu: Emulator, tmp_path: Path) -> None:
    async with client_for(emu) as client:
        report = await run_batch(client, gemini_jobs(3), tmp_path, progress=False)
    assert report.ok and report.engine == "direct" and report.submitted == 0
    assert not (tmp_path / ".seedless-batches").exists() and emu.gemini.batches.created == []
    assert rows(tmp_path)[0]["cost_usd"] == pytest.approx(0.134)  # the list price


KILLED = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import date
    import seedless
    from seedless.batch import Job, run_batch

    async def main() -> None:
        out, name, url, key = sys.argv[1:5]
        fields = {"name": name, "protocol": name, "api_key": key, "base_url": url}
        if name == "openai":
            fields.update(batch_engine=True, prices={"gpt-image-2": 0.04})
        client = seedless.AsyncClient(endpoints=[seedless.Endpoint(**fields)],
                                      clock=lambda: date(2026, 11, 25))
        model = "gemini:gemini-3-pro-image" if name == "gemini" else "openai:gpt-image-2"
        jobs = [Job.generate(f"take {i}", model=model, id=f"job-{i:03d}", size=None
                             if name == "gemini" else "1024x1024") for i in range(8)]
        await run_batch(client, jobs, out, engine="provider", shard_size=3, progress=False,
                        poll_interval=0.05)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("name", ["gemini", "openai"])
async def test_kill_9_after_submission_then_the_same_command(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    _, service, batch_price = ENGINES[name]
    batches = service(emu)
    batches.engine.schedule.pending = 1.5  # the batches wait while the process is killed
    svc = emu.gemini if name == "gemini" else emu.openai
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(tmp_path), name, svc.url, svc.api_key],
        env=dict(os.environ, PYTHONPATH=str(SRC)), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(batches.created) == 3 and _submitted(tmp_path) == 3:
                break
            time.sleep(0.01)
        else:  # pragma: no cover - diagnostics
            pytest.fail("the batch did not submit its shards before the deadline")
        child.send_signal(signal.SIGKILL)  # right after the third create was committed
    finally:
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL and outputs(tmp_path) == []
    seen = len(svc.requests)
    jobs = [Job.generate(f"take {i}", model=GEMINI if name == "gemini" else GPT,
                         id=f"job-{i:03d}", size=None if name == "gemini" else "1024x1024")
            for i in range(8)]  # fmt: skip
    report = await provider_run(emu, jobs, tmp_path, shard_size=3)
    assert report.ok and report.done == 8 and report.submitted == 0
    assert len(batches.created) == 3  # exactly one create per shard
    after = [r.path for r in svc.requests[seen:]]
    assert not [
        p
        for p in after
        if "upload" in p or p.endswith(("batchGenerateContent", "/v1/batches", "/v1/files"))
    ]
    assert len(outputs(tmp_path)) == 8
    with Ledger.open(tmp_path) as ledger:
        assert ledger.spent(ledger.resolve_run(None)) == pytest.approx(8 * batch_price)


def _submitted(out: Path) -> int:
    if not (out / LEDGER_NAME).exists():
        return 0
    try:
        found = rows(out, "provider_batches")
    except sqlite3.OperationalError:
        return 0
    return sum(1 for row in found if row["state"] == "submitted")


async def test_budget_reserves_the_batch_price(emu: Emulator, tmp_path: Path) -> None:
    # $0.20 holds two jobs at the batch price ($0.067), one at the list price ($0.134)
    report = await provider_run(emu, gemini_jobs(5), tmp_path, budget=0.20)
    assert report.estimate is not None and "[batch]" in str(report.estimate)
    assert report.done == 2 and report.skipped == 1 and report.stopped
    with Ledger.open(tmp_path) as ledger:
        assert ledger.spent(ledger.resolve_run(None)) == pytest.approx(2 * 0.067)
    # the jobs waiting in a provider batch keep their reservation in a later run
    emu.gemini.batches.engine.schedule.pending = 0.2
    out = tmp_path / "later"
    first = await provider_run(emu, gemini_jobs(2), out, budget=0.2, wait=False)
    assert first.submitted == 2
    again = await provider_run(emu, gemini_jobs(3), out, budget=0.2)
    assert again.done == 2 and again.skipped == 1  # 2 x $0.067 held, the third does not fit


@pytest.mark.parametrize("name", ["gemini", "openai"])
async def test_a_create_the_ledger_missed_is_found_not_repeated(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    """Killed between the create's answer and its commit: the shard is still "submitting";
    the rerun finds the batch by its name at the provider and adopts it."""
    make, service, _ = ENGINES[name]
    service(emu).engine.schedule.pending = 0.2
    first = await provider_run(emu, make(3), tmp_path, wait=False)
    created = len(service(emu).created)
    conn = sqlite3.connect(tmp_path / LEDGER_NAME)
    conn.execute("UPDATE provider_batches SET state = 'submitting', batch_id = NULL")
    conn.commit()
    conn.close()
    report = await provider_run(emu, make(3), tmp_path)
    assert first.submitted == 3 and report.adopted == created and report.submitted == 0
    assert report.ok and report.done == 3 and len(service(emu).created) == created


async def test_a_shard_that_never_left_is_released_and_sent(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a shard is uploaded: it never reached the provider, so the rerun releases
    its jobs (interrupted) and sends them in a new shard."""
    from seedless.batch.engines.gemini import GeminiBatchEngine

    async def interrupted(self: Any, path: Path, name: str) -> str:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(GeminiBatchEngine, "upload", interrupted)
        with pytest.raises(KeyboardInterrupt):
            await provider_run(emu, gemini_jobs(3), tmp_path)
    assert {row["status"] for row in rows(tmp_path)} == {"submitted"}
    assert [row["state"] for row in rows(tmp_path, "provider_batches")] == ["sealed"]
    report = await provider_run(emu, gemini_jobs(3), tmp_path)
    assert report.ok and report.done == 3 and report.submitted == 3
    assert len(emu.gemini.batches.created) == 1
    states = sorted(row["state"] for row in rows(tmp_path, "provider_batches"))
    assert states == ["abandoned", "collected"]
