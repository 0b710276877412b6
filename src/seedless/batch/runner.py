"""The batch runner: many jobs, bounded concurrency, a budget, a ledger, and nothing lost.

:func:`run_batch` streams jobs (from a list, a generator, or a JSONL/CSV/folder source read
lazily) through the client, at most ``max_concurrency`` at once (and per-provider limits and
request rates, :mod:`seedless.batch.limits`), under the client's one retry policy. Each
finished job is written, recorded and dropped, so memory stays flat in the number of jobs.

Per job::

    ledger row "running" -> client.execute with this job's hooks (rate gates before every
      attempt, retries inside; one attempt row per wire outcome, with its cost)
      -> row "writing" with output paths and hashes, committed (the money is spent)
      -> files written atomically (temp file, fsync, rename)
      -> row "done", committed.

A job counts as done only when its files are on disk and its row is committed. Running the
same batch again (same output folder and run name) skips done jobs, runs failed-retryable,
interrupted and skipped ones again, and never pays twice for a done job: a process killed
between paying and committing "done" leaves a "writing" row whose files, if all present with
the recorded hashes, are accepted as done on resume. Leftover temp files are removed. A job
whose wire calls fail part-way writes and records the images the others delivered (paid
for), and its resume asks only for the missing ones.

Budget: before dispatching a job, its worst-case price (from the matrix, with the endpoint's
price overrides; zero if the cache holds it) is reserved; if money already paid in the run
plus reservations plus this job would cross the cap, the runner waits for in-flight jobs to
settle and stops dispatching if it still would. Ctrl-C (task cancellation) stops dispatching,
cancels in-flight calls (their rows become "interrupted", retried on resume), finishes
writing results already paid for (a job's wire calls that had answered too: kept as on a
part-way failure), commits, and re-raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..capabilities import is_replayable
from ..client import Client, ExecuteHooks
from ..errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ProviderError,
    QuotaExceededError,
    SeedlessError,
)
from ..images import extension_for, mime_for_path, remove_temp_files, write_atomic
from ..strategies._run import AnyClient, aio
from ..strategies.best_of import best_of_async
from .jobs import Job, default_scorer, iter_jobs
from .ledger import Ledger, OutputRecord, Status
from .limits import Limits
from .progress import Progress

if TYPE_CHECKING:
    from ..client import AsyncClient, CallEvent, PreparedCall, PreparedRequest
    from ..models import ImageResult

__all__ = [
    "BatchEstimate",
    "BatchReport",
    "EstimateLine",
    "estimate",
    "run_batch",
    "run_batch_async",
]

log = logging.getLogger("seedless.batch")
T = TypeVar("T")

# Files we write get the permissions a plain open() would give them (mkstemp makes them 0600).
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
_MAX_EXAMPLES = 20


# ---------------------------------------------------------------------- estimate


@dataclass
class EstimateLine:
    """Jobs of one model and size: how many images, at what price each."""

    model: str
    size: str | None
    jobs: int = 0
    images: int = 0
    unit_price: float | None = None
    cost_usd: float | None = 0.0


@dataclass
class BatchEstimate:
    """The pre-flight estimate of a batch: jobs to run and their worst-case cost.

    Worst case: every image is paid at the matrix's price for its size (or the endpoint's
    override), retries are free, and a best-of-N job pays for all N candidates. Jobs the
    cache already holds cost nothing; jobs the ledger has done are not run again.
    """

    jobs: int = 0
    to_run: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    invalid: int = 0
    unpriced: int = 0
    cost_usd: float = 0.0
    spent_usd: float = 0.0
    budget_usd: float | None = None
    lines: dict[tuple[str, str | None], EstimateLine] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def _add(
        self, key: str, size: str | None, images: int, unit: float | None, cost: float | None
    ) -> None:
        line = self.lines.get((key, size))
        if line is None:
            line = self.lines[(key, size)] = EstimateLine(key, size, unit_price=unit)
        line.jobs += 1
        line.images += images
        if cost is None or line.cost_usd is None:
            line.cost_usd = None
        else:
            line.cost_usd += cost

    def __str__(self) -> str:
        parts = [f"{self.to_run} to run"]
        if self.done:
            parts.append(f"{self.done} already done")
        if self.failed:
            parts.append(f"{self.failed} failed before (not retried)")
        if self.cached:
            parts.append(f"{self.cached} from cache ($0)")
        if self.invalid:
            parts.append(f"{self.invalid} refused by validation")
        lines = [f"estimate: {self.jobs} job(s): {', '.join(parts)}"]
        for (model, size), line in sorted(
            self.lines.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            unit = "price unknown" if line.unit_price is None else f"${line.unit_price:.4f}"
            total = "?" if line.cost_usd is None else f"${line.cost_usd:.4f}"
            lines.append(
                f"  {model:<36} size {size or '-':<6} {line.jobs:>6} job(s) "
                f"{line.images:>6} image(s) x {unit:<13} = {total}"
            )
        unknown = f" (+ {self.unpriced} job(s) of unknown price)" if self.unpriced else ""
        lines.append(f"  worst case ${self.cost_usd:.4f}{unknown}")
        if self.budget_usd is not None:
            fits = self.spent_usd + self.cost_usd <= self.budget_usd and not self.unpriced
            verdict = "fits" if fits else "the run stops before crossing it"
            before = f", ${self.spent_usd:.4f} already spent" if self.spent_usd else ""
            lines.append(f"  budget ${self.budget_usd:.4f}{before}: {verdict}")
        lines += [f"  ! {problem}" for problem in self.problems]
        return "\n".join(lines)


def _in_cache(cache: Any, key: str) -> bool:
    contains = getattr(cache, "contains", None)
    if callable(contains):
        return bool(contains(key))
    return cache.get(key) is not None


def prepare_job(client: AsyncClient, job: Job) -> PreparedRequest:
    """Validate a job (no I/O); a best-of job is planned with all of its candidates."""
    request = job.request
    if job.best_of is not None:
        request = request.model_copy(update={"n": job.best_of.n * request.n})
    return client.prepare(request)


def job_cost(client: AsyncClient, prepared: PreparedRequest) -> tuple[float | None, bool]:
    """A prepared job's worst-case price, and whether the cache holds every one of its calls."""
    spec = prepared.spec
    cache = client.cache
    total, all_cached = 0.0, True
    for call in prepared.calls:
        if (
            cache is not None
            and is_replayable(spec, call.seed)
            and _in_cache(cache, call.request_hash())
        ):
            continue
        all_cached = False
        if prepared.price is None:
            return None, False
        total += prepared.price * call.n
    return total, all_cached


def _done_before(ledger: Ledger, run: str, job: Job, out_dir: Path) -> str | None:
    """``done`` or ``failed`` if the ledger already settled this very job, else None."""
    row = ledger.job(run, job.id)
    if row is None or row["job_hash"] != job.hash:
        return None
    if row["status"] == Status.DONE:
        outputs = ledger.outputs(run, job.id)
        root = os.fspath(out_dir)
        if outputs and all(os.path.isfile(os.path.join(root, o["path"])) for o in outputs):
            return Status.DONE
        return None
    if row["status"] == Status.FAILED:
        return Status.FAILED
    return None


def _output_stems(job: Job, count: int) -> list[str]:
    """Where a job writing ``count`` images puts them, without the extensions."""
    stem = job.output_name
    root, suffix = os.path.splitext(stem)
    if suffix.lower() in _IMAGE_SUFFIXES:  # "photo.jpg" names the file, not its stem
        stem = root
    if count == 1:
        return [stem]
    return [f"{stem}-{i}" for i in range(count)]


def _output_count(job: Job) -> int:
    """How many images a job writes: best-of writes its winner, else one per image asked."""
    return 1 if job.best_of is not None else job.request.n


def _kept(ledger: Ledger, run: str, job: Job, out_dir: Path) -> tuple[list[OutputRecord], float]:
    """The outputs an unfinished earlier attempt of this very job paid for and left on disk
    (a job that failed part-way), and what the job has paid for them (0 if none)."""
    if job.best_of is not None:
        return [], 0.0
    row = ledger.job(run, job.id)
    if row is None or row["job_hash"] != job.hash or row["status"] == Status.DONE:
        return [], 0.0
    stems = _output_stems(job, _output_count(job))
    kept = [
        record
        for record in ledger.present_outputs(run, job.id, out_dir)
        if record.index is not None
        and record.index < len(stems)
        and record.path == stems[record.index] + extension_for(record.mime_type)
    ]
    cost = row["cost_usd"]
    return kept, float(cost) if kept and cost is not None else 0.0


def _remaining(
    prepared: PreparedRequest, kept: Sequence[OutputRecord]
) -> tuple[PreparedRequest, tuple[int, ...]]:
    """The wire calls still to make when ``kept`` outputs exist (a call whose every image is
    kept is dropped), and the index of each remaining call's first output."""
    have = {record.index for record in kept}
    calls: list[PreparedCall] = []
    offsets: list[int] = []
    offset = 0
    for call in prepared.calls:
        if not all(index in have for index in range(offset, offset + call.n)):
            calls.append(call)
            offsets.append(offset)
        offset += call.n
    if len(calls) < len(prepared.calls):
        prepared = replace(prepared, calls=tuple(calls))
    return prepared, tuple(offsets)


def _place(
    calls: Sequence[PreparedCall], offsets: Sequence[int], images: Iterable[ImageResult]
) -> list[tuple[int, ImageResult]]:
    """Each image's output index: the first output of the wire call it came from (known by
    its request hash; identical calls, as an unseeded model's are, in order) plus its index
    in that call's answer. Images a call returned beyond what it asked for are dropped."""
    hashes = [call.request_hash() for call in calls]
    positions: dict[str, list[int]] = {}
    for position, key in enumerate(hashes):
        positions.setdefault(key, []).append(position)
    placed: list[tuple[int, ImageResult]] = []
    current: int | None = None
    for image in images:
        if current is None or image.index == 0 or hashes[current] != image.request_hash:
            queue = positions.get(image.request_hash)
            if not queue:
                current = None
                continue
            current = queue.pop(0)
        if image.index < calls[current].n:
            placed.append((offsets[current] + image.index, image))
    return placed


def _claim_outputs(owners: dict[str, str], ids: set[str], job: Job, out_dir: Path | None) -> bool:
    """Refuse a job whose outputs another job of the batch writes too (one would be lost),
    or that would write over one of its own input files in ``out_dir``; False for a
    duplicate id, which the runner ignores."""
    if job.id in ids:
        return False
    ids.add(job.id)
    count = _output_count(job)
    where = f" ({job.source})" if job.source else ""
    for stem in _output_stems(job, count):
        other = owners.setdefault(stem, job.id)
        if other != job.id:
            raise ConfigurationError(
                f"jobs {other!r} and {job.id!r}{where} would both be written as {stem}.*, one "
                "over the other; give them different output names"
            )
        overwritten = _input_at(job, os.path.join(out_dir, stem)) if out_dir is not None else None
        if overwritten is not None:
            raise ConfigurationError(
                f"job {job.id!r}{where} would write its output {stem}.* over its input "
                f"{overwritten}; choose an output folder (or output name) apart from the inputs"
            )
    return True


def _input_at(job: Job, stem: str) -> str | None:
    """The job's input file that its output ``stem`` + extension would be, if any.

    An output is its stem plus the extension of its type, so only an input with that very
    extension can be it (``cat.jpeg`` is never replaced by ``cat.jpg``).
    """
    for source in job.inputs:
        extension = extension_for(mime_for_path(source))
        if os.path.splitext(source)[1].lower() != extension:
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(stem + extension, source):
                return source
    return None


def _estimate(
    client: AsyncClient,
    jobs: Iterable[Job],
    *,
    ledger: Ledger | None,
    run: str,
    out_dir: Path | None,
    retry_failed: bool,
    budget: float | None,
) -> BatchEstimate:
    result = BatchEstimate(budget_usd=budget)
    if ledger is not None:
        result.spent_usd = ledger.spent(run)
    owners: dict[str, str] = {}
    ids: set[str] = set()
    for job in jobs:
        if not _claim_outputs(owners, ids, job, out_dir):
            continue
        result.jobs += 1
        settled = None
        if ledger is not None and out_dir is not None:
            settled = _done_before(ledger, run, job, out_dir)
        if settled == Status.DONE:
            result.done += 1
            continue
        if settled == Status.FAILED and not retry_failed:
            result.failed += 1
            continue
        try:
            prepared = prepare_job(client, job)
        except SeedlessError as exc:
            result.invalid += 1
            if len(result.problems) < _MAX_EXAMPLES:
                result.problems.append(f"{job.id}: {type(exc).__name__}: {exc}")
            continue
        if ledger is not None and out_dir is not None:  # a job that failed part-way
            prepared, _ = _remaining(prepared, _kept(ledger, run, job, out_dir)[0])
        result.to_run += 1
        cost, cached = job_cost(client, prepared)
        images = sum(call.n for call in prepared.calls)
        size = prepared.request.size or prepared.spec.default_size
        if cached:
            result.cached += 1
        elif cost is None:
            result.unpriced += 1
        else:
            result.cost_usd += cost
        result._add(prepared.spec.key, size, images, prepared.price, cost)
    return result


def estimate(
    client: AnyClient,
    jobs: Iterable[Job] | str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    run: str | None = None,
    budget: float | None = None,
    retry_failed: bool = False,
) -> BatchEstimate:
    """The pre-flight estimate of a batch, with no network I/O.

    With ``out_dir``, jobs its ledger already finished (for ``run``) are left out, as a
    resumed run would skip them.
    """
    ledger: Ledger | None = None
    folder = Path(out_dir) if out_dir is not None else Path(".")
    if out_dir is not None:
        with contextlib.suppress(ConfigurationError):
            ledger = Ledger.find(folder)
    try:
        run_name = run or _default_run(folder)
        return _estimate(
            aio(client),
            iter_jobs(jobs),
            ledger=ledger,
            run=run_name,
            out_dir=folder if out_dir is not None else None,
            retry_failed=retry_failed,
            budget=budget,
        )
    finally:
        if ledger is not None:
            ledger.close()


# ---------------------------------------------------------------------- report


@dataclass
class BatchReport:
    """What one call of :func:`run_batch` did (the ledger holds the whole run's history)."""

    run: str
    out_dir: Path
    ledger_path: Path
    estimate: BatchEstimate | None = None
    seen: int = 0
    done: int = 0
    cached: int = 0
    already_done: int = 0
    already_failed: int = 0
    failed: int = 0
    retryable: int = 0
    interrupted: int = 0
    skipped: int = 0
    duplicates: int = 0
    recovered: int = 0
    temp_files_removed: int = 0
    cost_usd: float = 0.0
    spent_usd: float = 0.0
    run_cost_usd: float = 0.0
    elapsed_s: float = 0.0
    stopped: str | None = None
    failures: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every job of the batch is done (now or before)."""
        return not (
            self.failed
            or self.already_failed
            or self.retryable
            or self.interrupted
            or self.skipped
            or self.stopped
        )

    def _failure(self, job: Job, exc: BaseException) -> None:
        name = type(exc).__name__
        self.failures[name] = self.failures.get(name, 0) + 1
        if len(self.examples) < _MAX_EXAMPLES:
            self.examples.append(f"{job.id}: {name}: {exc}")

    def __str__(self) -> str:
        head = (
            f"run {self.run!r} in {self.out_dir}: {self.done} done"
            f"{f' ({self.cached} from cache)' if self.cached else ''}, "
            f"{self.already_done} already done, {self.failed} failed, "
            f"{self.retryable} to retry, {self.interrupted} interrupted, {self.skipped} skipped"
        )
        if self.already_failed:
            head += f", {self.already_failed} failed before (not retried)"
        lines = [
            head,
            f"  cost ${self.cost_usd:.4f} now, ${self.run_cost_usd:.4f} for the run's done jobs; "
            f"{self.elapsed_s:.2f}s",
        ]
        if self.duplicates:
            lines.append(f"  {self.duplicates} duplicate job id(s) ignored")
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}")
        if self.failures:
            lines.append(
                "  failures: " + ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items()))
            )
        lines += [f"  - {example}" for example in self.examples[:5]]
        lines.append(f"  ledger: {self.ledger_path}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- the runner


@dataclass
class _JobContext:
    """One dispatched job: what it asked for, its ledger attempt, and what it has paid."""

    runner: _Runner
    job: Job
    prepared: PreparedRequest
    attempt: int
    slots: asyncio.Semaphore
    paid: float = 0.0
    unpriced: bool = False
    holds_slot: bool = True
    # the outputs an earlier attempt paid for and wrote, what they cost, and the index of
    # the first output of each of prepared.calls (which then are the missing ones only)
    kept: list[OutputRecord] = field(default_factory=list)
    kept_cost: float = 0.0
    offsets: tuple[int, ...] = ()

    def release_slot(self) -> None:
        if self.holds_slot:
            self.holds_slot = False
            self.slots.release()


def _resume_retryable(exc: BaseException) -> bool:
    """Whether a resumed run should try a job that failed with ``exc`` again."""
    if isinstance(exc, (ConfigurationError, AuthenticationError, QuotaExceededError, OSError)):
        return True  # fixable setup (a key, billing, a disk), not the job itself
    if isinstance(exc, ProviderError):
        return exc.retryable
    return not isinstance(exc, SeedlessError)


class _LedgerThread:
    """The ledger's one connection, driven from one worker thread, in submission order.

    SQLite releases the GIL while it works, so recording never stalls the event loop (and
    the wire calls it is waiting on). ``await db(fn, ...)`` waits for ``fn``; ``db.post``
    queues it; either way the calls run one at a time, in the order they were made.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seedless-ledger")
        self.error: BaseException | None = None

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        future = asyncio.wrap_future(self._pool.submit(fn, *args, **kwargs))
        # shielded: a cancelled job still gets its rows written, in order
        return await asyncio.shield(future)

    def post(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._pool.submit(fn, *args, **kwargs).add_done_callback(self._check)

    def _check(self, future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None and self.error is None:
            self.error = future.exception()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class _Runner:
    def __init__(
        self,
        client: AsyncClient,
        db: _LedgerThread,
        report: BatchReport,
        *,
        budget: float | None,
        spent: float,
        max_concurrency: int,
        limits: Limits,
        progress: Progress,
        retry_failed: bool,
    ) -> None:
        self.client = client
        self.db = db
        self.ledger = db.ledger
        self.report = report
        self.run = report.run
        self.out_dir = report.out_dir
        self.budget = budget
        self.limits = limits
        self.progress = progress
        self.retry_failed = retry_failed
        self.invocation = uuid.uuid4().hex
        # wire calls in flight; a job gives its slot back as soon as its images arrive
        self._slots = asyncio.Semaphore(max_concurrency)
        # jobs alive (calling, or writing what they received): bounds memory
        self._alive = asyncio.Semaphore(2 * max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved = 0.0
        self._spent = spent
        self._spent_before = spent
        self._broken: dict[str, BaseException] = {}
        self._fatal: BaseException | None = None

    # ------------------------------------------------------------------ main loop

    async def execute(self, jobs: Iterable[Job]) -> None:
        try:
            try:
                for job in jobs:
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
            await self.db(self.ledger.commit)  # flushes everything queued before it
            self.report.spent_usd = self._spent - self._spent_before
        if self._fatal is not None:
            raise self._fatal
        if self.db.error is not None:
            raise self.db.error

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

    def _task_done(self, task: asyncio.Task[None], context: _JobContext) -> None:
        self._tasks.discard(task)
        context.release_slot()
        self._alive.release()
        if not task.cancelled() and task.exception() is not None and self._fatal is None:
            self._fatal = task.exception()

    # ------------------------------------------------------------------ dispatch

    def _lookup(
        self, job: Job
    ) -> tuple[str | None, str | None, bool, tuple[list[OutputRecord], float]]:
        """(invocation that last touched the job, done/failed if settled, hash changed,
        outputs kept from an attempt that failed part-way and their cost)."""
        row = self.ledger.job(self.run, job.id)
        if row is None:
            return None, None, False, ([], 0.0)
        settled = _done_before(self.ledger, self.run, job, self.out_dir)
        kept = _kept(self.ledger, self.run, job, self.out_dir)
        return row["invocation"], settled, row["job_hash"] != job.hash, kept

    async def _dispatch(self, job: Job) -> None:
        report = self.report
        report.seen += 1
        invocation, settled, changed, (kept, kept_cost) = await self.db(self._lookup, job)
        if invocation == self.invocation:
            report.duplicates += 1
            log.warning("batch %s: job id %r appears twice; ignoring the second", self.run, job.id)
            return
        if settled == Status.DONE:
            report.already_done += 1
            return
        if settled == Status.FAILED and not self.retry_failed:
            report.already_failed += 1
            return
        if changed:
            log.info(
                "batch %s: job %r changed since it last ran; running it again", self.run, job.id
            )
        try:
            prepared = prepare_job(self.client, job)
        except SeedlessError as exc:
            retryable = _resume_retryable(exc)
            status = Status.RETRYABLE if retryable else Status.FAILED
            await self._refuse(job, exc, status, retryable=retryable)
            return
        prepared, offsets = _remaining(prepared, kept)  # only what is missing
        cost, _ = job_cost(self.client, prepared)
        await self._alive.acquire()
        try:
            await self._slots.acquire()
        except BaseException:
            self._alive.release()
            raise
        context = _JobContext(
            self, job, prepared, attempt=0, slots=self._slots, kept=kept, kept_cost=kept_cost,
            offsets=offsets,
        )  # fmt: skip
        try:
            broken = self._broken.get(prepared.spec.provider)
            if broken is not None:  # a bad key: record the job, do not send it
                await self._refuse(
                    job, broken, Status.RETRYABLE, retryable=True, model=prepared.spec.key
                )
                ok = False
            else:
                ok = await self._reserve(job, prepared, cost)
        except BaseException:
            context.release_slot()
            self._alive.release()
            raise
        if not ok:
            context.release_slot()
            self._alive.release()
            return
        request = prepared.request
        # queued, not awaited: the job's own rows follow it through the same thread
        self.db.post(
            self._start,
            context,
            job_id=job.id,
            kind=job.kind,
            job_hash=job.hash,
            request_hash=job.request_hash,
            input_hash=job.input_hash,
            recipe_hash=job.recipe_hash,
            provider=prepared.spec.provider,
            model=prepared.spec.key,
            seed=request.seed,
            n=request.n,
            estimate=cost,
            source=job.source,
            invocation=self.invocation,
        )
        task = asyncio.create_task(self._run_job(context, cost or 0.0))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, context))

    def _start(self, context: _JobContext, **fields: Any) -> None:
        """In the ledger thread: record the job as running and learn its attempt number."""
        context.attempt = self.ledger.start(self.run, **fields)

    async def _reserve(self, job: Job, prepared: PreparedRequest, cost: float | None) -> bool:
        """Reserve the job's worst case under the budget, waiting for in-flight jobs to
        settle if that helps; False (job recorded as skipped) if it cannot fit."""
        if self.budget is None:
            return True
        if cost is None:
            exc = BudgetExceededError(
                f"{prepared.spec.key} has no known price, so a budget cannot bound it; give "
                "its endpoint a price (Endpoint(prices={model_id: usd})) or run without a budget",
                spent=self._spent,
                cap=self.budget,
                next_cost=float("nan"),
            )
            await self._refuse(job, exc, Status.SKIPPED, retryable=True, model=prepared.spec.key)
            return False
        while self._spent + self._reserved + cost > self.budget + 1e-9:
            if self._tasks:
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            exc = BudgetExceededError(
                f"the next job ({job.id}, ${cost:.4f}) would take the run's spending from "
                f"${self._spent:.4f} past its budget of ${self.budget:.4f}; nothing more was "
                "dispatched. Raise the budget and run the batch again to continue.",
                spent=self._spent,
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
        self._reserved += cost
        return True

    def _record_unstarted(self, **fields: Any) -> None:
        self.ledger.record_unstarted(self.run, **fields)
        self.ledger.commit()

    async def _refuse(
        self,
        job: Job,
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
            model=model or job.request.model,
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

    async def _run_job(self, context: _JobContext, reserved: float) -> None:
        job, prepared = context.job, context.prepared
        started = time.perf_counter()
        try:
            async with self.limits.slot(prepared.spec.provider):
                images, score = await self._generate(context)
        except asyncio.CancelledError as cancelled:
            latency = time.perf_counter() - started
            partial = getattr(cancelled, "partial", ())
            try:
                if partial and job.best_of is None:  # paid for: written and kept
                    await self._keep_interrupted(context, partial, latency)
            finally:
                self._interrupted(context, latency)  # even if cancelled again meanwhile
            raise
        except Exception as exc:
            latency = time.perf_counter() - started
            partial = getattr(exc, "partial", ())
            if partial and job.best_of is None:  # paid for: written and kept
                try:
                    await self._keep(context, partial, latency)
                except OSError as write_error:
                    log.error(
                        "batch %s: job %s could not write the images it paid for: %s",
                        self.run, job.id, write_error,
                    )  # fmt: skip
            await self._failed(context, exc, latency)
            return
        finally:
            self._reserved -= reserved
            context.release_slot()  # the next job may call while this one is written
        await self._write(context, images, score, time.perf_counter() - started)

    async def _generate(self, context: _JobContext) -> tuple[tuple[ImageResult, ...], float | None]:
        """The job's images (best-of: the winner) and the winner's score."""
        job, prepared = context.job, context.prepared
        hooks = ExecuteHooks(
            before_attempt=lambda _prepared, _call: self.limits.call(prepared.spec.provider),
            on_event=lambda event: self._on_event(context, event),
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
            hooks=hooks,
        )
        return (ranked.result,), ranked.best.score

    def _record_interrupted(
        self, context: _JobContext, error: BaseException, latency: float
    ) -> None:
        job, spec = context.job, context.prepared.spec
        self.ledger.add_attempt(
            self.run, job.id, context.attempt, "interrupted", provider=spec.provider,
            model=spec.key, error=error, latency=latency,
        )  # fmt: skip
        self.ledger.mark_failed(
            self.run, job.id, error, status=Status.INTERRUPTED, retryable=True, latency=latency
        )

    def _interrupted(self, context: _JobContext, latency: float) -> None:
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

    async def _failed(self, context: _JobContext, exc: Exception, latency: float) -> None:
        job, spec = context.job, context.prepared.spec
        retryable = _resume_retryable(exc)
        status = Status.RETRYABLE if retryable else Status.FAILED
        if not isinstance(exc, SeedlessError) and not isinstance(exc, OSError):
            log.error("batch %s: job %s raised an unexpected error", self.run, job.id, exc_info=exc)
        if isinstance(exc, (AuthenticationError, QuotaExceededError, ConfigurationError)):
            self._broken.setdefault(spec.provider, exc)
        if retryable:
            self.report.retryable += 1
        else:
            self.report.failed += 1
        self.report._failure(job, exc)
        self.progress.job_failed()
        log.warning(
            "batch %s: job %s %s: %s: %s",
            self.run,
            job.id,
            status,
            type(exc).__name__,
            exc,
            extra={
                "seedless_event": "job.failed",
                "seedless_run": self.run,
                "seedless_job": job.id,
                "seedless_error": type(exc).__name__,
                "seedless_retryable": retryable,
            },
        )
        cost = None  # what the job paid, if anything (the outputs it keeps)
        if (context.kept or context.paid) and not context.unpriced:
            cost = context.kept_cost + context.paid
        await self.db(self._record_failed, job, exc, status, retryable, latency, cost)

    def _outputs(
        self, context: _JobContext, images: Sequence[ImageResult]
    ) -> tuple[list[OutputRecord], list[tuple[str, bytes]]]:
        """The job's output records (those kept from an earlier attempt, and ``images`` at
        the indexes of the wire calls they came from), and the files to write for ``images``."""
        job = context.job
        if job.best_of is not None:
            placed = [(0, image) for image in images]  # the winner
        else:
            placed = _place(context.prepared.calls, context.offsets, images)
        stems = _output_stems(job, _output_count(job))
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

    async def _keep(
        self, context: _JobContext, images: Sequence[ImageResult], latency: float
    ) -> None:
        """A job that failed part-way: record and write the images its other wire calls
        delivered (paid for), as its outputs; a resumed run asks only for the rest."""
        job = context.job
        records, blobs = self._outputs(context, images)
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
            self.run, job.id, len(records), _output_count(job),
        )  # fmt: skip

    async def _keep_interrupted(
        self, context: _JobContext, images: Sequence[ImageResult], latency: float
    ) -> None:
        """A job cancelled while some of its wire calls had answered: keep their images as
        a part-way failure does (the ledger's writes are shielded, the files' write is waited
        for), so a resumed run asks only for the rest. Best effort: the job is interrupted."""
        try:
            await self._keep(context, images, latency)
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

    async def _write(
        self,
        context: _JobContext,
        images: tuple[ImageResult, ...],
        score: float | None,
        latency: float,
    ) -> None:
        job = context.job
        records, blobs = self._outputs(context, images)
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
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                await writing  # already paid for: let the files land, then record them
                await self._finish(context, cost, cached, latency)
                raise
        except OSError as exc:
            await self._failed(context, exc, latency)
            return
        await self._finish(context, cost, cached, latency)

    @staticmethod
    async def _after(
        first: asyncio.Future[None], fn: Callable[[list[tuple[str, bytes]]], None],
        blobs: list[tuple[str, bytes]],
    ) -> None:  # fmt: skip
        await first
        await asyncio.to_thread(fn, blobs)

    def _record_done(self, job: Job) -> None:
        self.ledger.mark_done(self.run, job.id)

    async def _finish(
        self, context: _JobContext, cost: float | None, cached: bool, latency: float
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

    # ------------------------------------------------------------------ wire events

    def _on_event(self, context: _JobContext, event: CallEvent) -> None:
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
            self._spent += event.cost_usd or 0.0
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

    def _record_attempt(self, context: _JobContext, outcome: str, fields: dict[str, Any]) -> None:
        self.ledger.add_attempt(self.run, context.job.id, context.attempt, outcome, **fields)


def _write_files(blobs: list[tuple[str, bytes]]) -> None:
    for path, data in blobs:
        write_atomic(path, data)


def _clean_temp_files(ledger: Ledger, out_dir: Path) -> int:
    """Remove the temp files a killed writer left for the outputs the ledger has being
    written (``.name.XXXXXXXX.tmp``); nothing else in the folder (a cache, say) is touched."""
    root = os.fspath(out_dir)
    return sum(remove_temp_files(os.path.join(root, path)) for path in ledger.writing_paths())


def _default_run(out_dir: Path) -> str:
    return out_dir.resolve().name or "batch"


def _reiterable(jobs: Iterable[Job]) -> bool:
    return iter(jobs) is not jobs


async def run_batch_async(
    client: AnyClient,
    jobs: Iterable[Job] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    run: str | None = None,
    budget: float | None = None,
    max_concurrency: int | None = None,
    per_provider: Mapping[str, int] | None = None,
    rpm: Mapping[str, float] | None = None,
    progress: bool = True,
    retry_failed: bool = False,
    show_estimate: bool | None = None,
) -> BatchReport:
    """Run ``jobs`` into ``out_dir``, recorded in ``out_dir``'s ledger; resumable.

    Args:
        client: the client whose matrix, endpoints (price overrides), retry policy, cache
            and concurrency limit the batch uses.
        jobs: :class:`Job` objects (a list, a generator, a :class:`JobSource`), or the path
            of a ``.jsonl``/``.csv`` job file. A re-iterable source is read twice: once for
            the pre-flight estimate, once to run; a generator is read once, with no estimate.
        out_dir: where outputs and the ledger (``seedless-ledger.sqlite``) go.
        run: the run's name in the ledger (default: the folder's name). Running again with
            the same name resumes.
        budget: USD cap for the whole run (including earlier invocations of it); nothing is
            dispatched that could cross it.
        max_concurrency: jobs in flight at once (default: the client's ``max_concurrency``,
            which also caps wire calls).
        per_provider: jobs in flight per endpoint name, e.g. ``{"gemini": 4}``.
        rpm: wire calls per minute per endpoint name, e.g. ``{"openai": 300}``.
        progress: show a tqdm bar (a widget in notebooks) and print the estimate first.
        retry_failed: run jobs that failed for good before (safety blocks ...) again too.
        show_estimate: print the estimate before running (default: same as ``progress``).
    """
    client = aio(client)
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = iter_jobs(jobs)
    run_name = run or _default_run(out)
    limit = max_concurrency or client.max_concurrency
    if limit < 1:
        raise ConfigurationError("max_concurrency must be at least 1")
    if budget is not None and budget < 0:
        raise ConfigurationError("budget must be >= 0")
    try:
        limits = Limits(per_provider, rpm)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    for what, named in (("per-provider", per_provider), ("rpm", rpm)):
        unknown = sorted(set(named or {}) - set(client.endpoints))
        if unknown:
            raise ConfigurationError(
                f"the {what} limit names {unknown[0]!r}, which is not an endpoint of this "
                f"client (known: {', '.join(sorted(client.endpoints))})"
            )
    ledger = Ledger.open(out)
    db = _LedgerThread(ledger)
    try:
        await db(ledger.lock)
        report = BatchReport(run=run_name, out_dir=out, ledger_path=ledger.path)
        report.temp_files_removed = await db(_clean_temp_files, ledger, out)
        report.recovered, _ = await db(ledger.recover, out)
        settings = {
            "max_concurrency": limit,
            "per_provider": dict(per_provider or {}),
            "rpm": dict(rpm or {}),
            "retry_failed": retry_failed,
        }
        if _reiterable(source):  # a bad job file stops here, before anything is recorded
            report.estimate = await db(
                _estimate,
                client,
                source,
                ledger=ledger,
                run=run_name,
                out_dir=out,
                retry_failed=retry_failed,
                budget=budget,
            )
            if show_estimate if show_estimate is not None else progress:
                print(report.estimate, file=sys.stderr, flush=True)
        await db(ledger.begin_run, run_name, str(out), budget=budget, settings=json.dumps(settings))
        total = None
        if report.estimate is not None:
            total = report.estimate.to_run + report.estimate.invalid
        log.info(
            "batch %s: starting%s into %s",
            run_name,
            f" {total} job(s), worst case ${report.estimate.cost_usd:.4f}"
            if report.estimate
            else "",
            out,
            extra={"seedless_event": "batch.start", "seedless_run": run_name},
        )
        bar = Progress(total, enabled=progress, desc=f"seedless batch {run_name}")
        runner = _Runner(
            client,
            db,
            report,
            budget=budget,
            spent=await db(ledger.spent, run_name),
            max_concurrency=limit,
            limits=limits,
            progress=bar,
            retry_failed=retry_failed,
        )
        try:
            await runner.execute(source)
        finally:
            bar.close()
            report.elapsed_s = time.perf_counter() - started
            with contextlib.suppress(Exception):
                report.run_cost_usd = (await db(ledger.summary, run_name)).cost_usd
        log.info(
            "batch %s finished: %d done, %d failed, %d to retry, $%.4f",
            run_name,
            report.done,
            report.failed,
            report.retryable,
            report.cost_usd,
            extra={"seedless_event": "batch.done", "seedless_run": run_name},
        )
        return report
    finally:
        db.close()
        ledger.close()


@overload
def run_batch(
    client: Client,
    jobs: Iterable[Job] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **kwargs: Any,
) -> BatchReport: ...


@overload
def run_batch(
    client: AsyncClient,
    jobs: Iterable[Job] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **kwargs: Any,
) -> Coroutine[Any, Any, BatchReport]: ...


def run_batch(
    client: AnyClient,
    jobs: Iterable[Job] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **kwargs: Any,
) -> BatchReport | Coroutine[Any, Any, BatchReport]:
    """Run many jobs into ``out_dir`` with limits, a budget, a ledger and resume (keywords:
    those of :func:`run_batch_async`). With a :class:`~seedless.Client` it returns the
    :class:`BatchReport`; with an :class:`~seedless.AsyncClient` an awaitable of it. Ctrl-C
    stops dispatching and leaves the ledger consistent; running the same batch again resumes.
    """
    coro = run_batch_async(client, jobs, out_dir, **kwargs)
    if isinstance(client, Client):
        return client._run(coro)
    return coro
