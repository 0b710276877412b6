"""HSL sliders: a pair that is an HSL lightness/saturation edit is followed on colours it lacks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedless.effects.adjust import Adjust
from seedless.effects.fit import fit_effect
from seedless.effects.fit._hsl import Sliders, fit_sliders, modulate

DATA = Path(__file__).resolve().parent / "data" / "fit"


def _open(name: str) -> Image.Image:
    with Image.open(DATA / "originals" / f"{name}.png") as image:
        rgb = image.convert("RGB")
    return rgb.resize((192, round(192 * rgb.height / rgb.width)), Image.Resampling.BOX)


def _sliders(image: Image.Image, lightness: float, saturation: float) -> Image.Image:
    """An HSL edit as ImageMagick's -modulate makes it: 8-bit output, floored."""
    rgb = np.asarray(image, dtype=np.float64).reshape(-1, 3) / 255.0
    out = np.floor(modulate(rgb, lightness, saturation) * 255.0 + 1e-6)
    return Image.fromarray(out.reshape(image.height, image.width, 3).astype(np.uint8))


def _psnr(a: Image.Image, b: Image.Image) -> float:
    mse = float(((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_modulate_follows_the_hsl_definition() -> None:
    colours = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.8, 0.6, 0.4]])
    out = modulate(colours, 1.1, 1.0)
    # red: lightness 0.5 -> 0.55, saturation 1 kept: chroma 0.9 around 0.55
    np.testing.assert_allclose(out[0], [1.0, 0.1, 0.1], atol=1e-12)
    np.testing.assert_allclose(out[1], [0.55, 0.55, 0.55], atol=1e-12)
    # lightness 0.6 -> 0.66 and saturation 0.5 kept: chroma 0.4 -> 0.5 * (2 - 1.32) = 0.34
    np.testing.assert_allclose(out[2], [0.83, 0.66, 0.49], atol=1e-12)
    np.testing.assert_allclose(modulate(colours, 1.0, 0.0)[2], [0.6, 0.6, 0.6], atol=1e-12)


def test_the_sliders_are_found_and_other_edits_are_not_called_sliders() -> None:
    cat = _open("cat")
    pixels = np.asarray(cat, np.float64).reshape(-1, 3) / 255.0
    counts = np.ones(len(pixels))

    def found(edited: Image.Image) -> Sliders | None:
        target = np.asarray(edited, np.float64).reshape(-1, 3) / 255.0
        return fit_sliders(pixels, counts, target)

    sliders = found(_sliders(cat, 1.1, 1.3))
    assert sliders is not None
    assert (sliders.lightness, sliders.saturation) == pytest.approx((1.1, 1.3), abs=0.01)
    assert found(cat) is None  # unchanged
    assert found(Adjust(gamma=0.8).apply(cat)) is None  # a tone curve is not a slider
    assert found(Adjust(warmth=0.2).apply(cat)) is None


def test_a_slider_edit_fitted_without_highlights_holds_on_highlights() -> None:
    # The cat photo has no colours lighter than about 80%: how brightened highlights lose
    # their colour is only known from the sliders' geometry (per-channel curves and a
    # saturation gain alone put this at about 39 dB).
    cat, astronaut = _open("cat"), _open("astronaut")
    look = fit_effect(cat, _sliders(cat, 1.1, 1.3))
    assert _psnr(look.apply(astronaut), _sliders(astronaut, 1.1, 1.3)) >= 45.0
    assert look.follows == "HSL sliders (lightness x1.10, saturation x1.30)"
