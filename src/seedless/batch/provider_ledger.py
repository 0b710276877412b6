"""The ledger's records of provider batches: what was handed to a provider's own batch engine.

A *shard* is one provider batch (one model, one endpoint, one operation, at most the
provider's limits). Its row in ``provider_batches`` moves through::

    open (lines being written) -> sealed (file complete) -> submitting (committed before
    the create call) -> submitted (the provider's batch id known) -> collected (results
    written, what is left undone released as retryable)
                                 \\-> abandoned (never reached the provider: its jobs run again)

Each line of a shard is a row of ``provider_batch_jobs`` (its key, the job, and the index of
the job's first output the line makes), and each of its jobs has status ``submitted`` with
``external_ref`` naming the shard, so a rerun never sends them again while the shard lives.
A shard left ``submitting`` by a killed process is looked up at the provider by its name
before anything is created again: one create per shard.

This class is mixed into :class:`~seedless.batch.ledger.Ledger`; it uses the ledger's
transaction helpers (``_write``, ``commit``) and connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .records import Records, utc_now

__all__ = ["LIVE_SHARDS", "ProviderBatchRecords", "ShardState"]


class ShardState:
    """States of a shard (plain strings in the database)."""

    OPEN = "open"
    SEALED = "sealed"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COLLECTED = "collected"
    ABANDONED = "abandoned"


#: Shards whose jobs are still out with the provider (or may be).
LIVE_SHARDS = (ShardState.SUBMITTING, ShardState.SUBMITTED)
_COLUMNS = frozenset(
    {
        "mode", "requests", "bytes", "input_path", "input_file", "batch_id", "state",
        "provider_state", "done_requests", "failed_requests", "error", "submitted_at",
        "finished_at", "collected_at",
    }
)  # fmt: skip


class ProviderBatchRecords(Records):
    """Ledger methods for provider batches (shards) and the jobs they hold."""

    # ------------------------------------------------------------------ shards

    def open_shard(
        self, run: str, shard: str, *, engine: str, endpoint: str, model: str, operation: str,
        input_path: str,
    ) -> None:  # fmt: skip
        """Record a new shard whose lines are being written (committed)."""
        now = utc_now()
        self._write(
            "INSERT INTO provider_batches (run, shard, engine, endpoint, model, operation, "
            "mode, input_path, state, created_at, updated_at) VALUES "
            "(?, ?, ?, ?, ?, ?, 'file', ?, 'open', ?, ?)",
            (run, shard, engine, endpoint, model, operation, input_path, now, now),
        )
        self.commit()

    def update_shard(self, run: str, shard: str, **fields: Any) -> None:
        """Set columns of a shard's row (committed): state, batch_id, input_file ..."""
        unknown = set(fields) - _COLUMNS
        if unknown:
            raise ValueError(f"no shard column(s) {sorted(unknown)}")
        names = sorted(fields)
        assignments = ", ".join(f"{name} = ?" for name in names)
        self._write(
            f"UPDATE provider_batches SET {assignments}, updated_at = ? WHERE run = ? AND "
            "shard = ?",
            (*(fields[name] for name in names), utc_now(), run, shard),
        )
        self.commit()

    def shards(self, run: str, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The shards of ``run`` (in some ``states``), oldest first."""
        rows = self._conn.execute(
            "SELECT * FROM provider_batches WHERE run = ? ORDER BY created_at, shard", (run,)
        )
        wanted = None if states is None else set(states)
        return [dict(row) for row in rows if wanted is None or row["state"] in wanted]

    def shard(self, run: str, shard: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT * FROM provider_batches WHERE run = ? AND shard = ?", (run, shard)
        ).fetchone()
        return None if row is None else dict(row)

    # ------------------------------------------------------------------ lines and jobs

    def add_line(self, run: str, shard: str, key: str, job_id: str, first_output: int) -> None:
        """One line of a shard: which job, and which of its outputs it makes (not committed:
        :meth:`submit_job` commits with the job's row)."""
        self._write(
            "INSERT OR REPLACE INTO provider_batch_jobs (run, shard, key, job_id, first_output) "
            "VALUES (?, ?, ?, ?, ?)",
            (run, shard, key, job_id, first_output),
        )

    def submit_job(self, run: str, job_id: str, shard: str) -> None:
        """The job's lines are in ``shard``: status ``submitted`` (committed)."""
        self._write(
            "UPDATE jobs SET status = 'submitted', external_ref = ?, updated_at = ? "
            "WHERE run = ? AND job_id = ?",
            (shard, utc_now(), run, job_id),
        )
        self.commit()

    def lines_of(self, run: str, job_id: str, shard: str) -> list[tuple[str, int]]:
        """(key, first output) of each line of ``job_id`` in ``shard``, in output order."""
        rows = self._conn.execute(
            "SELECT key, first_output FROM provider_batch_jobs WHERE run = ? AND job_id = ? "
            "AND shard = ? ORDER BY first_output",
            (run, job_id, shard),
        )
        return [(str(row[0]), int(row[1])) for row in rows]

    def shard_of(self, run: str, job_id: str) -> str | None:
        """The shard a ``submitted`` job waits in, or None."""
        row = self._conn.execute(
            "SELECT external_ref FROM jobs WHERE run = ? AND job_id = ? AND status = 'submitted'",
            (run, job_id),
        ).fetchone()
        return None if row is None else row[0]

    def waiting_jobs(self, run: str, shard: str) -> list[str]:
        """The jobs of ``shard`` still ``submitted`` (no result written for them yet)."""
        rows = self._conn.execute(
            "SELECT job_id FROM jobs WHERE run = ? AND external_ref = ? AND status = "
            "'submitted' ORDER BY job_id",
            (run, shard),
        )
        return [str(row[0]) for row in rows]

    def release_jobs(self, run: str, shard: str, *, status: str, error: str,
                     error_class: str) -> int:  # fmt: skip
        """Jobs of ``shard`` still ``submitted`` become ``status`` (retryable, interrupted),
        with the reason; returns how many (committed)."""
        now = utc_now()
        cursor = self._write(
            "UPDATE jobs SET status = ?, retryable = 1, error_class = ?, error_message = ?, "
            "finished_at = ?, updated_at = ? WHERE run = ? AND external_ref = ? AND status = "
            "'submitted'",
            (status, error_class, error, now, now, run, shard),
        )
        self.commit()
        return int(cursor.rowcount)

    def reserved_in_shards(self, run: str) -> float:
        """The estimates of every job still out with a provider (reserved under a budget)."""
        row = self._conn.execute(
            "SELECT coalesce(sum(estimate_usd), 0) FROM jobs WHERE run = ? AND status = "
            "'submitted'",
            (run,),
        ).fetchone()
        return float(row[0])
