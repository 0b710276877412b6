"""Collecting provider batches: poll the live ones, and write what the ended ones answered.

Every live shard (:mod:`seedless.batch.provider_ledger`) is polled each ``poll_interval``
seconds; when some have ended, their results are streamed to disk and indexed by key, then
one pass over the jobs writes each job's images through the batch's write path (recorded,
then written atomically, then done), records its cost at the batch price, and releases what
came back with an error, or not at all (EXPIRED, CANCELLED, FAILED), as retryable; every
result that did come back is kept. One result line is in memory at a time.

:class:`~seedless.batch.provider_run.ProviderRun` submits; a :class:`ShardCollector` beside
it collects, in the same run and the next ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..client import CallEvent, call_results
from ..errors import ProviderError, ServerError
from .direct import DirectRunner
from .engines import BatchEngine, RemoteBatch
from .estimate import batch_priced, prepare_job
from .job import Job
from .job_ledger import utc_now
from .jobstate import JobContext
from .outputs import remaining_calls
from .provider_ledger import ShardState

if TYPE_CHECKING:
    from ..models import ImageResult

__all__ = ["BesideRunner", "ShardCollector"]

log = logging.getLogger("seedless.batch")


@dataclass
class _Results:
    """A provider batch's downloaded answers: where they are, and each key's place."""

    row: dict[str, Any]
    remote: RemoteBatch
    path: Path
    index: dict[str, tuple[int, int]] = field(default_factory=dict)


class BesideRunner:
    """Work done beside a :class:`DirectRunner` in the same run: on its client, its ledger
    (through its thread), its report and its run name."""

    def __init__(self, runner: DirectRunner) -> None:
        self.runner = runner
        self.client = runner.client
        self.db = runner.db
        self.ledger = runner.ledger
        self.report = runner.report
        self.run = runner.run


class ShardCollector(BesideRunner):
    """Polls a run's live provider batches and collects those that ended."""

    def __init__(
        self,
        runner: DirectRunner,
        *,
        spool: Path,
        engine: Callable[[str, str], BatchEngine],
        poll_interval: float,
    ) -> None:
        super().__init__(runner)
        self.spool = spool
        self.engine = engine  # (endpoint, engine name) -> the run's BatchEngine
        self.poll_interval = poll_interval

    async def wait(self, jobs: Iterable[Job]) -> None:
        """Poll the live shards until none is left; collect those that ended."""
        while True:
            live, ended = await self.round(jobs)
            if not live:
                return
            if not ended:
                await asyncio.sleep(self.poll_interval)

    async def round(self, jobs: Iterable[Job], *, count_released: bool = True) -> tuple[int, int]:
        """Poll every live shard once and collect those that ended: (live, ended)."""
        live = await self.db(self.ledger.shards, self.run, [ShardState.SUBMITTED])
        ended: list[tuple[dict[str, Any], RemoteBatch]] = []
        for row in live:
            remote = await self._poll(row)
            if remote is not None and remote.done:
                ended.append((row, remote))
        if ended:
            await self._collect(ended, jobs, count_released)
        return len(live), len(ended)

    async def _poll(self, row: dict[str, Any]) -> RemoteBatch | None:
        engine = self.engine(row["endpoint"], row["engine"])
        try:
            remote = await engine.get(row["batch_id"])
        except ProviderError as exc:
            if not exc.retryable:
                raise
            log.warning("batch %s: polling %s failed (%s); trying again", self.run,
                        row["batch_id"], exc)  # fmt: skip
            return None
        if remote.provider_state != row["provider_state"]:
            await self.db(
                self.ledger.update_shard, self.run, row["shard"],
                provider_state=remote.provider_state, done_requests=remote.succeeded,
                failed_requests=remote.failed,
            )  # fmt: skip
        return remote

    async def _collect(
        self, ended: list[tuple[dict[str, Any], RemoteBatch]], jobs: Iterable[Job],
        count_released: bool = True,
    ) -> None:  # fmt: skip
        """Stream the ended batches' answers to disk, write every job they answered, and
        release the rest as retryable."""
        results: dict[str, _Results] = {}
        for row, remote in ended:
            path = self.spool / f"{row['shard']}.results.jsonl"
            engine = self.engine(row["endpoint"], row["engine"])
            with path.open("wb") as handle:
                await engine.download(remote, handle)
            results[row["shard"]] = _Results(row, remote, path, _index(path))
        for job in jobs:
            shard = await self.db(self.ledger.shard_of, self.run, job.id)
            if shard in results:
                await self._collect_job(job, results[shard])
        for found in results.values():
            await self._close_shard(found, count_released)

    async def _close_shard(self, found: _Results, count_released: bool) -> None:
        row, remote = found.row, found.remote
        why = remote.error or "no answer for it came back"
        error = ServerError(
            f"provider batch {remote.id} ended {remote.provider_state} without answering this "
            f"job ({why}); it runs again when the batch is run again",
            retryable=True,
        )
        released = await self._abandon_jobs(row["shard"], error, count_released)
        await self.db(
            self.ledger.update_shard, self.run, row["shard"], state=ShardState.COLLECTED,
            provider_state=remote.provider_state, collected_at=utc_now(), finished_at=utc_now(),
            error=None if remote.state == "succeeded" else why,
        )  # fmt: skip
        for path in (found.path, Path(self.runner.out_dir) / row["input_path"]):
            with contextlib.suppress(OSError):
                os.unlink(path)
        log.info("batch %s: provider batch %s %s; %d job(s) left to retry", self.run,
                 remote.id, remote.provider_state, released)  # fmt: skip

    async def _abandon_jobs(self, shard: str, error: BaseException, count: bool) -> int:
        released = int(await self.db(
            self.ledger.release_jobs, self.run, shard, status="retryable", error=str(error),
            error_class=type(error).__name__,
        ))  # fmt: skip
        if count:
            self.report.retryable += released
            for _ in range(released):
                self.runner.progress.job_failed()
        return released

    async def _collect_job(self, job: Job, found: _Results) -> None:
        """Write one job's answered images (kept as a part-way failure if some calls did not
        answer) and record its cost at the batch price."""
        runner, row = self.runner, found.row
        record = await self.db(self.ledger.job, self.run, job.id)
        if record is None or record["job_hash"] != job.hash:
            return  # changed since it was submitted: released below, and run again
        lines = await self.db(self.ledger.lines_of, self.run, job.id, row["shard"])
        _, _, _, (kept, kept_cost) = await self.db(runner.lookup, job)
        prepared, offsets = remaining_calls(prepare_job(self.client, job), kept)
        prepared = batch_priced(self.client, prepared)
        context = JobContext(
            job, prepared, attempt=int(record["attempts"]), slots=asyncio.Semaphore(0),
            holds_slot=False, kept=kept, kept_cost=kept_cost, offsets=offsets,
        )  # fmt: skip
        if not any(key in found.index for key, _ in lines):
            return  # nothing came back for it: released with the shard's reason
        latency = _since(row["submitted_at"])
        images, error = await self._answers(context, found, lines, latency)
        if error is None:
            await runner.writer.write(context, tuple(images), None, latency)
            return
        if images:
            await runner.writer.keep(context, images, latency)
        await runner.failed(context, error, latency)

    async def _answers(
        self, context: JobContext, found: _Results, lines: list[tuple[str, int]],
        latency: float,
    ) -> tuple[list[ImageResult], Exception | None]:  # fmt: skip
        """The images of the job's answered lines (each recorded as a paid attempt), and the
        first error (a failed line, or one that did not come back)."""
        prepared = context.prepared
        engine = self.engine(found.row["endpoint"], found.row["engine"])
        calls = {first: index for index, first in enumerate(context.offsets)}
        images: list[ImageResult] = []
        first_error: Exception | None = None
        with found.path.open("rb") as handle:
            for key, first in lines:
                index, spot = calls.get(first), found.index.get(key)
                error: Exception | None = None
                if index is None or spot is None:
                    error = ServerError(
                        f"provider batch {found.remote.id} ended {found.remote.provider_state} "
                        "without answering this job's request", retryable=True,
                    )  # fmt: skip
                else:
                    handle.seek(spot[0])
                    result = await engine.parse(handle.read(spot[1]), prepared.spec)
                    error = result.error
                    if result.reply is not None:
                        images += self._paid(context, index, result.reply, latency)
                if error is not None:
                    first_error = first_error or error
                    if index is not None:
                        self._event(context, index, "error", error=error)
        return images, first_error

    def _paid(self, context: JobContext, index: int, reply: Any, latency: float) -> list[Any]:
        prepared = context.prepared
        found = call_results(prepared, index, reply, latency=latency)
        call = prepared.calls[index]
        cost = None if prepared.price is None else prepared.price * call.n
        self._event(context, index, "done", latency=latency, images=len(found), cost_usd=cost)
        return found

    def _event(self, context: JobContext, index: int, kind: str, **fields: Any) -> None:
        """A wire call's outcome, recorded as the direct runner records one (attempt row,
        money paid)."""
        call = context.prepared.calls[index]
        event = CallEvent(kind, context.prepared.spec.key, call.request_hash(), call=index,
                          seed=call.seed, **fields)  # fmt: skip
        self.runner.on_event(context, event)


def _since(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    with contextlib.suppress(ValueError):
        return max(0.0, time.time() - datetime.fromisoformat(stamp).timestamp())
    return 0.0


def _index(path: Path) -> dict[str, tuple[int, int]]:
    """Each result line's key and (offset, length) in the downloaded file, read one line at
    a time (the key is all that is kept)."""
    index: dict[str, tuple[int, int]] = {}
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                with contextlib.suppress(ValueError):
                    line = json.loads(raw)
                    key = line.get("key") or line.get("custom_id") or (
                        line.get("metadata") or {}).get("key")  # fmt: skip
                    if key is not None:
                        index[str(key)] = (offset, len(raw))
            offset += len(raw)
    return index
