"""Adjust: ImageEnhance semantics, determinism, metadata and the quantified description."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from seedless import Adjust
from seedless.images import decode, encode


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _max_diff(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max())


@pytest.mark.parametrize("factor", [0.5, 0.85, 1.2, 1.6])
def test_brightness_matches_imageenhance(photos: list[Path], factor: float) -> None:
    for path in photos:
        image = _rgb(path)
        expected = ImageEnhance.Brightness(image).enhance(factor)
        assert _max_diff(Adjust(brightness=factor).apply(image), expected) <= 1


@pytest.mark.parametrize(
    ("field", "enhancer"),
    [
        ("contrast", ImageEnhance.Contrast),
        ("saturation", ImageEnhance.Color),
        ("sharpness", ImageEnhance.Sharpness),
    ],
)
@pytest.mark.parametrize("factor", [0.6, 1.3])
def test_each_knob_matches_imageenhance(
    photos: list[Path], field: str, enhancer: type[ImageEnhance._Enhance], factor: float
) -> None:
    for path in photos:
        image = _rgb(path)
        expected = enhancer(image).enhance(factor)  # type: ignore[call-arg]
        assert _max_diff(Adjust(**{field: factor}).apply(image), expected) <= 1


@pytest.mark.parametrize("factor", [0.0, 0.3, 0.77, 1.4, 2.0, 8.0])
def test_sharpness_equals_imageenhance_to_the_level(photos: list[Path], factor: float) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (67, 131, 3), dtype=np.uint8)
    images = [_rgb(p) for p in photos] + [Image.fromarray(noise), _rgb(photos[0]).convert("L")]
    images += [Image.fromarray(noise[:h, :w]) for h, w in ((1, 1), (2, 9), (3, 3), (9, 2), (4, 5))]
    for image in images:
        expected = ImageEnhance.Sharpness(image).enhance(factor)
        ours = Adjust(sharpness=factor).apply(image)
        assert ours.mode == image.mode and ours.size == image.size
        assert ours.tobytes() == expected.tobytes(), (image.size, image.mode)


def test_sharpen_rounding_shortcut_holds_for_every_sum() -> None:
    sums = np.arange(9 * 255 + 4 * 255 + 6 + 1, dtype=np.int32)  # every value a strip can hold
    assert np.array_equal(sums * 5042 >> 16, sums // 13)


def test_brightness_then_contrast_chain_is_exact(photos: list[Path]) -> None:
    image = _rgb(photos[0])
    expected = ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(0.8)).enhance(1.4)
    assert _max_diff(Adjust(brightness=0.8, contrast=1.4).apply(image), expected) == 0


@pytest.mark.parametrize("brightness", [1.0, 1.5])
def test_contrast_uses_the_mean_imageenhance_measures(brightness: float) -> None:
    # Half the pixels (2, 0, 0) (luma 0.598, rounded to 1 by convert("L")), half black: the
    # mean of the rounded lumas rounds to 1, the mean of the exact ones to 0. Contrast pivots
    # on the first; at factor 8 a wrong pivot is 7 levels off.
    pixels = np.zeros((10, 10, 3), dtype=np.uint8)
    pixels[:, ::2] = (2, 0, 0)
    image = Image.fromarray(pixels)
    expected = ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(brightness)).enhance(8)
    ours = Adjust(brightness=brightness, contrast=8.0).apply(image)
    assert ours.tobytes() == expected.tobytes()


@pytest.mark.parametrize("factor", [0.0, 1.5, 3.0, 8.0])
def test_saturation_within_one_level_at_any_factor(factor: float) -> None:
    noise = np.random.default_rng(11).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for image in (Image.fromarray(noise), Image.fromarray(noise).convert("RGBA")):
        expected = ImageEnhance.Color(image).enhance(factor)
        assert _max_diff(Adjust(saturation=factor).apply(image), expected) <= 1


def test_apply_is_deterministic_including_grain(photos: list[Path]) -> None:
    adjust = Adjust(
        brightness=0.9, saturation=1.2, warmth=0.3, grain=0.4, grain_seed=7, vignette=0.5
    )
    image = _rgb(photos[0])
    first = adjust.apply(image).tobytes()
    assert adjust.apply(image).tobytes() == first
    assert Adjust(**{**adjust.model_dump(), "grain_seed": 8}).apply(image).tobytes() != first


def test_warmth_and_vignette_move_pixels_the_right_way(photos: list[Path]) -> None:
    image = _rgb(photos[2])
    warm = np.asarray(Adjust(warmth=0.5).apply(image), dtype=float)
    base = np.asarray(image, dtype=float)
    assert warm[..., 0].mean() > base[..., 0].mean() and warm[..., 2].mean() < base[..., 2].mean()
    dark = np.asarray(Adjust(vignette=0.8).apply(image), dtype=float)
    assert dark[0, 0].sum() < base[0, 0].sum()
    h, w = base.shape[:2]
    assert abs(dark[h // 2, w // 2].sum() - base[h // 2, w // 2].sum()) <= 3


def test_alpha_and_grayscale_are_kept() -> None:
    rgba = Image.new("RGBA", (32, 16), (100, 150, 200, 77))
    out = Adjust(brightness=0.5, saturation=1.5).apply(rgba)
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 77
    gray = Image.new("L", (8, 8), 100)
    assert Adjust(contrast=1.5).apply(gray).mode == "L"
    assert Adjust(warmth=0.5).apply(gray).mode == "RGB"
    # Saturation leaves a grey image grey (and in its mode), as ImageEnhance.Color does.
    for image in (gray, gray.convert("LA")):
        out = Adjust(saturation=1.5, brightness=1.2).apply(image)
        expected = ImageEnhance.Color(ImageEnhance.Brightness(image).enhance(1.2)).enhance(1.5)
        assert out.mode == image.mode and out.tobytes() == expected.tobytes()


def test_identity_copies() -> None:
    image = Image.new("RGB", (4, 4), (1, 2, 3))
    assert Adjust().is_identity and Adjust(grain_seed=3).is_identity
    out = Adjust().apply(image)
    assert out is not image and out.tobytes() == image.tobytes()


def test_describe_is_quantified() -> None:
    text = Adjust(brightness=0.85, saturation=1.1, warmth=0.2).describe()
    assert text.startswith("brightness at 85% of the original, contrast unchanged")
    assert "colour saturation at 110% of the original" in text
    assert "warmer (red +5%, blue -5%)" in text
    assert "no vignette" in text and "Keep composition" in text


def test_describe_keeps_the_precision_of_each_setting() -> None:
    # Whole percents would read +2% for 2.5%, and 100% ("nothing to do") for a factor of 1.004.
    text = Adjust(brightness=1.004, contrast=0.855, warmth=0.1, tint=-0.03).describe()
    assert text.startswith("brightness at 100.4% of the original, contrast at 85.5% of the")
    assert "warmer (red +2.5%, blue -2.5%) and towards green (green +0.75%)" in text
    text = Adjust(sharpness=1.0000001, gamma=1.004, grain=0.01, vignette=0.125).describe()
    assert "sharpness at 100.00001% of the original" in text
    assert "midtones lifted with a gamma of 1.004" in text
    assert "film grain at 1% opacity (noise of about 0.32 levels out of 255)" in text
    assert "a vignette darkening the corners by 12.5%" in text
    assert "gamma of 1.20" in Adjust(gamma=1.2).describe()


def test_json_round_trip_and_cli_args() -> None:
    adjust = Adjust(brightness=0.85, grain=0.2, grain_seed=4)
    assert Adjust.model_validate_json(adjust.model_dump_json()) == adjust
    assert adjust.to_cli_args() == ["--brightness", "0.85", "--grain", "0.2", "--grain-seed", "4"]
    with pytest.raises(ValueError):
        Adjust(warmth=2.0)


def test_encode_keeps_exif_icc_and_jpeg_quality(photos: list[Path]) -> None:
    for path in photos:
        data = path.read_bytes()
        source = decode(data)
        out, mime = encode(Adjust(brightness=0.9).apply(source), like=source)
        again = Image.open(io.BytesIO(out))
        again.load()
        assert mime == Image.MIME[source.format or "PNG"]
        assert again.info.get("icc_profile") == source.info.get("icc_profile")
        assert again.getexif().get(0x0112) == source.getexif().get(0x0112)
        if source.format == "JPEG":
            assert again.quantization == source.quantization  # type: ignore[attr-defined]
        else:
            assert again.text == source.text  # type: ignore[attr-defined]
        assert again.mode == source.mode
