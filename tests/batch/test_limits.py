"""Per-provider limits: a token bucket for requests per minute, and job slots per endpoint."""

from __future__ import annotations

import asyncio

import pytest

from seedless.batch import Limits, RateLimiter


class FakeTime:
    """Virtual time for a RateLimiter: ``sleep`` moves the clock on instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += delay
        await asyncio.sleep(0)


async def test_rate_limiter_spaces_acquisitions_and_allows_a_burst() -> None:
    time = FakeTime()
    limiter = RateLimiter(rpm=600, burst=2, clock=time.clock, sleep=time.sleep)  # 10/s, 2 at once
    stamps = []
    for _ in range(5):
        await limiter.acquire()
        stamps.append(time.now)
    # two at once (the burst), then one each 100 ms
    assert stamps == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3], abs=1e-9)


async def test_a_fan_out_larger_than_the_bucket_is_delayed_not_refused() -> None:
    time = FakeTime()
    limiter = RateLimiter(rpm=1200, clock=time.clock, sleep=time.sleep)  # one per 50 ms
    await limiter.acquire(3)  # goes into debt, without waiting
    assert time.now == 0.0
    await limiter.acquire()
    # pays back the two borrowed tokens, then waits for its own: 3 x 50 ms
    assert time.now == pytest.approx(0.15, abs=1e-9)


async def test_limits_give_their_rate_limiters_the_clock() -> None:
    time = FakeTime()
    limits = Limits(rpm={"openai": 120}, clock=time.clock, sleep=time.sleep)  # one per 0.5 s
    for _ in range(3):
        await limits.call("openai")
        await limits.call("gemini")  # no rate for it: never waits
    assert time.now == pytest.approx(1.0, abs=1e-9)


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
