"""Per-provider limits for a batch: concurrent jobs, and requests per minute.

The batch's global limit (jobs in flight) lives in the runner, and the client's own
``max_concurrency`` caps wire calls across everything; here are the per-provider ones:
a semaphore per endpoint name, and a token bucket per endpoint that spaces wire calls to a
requests-per-minute rate (a burst of ``burst`` calls at most). Every wire call takes a
token, retries included (they happen inside the client's retry policy, which backs off and
honours Retry-After, and then waits for the bucket too); a call the cache serves takes none.

Some services publish their limits; :data:`PUBLISHED_LIMITS` holds them by protocol, and
:func:`with_published_limits` applies them to every endpoint of that protocol the caller set
no limit for: Stability AI's 150 requests in 10 seconds, Black Forest Labs' 24 active tasks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["PUBLISHED_LIMITS", "Limits", "PublishedLimit", "RateLimiter", "with_published_limits"]

_ROUNDING = 1e-9


class RateLimiter:
    """A token bucket: ``rpm`` tokens a minute, holding at most ``burst`` (FIFO waiters).

    Taking more tokens than the bucket holds is allowed (the bucket goes into debt), so a
    request that fans out into several wire calls is never refused, only delayed.
    ``clock`` and ``sleep`` are the time it reads and the wait it takes (tests pass fakes).
    """

    def __init__(
        self,
        rpm: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rpm <= 0:
            raise ValueError("requests per minute must be positive")
        self.rate = rpm / 60.0
        self.capacity = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` may be spent, then spend them."""
        async with self._lock:
            need = min(tokens, self.capacity)
            while True:
                self._refill()
                # a rounding error short is enough: waiting for it would be a sleep too short
                # to move the clock, and the loop would spin
                if self._tokens >= need - _ROUNDING:
                    self._tokens -= tokens
                    return
                await self._sleep((need - self._tokens) / self.rate)


class Limits:
    """Per-provider concurrency and rate, keyed by endpoint name (``"openai"``, ``"gemini"``);
    ``clock`` and ``sleep`` go to every :class:`RateLimiter`."""

    def __init__(
        self,
        per_provider: Mapping[str, int] | None = None,
        rpm: Mapping[str, float] | None = None,
        *,
        burst: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        for name, limit in (per_provider or {}).items():
            if limit < 1:
                raise ValueError(f"the concurrency limit of {name!r} must be at least 1")
            self._semaphores[name] = asyncio.Semaphore(limit)
        for name, value in (rpm or {}).items():
            if value <= 0:
                raise ValueError(f"the requests per minute of {name!r} must be positive")
        bursts = burst or {}
        self._rates = {
            name: RateLimiter(value, burst=bursts.get(name, 1.0), clock=clock, sleep=sleep)
            for name, value in (rpm or {}).items()
        }

    @asynccontextmanager
    async def slot(self, provider: str) -> AsyncIterator[None]:
        """Hold one of ``provider``'s job slots."""
        semaphore = self._semaphores.get(provider)
        if semaphore is not None:
            await semaphore.acquire()
        try:
            yield
        finally:
            if semaphore is not None:
                semaphore.release()

    async def call(self, provider: str) -> None:
        """Wait until ``provider``'s rate allows one more wire call (a retry is one too)."""
        rate = self._rates.get(provider)
        if rate is not None:
            await rate.acquire()


@dataclass(frozen=True)
class PublishedLimit:
    """A limit a service documents: jobs in flight, or a request rate and its burst."""

    concurrency: int | None = None
    rpm: float | None = None
    burst: float = 1.0
    why: str = ""
    source: str = ""


#: What the services publish, by protocol. Stability AI answers 429 past 150 requests in any
#: 10 seconds (and times the account out for 60 s): a bucket of 10 refilled at 14 a second
#: lets through at most 10 + 14 x 10 = 150 in any 10 s. BFL counts active tasks (submitted,
#: not yet finished): 24, 6 for FLUX.1 Kontext [max]; a batch job holds its slot while it
#: polls, so at most 24 are active.
PUBLISHED_LIMITS: dict[str, PublishedLimit] = {
    "stability": PublishedLimit(
        rpm=14 * 60.0,
        burst=10.0,
        why="150 requests in 10 seconds",
        source="https://platform.stability.ai/docs/api-reference#tag/Generate",
    ),
    "bfl": PublishedLimit(
        concurrency=24,
        why="24 active tasks",
        source="https://github.com/black-forest-labs/skills/blob/main/skills/bfl-api/references/rate-limiting.md",
    ),
}


def with_published_limits(
    protocols: Mapping[str, str],
    per_provider: Mapping[str, int] | None,
    rpm: Mapping[str, float] | None,
    burst: Mapping[str, float] | None = None,
) -> tuple[dict[str, int], dict[str, float], dict[str, float]]:
    """Per-endpoint concurrency, rates and bursts: the caller's, and for every endpoint of a
    protocol in :data:`PUBLISHED_LIMITS` the caller set nothing for, the published ones.
    ``protocols`` maps endpoint names to their protocols."""
    jobs, rates, bursts = dict(per_provider or {}), dict(rpm or {}), dict(burst or {})
    for name, protocol in protocols.items():
        published = PUBLISHED_LIMITS.get(protocol)
        if published is None:
            continue
        if published.concurrency is not None:
            jobs.setdefault(name, published.concurrency)
        if published.rpm is not None and name not in rates:
            rates[name] = published.rpm
            bursts.setdefault(name, published.burst)
    return jobs, rates, bursts
