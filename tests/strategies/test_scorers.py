"""Scorers: MatchEffect / MatchAdjust rank by closeness to the approved change, in [0, 1]."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps
from strategy_helpers import TARGET, small_photo

import seedless
from seedless.strategies import MatchAdjust, MatchEffect, Score
from seedless.strategies._pixels import (
    fit_colour_transfer,
    gradient_correlation,
    rgb_array,
    scaled_size,
)
from seedless.strategies.scorers import call_scorer, scorer_name, to_rgb


def _open(name: str, long_side: int = 200) -> Image.Image:
    return Image.open(io.BytesIO(small_photo(name, long_side))).convert("RGB")


def _bright(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def _with_cup(image: Image.Image) -> Image.Image:
    out = image.copy()
    w, h = out.size
    ImageDraw.Draw(out).ellipse((w * 0.55, h * 0.55, w * 0.9, h * 0.9), fill=(240, 240, 230))
    return out


@pytest.mark.parametrize("name", ["cat.jpg", "rocket.jpg", "astronaut.jpg"])
def test_match_effect_ranks_by_closeness_to_the_approved_change(name: str) -> None:
    original = _open("coffee.jpg")
    scorer = MatchEffect(original, _bright(original, TARGET))
    source = _open(name)
    factors = [0.55, 0.65, 0.72, 0.75, 0.78, 0.85, 1.0]
    scores = [scorer(_bright(source, f), source) for f in factors]
    values = [s.value for s in scores]
    assert all(0.0 <= v <= 1.0 for v in values)
    best = values.index(max(values))
    assert factors[best] == 0.75
    assert values[: best + 1] == sorted(values[: best + 1])  # rising towards the target
    assert values[best:] == sorted(values[best:], reverse=True)  # falling after it
    assert scores[best].details["effect_error"] < 0.1
    assert scores[-1].details["effect_error"] == pytest.approx(1.0, abs=0.1)  # not editing


def test_the_approved_image_itself_scores_one() -> None:
    original = _open("coffee.jpg")
    approved = _bright(original, TARGET)
    score = MatchEffect(original, approved)(approved, original)
    assert score.value == pytest.approx(1.0) and score.details["drift"] == 0.0
    assert MatchEffect(original, approved)(approved).value == pytest.approx(1.0)  # source=original


def test_structural_drift_is_penalised() -> None:
    original = _open("coffee.jpg")
    scorer = MatchEffect(original, _bright(original, TARGET))
    source = _open("astronaut.jpg")
    right = scorer(_bright(source, TARGET), source)
    moved = scorer(_bright(source, TARGET).rotate(8), source)
    flipped = scorer(ImageOps.mirror(_bright(source, TARGET)), source)
    assert right.details["drift"] < 0.03
    assert moved.details["drift"] > 0.3 and flipped.details["drift"] > 0.3
    assert moved.value < right.value / 5 and flipped.value < right.value / 5


def test_content_edits_are_scored_on_the_look_not_the_new_content() -> None:
    original = _open("rocket.jpg")
    approved = _with_cup(_bright(original, TARGET))
    scorer = MatchEffect(original, approved)
    source = _open("cat.jpg")
    values = {f: scorer(_with_cup(_bright(source, f)), source).value for f in (0.55, 0.75, 1.0)}
    assert max(values, key=lambda f: values[f]) == 0.75
    detail = scorer(_with_cup(_bright(source, TARGET)), source).details
    assert 0.02 < detail["trimmed"] <= 0.5 and detail["effect_error"] < 0.25


def test_colour_transfer_picks_the_simplest_family_that_fits() -> None:
    image = _open("coffee.jpg")
    size = scaled_size(image.size, 64)
    before = rgb_array(image, size)
    assert fit_colour_transfer(before, rgb_array(_bright(image, 0.7), size)).family == "affine"
    gamma = seedless.Adjust(gamma=0.6).apply(image)
    curved = fit_colour_transfer(before, rgb_array(gamma, size))
    assert curved.family in ("quadratic", "cubic") and curved.content_fraction < 0.02
    pasted = fit_colour_transfer(before, rgb_array(_with_cup(_bright(image, 0.7)), size))
    assert pasted.family == "affine" and pasted.content_fraction > 0.02


def test_match_adjust_needs_no_pair() -> None:
    look = seedless.Adjust(saturation=1.5, warmth=0.3)
    scorer = MatchAdjust(look)
    source = _open("rocket.jpg")
    exact = scorer(look.apply(source), source)
    off = scorer(seedless.Adjust(saturation=1.1).apply(source), source)
    assert exact.value > 0.8 and off.value < 0.5
    assert scorer_name(scorer) == "MatchAdjust" and "MatchAdjust(" in repr(scorer)
    with pytest.raises(ValueError, match="needs the source"):
        scorer(source)


def test_match_effect_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="both original and approved"):
        MatchEffect(_open("cat.jpg"))
    with pytest.raises(ValueError, match="needs an approved pair"):
        MatchEffect()


def test_inputs_may_be_paths_bytes_or_results_and_exif_is_applied(tmp_path: object) -> None:
    raw = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buffer = io.BytesIO()
    raw.save(buffer, format="JPEG", exif=exif)
    upright = to_rgb(buffer.getvalue())
    assert upright.size == (20, 40)
    assert to_rgb(raw) is raw  # already upright RGB: no copy


def test_call_scorer_normalises_answers() -> None:
    image = Image.new("RGB", (8, 8))
    assert call_scorer(lambda c: 3, image, None) == Score(3.0)

    def two(candidate: Image.Image, source: Image.Image | None) -> Score:
        return Score(0.4, {"x": 1.0})

    assert call_scorer(two, image, image).details == {"x": 1.0}
    with pytest.raises(ValueError, match="NaN"):
        call_scorer(lambda c: math.nan, image, None)


def test_gradient_correlation() -> None:
    array = rgb_array(_open("cat.jpg"), (64, 43))
    assert gradient_correlation(array, array) == pytest.approx(1.0)
    assert gradient_correlation(array, array * 0.5) == pytest.approx(1.0)
    flat = np.zeros((8, 8, 3))
    assert gradient_correlation(flat, flat) == 1.0


def test_the_pixel_maths_is_still_importable_from_scorers() -> None:
    from seedless.strategies import _pixels, scorers

    assert scorers.fit_colour_transfer is _pixels.fit_colour_transfer
    assert scorers.ColourTransfer is _pixels.ColourTransfer
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        scorers.nothing  # noqa: B018
