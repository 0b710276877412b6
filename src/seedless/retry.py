"""The one retry policy, shared by every remote provider (tenacity underneath).

Semantics follow openai-python: retry rate limits (429), server errors (5xx), timeouts and
dropped connections; never retry validation errors, authentication failures or safety
blocks; a service's ``x-should-retry: true|false`` overrides that judgement, whichever
provider it comes from. Backoff is exponential from ``initial`` seconds, capped at
``max_backoff``, with jitter; a ``Retry-After`` from the service is honoured, and one longer
than ``max_retry_after`` stops retrying (waiting that long inside a call helps no one; the
error says how long the service asked for). Attempts and the total time spent are both
capped, and both are deadlines: an attempt that runs past its own timeout (the endpoint's
``timeout``: the whole attempt, however slowly the answer trickles in) or past what is left of
``total_timeout`` is cut and raises :class:`~seedless.TimeoutError`. Provider SDKs' own
retries are turned off, so the two never multiply.

Every failure leaves here with the requests its cause chain carries scrubbed
(:func:`seedless.errors.scrub_cause`), so an error tracker that walks ``__cause__`` finds no
``?key=`` or password in a URL.

Asynchronous services (a task is accepted, then polled until it is ready) are polled by the
client at ``poll_interval`` (or the interval the service asks for) for at most
``poll_timeout`` seconds; each poll is retried under the same rules.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from .errors import ProviderError, TimeoutError, scrub_cause

__all__ = [
    "RetryPolicy",
    "call_with_retry",
    "honour_should_retry",
    "is_retryable",
    "parse_retry_after",
]

T = TypeVar("T")
log = logging.getLogger("seedless")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``RetryPolicy(max_attempts=1)`` turns retries off."""

    max_attempts: int = 4
    initial: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 120.0
    total_timeout: float = 300.0
    jitter: float = 0.25
    poll_interval: float = 1.0
    poll_timeout: float = 600.0

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return retry_after
        delay: float = min(self.initial * 2.0 ** (attempt - 1), self.max_backoff)
        return delay * (1 - self.jitter * random.random())


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def _waits_too_long(exc: BaseException, policy: RetryPolicy) -> bool:
    retry_after = getattr(exc, "retry_after", None)
    return retry_after is not None and retry_after > policy.max_retry_after


def honour_should_retry(exc: ProviderError, headers: Mapping[str, str] | None) -> ProviderError:
    """``exc`` with the service's ``x-should-retry: true|false`` (if it sent one) as its
    ``retryable``: the one place every provider's answers pass for it."""
    if headers is None:
        return exc
    value = {k.lower(): v for k, v in headers.items()}.get("x-should-retry", "").strip().lower()
    if value in ("true", "false"):
        exc.retryable = value == "true"
    return exc


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    describe: str = "call",
    on_retry: Callable[[BaseException, float], None] | None = None,
    attempt_timeout: float | None = None,
) -> T:
    """Await ``fn()`` under ``policy``; re-raise the last error when attempts run out.

    Each attempt has a deadline: ``attempt_timeout`` seconds (None: none of its own), and never
    past the policy's ``total_timeout`` counted from the first attempt.
    """
    started = time.monotonic()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        delay = policy.backoff(state.attempt_number, retry_after)
        log.info(
            "seedless retry %s after %s (attempt %d, waiting %.2fs)",
            describe,
            type(exc).__name__,
            state.attempt_number,
            delay,
        )
        if on_retry is not None and exc is not None:
            on_retry(exc, delay)
        return delay

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.total_timeout),
        wait=wait,
        retry=retry_if_exception(
            lambda exc: is_retryable(exc) and not _waits_too_long(exc, policy)
        ),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await _attempt(fn, policy, started, attempt_timeout, describe)
    except ProviderError as exc:
        if is_retryable(exc) and _waits_too_long(exc, policy):
            exc.args = (
                f"{exc} The service asked to wait {exc.retry_after:g}s before trying again, "
                f"longer than RetryPolicy(max_retry_after={policy.max_retry_after:g}), so it "
                "was not retried; try again later.",
            )
        raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _attempt(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    started: float,
    attempt_timeout: float | None,
    describe: str,
) -> T:
    """One attempt, cut at its deadline; its failure's cause chain scrubbed of secrets."""
    left = policy.total_timeout - (time.monotonic() - started)
    limit = left if attempt_timeout is None else min(attempt_timeout, left)
    try:
        return await asyncio.wait_for(fn(), max(limit, 0.001))
    except asyncio.TimeoutError as exc:
        overall = attempt_timeout is None or left <= attempt_timeout
        why = (
            f"the retry policy's total_timeout of {policy.total_timeout:g}s ran out; raise "
            "RetryPolicy(total_timeout=...) for slow models"
            if overall
            else f"no complete answer within {attempt_timeout:g}s, the endpoint's timeout for "
            "a whole attempt; raise Endpoint(timeout=...) for slow models"
        )
        error = TimeoutError(
            f"{describe}: {why}.", provider=describe.partition(":")[0], retryable=not overall
        )
        raise error from exc
    except BaseException as exc:
        scrub_cause(exc)
        raise


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: datetime | None = None
) -> float | None:
    """Seconds the service asked us to wait: ``retry-after-ms``, else ``retry-after`` given in
    seconds or as an HTTP date (openai-python's order). None if absent or unreadable."""
    if headers is None:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    text = lowered.get("retry-after")
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
        return max(0.0, seconds)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
