"""Every .cube dialect, applied by seedless, against OpenColorIO (the reference) on a sweep.

OpenColorIO (``opencolorio`` on PyPI, a dev dependency) reads each fixture with its own
``FileTransform`` and processes the sweep in float; seedless applies the same file to the
same colours as an 8-bit image. Both are rounded to 8 bits the same way, and must agree
within one level, in the matching interpolation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedless.effects import load_effect
from seedless.effects.cube_lut import CubeEffect
from seedless.effects.lut import to_8bit

ocio = pytest.importorskip("PyOpenColorIO")

CUBES = Path(__file__).parent / "cubes"
DIALECTS = sorted(p.name for p in CUBES.glob("*.cube"))
OCIO_INTERP = {"trilinear": "INTERP_LINEAR", "tetrahedral": "INTERP_TETRAHEDRAL"}


def sweep() -> np.ndarray:
    """8-bit colours: a 16-step lattice (corners and edges included), greys, and random ones."""
    axis = np.arange(0, 256, 17)
    lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    greys = np.repeat(np.arange(256)[:, None], 3, axis=1)
    rng = np.random.default_rng(21)
    return np.concatenate([lattice, greys, rng.integers(0, 256, (6000, 3))]).astype(np.uint8)


def with_ocio(path: Path, interpolation: str, colours: np.ndarray) -> np.ndarray:
    ocio.SetLoggingLevel(ocio.LOGGING_LEVEL_NONE)  # 1D files: "interpolation not used"
    transform = ocio.FileTransform(
        src=str(path), interpolation=getattr(ocio.Interpolation, OCIO_INTERP[interpolation])
    )
    processor = ocio.Config.CreateRaw().getProcessor(transform).getDefaultCPUProcessor()
    pixels = np.ascontiguousarray(colours / 255.0, dtype=np.float32)
    processor.applyRGB(pixels)
    return to_8bit(pixels).astype(int)


def with_seedless(effect: CubeEffect, colours: np.ndarray) -> np.ndarray:
    image = Image.fromarray(colours.reshape(1, -1, 3))
    return np.asarray(effect.apply(image)).reshape(-1, 3).astype(int)


@pytest.mark.parametrize("interpolation", ["tetrahedral", "trilinear"])
@pytest.mark.parametrize("name", DIALECTS)
def test_every_dialect_within_one_level_of_opencolorio(name: str, interpolation: str) -> None:
    path = CUBES / name
    colours = sweep()
    effect = load_effect(path).with_interpolation(interpolation)
    ours = with_seedless(effect, colours)
    theirs = with_ocio(path, interpolation, colours)
    assert np.abs(ours - theirs).max() <= 1
    # The float path (CubeEffect.transform) is the image path, bit for bit, off Pillow.
    if interpolation == "tetrahedral":
        assert np.array_equal(to_8bit(effect.transform(colours / 255.0)), ours)


def test_the_interpolation_matters_on_a_strong_17_point_lut() -> None:
    path = CUBES / "resolve_3d.cube"
    colours = sweep()
    tetrahedral = with_seedless(load_effect(path), colours)
    trilinear = with_seedless(load_effect(path).with_interpolation("trilinear"), colours)
    assert np.abs(tetrahedral - trilinear).max() >= 5  # a different look, not rounding
    assert np.abs(tetrahedral - with_ocio(path, "tetrahedral", colours)).max() <= 1


def test_a_small_lattice_with_a_narrow_domain_is_scaled_not_rebased() -> None:
    # DOMAIN_MAX 0.1 on 2 points: the identity below 0.1, clamped above (was 255 levels off).
    out = with_seedless(load_effect(CUBES / "adobe_3d_small_domain.cube"), sweep())
    expected = np.minimum(sweep().astype(int), 26)  # 0.1 * 255 = 25.5 -> 26
    assert np.abs(out - expected).max() <= 1
