"""The batch ledger: one SQLite file beside the outputs, one row per job and per attempt.

``<out>/seedless-ledger.sqlite`` (stdlib :mod:`sqlite3`, WAL journal) holds every run written
into that folder. Tables:

``runs``      one row per run name: where, when, the budget and settings last used.
``jobs``      one row per (run, job id): hashes (job, request, input, recipe), provider,
              model, seed, status, error class and message (redacted), cost, latency, the
              first output's path and sha256, timestamps.
``provider_batches`` one row per batch handed to a provider's own batch engine (a shard):
              engine, endpoint, model, input file, the provider's batch id and state, times.
``provider_batch_jobs`` which job (and which of its outputs) each line of a shard is.
``attempts``  one row per wire-call outcome (done, retry, error, interrupted): error class,
              HTTP status, retry delay, cost, latency, cached, time.
``outputs``   one row per image a job wrote: path (relative to the folder), sha256, type;
              ``idx`` is its place among the job's outputs (``<output>-<idx>`` when n > 1).

Money (estimates, costs, and their sums) is kept in USD to the micro-dollar.

Job statuses: ``running`` (dispatched), ``writing`` (paid, output being written), ``done``
(file on disk and row committed), ``failed`` (will not succeed as asked: the reason is kept),
``retryable`` (failed after the retry policy gave up, or a fixable setup problem),
``interrupted`` (Ctrl-C or a killed process), ``skipped`` (not dispatched: budget).
``submitted`` (handed to a provider's own batch engine: ``external_ref`` names the shard,
:mod:`seedless.batch.provider_ledger`). A resumed run skips ``done`` (and ``failed`` unless
asked) and runs every other status again; a job that failed part-way keeps the outputs it
paid for (rows in ``outputs``, files on disk), and its resume asks only for the rest.

The schema grows by small, named, append-only migrations (:mod:`seedless.batch.migrations`).
A job's rows (statuses, attempts, outputs, crash recovery) are written by
:mod:`seedless.batch.job_ledger`, a provider batch's by :mod:`seedless.batch.provider_ledger`;
both are mixed into :class:`Ledger`, which holds the file, its lock and its transactions.
Writes use ``synchronous=NORMAL``: a killed process loses nothing committed (WAL), and only a
power cut can lose the last commits, never corrupt the file. Writes go through
:class:`~seedless.batch.store.Store`: transactions that a full disk cannot leave half-lost,
a reserve of room for a run's last records, and file names that are not UTF-8 stored as
they are. A ledger that cannot be created (a full disk) leaves no empty file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ConfigurationError, DiskFullError, is_disk_full
from .job_ledger import RESUMABLE, USD_PLACES, JobRecords, OutputRecord, Status, utc_now
from .migrations import MIGRATIONS
from .provider_ledger import ProviderBatchRecords
from .store import RunLock, Store

__all__ = [
    "LEDGER_NAME",
    "MIGRATIONS",
    "RESUMABLE",
    "Ledger",
    "OutputRecord",
    "RunSummary",
    "Status",
]

#: The ledger's file name inside an output folder.
LEDGER_NAME = "seedless-ledger.sqlite"


@dataclass
class RunSummary:
    """What ``seedless ledger show`` prints: counts, money and failures of one run."""

    run: str
    jobs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    spent_usd: float = 0.0
    cached: int = 0
    attempts: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    first_at: str | None = None
    last_at: str | None = None

    @property
    def done(self) -> int:
        return self.by_status.get(Status.DONE, 0)

    def __str__(self) -> str:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())) or "none"
        lines = [
            f"run {self.run}: {self.jobs} job(s) ({statuses})",
            f"  cost ${self.cost_usd:.4f} over done jobs; ${self.spent_usd:.4f} paid in all "
            f"attempts; {self.cached} served from cache",
            f"  {self.attempts} wire attempt(s), {self.retries} retried",
        ]
        if self.first_at:
            lines.append(f"  from {self.first_at} to {self.last_at}")
        if self.failures:
            lines.append("  failures by class:")
            for name, count in sorted(self.failures.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {name}: {count}")
        return "\n".join(lines)


class Ledger(JobRecords, ProviderBatchRecords):
    """The SQLite ledger of the batches written into one folder.

    ::

        with Ledger.open("out") as ledger:
            print(ledger.summary("my-run"))
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        self._store: Store | None = None
        try:
            self._store = Store(self.path)
            self._conn = self._store.conn
            self.migrate()
        except sqlite3.Error as exc:
            if self._store is not None:
                self._store.conn.close()
            if not existed:  # no half-made ledger (a file with no tables) is left behind
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(OSError):
                        os.unlink(f"{self.path}{suffix}")
            if is_disk_full(exc):
                raise DiskFullError(
                    errno.ENOSPC,
                    f"the disk holding {self.path.parent} is full ({exc}): the ledger cannot be "
                    "opened. Free some space and run again",
                ) from exc
            raise
        self._lock: RunLock | None = None

    @classmethod
    def open(cls, location: str | os.PathLike[str]) -> Ledger:
        """The ledger of an output folder, or a ledger file named directly."""
        path = Path(location)
        if path.is_dir() or not path.suffix:
            path = path / LEDGER_NAME
        return cls(path)

    @classmethod
    def find(cls, location: str | os.PathLike[str]) -> Ledger:
        """Like :meth:`open`, but refuses to create a ledger that does not exist."""
        path = Path(location)
        candidate = path / LEDGER_NAME if path.is_dir() else path
        if not candidate.is_file():
            raise ConfigurationError(
                f"no seedless ledger at {path}: give the output folder of a batch, or its "
                f"{LEDGER_NAME} file"
            )
        return cls(candidate)

    # ------------------------------------------------------------------ lifetime

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns their names."""
        conn = self._conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        applied = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                    conn.execute("ROLLBACK")  # another process got there first
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, utc_now()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied

    def lock(self) -> None:
        """Take the folder's exclusive run lock (ConfigurationError if another run holds it)."""
        if self._lock is None:
            lock = RunLock(self.path.with_name("." + self.path.name + ".lock"))
            lock.acquire()
            self._lock = lock

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def close(self) -> None:
        """Commit what is pending, give up the reserve, release the lock, close the file."""
        self.store.close()
        self.unlock()

    @property
    def store(self) -> Store:
        assert self._store is not None
        return self._store

    def reserve(self) -> None:
        """Set aside room for a run's last records on a full disk (:meth:`Store.reserve`)."""
        self.store.reserve()

    def release_reserve(self) -> bool:
        """Give the reserve's room back (for a paid image that found the disk full)."""
        return self.store.release_reserve()

    @property
    def full(self) -> BaseException | None:
        """The error of the first write that found the disk full, if one did."""
        return self.store.full

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ledger {self.path}>"

    # ------------------------------------------------------------------ transactions

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.store.write(sql, params)

    def commit(self) -> None:
        """Make every write so far durable against a killed process."""
        self.store.commit()

    def rollback(self) -> None:
        self.store.rollback()

    # ------------------------------------------------------------------ runs

    def begin_run(
        self, run: str, out_dir: str, *, budget: float | None, settings: str | None = None
    ) -> None:
        now = utc_now()
        self._write(
            "INSERT INTO runs (run, out_dir, created_at, updated_at, budget_usd, settings) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run) DO UPDATE SET updated_at = "
            "excluded.updated_at, out_dir = excluded.out_dir, budget_usd = excluded.budget_usd, "
            "settings = excluded.settings",
            (run, out_dir, now, now, budget, settings),
        )
        self.commit()

    def runs(self) -> list[dict[str, Any]]:
        """Every run in the ledger, most recently updated first."""
        rows = self._conn.execute(
            "SELECT r.*, (SELECT count(*) FROM jobs j WHERE j.run = r.run) AS jobs "
            "FROM runs r ORDER BY updated_at DESC, r.rowid DESC"
        )
        return [dict(row) for row in rows]

    def resolve_run(self, run: str | None) -> str:
        """``run`` if the ledger knows it; with None, the most recently updated run."""
        runs = self.runs()
        if not runs:
            raise ConfigurationError(f"the ledger {self.path} holds no runs yet")
        if run is None:
            return str(runs[0]["run"])
        if any(r["run"] == run for r in runs):
            return run
        names = ", ".join(str(r["run"]) for r in runs)
        raise ConfigurationError(f"no run {run!r} in {self.path}; it holds: {names}")

    # ------------------------------------------------------------------ reading

    def summary(self, run: str) -> RunSummary:
        """Counts by status, cost over done jobs, money paid in all attempts, failures."""
        conn = self._conn
        summary = RunSummary(run=run)
        for row in conn.execute(
            "SELECT status, count(*), sum(cached) FROM jobs WHERE run = ? GROUP BY status", (run,)
        ):
            summary.by_status[row[0]] = int(row[1])
            summary.jobs += int(row[1])
            if row[0] == Status.DONE:
                summary.cached = int(row[2] or 0)
        row = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM jobs WHERE run = ? AND status = 'done'",
            (run,),
        ).fetchone()
        summary.cost_usd = round(float(row[0]), USD_PLACES)
        bounds = conn.execute(
            "SELECT min(created_at), max(updated_at) FROM jobs WHERE run = ?", (run,)
        ).fetchone()
        summary.first_at, summary.last_at = bounds[0], bounds[1]
        row = conn.execute(
            "SELECT count(*), coalesce(sum(cost_usd), 0), "
            "coalesce(sum(outcome = 'retry'), 0) FROM attempts WHERE run = ?",
            (run,),
        ).fetchone()
        summary.attempts, summary.spent_usd, summary.retries = (
            int(row[0]),
            round(float(row[1]), USD_PLACES),
            int(row[2]),
        )
        for row in conn.execute(
            "SELECT coalesce(error_class, 'unknown'), count(*) FROM jobs WHERE run = ? AND "
            "status IN ('failed', 'retryable', 'interrupted', 'skipped') GROUP BY 1",
            (run,),
        ):
            summary.failures[row[0]] = int(row[1])
        return summary

    def spent(self, run: str) -> float:
        """Money paid so far in ``run``: every attempt that returned images, cached ones free."""
        row = self._conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM attempts WHERE run = ?", (run,)
        ).fetchone()
        return round(float(row[0]), USD_PLACES)

    def rows(self, run: str) -> Iterator[dict[str, Any]]:
        """Every job row of ``run`` as a dict (streamed), in the order jobs were created."""
        cursor = self._conn.execute(
            "SELECT * FROM jobs WHERE run = ? ORDER BY created_at, job_id", (run,)
        )
        for row in cursor:
            yield dict(row)

    def columns(self, table: str) -> list[str]:
        """The column names of ``jobs`` or ``attempts``, in the order :meth:`rows` and
        :meth:`attempt_rows` give them (an export's header, even with no rows)."""
        if table not in ("jobs", "attempts"):
            raise ValueError(f"no table {table!r} to export")
        return [str(row[1]) for row in self._conn.execute(f"PRAGMA table_info({table})")]

    def attempt_rows(self, run: str) -> Iterator[dict[str, Any]]:
        """Every attempt row of ``run`` as a dict (streamed), oldest first."""
        for row in self._conn.execute("SELECT * FROM attempts WHERE run = ? ORDER BY id", (run,)):
            yield dict(row)
