"""Best-of-N: generate n candidates concurrently, score each, return them ranked with scores.

For models without a seed every call is a fresh draw, so the way to a result close to the
approved one is to ask several times and keep the best, judged by a scorer
(:mod:`seedless.strategies.scorers`). With a ``threshold``, candidates are requested in small
waves and no new wave starts once one passes, so a good early draw saves the rest of the
cost; calls already in flight finish and are ranked too (they are paid for anyway).

Calls that fail at the provider (a safety block, an answer without an image, a server error
after retries) are recorded in :attr:`Ranked.errors` and the others still count; if every
call fails, the first error is raised. Scoring runs in worker threads, so it overlaps with
the remaining network calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from ..capabilities import SeedPolicy
from ..client import AsyncClient, Client, ExecuteHooks, PreparedCall, PreparedRequest
from ..errors import BudgetExceededError, ProviderError
from ..models import EditRequest, ImageRequest, ImageResult
from ._run import AnyClient, aio
from .recipe import BestOfSettings, Recipe
from .scorers import ScorerLike, call_scorer, scorer_name, to_rgb
from .sheet import ContactSheet, contact_sheet

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Candidate", "Ranked", "best_of", "best_of_async", "rank"]


@dataclass(frozen=True)
class Candidate:
    """One scored candidate: the image with its provenance, its score and the score's details."""

    result: ImageResult
    score: float
    details: Mapping[str, float] = field(default_factory=dict)
    index: int = 0
    """Position in request order (0 = the first call)."""

    def _repr_png_(self) -> bytes:
        return self.result._repr_png_()

    def __repr__(self) -> str:
        return f"Candidate(#{self.index}, score={self.score:.4f}, {self.result.sha256[:12]})"


@dataclass(frozen=True)
class Ranked:
    """Candidates best first, with what was asked for and what it cost.

    It is a sequence of :class:`Candidate`; ``ranked.best.result`` is the winning image.
    In a notebook it shows as a contact sheet.
    """

    candidates: tuple[Candidate, ...]
    request: ImageRequest
    n: int
    scorer: str
    threshold: float | None = None
    errors: tuple[BaseException, ...] = ()
    stopped_early: bool = False
    stop_reason: Literal["threshold", "budget"] | None = None
    """Why calls were left unstarted (None when every call was started): a candidate reached
    the threshold, or a call raised :class:`~seedless.BudgetExceededError`."""

    # -- sequence
    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.candidates)

    def __getitem__(self, index: int) -> Candidate:
        return self.candidates[index]

    # -- answers
    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    @property
    def result(self) -> ImageResult:
        """The best candidate's image."""
        return self.candidates[0].result

    @property
    def scores(self) -> list[float]:
        return [candidate.score for candidate in self.candidates]

    @property
    def passed(self) -> bool | None:
        """Whether the best candidate reached the threshold (None without a threshold)."""
        return None if self.threshold is None else self.best.score >= self.threshold

    @property
    def cost_usd(self) -> float | None:
        """What the ranked candidates cost (None if any price is unknown)."""
        costs = [c.result.cost_usd for c in self.candidates]
        if any(cost is None for cost in costs):
            return None
        return float(sum(cost for cost in costs if cost is not None))

    def recipe(self, **extra: Any) -> Recipe:
        """The :class:`~seedless.strategies.Recipe` of the best candidate, with these settings."""
        settings = BestOfSettings(n=self.n, threshold=self.threshold, scorer=self.scorer)
        extra.setdefault("best_of", settings)
        return Recipe.from_result(self.result, **extra)

    def contact_sheet(self, **kwargs: Any) -> ContactSheet:
        """The candidates in a grid with their scores; see :func:`contact_sheet`."""
        return contact_sheet(self, **kwargs)

    def _repr_png_(self) -> bytes:
        return self.contact_sheet().png()

    def __repr__(self) -> str:
        scores = ", ".join(f"{s:.3f}" for s in self.scores)
        extra = f", {len(self.errors)} failed" if self.errors else ""
        early = f", stopped early: {self.stop_reason}" if self.stopped_early else ""
        return f"Ranked({len(self)} of {self.n} by {self.scorer}: [{scores}]{extra}{early})"


def _score(
    scorer: ScorerLike, result: ImageResult, source: Image.Image | None
) -> tuple[float, Mapping[str, float]]:
    score = call_scorer(scorer, to_rgb(result.to_pil()), source)
    return score.value, dict(score.details)


async def best_of_async(
    client: AnyClient,
    request: ImageRequest,
    *,
    n: int = 4,
    scorer: ScorerLike,
    threshold: float | None = None,
    concurrency: int | None = None,
    seed_policy: SeedPolicy | None = None,
    allow_retired: bool | None = None,
    hooks: ExecuteHooks | None = None,
) -> Ranked:
    """Generate ``n`` candidates for ``request`` concurrently, score them, rank them.

    Args:
        client: the client to send through (its :class:`~seedless.AsyncClient` engine runs
            the calls; :func:`best_of` is the form for either client).
        request: any request; its own ``n`` is replaced by ``n``. For a seeded model with a
            seed, candidate i gets the seed derived for call i, recorded on its result.
        scorer: ``scorer(candidate, source)`` or ``scorer(candidate)``, higher is better
            (:class:`~seedless.strategies.MatchEffect`, :class:`~seedless.strategies.MatchAdjust`,
            or your own function).
        threshold: stop starting new calls once a candidate scores at least this.
        concurrency: calls in flight at once; defaults to all ``n`` without a threshold and to
            2 with one (so an early pass saves the rest).
        hooks: observe every wire call (see :class:`~seedless.client.ExecuteHooks`).

    The whole request is validated before anything is sent; a refusal raises and costs nothing.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    engine = aio(client)
    prepared = engine.prepare(
        request.model_copy(update={"n": n}), seed_policy=seed_policy, allow_retired=allow_retired
    )
    calls = len(prepared.calls)
    width = max(1, concurrency or (calls if threshold is None else min(2, calls)))
    source: Image.Image | None = None
    if isinstance(request, EditRequest):
        source = await asyncio.to_thread(to_rgb, request.source)
    draws = _Draws(engine, prepared, scorer, source, threshold=threshold, width=width, hooks=hooks)
    await draws.run()
    if not draws.candidates:
        raise draws.errors[0]
    unstarted = draws.started < calls
    return Ranked(
        candidates=tuple(sorted(draws.candidates, key=lambda c: (-c.score, c.index))),
        request=request,
        n=n,
        scorer=scorer_name(scorer),
        threshold=threshold,
        errors=tuple(draws.errors),
        stopped_early=unstarted,
        stop_reason=draws.stop if unstarted else None,
    )


_Scored = list[tuple[ImageResult, float, Mapping[str, float]]]


class _Draws:
    """The candidates' wire calls, started ``width`` at a time, each scored as it lands;
    no call starts once one candidate passed the threshold or the budget refused one."""

    def __init__(
        self,
        engine: AsyncClient,
        prepared: PreparedRequest,
        scorer: ScorerLike,
        source: Image.Image | None,
        *,
        threshold: float | None,
        width: int,
        hooks: ExecuteHooks | None,
    ) -> None:
        self.engine, self.prepared, self.scorer, self.source = engine, prepared, scorer, source
        self.threshold, self.width, self.hooks = threshold, width, hooks
        self.calls = list(prepared.calls)
        self.offsets: list[int] = []  # each call's first candidate index
        total = 0
        for call in self.calls:
            self.offsets.append(total)
            total += call.n
        self.candidates: list[Candidate] = []
        self.errors: list[BaseException] = []
        self.running: dict[asyncio.Task[_Scored], int] = {}
        self.started = 0
        self.stop: Literal["threshold", "budget"] | None = None

    async def run(self) -> None:
        try:
            while self.running or (self.started < len(self.calls) and not self.stop):
                while (
                    not self.stop
                    and self.started < len(self.calls)
                    and (len(self.running) < self.width)
                ):
                    task = asyncio.ensure_future(self._one(self.calls[self.started]))
                    self.running[task] = self.started
                    self.started += 1
                done, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._settle(task)
        finally:
            for task in self.running:
                task.cancel()
            if self.running:
                await asyncio.gather(*self.running, return_exceptions=True)

    def _settle(self, task: asyncio.Task[_Scored]) -> None:
        """A call ended: its candidates kept, or its error (a budget refusal stops the rest)."""
        number = self.running.pop(task)
        try:
            scored = task.result()
        except BudgetExceededError as exc:
            self.errors.append(exc)
            self.stop = self.stop or "budget"
            return
        except ProviderError as exc:
            self.errors.append(exc)
            return
        for offset, (result, value, details) in enumerate(scored):
            self.candidates.append(Candidate(result, value, details, self.offsets[number] + offset))
            if self.threshold is not None and value >= self.threshold:
                self.stop = self.stop or "threshold"

    async def _one(self, call: PreparedCall) -> _Scored:
        prepared = self.prepared
        single = PreparedRequest(
            spec=prepared.spec, request=call.request, calls=(call,), price=prepared.price
        )
        generation = await self.engine.execute(single, hooks=self.hooks)
        scored = []
        for result in generation:
            value, details = await asyncio.to_thread(_score, self.scorer, result, self.source)
            scored.append((result, value, details))
        return scored


@overload
def best_of(
    client: Client,
    request: ImageRequest,
    *,
    n: int = 4,
    scorer: ScorerLike,
    threshold: float | None = None,
    concurrency: int | None = None,
    seed_policy: SeedPolicy | None = None,
    allow_retired: bool | None = None,
    hooks: ExecuteHooks | None = None,
) -> Ranked: ...


@overload
def best_of(
    client: AsyncClient,
    request: ImageRequest,
    *,
    n: int = 4,
    scorer: ScorerLike,
    threshold: float | None = None,
    concurrency: int | None = None,
    seed_policy: SeedPolicy | None = None,
    allow_retired: bool | None = None,
    hooks: ExecuteHooks | None = None,
) -> Coroutine[Any, Any, Ranked]: ...


def best_of(
    client: AnyClient,
    request: ImageRequest,
    *,
    n: int = 4,
    scorer: ScorerLike,
    threshold: float | None = None,
    concurrency: int | None = None,
    seed_policy: SeedPolicy | None = None,
    allow_retired: bool | None = None,
    hooks: ExecuteHooks | None = None,
) -> Ranked | Coroutine[Any, Any, Ranked]:
    """Best-of-N: ``n`` candidates generated concurrently, scored and ranked.

    With a :class:`~seedless.Client` it returns the :class:`Ranked` candidates; with an
    :class:`~seedless.AsyncClient` an awaitable of them (see :func:`best_of_async` for the
    arguments)::

        ranked = seedless.best_of(client, request, n=6, scorer=MatchEffect(before, after))
        ranked = await seedless.best_of(async_client, request, n=6, scorer=...)
    """
    coro = best_of_async(
        client, request, n=n, scorer=scorer, threshold=threshold, concurrency=concurrency,
        seed_policy=seed_policy, allow_retired=allow_retired, hooks=hooks,
    )  # fmt: skip
    if isinstance(client, Client):
        return client._run(coro)
    return coro


def rank(
    results: Sequence[ImageResult],
    scorer: ScorerLike,
    *,
    source: Image.Image | None = None,
) -> list[Candidate]:
    """Score images you already have (no calls) and return them best first."""
    candidates = []
    for index, result in enumerate(results):
        value, details = _score(scorer, result, source)
        candidates.append(Candidate(result, value, details, index))
    candidates.sort(key=lambda c: (-c.score, c.index))
    return candidates
