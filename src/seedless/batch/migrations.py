"""The ledger's schema: small, named, append-only migrations (:data:`MIGRATIONS`).

:meth:`seedless.batch.ledger.Ledger.migrate` applies those not yet applied, in order, once
each, and records them in the ledger's ``_migrations`` table; a ledger written by an older
seedless is brought up to date when it is opened. Never edit or reorder a migration: append a
new one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

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
