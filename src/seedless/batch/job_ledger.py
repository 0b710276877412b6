"""The ledger's job records: a job's row through its statuses, its attempts and its outputs.

A job's row moves ``running`` (dispatched; :meth:`JobRecords.start` counts the attempt) ->
``writing`` (paid: its outputs recorded before the files are written) -> ``done`` (the files
on disk), or to ``failed``, ``retryable``, ``interrupted`` or ``skipped`` with the error's
class and redacted message. Each wire-call outcome is an ``attempts`` row; each image a job
wrote an ``outputs`` row, so a job that failed part-way keeps what it paid for. After a
crash, :meth:`JobRecords.recover` settles the rows a killed process left (``writing`` jobs
whose files, or spool files, are all there are done; the rest interrupted).

This class is mixed into :class:`~seedless.batch.ledger.Ledger`; it uses the ledger's
transaction helpers (``_write``, ``commit``) and connection, as
:class:`~seedless.batch.provider_ledger.ProviderBatchRecords` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from ..errors import redact
from . import spool
from .records import Records, utc_now

__all__ = [
    "RESUMABLE",
    "USD_PLACES",
    "JobRecords",
    "JobStart",
    "OutputRecord",
    "Status",
    "error_fields",
    "usd",
    "utc_now",
]


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


#: Money is kept to the micro-dollar, so sums of float prices show no noise (0.30000000000000004).
USD_PLACES = 6


def usd(value: float | None) -> float | None:
    return None if value is None else round(value, USD_PLACES)


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


class JobStart(TypedDict):
    """What :meth:`JobRecords.start` records of a dispatched job (its keywords, so a runner
    building them once is checked against the signature)."""

    job_id: str
    kind: str
    job_hash: str
    request_hash: str
    input_hash: str | None
    recipe_hash: str | None
    provider: str | None
    model: str | None
    seed: int | None
    n: int
    estimate: float | None
    source: str | None
    invocation: str


class JobRecords(Records):
    """Ledger methods for jobs: their rows, attempts and outputs, and crash recovery."""

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
        now = utc_now()
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
                model, seed, n, usd(estimate), source, invocation, now, now, now,
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
        now = utc_now()
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
                message, http_status, retry_delay, usd(cost), latency, int(cached), utc_now(),
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
                usd(cost), latency, int(cached), score, first.path if first else None,
                first.sha256 if first else None, len(outputs), first.seed if first else None,
                utc_now(), run, job_id,
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
                usd(cost), first.path if first else None, first.sha256 if first else None,
                len(outputs), utc_now(), run, job_id,
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
        now = utc_now()
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
        now = utc_now()
        self._write(
            "UPDATE jobs SET status = ?, retryable = ?, error_class = ?, error_message = ?, "
            "http_status = ?, latency_s = ?, cost_usd = coalesce(?, cost_usd), finished_at = ?, "
            "updated_at = ? WHERE run = ? AND job_id = ?",
            (
                status, int(retryable), error_class, message, http_status, latency, usd(cost),
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
            (utc_now(),),
        )
        interrupted += cursor.rowcount
        self.commit()
        return recovered, interrupted


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
