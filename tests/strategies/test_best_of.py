"""best_of: concurrent candidates, scored and ranked; early stop; failures; contact sheets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image
from strategy_helpers import TARGET, TODAY, Truth, brighten, png, seeded_handler, small_photo

import seedless
from seedless import (
    BudgetExceededError,
    ContentBlockedError,
    FunctionProvider,
    ProviderReply,
    RawImage,
)
from seedless.strategies import (
    Candidate,
    MatchAdjust,
    MatchEffect,
    Ranked,
    Score,
    anchored_request,
    best_of,
    contact_sheet,
    rank,
)


def _ranked_truly(ranked: Ranked, truth: Truth) -> bool:
    """Whether the top candidate is the one whose factor is closest to the target."""
    factors = [truth.factors[c.result.sha256] for c in ranked]
    return abs(factors[0] - TARGET) == min(abs(f - TARGET) for f in factors)


async def test_best_of_picks_the_candidate_closest_to_the_approved_change(
    make_client: Callable[..., seedless.Client], truth: Truth, pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    client = make_client().aio
    source = small_photo("cat.jpg")
    scorer = MatchEffect(original, approved)
    wins = 0
    for _ in range(10):
        request = anchored_request(source, original=original, approved=approved, model="fake:nano")
        ranked = await best_of(client, request, n=4, scorer=scorer)
        assert len(ranked) == 4 and ranked.scores == sorted(ranked.scores, reverse=True)
        wins += _ranked_truly(ranked, truth)
    assert wins >= 9


async def test_every_candidate_carries_provenance_and_details(
    make_client: Callable[..., seedless.Client], pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    ranked = await best_of(make_client().aio, request, n=3, scorer=MatchEffect(original, approved))
    assert sorted(c.index for c in ranked) == [0, 1, 2]
    assert ranked.best is ranked[0] and ranked.result is ranked[0].result
    assert {"effect_error", "delta_e", "structure", "drift"} <= set(ranked.best.details)
    assert ranked.cost_usd == pytest.approx(3 * 0.04)
    assert ranked.result.model_key == "fake:nano" and ranked.result.seed is None
    assert not ranked.stopped_early and ranked.stop_reason is None and ranked.passed is None
    assert "Ranked(3 of 3 by MatchEffect" in repr(ranked)


async def test_threshold_stops_starting_new_calls(
    make_client: Callable[..., seedless.Client], truth: Truth, pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    truth.jitter = 0.0  # every candidate is perfect: the first wave passes
    provider_calls: list[Any] = []

    def handler(request: Any, spec: Any) -> ProviderReply:
        provider_calls.append(request)
        return truth(request, spec)

    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    ranked = await best_of(
        make_client(handler).aio, request, n=8, scorer=MatchEffect(original, approved),
        threshold=0.9,
    )  # fmt: skip
    assert ranked.stopped_early and ranked.stop_reason == "threshold" and ranked.passed
    assert len(provider_calls) == 2 == len(ranked)  # one wave of two, then stop
    assert ranked.best.score >= 0.9
    assert repr(ranked).endswith(", stopped early: threshold)")


async def test_a_budget_stop_is_told_apart_from_a_pass(
    make_client: Callable[..., seedless.Client], truth: Truth, pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    count = 0

    def capped(request: Any, spec: Any) -> ProviderReply:
        nonlocal count
        count += 1
        if count == 3:
            raise BudgetExceededError("over the cap", spent=0.08, cap=0.1, next_cost=0.04)
        return truth(request, spec)

    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    ranked = await best_of(
        make_client(capped).aio, request, n=6, scorer=MatchEffect(original, approved),
        threshold=1.1, concurrency=1,
    )  # fmt: skip
    assert len(ranked) == 2 and isinstance(ranked.errors[0], BudgetExceededError)
    assert ranked.stopped_early and ranked.stop_reason == "budget" and not ranked.passed
    assert repr(ranked).endswith(", stopped early: budget)")


async def test_failed_calls_are_recorded_and_the_rest_ranked(
    make_client: Callable[..., seedless.Client], truth: Truth, pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    count = 0

    def flaky(request: Any, spec: Any) -> ProviderReply:
        nonlocal count
        count += 1
        if count == 2:
            raise ContentBlockedError("blocked", reason="IMAGE_SAFETY", provider="fake")
        return truth(request, spec)

    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    ranked = await best_of(
        make_client(flaky).aio, request, n=4, scorer=MatchEffect(original, approved)
    )
    assert len(ranked) == 3 and len(ranked.errors) == 1
    assert isinstance(ranked.errors[0], ContentBlockedError)


async def test_all_failing_raises_the_first_error(
    make_client: Callable[..., seedless.Client], pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair

    def blocked(request: Any, spec: Any) -> ProviderReply:
        raise ContentBlockedError("blocked", reason="IMAGE_SAFETY", provider="fake")

    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    with pytest.raises(ContentBlockedError):
        await best_of(
            make_client(blocked).aio, request, n=2, scorer=MatchEffect(original, approved)
        )


async def test_refused_request_sends_nothing(
    make_client: Callable[..., seedless.Client], pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    calls: list[Any] = []
    client = make_client(lambda r, s: calls.append(r)).aio
    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    with pytest.raises(seedless.UnsupportedCapabilityError):
        await best_of(client, request.model_copy(update={"seed": 3}), n=2, scorer=lambda c: 1.0)
    assert calls == []


async def test_any_callable_scores_one_or_two_arguments(
    make_client: Callable[..., seedless.Client], truth: Truth, pair: tuple[bytes, bytes]
) -> None:
    original, _ = pair
    client = make_client().aio
    request = seedless.client.edit_request(original, "darker", model="fake:nano")

    def brightness(candidate: Image.Image) -> float:
        return -float(np.asarray(candidate.convert("L"), dtype=float).mean())

    ranked = await best_of(client, request, n=4, scorer=brightness)
    assert ranked.scorer == "test_any_callable_scores_one_or_two_arguments.<locals>.brightness"
    darkest = min(truth.factors[c.result.sha256] for c in ranked)
    assert truth.factors[ranked.result.sha256] == darkest

    def with_source(candidate: Image.Image, source: Image.Image | None) -> Score:
        assert source is not None and source.size == candidate.size
        return Score(0.5, {"seen": 1.0})

    ranked = await best_of(client, request, n=2, scorer=with_source)
    assert ranked.scores == [0.5, 0.5] and ranked.best.details == {"seen": 1.0}

    with pytest.raises(TypeError, match="returned str"):
        await best_of(client, request, n=1, scorer=lambda c: "good")  # type: ignore[arg-type,return-value]


async def test_seeded_candidates_get_distinct_recorded_seeds(
    make_client: Callable[..., seedless.Client], pair: tuple[bytes, bytes]
) -> None:
    original, _ = pair
    client = make_client(seeded_handler).aio
    request = seedless.client.edit_request(original, "moody", model="fake:seeded", seed=42)
    ranked = await best_of(
        client, request, n=3, scorer=MatchAdjust(seedless.Adjust(brightness=0.7))
    )
    seeds = sorted(c.result.seed for c in ranked if c.result.seed is not None)
    assert len(set(seeds)) == 3 and 42 in seeds


async def test_concurrent_candidates_overlap() -> None:
    seedless.register_model(
        {"provider": "slow", "id": "m", "operations": ["generate"], "seed": "none"}
    )
    in_flight = peak = 0

    async def slow(request: Any, spec: Any) -> ProviderReply:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return ProviderReply(images=[RawImage(png(Image.new("RGB", (8, 8))), "image/png")])

    client = seedless.AsyncClient(providers={"slow": FunctionProvider(slow)}, clock=lambda: TODAY)
    request = seedless.client.generate_request("x", model="slow:m")
    ranked = await best_of(client, request, n=5, scorer=lambda c: 1.0)
    assert len(ranked) == 5 and peak == 5


def test_rank_and_contact_sheet(tmp_path: Any, pair: tuple[bytes, bytes]) -> None:
    original, approved = pair
    source = small_photo("rocket.jpg")
    results = []
    for factor in (1.0, 0.74, 0.6):
        data = brighten(source, factor)
        results.append(_result(data))
    ranked = rank(results, MatchEffect(original, approved), source=Image.open(_io(source)))
    assert ranked[0].index == 1 and isinstance(ranked[0], Candidate)
    sheet = contact_sheet(
        ranked, references={"original": original, "approved": approved}, columns=3
    )
    assert sheet.image.size[0] > 3 * 192 and sheet.png().startswith(b"\x89PNG")
    path = sheet.save(tmp_path / "sheet.png")
    assert path.read_bytes() == sheet.png()


def _io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _result(data: bytes) -> seedless.ImageResult:
    import hashlib

    return seedless.ImageResult(
        data=data, mime_type="image/png", provider="x", model="y", request_hash="h",
        sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip


def test_ranked_shows_as_a_contact_sheet_in_notebooks(
    make_client: Callable[..., seedless.Client], pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    client = make_client()
    request = anchored_request(original, original=original, approved=approved, model="fake:nano")
    ranked = client._run(
        best_of(client.aio, request, n=2, scorer=MatchEffect(original, approved), threshold=0.99)
    )
    assert ranked._repr_png_().startswith(b"\x89PNG")
