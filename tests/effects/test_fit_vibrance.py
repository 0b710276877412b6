"""Vibrance: a pair that is a vibrance edit (and a white balance) is followed on hues it lacks."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedless.effects.adjust import Adjust
from seedless.effects.fit import FittedEffect, fit_effect
from seedless.effects.fit._hsl import modulate
from seedless.effects.fit._vibrance import Vibrance, fit_vibrance

DATA = Path(__file__).resolve().parent / "data" / "fit"
# ffmpeg's vibrance filter: its default luma weights list red and blue the other way round
# from Rec. 709, and with ``alternate`` off it boosts saturated colours more (chroma term
# +intensity). This formula, floored, matched ffmpeg 5.1's ``vibrance=intensity=0.4`` output
# on 4,096 random colours exactly (checked by hand with the Debian package).
FFMPEG = Vibrance((0.072186, 0.715158, 0.212656), 0.4, 0.4)
# SweetFX/ReShade's vibrance: Rec. 709 luma, muted colours boosted more.
SWEETFX = Vibrance((0.212656, 0.715158, 0.072186), 0.35, -0.35)
WARM = np.array([1.0, 0.9095, 0.8341])  # ffmpeg colortemperature=5200: channel gains


def _open(name: str) -> Image.Image:
    with Image.open(DATA / "originals" / f"{name}.png") as image:
        rgb = image.convert("RGB")
    return rgb.resize((192, round(192 * rgb.height / rgb.width)), Image.Resampling.BOX)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, np.float64).reshape(-1, 3) / 255.0


def _edit(image: Image.Image, vibrance: Vibrance, balance: np.ndarray | None = None) -> Image.Image:
    """The vibrance (8-bit, floored as ffmpeg stores it), then a white balance (rounded)."""
    out = np.floor(vibrance(_pixels(image)) * 255.0 + 1e-6)
    if balance is not None:
        out = np.clip(np.round(out * balance), 0.0, 255.0)
    return Image.fromarray(out.reshape(image.height, image.width, 3).astype(np.uint8))


def _psnr(a: Image.Image, b: Image.Image) -> float:
    mse = float(((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_the_vibrance_is_found_and_other_edits_are_not_called_vibrance() -> None:
    cat = _open("cat")
    pixels, counts = _pixels(cat), np.ones(cat.width * cat.height)

    def found(edited: Image.Image) -> Vibrance | None:
        return fit_vibrance(pixels, counts, _pixels(edited))

    for truth, balance in ((FFMPEG, WARM), (SWEETFX, None)):
        vibrance = found(_edit(cat, truth, balance))
        assert vibrance is not None
        assert vibrance.gain == pytest.approx(truth.gain, abs=0.03)
        assert vibrance.chroma == pytest.approx(truth.chroma, abs=0.06)
        assert vibrance.weights == pytest.approx(truth.weights, abs=0.05)
        assert vibrance.scale == pytest.approx(WARM if balance is not None else (1, 1, 1), abs=0.01)
    assert found(cat) is None  # unchanged
    assert found(Adjust(gamma=0.8).apply(cat)) is None  # a tone curve is not a vibrance
    assert found(Adjust(contrast=1.3).apply(cat)) is None
    hsl = np.floor(modulate(pixels, 1.1, 1.3) * 255.0 + 1e-6).astype(np.uint8)
    assert found(Image.fromarray(hsl.reshape(cat.height, cat.width, 3))) is None


def _ffmpeg(image: Image.Image) -> Image.Image:
    return _edit(image, FFMPEG, WARM)


def _sweetfx(image: Image.Image) -> Image.Image:
    return _edit(image, SWEETFX)


def _pillow(image: Image.Image) -> Image.Image:
    return Adjust(saturation=1.4).apply(image)  # ImageEnhance.Color: a luma pivot, no chroma term


@pytest.mark.parametrize(
    ("edit", "train", "other"),
    [
        (_ffmpeg, "cat", "astronaut"),
        (_ffmpeg, "astronaut", "rocket"),
        (_sweetfx, "coffee", "rocket"),
        (_pillow, "coffee", "rocket"),
    ],
)
def test_a_vibrance_fitted_on_few_hues_holds_on_others(
    edit: Callable[[Image.Image], Image.Image], train: str, other: str
) -> None:
    # Fitted on one photo, applied to another whose hues it lacks: 49.7, 53.7, 57.8 and
    # 57.0 dB. The model's own curves and saturation gains alone put these at 41.6, 38.6,
    # 37.9 and 37.6 dB.
    photo, new = _open(train), _open(other)
    look = fit_effect(photo, edit(photo))
    assert _psnr(look.apply(new), edit(new)) >= 47.0
    assert look.follows is not None
    assert look.follows.startswith("a saturation" if edit is _pillow else "a vibrance")
    assert look.report is not None and any(look.follows in note for note in look.report.notes)


def test_a_look_says_which_control_it_follows_and_keeps_it_in_json() -> None:
    cat = _open("cat")
    look = fit_effect(cat, _ffmpeg(cat))
    assert look.follows is not None
    words = re.sub(r"[-+]?\d+\.\d+", "N", look.follows)
    assert words == (
        "a vibrance (gain N, N per unit of chroma, around a luma of N R + N G + N B) "
        "with levels after it (R xN, G xN, B xN)"
    )
    numbers = [float(n) for n in re.findall(r"[-+]?\d+\.\d+", look.follows)]
    truth = [0.4, 0.4, *FFMPEG.weights, *WARM]
    assert numbers == pytest.approx(truth, abs=0.02)
    assert FittedEffect.model_validate_json(look.model_dump_json()).follows == look.follows
    assert fit_effect(cat, Adjust(gamma=0.8).apply(cat)).follows is None


def test_a_vibrance_in_words_shows_offsets_beyond_rounding() -> None:
    plain = Vibrance((0.3, 0.59, 0.11), 0.4, 0.01)
    assert (
        plain.describe() == "a saturation (gain +0.40, around a luma of 0.30 R + 0.59 G + 0.11 B)"
    )
    toned = Vibrance((0.27, 0.6, 0.13), -1.0, 0.0, (1.78, 1.59, 1.24), (-0.022, -0.002, 0.0))
    assert toned.describe().endswith("with levels after it (R x1.78 -6, G x1.59, B x1.24)")
