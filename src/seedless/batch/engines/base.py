"""The contract of a provider batch engine, and the limits a shard must stay within.

An engine drives one provider's own batch API for one endpoint. It is fed the wire calls the
client planned (:attr:`~seedless.client.PreparedCall.wire`, or a JSON variant of them) and
knows nothing of jobs, ledgers or files on disk beyond the shard file it uploads and the
results file it streams::

    line(key, call, spec)           -> one JSONL line of a shard (pure)
    upload(path, name)              -> the provider's file id (streamed from disk)
    create(shard, model, operation, file_id=... | inline=path) -> RemoteBatch
    find(shard)                     -> the batch created under that name, if any (resume)
    get(batch_id)                   -> RemoteBatch (state, counts, result files)
    download(batch, handle)         -> the result lines, streamed into a binary file
    parse(raw line, spec)           -> LineResult (key, the reply or the error)
    cancel(batch_id), aclose()

The runner (:mod:`seedless.batch.provider_run`) shards, records, polls and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from ..._calls import PreparedCall
    from ..._specs import ModelSpec
    from ...errors import SeedlessError
    from ...providers.base import ProviderReply

__all__ = ["TERMINAL", "BatchEngine", "LineResult", "RemoteBatch", "ShardLimits"]

#: Batch states (normalised) after which nothing more will come back.
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


@dataclass(frozen=True)
class ShardLimits:
    """How much one provider batch (a shard) may hold, and when it goes inline.

    ``max_requests`` and ``max_bytes`` are the provider's limits or seedless's smaller
    default (docs/batch.md lists both, with sources); a shard goes inline (in the create
    request, results in the batch's own answer) only when it has at most
    ``inline_max_requests`` lines and ``inline_max_bytes`` bytes.
    """

    max_requests: int
    max_bytes: int
    inline_max_requests: int = 0
    inline_max_bytes: int = 0

    def tighter(self, max_requests: int | None = None) -> ShardLimits:
        """These limits with at most ``max_requests`` lines per shard."""
        if max_requests is None:
            return self
        if max_requests < 1:
            raise ValueError("shard_size must be at least 1")
        return replace(self, max_requests=min(self.max_requests, max_requests))

    def inline(self, requests: int, size: int) -> bool:
        """Whether a shard of ``requests`` lines and ``size`` bytes goes inline."""
        return requests <= self.inline_max_requests and size <= self.inline_max_bytes


@dataclass(frozen=True)
class RemoteBatch:
    """A provider batch as the provider last described it.

    ``state`` is normalised (``pending``, ``running``, ``cancelling``, ``succeeded``,
    ``failed``, ``cancelled``, ``expired``); ``provider_state`` is the provider's own word.
    ``results`` names the files to stream (output, then errors).
    """

    id: str
    state: str
    provider_state: str
    results: tuple[str, ...] = ()
    total: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    error: str | None = None
    raw: Any = None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


@dataclass
class LineResult:
    """One line of a results file: its key, and the reply or the error it carries."""

    key: str
    reply: ProviderReply | None = None
    error: SeedlessError | None = None


class BatchEngine(Protocol):
    """One provider's batch API for one endpoint (see the module docstring)."""

    name: str
    limits: ShardLimits

    def line(self, key: str, call: PreparedCall, spec: ModelSpec) -> bytes: ...

    async def upload(self, path: Path, name: str) -> str: ...

    async def create(
        self, shard: str, spec: ModelSpec, operation: str, *, file_id: str | None,
        inline: Path | None,
    ) -> RemoteBatch: ...  # fmt: skip

    async def find(self, shard: str) -> RemoteBatch | None: ...

    async def get(self, batch_id: str) -> RemoteBatch: ...

    async def download(self, batch: RemoteBatch, handle: BinaryIO) -> int: ...

    async def parse(self, raw: bytes, spec: ModelSpec) -> LineResult: ...

    async def cancel(self, batch_id: str) -> None: ...

    async def aclose(self) -> None: ...
