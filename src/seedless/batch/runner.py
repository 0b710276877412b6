"""The batch runner: many jobs, bounded concurrency, a budget, a ledger, and nothing lost.

:func:`run_batch` streams jobs (from a list, a generator, or a JSONL/CSV/folder source read
lazily) through the client, at most ``max_concurrency`` at once (and per-provider limits and
request rates, :mod:`seedless.batch.limits`), under the client's one retry policy. Each
finished job is written, recorded and dropped, so memory stays flat in the number of jobs.
This module opens the run (the ledger's lock, a reserve of room, what a killed run left, the
pre-flight estimate) and hands the jobs to an engine: :mod:`seedless.batch.direct` (every
call from this machine: per-job bookkeeping, the budget, Ctrl-C) or
:mod:`seedless.batch.provider_run` (the providers' own batch engines).

A job counts as done only when its files are on disk and its row is committed. Running the
same batch again (same output folder and run name) skips done jobs, runs failed-retryable,
interrupted and skipped ones again, and never pays twice for a done job: a process killed
between paying and committing "done" leaves a "writing" row whose files, if all present with
the recorded hashes, are accepted as done on resume. Leftover temp files are removed. A job
whose wire calls fail part-way writes and records the images the others delivered (paid
for), and its resume asks only for the missing ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..client import Client
from ..errors import ConfigurationError
from ..images import remove_temp_files
from ..strategies._run import AnyClient, aio
from . import spool
from .direct import DirectRunner
from .estimate import estimate, estimate_jobs
from .job import JobEntry
from .jobs import iter_jobs
from .jobstate import LedgerThread
from .ledger import Ledger
from .limits import Limits, with_published_limits
from .outputs import default_run
from .progress import Progress
from .provider_run import (
    DEFAULT_POLL_INTERVAL,
    Engine,
    refuse_without_engine,
    run_with_provider_engines,
)
from .report import BatchReport

if TYPE_CHECKING:
    from ..client import AsyncClient

__all__ = ["BatchReport", "estimate", "run_batch", "run_batch_async"]

log = logging.getLogger("seedless.batch")


def _clean_temp_files(ledger: Ledger, out_dir: Path) -> int:
    """Remove the temp files a killed writer left for the outputs the ledger has being
    written (``.name.XXXXXXXX.tmp``); nothing else in the folder (a cache, say) is touched."""
    root = os.fspath(out_dir)
    return sum(remove_temp_files(os.path.join(root, path)) for path in ledger.writing_paths())


def _reiterable(jobs: Iterable[JobEntry]) -> bool:
    return iter(jobs) is not jobs


async def run_batch_async(
    client: AnyClient,
    jobs: Iterable[JobEntry] | str | os.PathLike[str],
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
    engine: Engine = "direct",
    shard_size: int | None = None,
    wait: bool = True,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
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
        per_provider: jobs in flight per endpoint name, e.g. ``{"gemini": 4}`` (endpoints
            whose service publishes a limit get it unless named here: BFL's 24 active tasks).
        rpm: wire calls per minute per endpoint name, e.g. ``{"openai": 300}`` (likewise:
            Stability AI's 150 requests in 10 seconds).
        progress: show a tqdm bar (a widget in notebooks) and print the estimate first.
        retry_failed: run jobs that failed for good before (safety blocks ...) again too.
        show_estimate: print the estimate before running (default: same as ``progress``).
        engine: ``"direct"`` (every call from this machine), ``"provider"`` (the providers'
            own batch engines, Gemini Batch Mode and the OpenAI Batch API, at their batch
            price; a job no batch engine takes is refused before anything is sent) or
            ``"auto"`` (those jobs run direct). See :mod:`seedless.batch.provider_run`.
        shard_size: at most this many requests per provider batch (below the provider's
            own limits and seedless's default of 1,000).
        wait: with a provider engine, poll until every provider batch has ended and collect
            the results (False: submit and return; run the same batch again to collect).
        poll_interval: seconds between polls of the provider batches.
    """
    client = aio(client)
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = iter_jobs(jobs)
    run_name = run or default_run(out)
    limit, limits = _limits(client, max_concurrency, budget, per_provider, rpm)
    _check_engine(engine, source)
    plan = _RunPlan(
        run_name, out, budget=budget, limit=limit, limits=limits, retry_failed=retry_failed,
        progress=progress, show_estimate=progress if show_estimate is None else show_estimate,
        engine=engine, shard_size=shard_size, wait=wait, poll_interval=poll_interval,
        settings={
            "max_concurrency": limit, "per_provider": dict(per_provider or {}),
            "rpm": dict(rpm or {}), "retry_failed": retry_failed, "engine": engine,
        },
    )  # fmt: skip
    ledger = Ledger.open(out)
    db = LedgerThread(ledger)
    try:
        return await _run(client, db, source, plan, started)
    finally:
        db.close()
        ledger.close()


@dataclass(frozen=True)
class _RunPlan:
    """One invocation's settings, checked before anything is created."""

    run: str
    out: Path
    budget: float | None
    limit: int
    limits: Limits
    retry_failed: bool
    progress: bool
    show_estimate: bool
    engine: Engine
    shard_size: int | None
    wait: bool
    poll_interval: float
    settings: dict[str, Any]  # recorded in the ledger's ``runs`` row


def _check_engine(engine: str, source: Iterable[JobEntry]) -> None:
    if engine not in ("direct", "provider", "auto"):
        raise ConfigurationError(f"engine must be 'direct', 'provider' or 'auto', not {engine!r}")
    if engine != "direct" and not _reiterable(source):
        raise ConfigurationError(
            f"engine={engine!r} reads the jobs more than once (to shard them, then to write "
            "what comes back): give a list or a job file, not a one-shot generator"
        )


async def _run(
    client: AsyncClient,
    db: LedgerThread,
    source: Iterable[JobEntry],
    plan: _RunPlan,
    started: float,
) -> BatchReport:
    """Open the run, hand the jobs to its engine, and fill in the report."""
    report, spools = await _begin(client, db, source, plan)
    total = None
    if report.estimate is not None:
        total = report.estimate.to_run + report.estimate.invalid
    bar = Progress(total, enabled=plan.progress, desc=f"seedless batch {plan.run}")
    runner = DirectRunner(
        client, db, report, budget=plan.budget, spent=await db(db.ledger.spent, plan.run),
        max_concurrency=plan.limit, limits=plan.limits, progress=bar,
        retry_failed=plan.retry_failed, spools=spools,
    )  # fmt: skip
    try:
        if plan.engine == "direct":
            await runner.execute(source)
        else:
            await run_with_provider_engines(
                runner, source, auto=plan.engine == "auto", shard_size=plan.shard_size,
                wait=plan.wait, poll_interval=plan.poll_interval,
            )  # fmt: skip
    finally:
        bar.close()
        report.elapsed_s = time.perf_counter() - started
        with contextlib.suppress(Exception):
            report.run_cost_usd = (await db(db.ledger.summary, plan.run)).cost_usd
    log.info(
        "batch %s finished: %d done, %d failed, %d to retry, $%.4f",
        plan.run, report.done, report.failed, report.retryable, report.cost_usd,
        extra={"seedless_event": "batch.done", "seedless_run": plan.run},
    )  # fmt: skip
    return report


def _limits(
    client: AsyncClient,
    max_concurrency: int | None,
    budget: float | None,
    per_provider: Mapping[str, int] | None,
    rpm: Mapping[str, float] | None,
) -> tuple[int, Limits]:
    """The run's concurrency and per-endpoint limits, checked before anything is created."""
    limit = max_concurrency or client.max_concurrency
    if limit < 1:
        raise ConfigurationError("max_concurrency must be at least 1")
    if budget is not None and budget < 0:
        raise ConfigurationError("budget must be >= 0")
    protocols = {name: endpoint.protocol for name, endpoint in client.endpoints.items()}
    jobs, rates, bursts = with_published_limits(protocols, per_provider, rpm)
    try:
        limits = Limits(jobs, rates, burst=bursts)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    for what, named in (("per-provider", per_provider), ("rpm", rpm)):
        unknown = sorted(set(named or {}) - set(client.endpoints))
        if unknown:
            raise ConfigurationError(
                f"the {what} limit names {unknown[0]!r}, which is not an endpoint of this "
                f"client (known: {', '.join(sorted(client.endpoints))})"
            )
    return limit, limits


async def _begin(
    client: AsyncClient, db: LedgerThread, source: Iterable[JobEntry], plan: _RunPlan
) -> tuple[BatchReport, dict[str, list[str]]]:
    """Lock the ledger, keep room for a full disk, tidy what a killed run left (and find the
    spool files it left), estimate (a re-iterable source), refuse jobs no provider batch
    engine takes (``engine="provider"``) and record the run's start."""
    ledger, out, run_name, engine = db.ledger, plan.out, plan.run, plan.engine
    await db(ledger.lock)
    await db(ledger.reserve)  # room to end cleanly, should the disk fill up
    report = BatchReport(run=run_name, out_dir=out, ledger_path=ledger.path)
    report.temp_files_removed = await db(_clean_temp_files, ledger, out)
    report.recovered, _ = await db(ledger.recover, out)
    spools = await db(spool.find, os.fspath(out))
    if _reiterable(source):  # a bad job file stops here, before anything is recorded
        report.estimate = await db(
            estimate_jobs, client, source, ledger=ledger, run=run_name, out_dir=out,
            retry_failed=plan.retry_failed, budget=plan.budget, engine=engine, spools=spools,
        )  # fmt: skip
        if plan.show_estimate:
            print(report.estimate, file=sys.stderr, flush=True)
        if engine == "provider" and report.estimate.no_engine:
            raise refuse_without_engine(client, report.estimate.no_engine)
    report.engine = engine
    await db(
        ledger.begin_run, run_name, str(out), budget=plan.budget,
        settings=json.dumps(plan.settings),
    )  # fmt: skip
    worst = f" worst case ${report.estimate.cost_usd:.4f}" if report.estimate else ""
    log.info(
        "batch %s: starting into %s%s", run_name, out, worst,
        extra={"seedless_event": "batch.start", "seedless_run": run_name},
    )  # fmt: skip
    return report, spools


@overload
def run_batch(
    client: Client,
    jobs: Iterable[JobEntry] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **kwargs: Any,
) -> BatchReport: ...


@overload
def run_batch(
    client: AsyncClient,
    jobs: Iterable[JobEntry] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **kwargs: Any,
) -> Coroutine[Any, Any, BatchReport]: ...


def run_batch(
    client: AnyClient,
    jobs: Iterable[JobEntry] | str | os.PathLike[str],
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
