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

The schema grows by small, named, append-only migrations (:data:`MIGRATIONS`). Writes use
``synchronous=NORMAL``: a killed process loses nothing committed (WAL), and only a power
cut can lose the last commits, never corrupt the file. Writes go through
:class:`~seedless.batch.store.Store`: transactions that a full disk cannot leave half-lost,
a reserve of room for a run's last records, and file names that are not UTF-8 stored as
they are. A ledger that cannot be created (a full disk) leaves no empty file behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ConfigurationError, DiskFullError, is_disk_full, redact
from . import spool
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


class Status:
    """Job statuses (plain strings in the database)."""

    RUNNING = "running"
    WRITING = "writing"
    DONE = "done"
    FAILED = "failed"
    RETRYABLE = "retryable"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    SUBMITTED = "submitted"


#: Statuses a resumed run dispatches again.
RESUMABLE = frozenset(
    {Status.RETRYABLE, Status.INTERRUPTED, Status.SKIPPED, Status.RUNNING, Status.WRITING}
)

#: (name, SQL): applied in order, once each, recorded in ``_migrations``. Append only.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_initial",
        """
        CREATE TABLE runs (
            run TEXT PRIMARY KEY,
            out_dir TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            budget_usd REAL,
            settings TEXT
        );
        CREATE TABLE jobs (
            run TEXT NOT NULL,
            job_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            job_hash TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            input_hash TEXT,
            recipe_hash TEXT,
            provider TEXT,
            model TEXT,
            seed INTEGER,
            n INTEGER,
            status TEXT NOT NULL,
            retryable INTEGER NOT NULL DEFAULT 0,
            error_class TEXT,
            error_message TEXT,
            http_status INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            estimate_usd REAL,
            cost_usd REAL,
            latency_s REAL,
            cached INTEGER NOT NULL DEFAULT 0,
            score REAL,
            output_path TEXT,
            sha256 TEXT,
            images INTEGER NOT NULL DEFAULT 0,
            source TEXT,
            invocation TEXT,
            external_ref TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run, job_id)
        );
        CREATE INDEX jobs_status ON jobs (run, status);
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run TEXT NOT NULL,
            job_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            provider TEXT,
            model TEXT,
            seed INTEGER,
            request_hash TEXT,
            error_class TEXT,
            error_message TEXT,
            http_status INTEGER,
            retry_delay_s REAL,
            cost_usd REAL,
            latency_s REAL,
            cached INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL
        );
        CREATE INDEX attempts_job ON attempts (run, job_id);
        CREATE TABLE outputs (
            run TEXT NOT NULL,
            job_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            mime_type TEXT,
            bytes INTEGER,
            seed INTEGER,
            cached INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run, job_id, idx)
        );
        """,
    ),
    (
        "m002_provider_batches",
        """
        CREATE TABLE provider_batches (
            run TEXT NOT NULL,
            shard TEXT NOT NULL,
            engine TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            model TEXT NOT NULL,
            operation TEXT NOT NULL,
            mode TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            input_path TEXT,
            input_file TEXT,
            batch_id TEXT,
            state TEXT NOT NULL,
            provider_state TEXT,
            done_requests INTEGER,
            failed_requests INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            submitted_at TEXT,
            finished_at TEXT,
            collected_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run, shard)
        );
        CREATE INDEX provider_batches_state ON provider_batches (run, state);
        CREATE TABLE provider_batch_jobs (
            run TEXT NOT NULL,
            shard TEXT NOT NULL,
            key TEXT NOT NULL,
            job_id TEXT NOT NULL,
            first_output INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run, shard, key)
        );
        CREATE INDEX provider_batch_jobs_job ON provider_batch_jobs (run, job_id);
        """,
    ),
]


#: Money is kept to the micro-dollar, so sums of float prices show no noise (0.30000000000000004).
_USD_PLACES = 6


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, _USD_PLACES)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def error_fields(exc: BaseException) -> tuple[str, str, int | None]:
    """(class name, redacted message, HTTP status) of an error, for the ledger."""
    message = redact(str(exc))[:2000] or type(exc).__name__
    status = getattr(exc, "status", None)
    return type(exc).__name__, message, status if isinstance(status, int) else None


@dataclass(frozen=True)
class OutputRecord:
    """One image a job wrote: path relative to the output folder, hash, type, seed, and its
    place among the job's outputs (``index``; default: its place in the list recorded)."""

    path: str
    sha256: str
    mime_type: str
    bytes: int
    seed: int | None = None
    cached: bool = False
    index: int | None = None


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


class Ledger(ProviderBatchRecords):
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
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, _now()))
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
        now = _now()
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

    # ------------------------------------------------------------------ jobs

    def job(self, run: str, job_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(
            "SELECT * FROM jobs WHERE run = ? AND job_id = ?", (run, job_id)
        ).fetchone()
        return row

    def outputs(self, run: str, job_id: str) -> list[sqlite3.Row]:
        return list(
            self._conn.execute(
                "SELECT * FROM outputs WHERE run = ? AND job_id = ? ORDER BY idx", (run, job_id)
            )
        )

    def start(
        self,
        run: str,
        *,
        job_id: str,
        kind: str,
        job_hash: str,
        request_hash: str,
        input_hash: str | None,
        recipe_hash: str | None,
        provider: str | None,
        model: str | None,
        seed: int | None,
        n: int,
        estimate: float | None,
        source: str | None,
        invocation: str,
    ) -> int:
        """Record a job as dispatched (``running``); returns its attempt number (1, 2, ...)."""
        now = _now()
        self._write(
            "INSERT INTO jobs (run, job_id, kind, job_hash, request_hash, input_hash, "
            "recipe_hash, provider, model, seed, n, status, estimate_usd, source, invocation, "
            "attempts, created_at, started_at, updated_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (run, job_id) DO UPDATE SET kind = excluded.kind, job_hash = "
            "excluded.job_hash, request_hash = excluded.request_hash, input_hash = "
            "excluded.input_hash, recipe_hash = excluded.recipe_hash, provider = "
            "excluded.provider, model = excluded.model, seed = excluded.seed, n = excluded.n, "
            "status = 'running', retryable = 0, error_class = NULL, error_message = NULL, "
            "score = NULL, http_status = NULL, estimate_usd = excluded.estimate_usd, source = "
            "excluded.source, invocation = excluded.invocation, attempts = attempts + 1, "
            "cost_usd = NULL, latency_s = NULL, cached = 0, output_path = NULL, sha256 = NULL, "
            "images = 0, started_at = excluded.started_at, finished_at = NULL, updated_at = "
            "excluded.updated_at",
            (
                run, job_id, kind, job_hash, request_hash, input_hash, recipe_hash, provider,
                model, seed, n, _usd(estimate), source, invocation, now, now, now,
            ),
        )  # fmt: skip
        row = self._conn.execute(
            "SELECT attempts FROM jobs WHERE run = ? AND job_id = ?", (run, job_id)
        ).fetchone()
        return int(row[0])

    def record_unstarted(
        self,
        run: str,
        *,
        job_id: str,
        kind: str,
        job_hash: str,
        request_hash: str,
        status: str,
        error: BaseException,
        retryable: bool,
        invocation: str,
        source: str | None = None,
        model: str | None = None,
    ) -> None:
        """A job that was not dispatched: refused by validation, or skipped (budget)."""
        error_class, message, http_status = error_fields(error)
        now = _now()
        self._write(
            "INSERT INTO jobs (run, job_id, kind, job_hash, request_hash, model, status, "
            "retryable, error_class, error_message, http_status, source, invocation, "
            "created_at, finished_at, updated_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run, job_id) DO UPDATE SET kind = excluded.kind, job_hash = "
            "excluded.job_hash, request_hash = excluded.request_hash, model = excluded.model, "
            "status = excluded.status, retryable = excluded.retryable, error_class = "
            "excluded.error_class, error_message = excluded.error_message, http_status = "
            "excluded.http_status, source = excluded.source, invocation = excluded.invocation, "
            "finished_at = excluded.finished_at, updated_at = excluded.updated_at",
            (
                run, job_id, kind, job_hash, request_hash, model, status, int(retryable),
                error_class, message, http_status, source, invocation, now, now, now,
            ),
        )  # fmt: skip

    def add_attempt(
        self,
        run: str,
        job_id: str,
        attempt: int,
        outcome: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        seed: int | None = None,
        request_hash: str | None = None,
        error: BaseException | None = None,
        retry_delay: float | None = None,
        cost: float | None = None,
        latency: float | None = None,
        cached: bool = False,
    ) -> None:
        """One wire-call outcome (committed with the job's next state change)."""
        error_class = message = None
        http_status = None
        if error is not None:
            error_class, message, http_status = error_fields(error)
        self._write(
            "INSERT INTO attempts (run, job_id, attempt, outcome, provider, model, seed, "
            "request_hash, error_class, error_message, http_status, retry_delay_s, cost_usd, "
            "latency_s, cached, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run, job_id, attempt, outcome, provider, model, seed, request_hash, error_class,
                message, http_status, retry_delay, _usd(cost), latency, int(cached), _now(),
            ),
        )  # fmt: skip

    def mark_writing(
        self,
        run: str,
        job_id: str,
        outputs: Sequence[OutputRecord],
        *,
        cost: float | None,
        latency: float,
        cached: bool,
        score: float | None = None,
    ) -> None:
        """The job's images are paid for and about to be written: record where, then commit."""
        self._replace_outputs(run, job_id, outputs)
        first = outputs[0] if outputs else None
        self._write(
            "UPDATE jobs SET status = 'writing', cost_usd = ?, latency_s = ?, cached = ?, "
            "score = ?, output_path = ?, sha256 = ?, images = ?, seed = COALESCE(?, seed), "
            "updated_at = ? WHERE run = ? AND job_id = ?",
            (
                _usd(cost), latency, int(cached), score, first.path if first else None,
                first.sha256 if first else None, len(outputs), first.seed if first else None,
                _now(), run, job_id,
            ),
        )  # fmt: skip
        self.commit()

    def keep_outputs(
        self, run: str, job_id: str, outputs: Sequence[OutputRecord], *, cost: float | None
    ) -> None:
        """A job that failed part-way: record the outputs it paid for (those of the wire
        calls that answered), and what it paid, before they are written; then commit. The
        job's status is left to :meth:`mark_failed`; a resumed run keeps these outputs and
        asks only for the rest."""
        self._replace_outputs(run, job_id, outputs)
        first = outputs[0] if outputs else None
        self._write(
            "UPDATE jobs SET cost_usd = ?, output_path = ?, sha256 = ?, images = ?, "
            "updated_at = ? WHERE run = ? AND job_id = ?",
            (
                _usd(cost), first.path if first else None, first.sha256 if first else None,
                len(outputs), _now(), run, job_id,
            ),
        )  # fmt: skip
        self.commit()

    def _replace_outputs(self, run: str, job_id: str, outputs: Sequence[OutputRecord]) -> None:
        self._write("DELETE FROM outputs WHERE run = ? AND job_id = ?", (run, job_id))
        for position, output in enumerate(outputs):
            index = position if output.index is None else output.index
            self._write(
                "INSERT INTO outputs (run, job_id, idx, path, sha256, mime_type, bytes, seed, "
                "cached) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run, job_id, index, output.path, output.sha256, output.mime_type,
                    output.bytes, output.seed, int(output.cached),
                ),
            )  # fmt: skip

    def present_outputs(self, run: str, job_id: str, out_dir: Path) -> list[OutputRecord]:
        """The recorded outputs of a job that are on disk with their recorded hash."""
        root = os.fspath(out_dir)
        present = []
        for row in self.outputs(run, job_id):
            if _file_matches(os.path.join(root, row["path"]), row["sha256"]):
                record = OutputRecord(
                    row["path"], row["sha256"], row["mime_type"], row["bytes"], row["seed"],
                    bool(row["cached"]), index=row["idx"],
                )  # fmt: skip
                present.append(record)
        return present

    def mark_done(self, run: str, job_id: str) -> None:
        """The outputs are on disk: the job is done (committed)."""
        now = _now()
        self._write(
            "UPDATE jobs SET status = 'done', finished_at = ?, updated_at = ? "
            "WHERE run = ? AND job_id = ?",
            (now, now, run, job_id),
        )
        self.commit()

    def mark_failed(
        self,
        run: str,
        job_id: str,
        error: BaseException,
        *,
        status: str,
        retryable: bool,
        latency: float | None = None,
        cost: float | None = None,
    ) -> None:
        """The job did not finish; ``status`` is failed, retryable or interrupted. ``cost``:
        what it paid (the outputs it keeps, see :meth:`keep_outputs`), if anything."""
        error_class, message, http_status = error_fields(error)
        now = _now()
        self._write(
            "UPDATE jobs SET status = ?, retryable = ?, error_class = ?, error_message = ?, "
            "http_status = ?, latency_s = ?, cost_usd = coalesce(?, cost_usd), finished_at = ?, "
            "updated_at = ? WHERE run = ? AND job_id = ?",
            (
                status, int(retryable), error_class, message, http_status, latency, _usd(cost),
                now, now, run, job_id,
            ),
        )  # fmt: skip

    # ------------------------------------------------------------------ recovery

    def writing_paths(self) -> list[str]:
        """Output paths (relative to the folder) of jobs left ``writing`` (or ``running``: a
        job failing part-way writes what it paid for): the only files a killed batch can
        have been writing, so the only temp files it can have left."""
        return [
            str(row[0])
            for row in self._conn.execute(
                "SELECT o.path FROM outputs o JOIN jobs j ON j.run = o.run AND j.job_id = "
                "o.job_id WHERE j.status IN ('writing', 'running') ORDER BY o.run, o.job_id, o.idx"
            )
        ]

    def recover(self, out_dir: Path) -> tuple[int, int]:
        """After a crash: ``writing`` jobs whose files are all on disk (or in their spool
        files, renamed into place now: :mod:`seedless.batch.spool`) are done, the rest (and
        ``running`` ones) interrupted. Returns (recovered as done, interrupted)."""
        recovered = interrupted = 0
        rows = list(
            self._conn.execute("SELECT run, job_id, job_hash FROM jobs WHERE status = 'writing'")
        )
        root = os.fspath(out_dir)
        for row in rows:
            outputs = self.outputs(row["run"], row["job_id"])
            if outputs and all(
                _on_disk(root, o["path"], o["sha256"], row["job_hash"]) for o in outputs
            ):
                self.mark_done(row["run"], row["job_id"])
                recovered += 1
            else:
                self.mark_failed(
                    row["run"],
                    row["job_id"],
                    InterruptedError("the process stopped while writing the output"),
                    status=Status.INTERRUPTED,
                    retryable=True,
                )
                interrupted += 1
        cursor = self._write(
            "UPDATE jobs SET status = 'interrupted', retryable = 1, error_class = "
            "'InterruptedError', error_message = 'the process stopped while the job was running', "
            "updated_at = ? WHERE status = 'running'",
            (_now(),),
        )
        interrupted += cursor.rowcount
        self.commit()
        return recovered, interrupted

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
        summary.cost_usd = round(float(row[0]), _USD_PLACES)
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
            round(float(row[1]), _USD_PLACES),
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
        return round(float(row[0]), _USD_PLACES)

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


def _on_disk(root: str, relative: str, sha256: str, job_hash: str) -> bool:
    """Whether an output is in place with its hash, after renaming its spool there if the
    process stopped between spooling and renaming it."""
    path = os.path.join(root, relative)
    if _file_matches(path, sha256):
        return True
    spooled = spool.spool_path(path, spool.tag(job_hash, sha256))
    if not _file_matches(spooled, sha256):
        return False
    with contextlib.suppress(OSError):
        spool.publish([(spooled, path)])
    return _file_matches(path, sha256)


def _file_matches(path: str, sha256: str) -> bool:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == sha256
