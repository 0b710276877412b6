"""Batch runs that lose nothing: jobs, limits, a budget, a SQLite ledger, resume, progress.

::

    from seedless.batch import Job, run_batch

    jobs = [Job.generate(f"a fox, take {i}", model="together:flux-dev", seed=i) for i in range(400)]
    report = await run_batch(client, jobs, "out/", budget=10.0, max_concurrency=16)

The modules: :mod:`~seedless.batch.job` (the job model), :mod:`~seedless.batch.jobs` (the
JSONL/CSV/folder loaders), :mod:`~seedless.batch.ledger` (the SQLite ledger: its job records
in :mod:`~seedless.batch.job_ledger`, its schema in :mod:`~seedless.batch.migrations`),
:mod:`~seedless.batch.store` (its storage: transactions, room to finish on a full disk),
:mod:`~seedless.batch.spool` (paid bytes on disk before they are recorded),
:mod:`~seedless.batch.limits` (per-provider concurrency and rate),
:mod:`~seedless.batch.progress` (the tqdm bar), :mod:`~seedless.batch.estimate` (the
pre-flight :func:`estimate`), :mod:`~seedless.batch.outputs` (output names and what earlier
runs left), :mod:`~seedless.batch.writing` (the write path), :mod:`~seedless.batch.report`
(:class:`BatchReport`), :mod:`~seedless.batch.runner` (:func:`run_batch`: opening a run,
choosing its engine) and :mod:`~seedless.batch.direct` (the direct engine: every call from
this machine). The providers' own batch engines (``run_batch(..., engine="provider")``):
:mod:`~seedless.batch.engines` (one module per batch API), :mod:`~seedless.batch.provider_run`
(shard, submit once), :mod:`~seedless.batch.provider_collect` (poll, collect),
:mod:`~seedless.batch.provider_ledger` (the ledger's shard records) and
:mod:`~seedless.batch.provider_status` (``--status``, ``--cancel``).
"""

from __future__ import annotations

from .estimate import BatchEstimate, EstimateLine, estimate
from .jobs import (
    BestOf,
    Job,
    JobEntry,
    JobProblem,
    JobSource,
    folder_jobs,
    load_jobs,
    read_csv,
    read_jsonl,
)
from .ledger import LEDGER_NAME, Ledger, RunSummary, Status
from .limits import Limits, RateLimiter
from .provider_status import (
    ProviderBatchStatus,
    cancel_provider_batches,
    cancel_provider_batches_async,
    provider_status,
    provider_status_async,
)
from .report import BatchReport
from .runner import run_batch, run_batch_async

__all__ = [
    "LEDGER_NAME",
    "BatchEstimate",
    "BatchReport",
    "BestOf",
    "EstimateLine",
    "Job",
    "JobEntry",
    "JobProblem",
    "JobSource",
    "Ledger",
    "Limits",
    "ProviderBatchStatus",
    "RateLimiter",
    "RunSummary",
    "Status",
    "cancel_provider_batches",
    "cancel_provider_batches_async",
    "estimate",
    "folder_jobs",
    "load_jobs",
    "provider_status",
    "provider_status_async",
    "read_csv",
    "read_jsonl",
    "run_batch",
    "run_batch_async",
]
