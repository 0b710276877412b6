"""The state a batch run keeps while jobs are in flight: each job's context, and the ledger's
one worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .jobs import Job
from .ledger import Ledger, OutputRecord

if TYPE_CHECKING:
    from ..client import PreparedRequest

__all__ = ["JobContext", "LedgerThread"]

T = TypeVar("T")


@dataclass
class JobContext:
    """One dispatched job: what it asked for, its ledger attempt, and what it has paid."""

    job: Job
    prepared: PreparedRequest
    attempt: int
    slots: asyncio.Semaphore
    paid: float = 0.0
    unpriced: bool = False
    holds_slot: bool = True
    task: asyncio.Task[None] | None = None
    # the outputs an earlier attempt paid for and wrote, what they cost, and the index of
    # the first output of each of prepared.calls (which then are the missing ones only)
    kept: list[OutputRecord] = field(default_factory=list)
    kept_cost: float = 0.0
    offsets: tuple[int, ...] = ()

    def release_slot(self) -> None:
        if self.holds_slot:
            self.holds_slot = False
            self.slots.release()


class LedgerThread:
    """The ledger's one connection, driven from one worker thread, in submission order.

    SQLite releases the GIL while it works, so recording never stalls the event loop (and
    the wire calls it is waiting on). ``await db(fn, ...)`` waits for ``fn``; ``db.post``
    queues it; either way the calls run one at a time, in the order they were made.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seedless-ledger")
        self.error: BaseException | None = None

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        future = asyncio.wrap_future(self._pool.submit(fn, *args, **kwargs))
        # shielded: a cancelled job still gets its rows written, in order
        return await asyncio.shield(future)

    def post(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._pool.submit(fn, *args, **kwargs).add_done_callback(self._check)

    def _check(self, future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None and self.error is None:
            self.error = future.exception()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
