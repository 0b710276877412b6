"""Recipe: built from a result's provenance, saved and loaded as JSON, replayed per strategy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from strategy_helpers import TARGET, Truth, seeded_handler, small_photo

import seedless
from seedless.errors import ConfigurationError, RequestError
from seedless.strategies import (
    MatchEffect,
    Recipe,
    anchored_request,
    best_of,
    parse_anchor_prompt,
    replay,
)

ADJUST = seedless.Adjust(brightness=0.8, warmth=0.2, grain=0.1, grain_seed=3)


def test_local_recipe_replays_to_identical_bytes(
    make_client: Callable[..., seedless.Client], tmp_path: Path
) -> None:
    client = make_client()
    photos = [small_photo("cat.jpg"), small_photo("rocket.jpg")]
    approved = client.edit(photos[0], effect=ADJUST).image
    recipe = Recipe.from_result(approved)
    assert recipe.strategy == "local" and recipe.model == "local:pillow"
    assert recipe.effect_object() == ADJUST and recipe.seed is None
    assert recipe.source == approved.request["images"][0]["sha256"]
    assert recipe.result == approved.sha256
    loaded = Recipe.load(recipe.save(tmp_path / "recipe.json"))
    assert loaded == recipe
    first = client._run(replay(client.aio, loaded, photos))
    second = client._run(replay(client.aio, Recipe.load(tmp_path / "recipe.json"), photos))
    assert [r.data for r in first] == [r.data for r in second]
    assert first[0].data == approved.data  # the approved image itself, again
    assert all(r.cost_usd == 0 for r in first)


def test_seeded_recipe_replays_to_identical_bytes(
    make_client: Callable[..., seedless.Client], tmp_path: Path
) -> None:
    client = make_client(seeded_handler)
    photo = small_photo("coffee.jpg")
    approved = client.edit(photo, "moody evening light", model="fake:seeded", seed=7).image
    recipe = Recipe.from_result(approved)
    assert (recipe.strategy, recipe.seed, recipe.instruction) == (
        "seeded", 7, "moody evening light",
    )  # fmt: skip
    path = recipe.save(tmp_path / "r.json")
    runs = [client._run(replay(client.aio, Recipe.load(path), [photo])) for _ in range(2)]
    assert runs[0][0].data == runs[1][0].data == approved.data
    assert runs[0][0].seed == 7


def test_seeded_generate_recipe_ignores_images(
    make_client: Callable[..., seedless.Client],
) -> None:
    client = make_client(seeded_handler)
    approved = client.generate("a red kite", model="fake:seeded", seed=11).image
    recipe = Recipe.from_result(approved)
    assert recipe.operation == "generate" and recipe.source is None
    again = client._run(replay(client.aio, recipe))
    assert len(again) == 1 and again[0].data == approved.data


async def test_anchored_recipe_from_best_of_and_its_replay(
    make_client: Callable[..., seedless.Client], truth: Truth, pair: tuple[bytes, bytes]
) -> None:
    original, approved = pair
    client = make_client().aio
    source = small_photo("rocket.jpg")
    request = anchored_request(
        source, original=original, approved=approved, model="fake:nano",
        instruction="darker, moodier", effect=seedless.Adjust(brightness=TARGET),
    )  # fmt: skip
    ranked = await best_of(client, request, n=3, scorer=MatchEffect(original, approved))
    recipe = ranked.recipe()
    assert recipe.strategy == "anchored" and recipe.model == "fake:nano" and recipe.seed is None
    assert recipe.instruction == "darker, moodier"
    assert recipe.measured is not None and "brightness at 75%" in recipe.measured
    assert recipe.best_of is not None and recipe.best_of.n == 3
    assert recipe.best_of.scorer == "MatchEffect"
    originals = {
        "original": seedless.ImageInput.of(original).sha256,
        "approved": seedless.ImageInput.of(approved).sha256,
    }
    assert recipe.anchors == originals
    assert "best effort" in recipe.reproducibility

    with pytest.raises(RequestError, match="needs the original image"):
        await replay(client, recipe, [source])
    with pytest.raises(RequestError, match="is not the one this recipe was made with"):
        await replay(client, recipe, [source], original=source, approved=approved)
    truth.prompts.clear()
    again = await replay(client, recipe, [source, original], original=original, approved=approved)
    assert len(again) == 2 and all(r.model_key == "fake:nano" for r in again)
    assert len(truth.prompts) == 6  # best of 3, twice
    assert all("Instruction: darker, moodier" in p for p in truth.prompts)
    assert all("Measured edit: brightness at 75%" in p for p in truth.prompts)


def test_plain_no_seed_edit_becomes_an_anchored_recipe(
    make_client: Callable[..., seedless.Client],
) -> None:
    client = make_client()
    photo = small_photo("cat.jpg")
    result = client.edit(photo, "add a hat", model="fake:nano").image
    made = Recipe.from_result(result)
    assert made.strategy == "anchored" and made.instruction == "add a hat"
    assert made.anchors == {"original": made.source, "approved": result.sha256}


def test_recipe_json_is_small_plain_and_versioned(
    make_client: Callable[..., seedless.Client], tmp_path: Path
) -> None:
    client = make_client()
    approved = client.edit(small_photo("cat.jpg"), effect=ADJUST).image
    path = Recipe.from_result(approved, notes="catalogue look").save(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["strategy"] == "local"
    assert data["seedless_version"] == seedless.__version__ and "created_at" in data
    assert data["effect"]["kind"] == "adjust" and data["notes"] == "catalogue look"
    assert path.stat().st_size < 2000  # hashes, never image bytes

    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="newer seedless"):
        Recipe.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="cannot read recipe"):
        Recipe.load(path)


def test_describe_and_request_for() -> None:
    recipe = Recipe(
        strategy="seeded", model="fake:seeded", instruction="a kite", seed=5,
        operation="generate", parameters={"aspect_ratio": "1:1"},
    )  # fmt: skip
    text = recipe.describe()
    assert "seeded recipe on fake:seeded" in text and "seed: 5" in text
    request = recipe.request_for()
    assert isinstance(request, seedless.GenerateRequest)
    assert (request.prompt, request.seed, request.aspect_ratio) == ("a kite", 5, "1:1")
    anchored = recipe.model_copy(update={"strategy": "anchored"})
    with pytest.raises(RequestError, match="anchored best-of-N"):
        anchored.request_for()


def test_parse_anchor_prompt_ignores_other_prompts() -> None:
    assert parse_anchor_prompt("make it darker") == {}


def test_a_replay_that_fails_on_one_image_keeps_the_others(
    make_client: Callable[..., seedless.Client],
) -> None:
    from seedless.errors import ProviderError

    photos = [small_photo("coffee.jpg"), small_photo("cat.jpg")]
    refused = {seedless.ImageInput.of(photos[1]).sha256}

    def handler(request: object, spec: object) -> object:
        if request.images[0].sha256 in refused:  # type: ignore[attr-defined]
            raise ProviderError("the host refused", provider="fake", status=400)
        return seeded_handler(request, spec)

    client = make_client(handler)
    approved = client.edit(photos[0], "moody", model="fake:seeded", seed=7).image
    with pytest.raises(ProviderError) as info:
        client._run(replay(client.aio, Recipe.from_result(approved), photos))
    assert [image.data for image in info.value.partial] == [approved.data]
