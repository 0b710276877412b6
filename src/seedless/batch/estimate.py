"""The pre-flight estimate of a batch: what would run, what it would cost, with no I/O.

Every job is validated and planned as it would be dispatched (a refusal is counted as
invalid, with the first examples), the ledger's settled jobs and the cache's answers are left
out, and the cost is the worst case of the wire calls still missing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..capabilities import is_replayable
from ..errors import (
    ConfigurationError,
    SeedlessError,
)
from ..strategies._run import AnyClient, aio
from . import spool
from .jobs import Job, JobEntry, JobProblem, iter_jobs
from .ledger import Ledger, Status
from .outputs import claim_outputs, default_run, done_before, kept_outputs, remaining_calls

if TYPE_CHECKING:
    from ..client import AsyncClient, PreparedRequest

__all__ = [
    "BATCH_MARK",
    "BatchEstimate",
    "EstimateLine",
    "batch_engine_of",
    "batch_priced",
    "estimate",
    "estimate_jobs",
    "job_cost",
    "prepare_job",
]

MAX_EXAMPLES = 20
#: What an estimate line's model carries when its jobs go to a provider batch engine.
BATCH_MARK = " [batch]"


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
    submitted: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    invalid: int = 0
    unpriced: int = 0
    cost_usd: float = 0.0
    spent_usd: float = 0.0
    budget_usd: float | None = None
    engine: str = "direct"
    #: Models of jobs that no provider batch engine takes (engine "provider" refuses them).
    no_engine: dict[str, int] = field(default_factory=dict)
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
        if self.submitted:
            parts.append(f"{self.submitted} out with a provider batch (collected, not resent)")
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
        if any(model.endswith(BATCH_MARK) for model, _ in self.lines):
            lines.append(
                f"  models marked{BATCH_MARK} go to the provider's batch engine, at its batch "
                "price (half the list price unless the endpoint sets batch_prices)"
            )
        if self.budget_usd is not None:
            fits = self.spent_usd + self.cost_usd <= self.budget_usd and not self.unpriced
            verdict = "fits" if fits else "the run stops before crossing it"
            before = f", ${self.spent_usd:.4f} already spent" if self.spent_usd else ""
            lines.append(f"  budget ${self.budget_usd:.4f}{before}: {verdict}")
        lines += [f"  ! {problem}" for problem in self.problems]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # a notebook shows the text
        printer.text(str(self))


def in_cache(cache: Any, key: str) -> bool:
    contains = getattr(cache, "contains", None)
    if callable(contains):
        return bool(contains(key))
    return cache.get(key) is not None


def prepare_job(client: AsyncClient, job: Job) -> PreparedRequest:
    """Validate a job (no I/O); a best-of job is planned with all of its candidates."""
    request = job.request
    if job.best_of is not None:
        request = request.model_copy(update={"n": job.best_of.n * request.n})
    return client.prepare(request, allow_retired=job.allow_retired)


def batch_engine_of(client: AsyncClient, job: Job, prepared: PreparedRequest) -> str | None:
    """The provider batch engine that can run ``job`` (None: it runs direct). Best-of jobs
    run direct: their candidates are scored as they arrive."""
    if job.best_of is not None:
        return None
    return client.batch_engine(prepared.spec)


def batch_priced(client: AsyncClient, prepared: PreparedRequest) -> PreparedRequest:
    """``prepared`` at its batch price (what a provider batch engine charges per image)."""
    size = prepared.request.size or prepared.spec.default_size
    return replace(prepared, price=client.batch_price(prepared.spec, size))


def job_cost(client: AsyncClient, prepared: PreparedRequest) -> tuple[float | None, bool]:
    """A prepared job's worst-case price, and whether the cache holds every one of its calls."""
    spec = prepared.spec
    cache = client.cache
    total, all_cached = 0.0, True
    for call in prepared.calls:
        if (
            cache is not None
            and is_replayable(spec, call.seed)
            and in_cache(cache, call.request_hash())
        ):
            continue
        all_cached = False
        if prepared.price is None:
            return None, False
        total += prepared.price * call.n
    return total, all_cached


def estimate_jobs(
    client: AsyncClient,
    jobs: Iterable[JobEntry],
    *,
    ledger: Ledger | None,
    run: str,
    out_dir: Path | None,
    retry_failed: bool,
    budget: float | None,
    engine: str = "direct",
    spools: dict[str, list[str]] | None = None,
) -> BatchEstimate:
    result = BatchEstimate(budget_usd=budget, engine=engine)
    if ledger is not None:
        result.spent_usd = ledger.spent(run)
    owners: dict[str, str] = {}
    ids: set[str] = set()
    for job in jobs:
        if isinstance(job, JobProblem):  # an image that cannot be read: refused, at no cost
            if job.id not in ids:
                ids.add(job.id)
                result.jobs += 1
                result.invalid += 1
                if len(result.problems) < MAX_EXAMPLES:
                    result.problems.append(f"{job.id}: {type(job.error).__name__}: {job.error}")
            continue
        if not claim_outputs(owners, ids, job, out_dir):
            continue
        result.jobs += 1
        settled = None
        if ledger is not None and out_dir is not None:
            settled = done_before(ledger, run, job, out_dir)
        if settled == Status.DONE:
            result.done += 1
            continue
        if settled == Status.FAILED and not retry_failed:
            result.failed += 1
            continue
        if settled == Status.SUBMITTED:
            result.submitted += 1
            continue
        try:
            prepared = prepare_job(client, job)
        except SeedlessError as exc:
            result.invalid += 1
            if len(result.problems) < MAX_EXAMPLES:
                result.problems.append(f"{job.id}: {type(exc).__name__}: {exc}")
            continue
        if ledger is not None and out_dir is not None:  # failed part-way, or spooled
            kept = kept_outputs(ledger, run, job, out_dir, spools, dry_run=True)[0]
            prepared, _ = remaining_calls(prepared, kept)
        _count(client, result, job, prepared, engine)
    return result


def _count(
    client: AsyncClient, result: BatchEstimate, job: Job, prepared: PreparedRequest, engine: str
) -> None:
    """Add one job to run to the estimate (at the batch price if a batch engine takes it)."""
    label = prepared.spec.key
    if engine != "direct":
        if batch_engine_of(client, job, prepared) is not None:
            prepared, label = batch_priced(client, prepared), label + BATCH_MARK
        elif engine == "provider":
            result.no_engine[label] = result.no_engine.get(label, 0) + 1
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
    result._add(label, size, images, prepared.price, cost)


def estimate(
    client: AnyClient,
    jobs: Iterable[JobEntry] | str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    run: str | None = None,
    budget: float | None = None,
    retry_failed: bool = False,
    engine: str = "direct",
) -> BatchEstimate:
    """The pre-flight estimate of a batch, with no network I/O.

    With ``out_dir``, jobs its ledger already finished (for ``run``) are left out, as a
    resumed run would skip them. With ``engine="provider"`` or ``"auto"``, jobs a provider
    batch engine takes are priced at its batch price (and marked so).
    """
    ledger: Ledger | None = None
    folder = Path(out_dir) if out_dir is not None else Path(".")
    if out_dir is not None:
        with contextlib.suppress(ConfigurationError):
            ledger = Ledger.find(folder)
    try:
        run_name = run or default_run(folder)
        return estimate_jobs(
            aio(client),
            iter_jobs(jobs),
            ledger=ledger,
            run=run_name,
            out_dir=folder if out_dir is not None else None,
            retry_failed=retry_failed,
            budget=budget,
            engine=engine,
            spools=spool.find(os.fspath(folder)) if out_dir is not None else None,
        )
    finally:
        if ledger is not None:
            ledger.close()
