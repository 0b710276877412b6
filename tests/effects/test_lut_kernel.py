"""The 8-bit image kernel of seedless.effects.lut: the colour table gives exactly what the
float path and Pillow's Color3DLUT give, whichever way pixels reach it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageFilter

from seedless.effects import lut
from seedless.effects.cube import identity_table
from seedless.effects.lut import ImageKernel, Stages, evaluate, to_8bit


def stages(table: np.ndarray, *, shaper: bool = False) -> Stages:
    ramp = np.linspace(0.0, 1.0, 17)[:, None] ** 0.8
    return Stages(
        np.repeat(ramp, 3, axis=1).astype(np.float32) if shaper else None,
        np.zeros(3),
        np.ones(3),
        table.astype(np.float32),
        np.zeros(3),
        np.ones(3),
    )


def strong_table(n: int = 9) -> np.ndarray:
    """A look coupled across channels, with outputs below 0 and above 1 (Pillow keeps ±2)."""
    x = identity_table(n)
    mixed = x @ np.array([[1.3, -0.2, 0.1], [-0.25, 1.2, -0.15], [0.05, -0.1, 1.25]])
    return (np.sign(mixed) * np.abs(mixed) ** 1.3 * 1.1 - 0.04).reshape(n, n, n, 3)


def random_image(width: int, height: int, seed: int = 5) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def expected(kernel: ImageKernel, image: Image.Image) -> np.ndarray:
    colours = np.asarray(image.convert("RGB")).reshape(-1, 3) / 255.0
    return to_8bit(evaluate(kernel.stages, kernel.interpolation, colours))


@pytest.fixture
def portable() -> Iterator[None]:
    """The kernel without its direct copies of Pillow's pixels (crop, tobytes, frombytes)."""
    lut._pillow_layout.cache_clear()
    original = lut._pillow_layout
    lut._pillow_layout = lambda: False  # type: ignore[assignment]
    try:
        yield
    finally:
        lut._pillow_layout = original
        lut._pillow_layout.cache_clear()


@pytest.mark.parametrize("interpolation", ["tetrahedral", "trilinear"])
def test_the_colour_table_is_the_float_path_across_strips(interpolation: str) -> None:
    kernel = ImageKernel(stages(strong_table(), shaper=True), interpolation)  # type: ignore[arg-type]
    assert kernel.path == "colour table"
    image = random_image(1000, 700)  # several strips, the last one short
    out = kernel(image)
    assert out.mode == "RGB" and out.size == image.size
    assert np.array_equal(np.asarray(out).reshape(-1, 3), expected(kernel, image))
    again = random_image(1000, 700, seed=6)  # most colours known now, some new
    assert np.array_equal(np.asarray(kernel(again)).reshape(-1, 3), expected(kernel, again))


def test_trilinear_tables_pillow_can_hold_give_pillows_own_bytes() -> None:
    table = strong_table(17)
    kernel = ImageKernel(stages(table), "trilinear")
    assert kernel.path == "colour table, pillow"
    snapped = (np.rint(table * 65535.0) / 65535.0).astype(np.float32)
    pillow = ImageFilter.Color3DLUT(17, snapped)
    for seed in (1, 2):
        image = random_image(640, 480, seed)
        assert kernel(image).tobytes() == image.filter(pillow).tobytes()


def test_the_portable_path_gives_the_same_bytes(portable: None) -> None:
    image = random_image(700, 500)
    for interpolation in ("tetrahedral", "trilinear"):
        kernel = ImageKernel(stages(strong_table()), interpolation)  # type: ignore[arg-type]
        out = np.asarray(kernel(image)).reshape(-1, 3)
        if interpolation == "tetrahedral":
            assert np.array_equal(out, expected(kernel, image))
        else:
            snapped = (np.rint(strong_table() * 65535.0) / 65535.0).astype(np.float32)
            pillow = image.filter(ImageFilter.Color3DLUT(9, snapped))
            assert out.tobytes() == pillow.tobytes()


def test_marks_left_by_an_interrupted_fill_are_never_read_as_colours() -> None:
    kernel = ImageKernel(stages(strong_table()), "tetrahedral")
    image = random_image(64, 64)
    first = kernel(image).tobytes()
    table = kernel._local.table
    keys = np.frombuffer(image.tobytes("raw", "RGBX"), dtype=np.uint32) & 0xFFFFFF
    table[keys[:100]] = np.arange(1, 101, dtype=np.uint32)  # as a fill stopped midway
    assert kernel(image).tobytes() == first


def test_odd_sizes() -> None:
    kernel = ImageKernel(stages(strong_table()), "tetrahedral")
    wide = random_image(300_000, 1)  # a row longer than a strip
    assert np.array_equal(np.asarray(kernel(wide)).reshape(-1, 3), expected(kernel, wide))
    assert kernel(Image.new("RGB", (0, 5))).size == (0, 5)


def test_the_result_is_an_ordinary_image_of_its_own() -> None:
    kernel = ImageKernel(stages(strong_table()), "tetrahedral")
    image = random_image(50, 40)
    out = kernel(image)
    before = out.tobytes()
    out.paste((1, 2, 3), (0, 0, 10, 10))  # writable, and nobody else's memory
    assert kernel(image).tobytes() == before
    assert out.getpixel((0, 0)) == (1, 2, 3) and out.copy().tobytes() == out.tobytes()
    rgba = out.copy()
    rgba.putalpha(128)
    assert rgba.mode == "RGBA"
