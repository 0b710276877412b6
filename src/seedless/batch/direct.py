"""The direct engine: every job's wire calls sent from this machine, under the budget and the
limits, each job recorded in the ledger and written before it counts as done.

Per job::

    ledger row "running" -> client.execute with this job's hooks (rate gates before every
      attempt, retries inside; one attempt row per wire outcome, with its cost)
      -> row "writing" with output paths and hashes, committed (the money is spent)
      -> files written atomically (temp file, fsync, rename)
      -> row "done", committed.

Budget: before dispatching a job, its worst-case price (from the matrix, with the endpoint's
price overrides; zero if the cache holds it) is reserved; if money already paid in the run
plus reservations plus this job would cross the cap, the runner waits for in-flight jobs to
settle and stops dispatching if it still would. Ctrl-C (task cancellation) stops dispatching,
cancels in-flight calls (their rows become "interrupted", retried on resume), finishes
writing results already paid for (a job's wire calls that had answered too: kept as on a
part-way failure), commits, and re-raises.

:func:`seedless.batch.run_batch` makes one :class:`DirectRunner` per invocation; the provider
engine (:mod:`seedless.batch.provider_run`) shares its bookkeeping.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..client import ExecuteHooks
from ..errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    DiskFullError,
    NoImageError,
    ProviderError,
    QuotaExceededError,
    SeedlessError,
    is_disk_full,
)
from ..strategies.best_of import best_of_async
from .estimate import job_cost, prepare_job
from .job import Job, JobEntry, JobProblem, default_scorer
from .job_ledger import JobStart
from .jobstate import JobContext, LedgerThread
from .ledger import OutputRecord, Status
from .limits import Limits
from .outputs import done_before, kept_outputs, output_count, remaining_calls
from .progress import Progress
from .report import BatchReport
from .writing import JobWriter

if TYPE_CHECKING:
    from ..client import AsyncClient, CallEvent, PreparedRequest
    from ..models import ImageResult

__all__ = ["DirectRunner"]

log = logging.getLogger("seedless.batch")


def _resume_retryable(exc: BaseException) -> bool:
    """Whether a resumed run should try a job that failed with ``exc`` again."""
    if isinstance(exc, (ConfigurationError, AuthenticationError, QuotaExceededError, OSError)):
        return True  # fixable setup (a key, billing, a disk), not the job itself
    if isinstance(exc, NoImageError):
        return True  # the model answered in words this time; its message says try again
    if isinstance(exc, ProviderError):
        return exc.retryable
    return not isinstance(exc, SeedlessError)


class DirectRunner:
    """The direct engine: dispatches jobs under the budget and the limits, records them.

    The provider engine (:mod:`seedless.batch.provider_run`) runs beside it in the same run
    and shares its bookkeeping through the public part: :meth:`lookup` (what the ledger knows
    of a job), :meth:`reserve` (a budget reservation), :meth:`failed` (a job's failure),
    :meth:`on_event` (a wire call's attempt row), and the ``spent``, ``reserved`` and
    ``broken`` (endpoints with a bad key or no credit) accounts.
    """

    def __init__(
        self,
        client: AsyncClient,
        db: LedgerThread,
        report: BatchReport,
        *,
        budget: float | None,
        spent: float,
        max_concurrency: int,
        limits: Limits,
        progress: Progress,
        retry_failed: bool,
        spools: dict[str, list[str]] | None = None,
    ) -> None:
        self.client = client
        self.spools = spools if spools is not None else {}  # spool.find(): adopted on dispatch
        self.db = db
        self.ledger = db.ledger
        self.report = report
        self.run = report.run
        self.out_dir = report.out_dir
        self.budget = budget
        self.limits = limits
        self.progress = progress
        self.writer = JobWriter(db, report, progress, on_disk_full=self._on_disk_full)
        self.retry_failed = retry_failed
        self.invocation = uuid.uuid4().hex
        # wire calls in flight; a job gives its slot back as soon as its images arrive
        self._slots = asyncio.Semaphore(max_concurrency)
        # jobs alive (calling, or writing what they received): bounds memory
        self._alive = asyncio.Semaphore(2 * max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.reserved = 0.0
        self.spent = spent
        self.spent_before = spent
        self.broken: dict[str, BaseException] = {}
        self._fatal: BaseException | None = None
        self._disk_full: BaseException | None = None

    # ------------------------------------------------------------------ main loop

    async def execute(self, jobs: Iterable[JobEntry]) -> None:
        try:
            try:
                for job in jobs:
                    self._check_disk()
                    if self.report.stopped or self._fatal is not None:
                        break
                    await self._dispatch(job)
            except (asyncio.CancelledError, KeyboardInterrupt):
                self.report.stopped = "interrupted"
                await self._cancel_in_flight()
                raise
            except BaseException:
                await self._drain()  # a bad job file line: let paid work land first
                raise
            try:
                await self._drain()
            except (asyncio.CancelledError, KeyboardInterrupt):
                self.report.stopped = "interrupted"
                await self._cancel_in_flight()
                raise
        finally:
            try:
                await self.db(self.ledger.commit)  # flushes everything queued before it
            except DiskFullError as exc:
                self._disk_full = self._disk_full or exc
            self.report.spent_usd = round(self.spent - self.spent_before, 6)
        for error in (self._fatal, self.db.error, self.ledger.full):
            if error is not None and is_disk_full(error):
                self._disk_full = self._disk_full or error
        if self._disk_full is not None:
            raise self._stopped_by_disk() from self._disk_full
        if self._fatal is not None:
            raise self._fatal
        if self.db.error is not None:
            raise self.db.error

    def _check_disk(self) -> None:
        """Stop the run when a write found the disk full (here, or in the ledger's thread)."""
        full = self.ledger.full
        if full is not None and self._disk_full is None:
            self._on_disk_full(full)

    def _on_disk_full(self, exc: BaseException, spare: asyncio.Task[None] | None = None) -> None:
        """The disk is full: dispatch nothing more and cancel the calls in flight (their
        answers could not be written; they are recorded interrupted, run again on resume).
        Jobs already writing what they were paid for finish, in the reserve's room."""
        if self._disk_full is not None:
            return
        self._disk_full = exc
        self.report.stopped = f"the disk is full: {exc}"
        spared = {asyncio.current_task(), spare}
        for task in list(self._tasks):
            if task not in spared:
                task.cancel()

    def _stopped_by_disk(self) -> DiskFullError:
        why = getattr(self._disk_full, "strerror", None) or self._disk_full
        report = self.report
        left = report.retryable + report.interrupted + report.skipped
        return DiskFullError(
            errno.ENOSPC,
            f"the disk holding {self.out_dir} is full ({why}): the batch stopped; "
            f"{report.done} job(s) done in this run, {left} left to run again, each recorded "
            "in its ledger. Free some space and run the same command again: it resumes, and "
            "nothing done is paid for again",
        )

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _cancel_in_flight(self) -> None:
        tasks = list(self._tasks)
        interrupted, done = self.report.interrupted, self.report.done
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # a job already paid for is written and recorded done, not interrupted
        log.warning(
            "batch %s interrupted: %d in-flight job(s) cancelled and recorded as interrupted; "
            "%d already paid for were written and recorded as done",
            self.run,
            self.report.interrupted - interrupted,
            self.report.done - done,
            extra={"seedless_event": "batch.interrupted", "seedless_run": self.run},
        )

    def _task_done(self, task: asyncio.Task[None], context: JobContext) -> None:
        self._tasks.discard(task)
        context.release_slot()
        self._alive.release()
        if not task.cancelled() and task.exception() is not None and self._fatal is None:
            self._fatal = task.exception()

    # ------------------------------------------------------------------ dispatch

    def lookup(
        self, job: Job
    ) -> tuple[str | None, str | None, bool, tuple[list[OutputRecord], float]]:
        """(invocation that last touched the job, done/failed if settled, hash changed,
        outputs kept from an attempt that failed part-way or spooled, and their cost)."""
        row = self.ledger.job(self.run, job.id)
        settled = None if row is None else done_before(self.ledger, self.run, job, self.out_dir)
        invocation = None if row is None else row["invocation"]
        skip = settled == Status.DONE or (settled == Status.FAILED and not self.retry_failed)
        if skip or invocation == self.invocation:
            return invocation, settled, False, ([], 0.0)
        kept = kept_outputs(self.ledger, self.run, job, self.out_dir, self.spools)
        changed = row is not None and row["job_hash"] != job.hash
        return invocation, settled, changed, kept

    async def _dispatch(self, job: JobEntry) -> None:
        if isinstance(job, JobProblem):
            await self._dispatch_problem(job)
            return
        self.report.seen += 1
        invocation, settled, changed, (kept, kept_cost) = await self.db(self.lookup, job)
        if self._settled(job, invocation, settled):
            return
        if changed:
            log.info(
                "batch %s: job %r changed since it last ran; running it again", self.run, job.id
            )
        planned = await self._plan(job, kept)
        if planned is None:
            return
        prepared, offsets, cost = planned
        context = JobContext(
            job, prepared, attempt=0, slots=self._slots, kept=kept, kept_cost=kept_cost,
            offsets=offsets,
        )  # fmt: skip
        if await self._admit(context, cost):
            self._launch(context, cost)

    def _settled(self, job: Job, invocation: str | None, settled: str | None) -> bool:
        """Whether the job is not run in this invocation (counted in the report): its id
        came twice, it is done, out with a provider batch, or failed for good."""
        report = self.report
        if invocation == self.invocation:
            report.duplicates += 1
            log.warning("batch %s: job id %r appears twice; ignoring the second", self.run, job.id)
            return True
        if settled == Status.DONE:
            report.already_done += 1
            return True
        if settled == Status.SUBMITTED:  # out with a provider batch: collected, never resent
            report.waiting += 1
            return True
        if settled == Status.FAILED and not self.retry_failed:
            report.already_failed += 1
            return True
        return False

    async def _plan(
        self, job: Job, kept: list[OutputRecord]
    ) -> tuple[PreparedRequest, tuple[int, ...], float | None] | None:
        """The job's wire calls still to make, their offsets among its outputs and their
        worst-case cost; None (recorded as refused) if the request is refused."""
        try:
            prepared = prepare_job(self.client, job)
        except SeedlessError as exc:
            retryable = _resume_retryable(exc)
            status = Status.RETRYABLE if retryable else Status.FAILED
            await self._refuse(job, exc, status, retryable=retryable)
            return None
        prepared, offsets = remaining_calls(prepared, kept)  # only what is missing
        if len(kept) >= output_count(job):  # all there (spooled by a stopped run): no call
            prepared, offsets = replace(prepared, calls=()), ()
        cost, _ = job_cost(self.client, prepared)
        return prepared, offsets, cost

    async def _admit(self, context: JobContext, cost: float | None) -> bool:
        """Wait for room (jobs alive, a wire slot), then check the job's endpoint and its
        budget; False (slot and room given back) if it is not to run."""
        job, prepared = context.job, context.prepared
        await self._alive.acquire()
        try:
            await self._slots.acquire()
        except BaseException:
            self._alive.release()
            raise
        if self.report.stopped:  # the budget or the disk stopped the run while this one waited
            self._slots.release()
            self._alive.release()
            return False
        try:
            broken = self.broken.get(prepared.spec.provider)
            if broken is not None:  # a bad key: record the job, do not send it
                await self._refuse(
                    job, broken, Status.RETRYABLE, retryable=True, model=prepared.spec.key
                )
                ok = False
            else:
                ok = await self.reserve(job, prepared, cost)
        except BaseException:
            context.release_slot()
            self._alive.release()
            raise
        if not ok:
            context.release_slot()
            self._alive.release()
        return ok

    def _launch(self, context: JobContext, cost: float | None) -> None:
        """Record the job as running (queued: its own rows follow through the same thread)
        and start its task."""
        self.db.post(self._start, context, self.start_fields(context.job, context.prepared, cost))
        task = context.task = asyncio.create_task(self._run_job(context, cost or 0.0))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, context))

    def start_fields(self, job: Job, prepared: PreparedRequest, cost: float | None) -> JobStart:
        """What the ledger records of a job dispatched in this invocation
        (:meth:`~seedless.batch.ledger.Ledger.start`'s keywords)."""
        request = prepared.request
        return JobStart(
            job_id=job.id, kind=job.kind, job_hash=job.hash,
            request_hash=job.request_hash, input_hash=job.input_hash,
            recipe_hash=job.recipe_hash, provider=prepared.spec.provider,
            model=prepared.spec.key, seed=request.seed, n=request.n, estimate=cost,
            source=job.source, invocation=self.invocation,
        )  # fmt: skip

    async def _dispatch_problem(self, problem: JobProblem) -> None:
        """A source entry that could not become a job: recorded as failed, the rest runs."""
        self.report.seen += 1
        row = await self.db(self.ledger.job, self.run, problem.id)
        if row is not None and row["invocation"] == self.invocation:
            self.report.duplicates += 1
            return
        same = row is not None and row["job_hash"] == problem.hash
        if same and row is not None and row["status"] == Status.FAILED and not self.retry_failed:
            self.report.already_failed += 1  # the same problem as last time
            return
        await self._refuse(problem, problem.error, Status.FAILED, retryable=False)

    def _start(self, context: JobContext, fields: JobStart) -> None:
        """In the ledger thread: record the job as running and learn its attempt number."""
        context.attempt = self.ledger.start(self.run, **fields)

    async def reserve(self, job: Job, prepared: PreparedRequest, cost: float | None) -> bool:
        """Reserve the job's worst case under the budget, waiting for in-flight jobs to
        settle if that helps; False (job recorded as skipped) if it cannot fit."""
        if self.budget is None:
            return True
        if cost is None:
            exc = BudgetExceededError(
                f"{prepared.spec.key} has no known price, so a budget cannot bound it; give "
                "its endpoint a price (Endpoint(prices={model_id: usd})) or run without a budget",
                spent=self.spent,
                cap=self.budget,
                next_cost=float("nan"),
            )
            await self._refuse(job, exc, Status.SKIPPED, retryable=True, model=prepared.spec.key)
            return False
        while self.spent + self.reserved + cost > self.budget + 1e-9:
            if self._tasks:
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            exc = BudgetExceededError(
                f"the next job ({job.id}, ${cost:.4f}) would take the run's spending from "
                f"${self.spent:.4f} past its budget of ${self.budget:.4f}; nothing more was "
                "dispatched. Raise the budget and run the batch again to continue.",
                spent=self.spent,
                cap=self.budget,
                next_cost=cost,
            )
            await self._refuse(job, exc, Status.SKIPPED, retryable=True, model=prepared.spec.key)
            self.report.stopped = f"budget: {exc}"
            log.warning(
                "batch %s stopped at its budget: %s",
                self.run,
                exc,
                extra={"seedless_event": "batch.budget", "seedless_run": self.run},
            )
            return False
        self.reserved += cost
        return True

    def _record_unstarted(self, **fields: Any) -> None:
        self.ledger.record_unstarted(self.run, **fields)
        self.ledger.commit()

    async def _refuse(
        self,
        job: JobEntry,
        exc: BaseException,
        status: str,
        *,
        retryable: bool,
        model: str | None = None,
    ) -> None:
        """Record a job that is not dispatched (refused, skipped, or its provider is broken)."""
        await self.db(
            self._record_unstarted,
            job_id=job.id,
            kind=job.kind,
            job_hash=job.hash,
            request_hash=job.request_hash,
            status=status,
            error=exc,
            retryable=retryable,
            invocation=self.invocation,
            source=job.source,
            model=model or job.model,
        )
        if status == Status.SKIPPED:
            self.report.skipped += 1
            return
        if status == Status.FAILED:
            self.report.failed += 1
        else:
            self.report.retryable += 1
        self.report._failure(job, exc)
        self.progress.job_failed()

    # ------------------------------------------------------------------ one job

    async def _run_job(self, context: JobContext, reserved: float) -> None:
        job, prepared = context.job, context.prepared
        started = time.perf_counter()
        images: tuple[ImageResult, ...] = ()
        score = None
        try:
            if prepared.calls:
                async with self.limits.slot(prepared.spec.provider):
                    images, score = await self._generate(context)
            else:  # every output was kept or spooled before: nothing to pay for again
                self.report.reused += 1
        except asyncio.CancelledError as cancelled:
            latency = time.perf_counter() - started
            partial = getattr(cancelled, "partial", ())
            try:
                if partial and job.best_of is None:  # paid for: written and kept
                    await self.writer.keep_interrupted(context, partial, latency)
            finally:
                self._interrupted(context, latency)  # even if cancelled again meanwhile
            raise
        except Exception as exc:
            latency = time.perf_counter() - started
            partial = getattr(exc, "partial", ())
            if partial and job.best_of is None:  # paid for: written and kept
                try:
                    await self.writer.keep(context, partial, latency)
                except OSError as write_error:
                    log.error(
                        "batch %s: job %s could not write the images it paid for: %s",
                        self.run, job.id, write_error,
                    )  # fmt: skip
            await self.failed(context, exc, latency)
            return
        finally:
            self.reserved -= reserved
            context.release_slot()  # the next job may call while this one is written
        latency = time.perf_counter() - started
        try:
            await self.writer.write(context, images, score, latency)
        except OSError as exc:  # a full disk: the job is recorded as failed (retryable)
            await self.failed(context, exc, latency)

    async def _generate(self, context: JobContext) -> tuple[tuple[ImageResult, ...], float | None]:
        """The job's images (best-of: the winner) and the winner's score."""
        job, prepared = context.job, context.prepared
        hooks = ExecuteHooks(
            before_attempt=lambda _prepared, _call: self.limits.call(prepared.spec.provider),
            on_event=lambda event: self.on_event(context, event),
        )
        if job.best_of is None:
            return (await self.client.execute(prepared, hooks=hooks)).images, None
        scorer = await asyncio.to_thread(default_scorer, job)
        ranked = await best_of_async(
            self.client,
            job.request.model_copy(update={"n": 1}),
            n=prepared.request.n,
            scorer=scorer,
            threshold=job.best_of.threshold,
            allow_retired=job.allow_retired,
            hooks=hooks,
        )
        return (ranked.result,), ranked.best.score

    def _record_interrupted(
        self, context: JobContext, error: BaseException, latency: float
    ) -> None:
        job, spec = context.job, context.prepared.spec
        self.ledger.add_attempt(
            self.run, job.id, context.attempt, "interrupted", provider=spec.provider,
            model=spec.key, error=error, latency=latency,
        )  # fmt: skip
        self.ledger.mark_failed(
            self.run, job.id, error, status=Status.INTERRUPTED, retryable=True, latency=latency
        )

    def _interrupted(self, context: JobContext, latency: float) -> None:
        error = InterruptedError("interrupted before the job finished (Ctrl-C or cancellation)")
        self.db.post(self._record_interrupted, context, error, latency)
        self.report.interrupted += 1

    def _record_failed(
        self, job: Job, exc: BaseException, status: str, retryable: bool, latency: float,
        cost: float | None,
    ) -> None:  # fmt: skip
        self.ledger.mark_failed(
            self.run, job.id, exc, status=status, retryable=retryable, latency=latency, cost=cost
        )
        self.ledger.commit()

    async def failed(self, context: JobContext, exc: Exception, latency: float) -> None:
        job, spec = context.job, context.prepared.spec
        full = is_disk_full(exc)
        if full:
            self._on_disk_full(exc, context.task)
        retryable = _resume_retryable(exc)
        status = Status.RETRYABLE if retryable else Status.FAILED
        if not isinstance(exc, SeedlessError) and not isinstance(exc, OSError):
            log.error("batch %s: job %s raised an unexpected error", self.run, job.id, exc_info=exc)
        if isinstance(exc, (AuthenticationError, QuotaExceededError, ConfigurationError)):
            self.broken.setdefault(spec.provider, exc)
        if retryable:
            self.report.retryable += 1
        else:
            self.report.failed += 1
        self.report._failure(job, exc)
        self.progress.job_failed()
        log.log(
            logging.INFO if full else logging.WARNING,  # the run's stop says it once
            "batch %s: job %s %s: %s: %s", self.run, job.id, status, type(exc).__name__, exc,
            extra={
                "seedless_event": "job.failed", "seedless_run": self.run, "seedless_job": job.id,
                "seedless_error": type(exc).__name__, "seedless_retryable": retryable,
            },
        )  # fmt: skip
        cost = None  # what the job paid, if anything (the outputs it keeps)
        if (context.kept or context.paid) and not context.unpriced:
            cost = context.kept_cost + context.paid
        await self.db(self._record_failed, job, exc, status, retryable, latency, cost)

    # ------------------------------------------------------------------ wire events

    def on_event(self, context: JobContext, event: CallEvent) -> None:
        """A wire call of this job ended, failed or is retried: an attempt row (queued)."""
        spec = context.prepared.spec
        common: dict[str, Any] = {
            "provider": spec.provider,
            "model": spec.key,
            "seed": event.seed,
            "request_hash": event.request_hash,
        }
        if event.kind == "done":
            if event.cost_usd is None:
                context.unpriced = True
            self.spent += event.cost_usd or 0.0
            context.paid += event.cost_usd or 0.0
            common.update(cost=event.cost_usd, latency=event.latency, cached=event.cached)
        elif event.kind == "retry":
            common.update(error=event.error, retry_delay=event.delay)
        elif event.kind == "error":
            if isinstance(event.error, asyncio.CancelledError):
                return  # the job's own "interrupted" attempt row records it
            common.update(error=event.error)
        else:
            return
        self.db.post(self._record_attempt, context, event.kind, common)

    def _record_attempt(self, context: JobContext, outcome: str, fields: dict[str, Any]) -> None:
        self.ledger.add_attempt(self.run, context.job.id, context.attempt, outcome, **fields)
