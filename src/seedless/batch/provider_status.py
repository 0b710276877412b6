"""What a run's provider batches are doing, and cancelling them: ``seedless batch --status``
and ``--cancel``.

Both read the shards of a run from its ledger; with ``refresh`` (the default) each live one
is asked for its state (one ``get`` per batch), which is recorded. Neither takes the
folder's run lock: a batch still waiting in another process keeps waiting, and after a
cancel it collects what came back and leaves the rest retryable, as for any batch that ended
before answering everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, SeedlessError
from ..strategies._run import AnyClient, aio, run_sync
from .engines import BatchEngine, engine_for
from .ledger import Ledger
from .provider_ledger import LIVE_SHARDS, ShardState

__all__ = [
    "ProviderBatchStatus",
    "cancel_provider_batches",
    "cancel_provider_batches_async",
    "provider_status",
    "provider_status_async",
]


@dataclass
class ProviderBatchStatus:
    """One provider batch of a run: where seedless and the provider say it stands."""

    shard: str
    engine: str
    endpoint: str
    model: str
    batch_id: str | None
    state: str
    provider_state: str | None
    requests: int
    waiting: int
    submitted_at: str | None
    collected_at: str | None
    error: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_SHARDS

    def __str__(self) -> str:
        where = self.batch_id or "(not created)"
        said = f", provider says {self.provider_state}" if self.provider_state else ""
        waiting = f", {self.waiting} job(s) waiting" if self.waiting else ""
        error = f" ({self.error})" if self.error else ""
        return (
            f"{where}: {self.engine} batch of {self.requests} request(s) for {self.model}: "
            f"{self.state}{said}{waiting}{error}"
        )


def _statuses(ledger: Ledger, run: str) -> list[ProviderBatchStatus]:
    found = []
    for row in ledger.shards(run):
        if row["state"] == ShardState.ABANDONED:
            continue  # never reached the provider; its jobs were released
        status = ProviderBatchStatus(
            shard=row["shard"], engine=row["engine"], endpoint=row["endpoint"],
            model=row["model"], batch_id=row["batch_id"], state=row["state"],
            provider_state=row["provider_state"], requests=int(row["requests"] or 0),
            waiting=len(ledger.waiting_jobs(run, row["shard"])),
            submitted_at=row["submitted_at"], collected_at=row["collected_at"],
            error=row["error"],
        )  # fmt: skip
        found.append(status)
    return found


async def _each_live(
    client: AnyClient, out_dir: str | os.PathLike[str], run: str | None, cancel: bool
) -> list[ProviderBatchStatus]:
    engine_client = aio(client)
    engines: dict[tuple[str, str], BatchEngine] = {}
    with Ledger.find(Path(out_dir)) as ledger:
        name = ledger.resolve_run(run)
        try:
            for row in ledger.shards(name, [ShardState.SUBMITTED]):
                key = (row["endpoint"], row["engine"])
                if key not in engines:
                    engines[key] = engine_for(engine_client, *key)
                engine = engines[key]
                if cancel:
                    await engine.cancel(row["batch_id"])
                remote = await engine.get(row["batch_id"])
                ledger.update_shard(name, row["shard"], provider_state=remote.provider_state,
                                    done_requests=remote.succeeded,
                                    failed_requests=remote.failed)  # fmt: skip
        finally:
            for engine in engines.values():
                await engine.aclose()
        return _statuses(ledger, name)


async def provider_status_async(
    client: AnyClient, out_dir: str | os.PathLike[str], *, run: str | None = None,
    refresh: bool = True,
) -> list[ProviderBatchStatus]:  # fmt: skip
    """The provider batches of ``run`` in ``out_dir`` (default: its latest run); with
    ``refresh``, each live one asked for its state first."""
    if refresh:
        return await _each_live(client, out_dir, run, cancel=False)
    with Ledger.find(Path(out_dir)) as ledger:
        return _statuses(ledger, ledger.resolve_run(run))


async def cancel_provider_batches_async(
    client: AnyClient, out_dir: str | os.PathLike[str], *, run: str | None = None
) -> list[ProviderBatchStatus]:
    """Ask the provider to cancel every live batch of ``run``; what they had answered is
    collected by the next run (or the one still waiting), the rest left retryable."""
    try:
        return await _each_live(client, out_dir, run, cancel=True)
    except SeedlessError as exc:
        raise ConfigurationError(f"cancelling the provider batches failed: {exc}") from exc


def provider_status(client: AnyClient, out_dir: str | os.PathLike[str],
                    **kwargs: Any) -> list[ProviderBatchStatus]:  # fmt: skip
    """:func:`provider_status_async` for either client (blocking)."""
    return run_sync(client, provider_status_async(client, out_dir, **kwargs),
                    name="provider_status")  # fmt: skip


def cancel_provider_batches(client: AnyClient, out_dir: str | os.PathLike[str],
                            **kwargs: Any) -> list[ProviderBatchStatus]:  # fmt: skip
    """:func:`cancel_provider_batches_async` for either client (blocking)."""
    return run_sync(client, cancel_provider_batches_async(client, out_dir, **kwargs),
                    name="cancel_provider_batches")  # fmt: skip
