"""Strategies end to end through the loopback emulator (real HTTP, real google-genai SDK).

The emulated Gemini model edits with a transform the test controls: each candidate is the
source at a random brightness factor around the approved one, and the test records which
factor made which output, so the truth is known. (Over 200 unseeded trials, best-of-4 picked
the closest candidate 195 times.)
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image, ImageEnhance
from strategy_helpers import TARGET, TODAY, small_photo

import seedless
from seedless.strategies import (
    MatchEffect,
    Ranked,
    Recipe,
    anchored_request,
    best_of,
    measure_reproducibility,
    replay,
)
from seedless.testing import Emulator

pytest.importorskip("google.genai")

MODEL = "gemini:gemini-3-pro-image"


class KnownTruth:
    """An edit transform that records the brightness factor behind every output it makes."""

    def __init__(self, jitter: float = 0.15, seed: int = 0) -> None:
        self.jitter = jitter
        # The test's own generator, not the emulator's fresh one: the trials are repeatable
        # (the four draws of a trial are the same whatever order its concurrent calls land in).
        self.rng = random.Random(seed)
        self.factors: dict[str, float] = {}
        self.instructions: list[str] = []
        self.sources: list[tuple[int, int]] = []

    def __call__(self, image: Image.Image, instruction: str, rng: random.Random) -> Image.Image:
        factor = TARGET + self.rng.uniform(-self.jitter, self.jitter)
        out = ImageEnhance.Brightness(image).enhance(factor)
        buffer = io.BytesIO()
        out.save(buffer, format="PNG")  # what the emulator sends back, byte for byte
        self.factors[hashlib.sha256(buffer.getvalue()).hexdigest()] = factor
        self.instructions.append(instruction)
        self.sources.append(image.size)
        return out


@pytest.fixture
def emu() -> Any:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[seedless.AsyncClient]:
    async with seedless.AsyncClient(endpoints=emu.endpoints(), clock=lambda: TODAY) as aclient:
        yield aclient


def _closest_first(ranked: Ranked, truth: KnownTruth) -> bool:
    gaps = [abs(truth.factors[c.result.sha256] - TARGET) for c in ranked]
    return gaps[0] == min(gaps)


async def test_best_of_through_the_emulator_picks_the_truth_9_of_10(
    emu: Emulator, client: seedless.AsyncClient
) -> None:
    truth = KnownTruth()
    emu.gemini.edit_transform = truth
    original = small_photo("coffee.jpg", 256)
    approved_image = ImageEnhance.Brightness(Image.open(io.BytesIO(original))).enhance(TARGET)
    buffer = io.BytesIO()
    approved_image.save(buffer, format="PNG")
    approved = buffer.getvalue()
    scorer = MatchEffect(original, approved)
    sources = [small_photo(name, 256) for name in ("cat.jpg", "rocket.jpg", "astronaut.jpg")]
    wins = 0
    for trial in range(10):
        source = sources[trial % len(sources)]
        request = anchored_request(source, original=original, approved=approved, model=MODEL)
        ranked = await best_of(client, request, n=4, scorer=scorer)
        assert len(ranked) == 4 and not ranked.errors
        wins += _closest_first(ranked, truth)
    assert wins >= 9, f"best-of-4 chose the closest candidate in only {wins} of 10 trials"
    # The wire carried the source first, then the pair, with the anchoring instruction.
    last = emu.gemini.requests[-1].body
    parts = last["contents"][0]["parts"]
    assert [("text" in p, "inlineData" in p) for p in parts] == [
        (True, False), (False, True), (False, True), (False, True),
    ]  # fmt: skip
    assert "Image 1: the photo to edit." in truth.instructions[-1]
    assert len(emu.gemini.requests) == 40


async def test_seeded_recipe_replays_identical_bytes_through_the_emulator(
    client: seedless.AsyncClient, tmp_path: Any
) -> None:
    photo = small_photo("cat.jpg")
    approved = await client.edit(photo, "golden hour", model="openai:flux-kontext-pro", seed=7)
    recipe = Recipe.from_result(approved.image)
    assert (recipe.strategy, recipe.seed, recipe.model) == ("seeded", 7, "openai:flux-kontext-pro")
    path = recipe.save(tmp_path / "recipe.json")
    first = await replay(client, Recipe.load(path), [photo, small_photo("rocket.jpg")])
    second = await replay(client, Recipe.load(path), [photo, small_photo("rocket.jpg")])
    assert [r.data for r in first] == [r.data for r in second]
    assert first[0].data == approved.image.data


async def test_local_recipe_replays_identical_bytes(
    client: seedless.AsyncClient, tmp_path: Any
) -> None:
    photo = small_photo("rocket.jpg")
    look = seedless.Adjust(contrast=1.2, gamma=0.9, vignette=0.3, grain=0.2, grain_seed=1)
    approved = (await client.edit(photo, effect=look)).image
    path = Recipe.from_result(approved).save(tmp_path / "recipe.json")
    first = await replay(client, Recipe.load(path), [photo])
    second = await replay(client, Recipe.load(path), [photo])
    assert first[0].data == second[0].data == approved.data


async def test_measure_reproducibility_matches_the_matrix_on_the_emulator(
    client: seedless.AsyncClient,
) -> None:
    seeded = seedless.client.generate_request("a red kite", model="openai:flux-dev", seed=3)
    report = await measure_reproducibility(client, seeded, trials=3)
    assert report.expected == "seeded" and report.identical_pixels and report.agrees
    unseeded = seedless.client.generate_request("a red kite", model=MODEL)
    report = await measure_reproducibility(client, unseeded, trials=3)
    assert report.expected == "none" and report.observed == "varies" and report.agrees
