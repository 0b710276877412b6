"""plan(): the path is chosen and explained before anything is spent, then run."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw
from strategy_helpers import TARGET, Truth, brighten, seeded_handler, small_photo

import seedless
from seedless.errors import ConfigurationError, UnsupportedCapabilityError
from seedless.strategies import MatchEffect, Plan, Recipe, plan, replay

plan_module = importlib.import_module("seedless.strategies.plan")


def content_edit(data: bytes) -> bytes:
    """Darker, plus a new object drawn in: not a global colour change."""
    image = Image.open(io.BytesIO(brighten(data, TARGET))).convert("RGB")
    draw = ImageDraw.Draw(image)
    w, h = image.size
    draw.ellipse((w * 0.3, h * 0.3, w * 0.7, h * 0.7), fill=(230, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def not_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fitter that reports the pair as not global (stands in for effects.fit here)."""
    report = SimpleNamespace(
        is_global=False,
        reproducible=False,
        reason="not a global colour/tone edit: content changed.",
        psnr_db=18.0,
    )
    fitted = SimpleNamespace(report=report, describe=lambda: "brightness at 75% of the original")
    monkeypatch.setattr(plan_module, "_fit", lambda original, approved: fitted)


def test_global_edit_plans_local_and_replays_identically(
    make_client: Callable[..., seedless.Client], tmp_path: Path
) -> None:
    client = make_client()
    original = small_photo("coffee.jpg")
    approved = seedless.Adjust(brightness=0.8, saturation=1.3, warmth=0.2).apply(
        Image.open(io.BytesIO(original))
    )
    photos = [small_photo("cat.jpg"), small_photo("rocket.jpg")]
    chosen = plan(original=original, approved=approved, images=photos, model="fake:nano",
                  client=client)  # fmt: skip
    assert chosen.path == "local" and chosen.model == "local:pillow"
    assert "is a global colour/tone edit" in chosen.reason and "dB PSNR" in chosen.reason
    assert chosen.effect.kind == "lut"
    assert (chosen.estimate().calls, chosen.estimate().cost_usd) == (2, 0.0)
    first = chosen.run()
    recipe = Recipe.load(first.recipe.save(tmp_path / "recipe.json"))
    assert recipe.strategy == "local" and recipe.effect is not None
    again = client._run(replay(client.aio, recipe, photos))
    assert [r.data for r in first.results] == [r.data for r in again]


def test_content_edit_is_detected_by_fitting_and_planned_anchored(
    make_client: Callable[..., seedless.Client], truth: Truth
) -> None:
    original = small_photo("coffee.jpg")
    chosen = plan(
        original=original,
        approved=content_edit(original),
        images=[small_photo("cat.jpg")],
        model="fake:nano",
        client=make_client(),
    )
    assert chosen.path == "anchored" and "is not a global colour/tone edit" in chosen.reason
    request = chosen.requests[0]
    assert isinstance(request, seedless.EditRequest) and len(request.images) == 3
    assert request.prompt is not None and "Measured edit: brightness at" in request.prompt
    assert truth.prompts == []


def test_explicit_effect_plans_local_at_zero_cost(
    make_client: Callable[..., seedless.Client],
) -> None:
    client = make_client()
    photos = [small_photo("cat.jpg"), small_photo("rocket.jpg")]
    chosen = plan(images=photos, effect=seedless.Adjust(brightness=0.8), client=client)
    assert chosen.path == "local" and chosen.model == "local:pillow"
    estimate = chosen.estimate()
    assert (estimate.calls, estimate.cost_usd, estimate.images) == (2, 0.0, 2)
    text = chosen.explain()
    assert "Path: local" in text and "brightness at 80%" in text and "identical bytes" in text
    first, second = chosen.run(), chosen.run()
    assert [r.data for r in first.results] == [r.data for r in second.results]
    assert first.recipe.strategy == "local" and first.cost_usd == 0


def test_approved_local_result_plans_local(make_client: Callable[..., seedless.Client]) -> None:
    client = make_client()
    original = small_photo("coffee.jpg")
    approved = client.edit(original, effect=seedless.Adjust(contrast=1.3)).image
    chosen = plan(original=original, approved=approved, images=[small_photo("cat.jpg")],
                  client=client)  # fmt: skip
    assert chosen.path == "local" and "local provider" in chosen.reason
    assert chosen.effect == seedless.Adjust(contrast=1.3)


def test_seeded_result_plans_seeded_and_replays_identically(
    make_client: Callable[..., seedless.Client], not_global: None, tmp_path: Path
) -> None:
    client = make_client(seeded_handler)
    original = small_photo("coffee.jpg")
    approved = client.edit(original, "dusk", model="fake:seeded", seed=21).image
    photos = [small_photo("cat.jpg"), small_photo("rocket.jpg")]
    chosen = plan(original=original, approved=approved, images=photos, client=client)
    assert chosen.path == "seeded" and "seed 21" in chosen.reason
    assert chosen.estimate().calls == 2
    assert chosen.estimate().cost_usd == pytest.approx(0.06)
    runs = [chosen.run() for _ in range(2)]
    assert [r.data for r in runs[0].results] == [r.data for r in runs[1].results]
    assert runs[0].recipe.seed == 21
    paths = runs[0].save(tmp_path)
    assert [p.name for p in paths] == ["image-001.png", "image-002.png"]
    assert Recipe.load(tmp_path / "recipe.json") == runs[0].recipe


def test_a_global_edit_from_a_seeded_model_plans_local(
    make_client: Callable[..., seedless.Client],
) -> None:
    # The rules go in order: a pair that fits as a global edit replays exactly and free, even
    # when the approved result came from a seeded model (an explicit recipe still decides).
    client = make_client(seeded_handler)
    original = small_photo("coffee.jpg")
    approved = client.edit(original, "dusk", model="fake:seeded", seed=21).image
    chosen = plan(original=original, approved=approved, images=[small_photo("cat.jpg")],
                  client=client)  # fmt: skip
    assert chosen.path == "local", chosen.reason
    assert "global colour/tone edit" in chosen.reason
    followed = plan(original=original, approved=approved, images=[small_photo("cat.jpg")],
                    recipe=seedless.Recipe.from_result(approved), client=client)  # fmt: skip
    assert followed.path == "seeded"


def test_content_edit_plans_anchored_best_of_n(
    make_client: Callable[..., seedless.Client], truth: Truth, not_global: None
) -> None:
    client = make_client()
    original = small_photo("coffee.jpg")
    approved = content_edit(original)
    photos = [small_photo("cat.jpg"), small_photo("rocket.jpg"), small_photo("astronaut.jpg")]
    chosen = plan(original=original, approved=approved, images=photos, model="fake:nano",
                  instruction="darker, with a red ball", n=3, client=client)  # fmt: skip
    assert chosen.path == "anchored" and chosen.model == "fake:nano"
    assert "is not a global colour/tone edit: content changed" in chosen.reason
    assert "fake:nano has no seed" in chosen.reason
    estimate = chosen.estimate()
    assert (estimate.calls, estimate.images) == (9, 3)
    assert estimate.cost_usd == pytest.approx(9 * 0.04) and not estimate.at_most
    assert "draw 3 candidate(s)" in chosen.explain() and "MatchEffect" in chosen.explain()
    assert truth.prompts == []  # nothing sent yet
    done = chosen.run()
    assert len(done.results) == 3 and len(done.ranked) == 3
    assert len(truth.prompts) == 9
    assert all("Measured edit: brightness at 75%" in p for p in truth.prompts)
    assert done.recipe.strategy == "anchored" and done.recipe.best_of is not None
    assert done.recipe.anchors["approved"] == seedless.ImageInput.of(approved).sha256
    assert done.cost_usd == pytest.approx(9 * 0.04)


def test_threshold_makes_the_estimate_an_upper_bound(
    make_client: Callable[..., seedless.Client], not_global: None
) -> None:
    original = small_photo("coffee.jpg")
    chosen = plan(original=original, approved=content_edit(original), images=[original],
                  model="fake:nano", threshold=0.8, client=make_client())  # fmt: skip
    assert chosen.estimate().at_most and str(chosen.estimate()).startswith("up to 4 call(s)")
    assert "Stop early once one scores 0.8" in chosen.explain()


def test_impossible_plans_are_refused_before_anything_is_sent(
    make_client: Callable[..., seedless.Client], truth: Truth, not_global: None
) -> None:
    client = make_client()
    original = small_photo("coffee.jpg")
    approved = content_edit(original)
    photos = [small_photo("cat.jpg")]
    with pytest.raises(ConfigurationError, match="Pass model=") as refused:
        plan(original=original, approved=approved, images=photos, client=client)
    assert refused.value.remedy is not None and "model" in refused.value.remedy.settings
    with pytest.raises(UnsupportedCapabilityError, match="at most 1 input image"):
        plan(original=original, approved=approved, images=photos, model="fake:seeded",
             client=client)  # fmt: skip
    assert truth.prompts == []


def test_approved_no_seed_result_names_its_model(
    make_client: Callable[..., seedless.Client], not_global: None
) -> None:
    client = make_client()
    original = small_photo("coffee.jpg")
    approved = client.edit(original, "add a red ball", model="fake:nano").image
    chosen = plan(original=original, approved=approved, images=[original], client=client)
    assert isinstance(chosen, Plan) and chosen.path == "anchored"
    assert chosen.model == "fake:nano" and isinstance(chosen.scorer, MatchEffect)


def test_plan_run_with_an_async_client_must_be_awaited(
    make_client: Callable[..., seedless.Client],
) -> None:
    aclient = make_client().aio
    chosen = plan(images=[small_photo("cat.jpg")], effect=seedless.Adjust(), client=aclient)
    with pytest.raises(TypeError, match="must be awaited"):
        chosen.run()


async def test_plan_arun(make_client: Callable[..., seedless.Client]) -> None:
    aclient = make_client().aio
    chosen = plan(images=[small_photo("cat.jpg")], effect=seedless.Adjust(gamma=1.2),
                  client=aclient)  # fmt: skip
    done = await chosen.arun()
    assert done.results[0].model_key == "local:pillow"
    assert done._repr_png_().startswith(b"\x89PNG")


def test_an_anchored_recipe_plans_anchored_and_checks_its_anchors(
    make_client: Callable[..., seedless.Client], truth: Truth, not_global: None
) -> None:
    client = make_client()
    original = small_photo("coffee.jpg")
    approved = content_edit(original)
    first = plan(original=original, approved=approved, images=[small_photo("cat.jpg")],
                 model="fake:nano", instruction="a red ball", n=2, client=client).run()  # fmt: skip
    recipe = first.recipe
    chosen = plan(original=original, approved=approved, images=[small_photo("rocket.jpg")],
                  recipe=recipe, client=client)  # fmt: skip
    assert chosen.path == "anchored" and chosen.model == "fake:nano" and chosen.n == 2
    assert chosen.instruction == "a red ball"
    with pytest.raises(seedless.RequestError, match="not the one this recipe was made with"):
        plan(original=approved, approved=approved, images=[original], recipe=recipe,
             client=client)  # fmt: skip


def test_an_edit_with_a_vignette_plans_local_with_its_parts(
    make_client: Callable[..., seedless.Client],
) -> None:
    original = small_photo("coffee.jpg")
    approved = seedless.Adjust(brightness=0.9, saturation=1.2, vignette=0.6).apply(
        Image.open(io.BytesIO(original))
    )
    chosen = plan(original=original, approved=approved, images=[small_photo("cat.jpg")],
                  model="fake:nano", client=make_client())  # fmt: skip
    assert chosen.path == "local", chosen.reason
    assert chosen.effect.report.verdict == "global + spatial"
    assert "vignette" in chosen.effect.report.parts
