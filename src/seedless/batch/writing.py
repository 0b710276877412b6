"""A batch job's write path: the images a job paid for become files, and nothing is lost.

Paid images are spooled to disk first (:mod:`seedless.batch.spool`: files that prove
which job they belong to), then recorded in the ledger (committed), then renamed into place,
then recorded done; a process killed anywhere after the spool write never pays for them again.
A job that failed part-way, or was cancelled while some of its wire calls had answered, keeps
the images those calls delivered as its outputs, so a resumed run asks only for the rest.

On a full disk, the ledger's reserve is given up for the answers in hand and the run is told
to stop (``on_disk_full``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import is_disk_full
from ..images import extension_for
from . import spool
from .jobs import Job
from .jobstate import JobContext, LedgerThread
from .ledger import OutputRecord
from .outputs import output_count, output_stems, place_images
from .progress import Progress
from .report import BatchReport

if TYPE_CHECKING:
    from ..models import ImageResult

__all__ = ["JobWriter"]

log = logging.getLogger("seedless.batch")


class JobWriter:
    """Writes what jobs paid for, through the run's ledger thread, and counts it done.

    :meth:`write` raises the OSError of a failed write (a full disk), after which the runner
    records the job as failed; ``on_disk_full`` is told first, once per full disk found.
    """

    def __init__(
        self,
        db: LedgerThread,
        report: BatchReport,
        progress: Progress,
        on_disk_full: Callable[[BaseException, asyncio.Task[None] | None], None] = (
            lambda exc, task: None
        ),
    ) -> None:
        self.on_disk_full = on_disk_full
        self.db = db
        self.ledger = db.ledger
        self.report = report
        self.run = report.run
        self.out_dir = report.out_dir
        self.progress = progress

    def outputs(
        self, context: JobContext, images: Sequence[ImageResult]
    ) -> tuple[list[OutputRecord], list[tuple[str, bytes, str]]]:
        """The job's output records (those kept from an earlier attempt, and ``images`` at
        the indexes of the wire calls they came from), and the files to write for ``images``
        (path, bytes, the spool tag binding them to the job)."""
        job = context.job
        if job.best_of is not None:
            placed = [(0, image) for image in images]  # the winner
        else:
            placed = place_images(context.prepared.calls, context.offsets, images)
        stems = output_stems(job, output_count(job))
        records = {record.index or 0: record for record in context.kept}
        blobs = []
        root = os.fspath(self.out_dir)
        for index, image in placed:
            path = stems[index] + extension_for(image.mime_type)
            records[index] = OutputRecord(
                path, image.sha256, image.mime_type, len(image.data), image.seed, image.cached,
                index=index,
            )  # fmt: skip
            blobs.append((os.path.join(root, path), image.data, spool.tag(job.hash, image.sha256)))
        return [records[index] for index in sorted(records)], blobs

    def _record_kept(self, job: Job, records: list[OutputRecord], cost: float | None) -> None:
        self.ledger.keep_outputs(self.run, job.id, records, cost=cost)

    async def keep(
        self, context: JobContext, images: Sequence[ImageResult], latency: float
    ) -> None:
        """A job that failed part-way: record and write the images its other wire calls
        delivered (paid for), as its outputs; a resumed run asks only for the rest."""
        job = context.job
        records, blobs = self.outputs(context, images)
        cost = None if context.unpriced else context.kept_cost + context.paid
        await self._persist(context, blobs, self._record_kept, job, records, cost)
        log.info(
            "batch %s: job %s failed part-way; kept %d paid image(s) of %d",
            self.run, job.id, len(records), output_count(job),
        )  # fmt: skip

    async def keep_interrupted(
        self, context: JobContext, images: Sequence[ImageResult], latency: float
    ) -> None:
        """A job cancelled while some of its wire calls had answered: keep their images as
        a part-way failure does (the ledger's writes are shielded, the files' write is waited
        for), so a resumed run asks only for the rest. Best effort: the job is interrupted."""
        try:
            await self.keep(context, images, latency)
        except Exception as error:  # a full disk, or the ledger already closed
            log.error(
                "batch %s: job %s could not keep the images it paid for: %s",
                self.run, context.job.id, error,
            )  # fmt: skip

    def _record_writing(
        self, job: Job, records: list[OutputRecord], cost: float | None, latency: float,
        cached: bool, score: float | None,
    ) -> None:  # fmt: skip
        self.ledger.mark_writing(
            self.run, job.id, records, cost=cost, latency=latency, cached=cached, score=score
        )

    async def write(
        self,
        context: JobContext,
        images: tuple[ImageResult, ...],
        score: float | None,
        latency: float,
    ) -> None:
        job = context.job
        records, blobs = self.outputs(context, images)
        # what the job paid: every wire call that answered (best-of: all candidates), and
        # the outputs kept from an earlier attempt that failed part-way
        cost = None if context.unpriced else context.kept_cost + context.paid
        cached = all(record.cached for record in records)
        del images
        try:
            await self._persist(
                context, blobs, self._record_writing, job, records, cost, latency, cached, score
            )
        except asyncio.CancelledError:
            await self.finish(context, cost, cached, latency)  # the files did land
            raise
        await self.finish(context, cost, cached, latency)

    async def _persist(
        self,
        context: JobContext,
        blobs: list[tuple[str, bytes, str]],
        record: Callable[..., None],
        *args: Any,
    ) -> None:
        """Paid for, so: spooled (the bytes on disk), then recorded (committed), then fsynced
        and renamed into place; a cancellation waits for all three. On a full disk the ledger's
        reserve is given up and the spool written again into the room it leaves."""

        async def steps() -> None:
            try:
                spooled = await asyncio.to_thread(spool.spool, blobs)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                await self.db(self.ledger.release_reserve)  # room for the answers in hand
                self.on_disk_full(exc, context.task)
                spooled = await asyncio.to_thread(spool.spool, blobs)
            blobs.clear()  # the bytes are on disk: let them go
            await self.db(record, *args)
            await asyncio.to_thread(spool.publish, spooled)

        persisting = asyncio.ensure_future(steps())
        try:
            await asyncio.shield(persisting)
        except asyncio.CancelledError:
            await persisting  # already paid for: let the files land
            raise

    def _record_done(self, job: Job) -> None:
        self.ledger.mark_done(self.run, job.id)

    async def finish(
        self, context: JobContext, cost: float | None, cached: bool, latency: float
    ) -> None:
        job = context.job
        await self.db(self._record_done, job)
        now = None if cost is None else context.paid  # not what an earlier run paid
        self.report.done += 1
        self.report.cached += int(cached)
        self.report.cost_usd = round(self.report.cost_usd + (now or 0.0), 6)  # no float noise
        self.progress.job_done(now, cached=cached)
        log.debug(
            "batch %s: job %s done (%s, $%.4f, %.2fs%s)",
            self.run,
            job.id,
            context.prepared.spec.key,
            cost or 0.0,
            latency,
            ", cached" if cached else "",
            extra={
                "seedless_event": "job.done",
                "seedless_run": self.run,
                "seedless_job": job.id,
                "seedless_cost": cost,
                "seedless_cached": cached,
            },
        )
