"""Per-provider limits for a batch: concurrent jobs, and requests per minute.

The batch's global limit (jobs in flight) lives in the runner, and the client's own
``max_concurrency`` caps wire calls across everything; here are the per-provider ones:
a semaphore per endpoint name, and a token bucket per endpoint that spaces wire calls to a
requests-per-minute rate (a burst of ``burst`` calls at most). Every wire call takes a
token, retries included (they happen inside the client's retry policy, which backs off and
honours Retry-After, and then waits for the bucket too); a call the cache serves takes none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

__all__ = ["Limits", "RateLimiter"]

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
