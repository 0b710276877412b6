"""A batch run through the providers' own batch engines: shard, submit once, poll, collect.

``run_batch(..., engine="provider")`` hands every job to its provider's batch engine
(:mod:`seedless.batch.engines`: Gemini Batch Mode, the OpenAI Batch API) instead of calling
the model from this machine; ``engine="auto"`` does so for the jobs an engine takes and runs
the rest direct. Per run::

    resume    shards a killed run left: "submitting" ones are looked up at the provider by
              name (adopted if found, created if not: one create per shard); "open" and
              "sealed" ones never reached it, so their jobs are released to run again; live
              shards are polled once, and those that ended are collected first, so that what
              they left unanswered is sent again by this very run
    dispatch  each job not done, failed or out with a provider: planned, priced at the batch
              price, reserved under the budget, its lines appended to the open shard of its
              (endpoint, model, operation) on disk, recorded "submitted" (committed); a full
              shard is uploaded and created at once, the rest at the end
    wait      every live shard polled each ``poll_interval`` seconds; when some have ended,
              their results are streamed to disk and indexed by key, then one pass over the
              jobs writes each job's images through the batch's write path (recorded, then
              written atomically, then done), records its cost at the batch price, and
              releases what came back with an error, or not at all (EXPIRED, CANCELLED,
              FAILED), as retryable; every result that did come back is kept
              (:mod:`seedless.batch.provider_collect`)

The ledger holds shards and their lines (:mod:`seedless.batch.provider_ledger`), so a rerun
after a crash or Ctrl-C resumes polling the same provider batches and never submits a job
twice. Memory stays flat: one job's lines and one result line are in memory at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from ..errors import ConfigurationError, ProviderError, SeedlessError
from .direct import DirectRunner
from .engines import BatchEngine, RemoteBatch, engine_for
from .estimate import batch_engine_of, batch_priced, job_cost, prepare_job
from .job import Job, JobEntry, JobProblem
from .job_ledger import utc_now
from .outputs import remaining_calls
from .provider_collect import BesideRunner, ShardCollector
from .provider_ledger import ShardState

if TYPE_CHECKING:
    from .._specs import ModelSpec
    from ..client import AsyncClient, PreparedRequest

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "SPOOL",
    "Engine",
    "ProviderRun",
    "refuse_without_engine",
    "run_with_provider_engines",
]

log = logging.getLogger("seedless.batch")

Engine = Literal["direct", "provider", "auto"]
#: Seconds between polls of the provider batches (a batch takes minutes to hours).
DEFAULT_POLL_INTERVAL = 30.0
#: The folder, inside the output folder, that holds shard files and downloaded results.
SPOOL = ".seedless-batches"


def refuse_without_engine(client: AsyncClient, models: dict[str, int]) -> ConfigurationError:
    """The refusal of a provider-engine batch holding jobs no batch engine takes."""
    named = ", ".join(f"{model} ({count} job(s))" for model, count in sorted(models.items()))
    have = ", ".join(client.batch_models()) or "none on this client's endpoints"
    return ConfigurationError(
        f"engine='provider' (--engine provider): no provider batch engine takes {named}; "
        f"nothing was sent. Models with one: {have}. Best-of-N and local jobs always run "
        "direct. Use engine='auto' (--engine auto) to run those jobs direct and the rest "
        "through the batch engines."
    )


@dataclass
class _Shard:
    """A shard being written: its file, engine, model and operation, and its size so far."""

    id: str
    engine: BatchEngine
    endpoint: str
    spec: ModelSpec
    operation: str
    path: Path
    handle: BinaryIO
    requests: int = 0
    size: int = 0


class _Filtered:
    """The jobs of a re-iterable source that ``keep`` accepts, read afresh on each pass."""

    def __init__(self, source: Iterable[JobEntry], keep: Callable[[JobEntry], bool]) -> None:
        self.source = source
        self.keep = keep

    def __iter__(self) -> Iterator[JobEntry]:
        return (job for job in self.source if self.keep(job))


async def run_with_provider_engines(
    runner: DirectRunner,
    source: Iterable[JobEntry],
    *,
    auto: bool,
    shard_size: int | None,
    wait: bool,
    poll_interval: float,
) -> None:
    """Run the jobs a provider batch engine takes through it; with ``auto``, then the rest
    direct (``runner``'s own loop)."""
    client = runner.client

    def eligible(job: JobEntry) -> bool:
        if isinstance(job, JobProblem):
            return False  # an image that cannot be read: recorded by the direct loop
        try:
            prepared = prepare_job(client, job)
        except SeedlessError:
            return False  # refused: the direct loop records it as failed, at no cost
        return batch_engine_of(client, job, prepared) is not None

    run = ProviderRun(runner, shard_size=shard_size, wait=wait, poll_interval=poll_interval)
    await run.execute(_Filtered(source, eligible))  # type: ignore[arg-type]  # Jobs only
    if auto:
        await runner.execute(_Filtered(source, lambda job: not eligible(job)))
    else:  # entries that never became jobs are recorded as failed all the same
        await runner.execute(_Filtered(source, lambda job: isinstance(job, JobProblem)))


class ProviderRun(BesideRunner):
    """One invocation's provider-engine pass (see the module docstring)."""

    def __init__(
        self, runner: DirectRunner, *, shard_size: int | None, wait: bool, poll_interval: float
    ) -> None:
        super().__init__(runner)
        self.shard_size = shard_size
        self.wait = wait
        self.spool = Path(runner.out_dir) / SPOOL
        self._engines: dict[tuple[str, str], BatchEngine] = {}
        self._open: dict[tuple[str, str, str], _Shard] = {}
        self.collector = ShardCollector(
            runner, spool=self.spool, engine=self._engine, poll_interval=poll_interval
        )

    # ------------------------------------------------------------------ main loop

    async def execute(self, jobs: Iterable[Job]) -> None:
        runner = self.runner
        self.spool.mkdir(parents=True, exist_ok=True)
        try:
            await self._resume()
            # batches that ended meanwhile: collected first; what they left undone is sent
            # again below (so it is not counted as left to retry)
            await self.collector.round(jobs, count_released=False)
            # jobs still out with a provider hold their estimate under the budget
            runner.reserved += await self.db(self.ledger.reserved_in_shards, self.run)
            for job in jobs:
                if self.report.stopped:
                    break
                await self._dispatch(job)
            for key in list(self._open):
                await self._submit(self._open.pop(key))
            if self.wait:
                await self.collector.wait(jobs)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.report.stopped = "interrupted"
            log.warning(
                "batch %s interrupted: jobs already handed to provider batches stay there; "
                "run the same batch again to collect them",
                self.run,
                extra={"seedless_event": "batch.interrupted", "seedless_run": self.run},
            )
            raise
        finally:
            for shard in self._open.values():
                shard.handle.close()  # left "open": the next run releases its jobs
            for engine in self._engines.values():
                with contextlib.suppress(Exception):
                    await engine.aclose()
            await self.db(self.ledger.commit)
            self.report.waiting += len([j for row in await self.db(self._live) for j in row])
            self.report.spent_usd = runner.spent - runner.spent_before
        if runner.db.error is not None:
            raise runner.db.error

    def _live(self) -> list[list[str]]:
        return [
            self.ledger.waiting_jobs(self.run, row["shard"])
            for row in self.ledger.shards(self.run, [ShardState.SUBMITTED, ShardState.SUBMITTING])
        ]

    def _engine(self, endpoint: str, name: str) -> BatchEngine:
        engine = self._engines.get((endpoint, name))
        if engine is None:
            engine = engine_for(self.client, endpoint, name)
            if self.shard_size is not None:
                engine.limits = engine.limits.tighter(self.shard_size)
            self._engines[(endpoint, name)] = engine
        return engine

    # ------------------------------------------------------------------ resume

    async def _resume(self) -> None:
        """Shards a killed run left: release those that never reached the provider, find
        (or create, once) those that were being created."""
        for row in await self.db(self.ledger.shards, self.run, [ShardState.OPEN,
                                                                ShardState.SEALED]):  # fmt: skip
            error = InterruptedError(
                "the process stopped before this job's provider batch was created"
            )
            await self._abandon(row, "interrupted", error, count=False)  # sent again below
        for row in await self.db(self.ledger.shards, self.run, [ShardState.SUBMITTING]):
            engine = self._engine(row["endpoint"], row["engine"])
            found = await engine.find(row["shard"])
            if found is not None:
                self.report.adopted += 1
                await self._submitted(row["shard"], found)
                continue
            spec = self.client.resolve(row["model"])
            path = Path(self.runner.out_dir) / row["input_path"]
            await self._create(row["shard"], engine, spec, row["operation"], path,
                               row["input_file"], row["mode"] == "inline")  # fmt: skip

    async def _abandon(
        self, row: dict[str, Any], status: str, error: BaseException, count: bool = True
    ) -> int:
        """A shard that will not reach the provider: its jobs run again (``status``; counted
        in the report unless this run sends them again)."""
        released = await self.db(
            self.ledger.release_jobs, self.run, row["shard"], status=status,
            error=str(error), error_class=type(error).__name__,
        )  # fmt: skip
        await self.db(self.ledger.update_shard, self.run, row["shard"],
                      state=ShardState.ABANDONED, error=str(error)[:2000])  # fmt: skip
        with contextlib.suppress(OSError):
            os.unlink(Path(self.runner.out_dir) / row["input_path"])
        if count and status == "interrupted":
            self.report.interrupted += released
        elif count:
            self.report.retryable += released
        return int(released)

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, job: Job) -> None:
        runner, report = self.runner, self.report
        report.seen += 1
        _, settled, _, (kept, _) = await self.db(runner.lookup, job)
        if settled == "submitted":
            return  # out with a provider: counted as waiting at the end
        if settled == "done":
            report.already_done += 1
            return
        if settled == "failed" and not runner.retry_failed:
            report.already_failed += 1
            return
        prepared = prepare_job(self.client, job)
        prepared, offsets = remaining_calls(prepared, kept)
        prepared = batch_priced(self.client, prepared)
        cost, _ = job_cost(self.client, prepared)
        if not await runner.reserve(job, prepared, cost):
            return
        engine = self._engine(prepared.spec.provider, str(batch_engine_of(self.client, job,
                                                                          prepared)))  # fmt: skip
        several = len(prepared.calls) > 1
        lines = []
        for call, first in zip(prepared.calls, offsets, strict=True):
            key = f"{job.id}#{first}" if several else job.id
            lines.append((key, first, engine.line(key, call, prepared.spec) + b"\n"))
        shard = await self._shard_for(engine, prepared, sum(len(data) for *_, data in lines),
                                      len(lines))  # fmt: skip
        for _, _, data in lines:
            shard.handle.write(data)
        shard.requests += len(lines)
        shard.size += sum(len(data) for *_, data in lines)
        await self.db(self._record_submitted, job, prepared, cost, shard.id,
                      [(key, first) for key, first, _ in lines])  # fmt: skip
        report.submitted += 1

    def _record_submitted(
        self, job: Job, prepared: PreparedRequest, cost: float | None, shard: str,
        lines: list[tuple[str, int]],
    ) -> None:  # fmt: skip
        """In the ledger thread: the job dispatched, its lines, then ``submitted``."""
        self.ledger.start(self.run, **self.runner.start_fields(job, prepared, cost))
        for key, first in lines:
            self.ledger.add_line(self.run, shard, key, job.id, first)
        self.ledger.submit_job(self.run, job.id, shard)

    async def _shard_for(
        self, engine: BatchEngine, prepared: PreparedRequest, size: int, requests: int
    ) -> _Shard:
        """The open shard of the job's (endpoint, model, operation), with room for it."""
        spec = prepared.spec
        operation = prepared.calls[0].wire.path
        key = (spec.provider, spec.key, operation)
        shard = self._open.get(key)
        limits = engine.limits
        if (
            shard is not None
            and shard.requests
            and (
                shard.requests + requests > limits.max_requests
                or shard.size + size > limits.max_bytes
            )
        ):
            await self._submit(self._open.pop(key))
            shard = None
        if shard is None:
            shard_id = f"seedless-{uuid.uuid4().hex[:16]}"
            path = self.spool / f"{shard_id}.jsonl"
            await self.db(
                self.ledger.open_shard, self.run, shard_id, engine=engine.name,
                endpoint=spec.provider, model=spec.key, operation=operation,
                input_path=os.path.relpath(path, self.runner.out_dir),
            )  # fmt: skip
            shard = _Shard(shard_id, engine, spec.provider, spec, operation, path,
                           path.open("wb"))  # fmt: skip
            self._open[key] = shard
        return shard

    async def _submit(self, shard: _Shard) -> None:
        """Seal a shard, upload it (unless it goes inline) and create its provider batch."""
        shard.handle.flush()
        os.fsync(shard.handle.fileno())
        shard.handle.close()
        inline = shard.engine.limits.inline(shard.requests, shard.size)
        await self.db(self.ledger.update_shard, self.run, shard.id, state=ShardState.SEALED,
                      requests=shard.requests, bytes=shard.size,
                      mode="inline" if inline else "file")  # fmt: skip
        await self._create(shard.id, shard.engine, shard.spec, shard.operation, shard.path,
                           None, inline)  # fmt: skip

    async def _create(
        self, shard: str, engine: BatchEngine, spec: ModelSpec, operation: str, path: Path,
        file_id: str | None, inline: bool,
    ) -> None:  # fmt: skip
        """Upload (if need be) and create a shard's batch: recorded ``submitting`` first, so
        a crash during the create is settled by :meth:`_resume` finding it by name."""
        row = {"shard": shard, "input_path": os.path.relpath(path, self.runner.out_dir)}
        try:
            if file_id is None and not inline:
                file_id = await engine.upload(path, shard)
                await self.db(self.ledger.update_shard, self.run, shard, input_file=file_id)
            await self.db(self.ledger.update_shard, self.run, shard,
                          state=ShardState.SUBMITTING)  # fmt: skip
            remote = await engine.create(shard, spec, operation, file_id=file_id,
                                         inline=path if inline else None)  # fmt: skip
        except SeedlessError as exc:
            found = None
            with contextlib.suppress(SeedlessError):
                found = await engine.find(shard)  # a create that went through after all
            if found is None:
                released = await self._abandon(row, "retryable", exc)
                log.error("batch %s: provider batch %s was not created (%s); its %d job(s) "
                          "are left to retry", self.run, shard, exc, released)  # fmt: skip
                if not isinstance(exc, ProviderError) or not exc.retryable:
                    self.runner.broken.setdefault(spec.provider, exc)
                return
            remote = found
        await self._submitted(shard, remote)
        self.report.provider_batches += 1

    async def _submitted(self, shard: str, remote: RemoteBatch) -> None:
        await self.db(
            self.ledger.update_shard, self.run, shard, state=ShardState.SUBMITTED,
            batch_id=remote.id, provider_state=remote.provider_state, submitted_at=utc_now(),
        )  # fmt: skip
        log.info("batch %s: provider batch %s (%s) submitted", self.run, remote.id, shard)

    # ------------------------------------------------------------------ wait and collect
