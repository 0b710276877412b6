"""Limits the services publish (Stability AI's request rate, BFL's active tasks), applied by
default to their endpoints in a batch, unless the caller sets their own."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import date
from pathlib import Path

import seedless
from seedless.batch.limits import PUBLISHED_LIMITS, Limits, with_published_limits
from seedless.batch.runner import _limits
from seedless.client import generate_request


class FakeTime:
    """Virtual time: ``sleep`` moves the clock on instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay
        await asyncio.sleep(0)


async def test_stabilitys_published_rate_never_allows_150_plus_in_10_seconds() -> None:
    time = FakeTime()
    jobs, rates, bursts = with_published_limits({"stability": "stability"}, None, None)
    limits = Limits(jobs, rates, burst=bursts, clock=time.clock, sleep=time.sleep)
    stamps: list[float] = []
    for _ in range(600):
        await limits.call("stability")
        stamps.append(time.now)
    window: deque[float] = deque()
    busiest = 0
    for stamp in stamps:
        window.append(stamp)
        while window[0] <= stamp - 10.0:
            window.popleft()
        busiest = max(busiest, len(window))
    assert busiest <= 150
    assert busiest >= 145  # and it is not needlessly slow
    assert stamps[-1] < 600 / 14 + 1  # 14 a second on average


def test_published_limits_apply_only_where_the_caller_set_none() -> None:
    protocols = {"stability": "stability", "stab2": "stability", "bfl": "bfl", "openai": "openai"}
    jobs, rates, bursts = with_published_limits(
        protocols, per_provider={"bfl": 4}, rpm={"stab2": 60.0}
    )
    assert jobs == {"bfl": 4}  # the caller's, not BFL's 24
    assert rates == {"stab2": 60.0, "stability": PUBLISHED_LIMITS["stability"].rpm}
    assert bursts == {"stability": 10.0}
    jobs, rates, _ = with_published_limits(protocols, None, None)
    assert jobs == {"bfl": 24} and set(rates) == {"stability", "stab2"}


def test_a_batch_runs_with_the_published_limits(tmp_path: Path) -> None:
    client = seedless.AsyncClient(clock=lambda: date(2026, 11, 25))
    _, limits = _limits(client, None, None, None, None)
    assert "stability" in limits._rates and limits._rates["stability"].rate == 14.0
    assert limits._semaphores["bfl"]._value == 24  # type: ignore[attr-defined]
    assert "openai" not in limits._rates
    assert generate_request("x", model="stability:sd3.5-large").model  # a usable request
