"""A batch job's write path: the images a job paid for become files, and nothing is lost.

Paid images are recorded in the ledger (committed) before a byte is written, written
atomically (temp file, fsync, rename), then recorded done. A job that failed part-way, or was
cancelled while some of its wire calls had answered, keeps the images those calls delivered
as its outputs, so a resumed run asks only for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..images import extension_for, write_atomic
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


def _write_files(blobs: list[tuple[str, bytes]]) -> None:
    for path, data in blobs:
        write_atomic(path, data)


class JobWriter:
    """Writes what jobs paid for, through the run's ledger thread, and counts it done.

    :meth:`write` raises the OSError of a failed write (a full disk), after which the runner
    records the job as failed.
    """

    def __init__(self, db: LedgerThread, report: BatchReport, progress: Progress) -> None:
        self.db = db
        self.ledger = db.ledger
        self.report = report
        self.run = report.run
        self.out_dir = report.out_dir
        self.progress = progress

    def outputs(
        self, context: JobContext, images: Sequence[ImageResult]
    ) -> tuple[list[OutputRecord], list[tuple[str, bytes]]]:
        """The job's output records (those kept from an earlier attempt, and ``images`` at
        the indexes of the wire calls they came from), and the files to write for ``images``."""
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
            blobs.append((os.path.join(root, path), image.data))
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
        await self.db(self._record_kept, job, records, cost)  # recorded before a byte
        writing = asyncio.ensure_future(asyncio.to_thread(_write_files, blobs))
        del blobs
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            await writing  # already paid for: let the files land
            raise
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
        # paid for, so recorded (committed) before a byte is written, then written, then done
        recorded = asyncio.ensure_future(
            self.db(self._record_writing, job, records, cost, latency, cached, score)
        )
        writing = asyncio.ensure_future(self._after(recorded, _write_files, blobs))
        del blobs
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            await writing  # already paid for: let the files land, then record them
            await self.finish(context, cost, cached, latency)
            raise
        await self.finish(context, cost, cached, latency)

    @staticmethod
    async def _after(
        first: asyncio.Future[None], fn: Callable[[list[tuple[str, bytes]]], None],
        blobs: list[tuple[str, bytes]],
    ) -> None:  # fmt: skip
        await first
        await asyncio.to_thread(fn, blobs)

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
        self.report.cost_usd += now or 0.0
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
