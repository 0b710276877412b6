"""Per-provider limits: a token bucket for requests per minute, and job slots per endpoint."""

from __future__ import annotations

import asyncio

import pytest

from seedless.batch import Limits, RateLimiter


async def test_rate_limiter_spaces_acquisitions_and_allows_a_burst() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(rpm=600, burst=2)  # 10 a second, 2 at once
    stamps = []
    for _ in range(5):
        await limiter.acquire()
        stamps.append(loop.time())
    start = stamps[0]
    assert stamps[1] - start < 0.02  # the burst
    assert stamps[2] - start == pytest.approx(0.1, abs=0.04)
    assert stamps[4] - start == pytest.approx(0.3, abs=0.06)


async def test_a_fan_out_larger_than_the_bucket_is_delayed_not_refused() -> None:
    limiter = RateLimiter(rpm=1200)  # one per 50 ms
    loop = asyncio.get_running_loop()
    await limiter.acquire(3)  # goes into debt
    before = loop.time()
    await limiter.acquire()
    assert loop.time() - before >= 0.12  # pays back the two borrowed tokens first


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rpm=0)
    with pytest.raises(ValueError):
        Limits(per_provider={"gemini": 0})


async def test_per_provider_slots() -> None:
    limits = Limits(per_provider={"gemini": 2})
    active = {"gemini": 0, "openai": 0}
    peak = {"gemini": 0, "openai": 0}

    async def job(provider: str) -> None:
        async with limits.slot(provider):
            active[provider] += 1
            peak[provider] = max(peak[provider], active[provider])
            await asyncio.sleep(0.01)
            active[provider] -= 1

    await asyncio.gather(*(job(p) for p in ["gemini"] * 6 + ["openai"] * 6))
    assert peak == {"gemini": 2, "openai": 6}
