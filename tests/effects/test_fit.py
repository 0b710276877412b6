"""fit_effect: a LUT fitted on one pair reproduces global edits elsewhere, and knows local ones."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedless.effects.adjust import Adjust
from seedless.effects.cube import read_cube, write_cube
from seedless.effects.fit import FitReport, FittedEffect, fit_effect
from seedless.effects.fit._pairs import prepare
from seedless.errors import InvalidImageError

DATA = Path(__file__).resolve().parent / "data" / "fit"  # small copies, see its CREDITS.md


def _open(path: Path, size: int | None = None) -> Image.Image:
    with Image.open(path) as image:
        rgb: Image.Image = image.convert("RGB")
    if size is not None:  # smaller copies keep the suite fast; both sides get the same resize
        rgb = rgb.resize((size, round(size * rgb.height / rgb.width)), Image.Resampling.BOX)
    return rgb


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float((diff**2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


# A global edit with a known answer: tone, saturation and balance (no contrast: Adjust's
# contrast pivots on each image's own mean, so it is not one colour function across photos).
EDIT = Adjust(brightness=1.08, saturation=1.25, gamma=0.9, warmth=0.15)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return _open(DATA / "originals" / "astronaut.png", 192)


@pytest.fixture(scope="module")
def fitted(astronaut: Image.Image) -> FittedEffect:
    return fit_effect(astronaut, EDIT.apply(astronaut), title="synthetic")


def test_fit_reproduces_a_global_edit_on_a_held_out_photo(fitted: FittedEffect) -> None:
    held_out = _open(DATA / "originals" / "coffee.png", 192)
    assert _psnr(fitted.apply(held_out), EDIT.apply(held_out)) >= 45.0
    report = fitted.report
    assert report is not None
    assert report.is_global, report.reason
    assert report.psnr_db >= 45.0
    assert 0.0 < report.coverage < 1.0
    assert report.pixels == 192 * 192


def test_apply_is_bit_identical_and_keeps_size_and_mode(fitted: FittedEffect) -> None:
    image = _open(DATA / "originals" / "cat.png", 160)
    first, second = fitted.apply(image), fitted.apply(image)
    assert first.tobytes() == second.tobytes()
    assert first.size == image.size and first.mode == "RGB"
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(image.size))
    out = fitted.apply(rgba)
    assert out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    assert out.convert("RGB").tobytes() == first.tobytes()
    # greyscale: this look tints greys (warmth), so an L image comes back RGB
    assert fitted.apply(image.convert("L")).mode == "RGB"
    brighter = fit_effect(image, Adjust(brightness=1.2).apply(image))
    assert brighter.apply(image.convert("L")).mode == "L"
    with pytest.raises(InvalidImageError, match="mode"):
        fitted.apply(image.convert("CMYK"))


def test_json_round_trip_gives_identical_pixels(fitted: FittedEffect) -> None:
    again = FittedEffect.model_validate_json(fitted.model_dump_json())
    assert again == fitted
    assert again.report == fitted.report
    image = _open(DATA / "originals" / "rocket.png", 128)
    assert again.apply(image).tobytes() == fitted.apply(image).tobytes()
    assert fitted.kind == "lut"
    with pytest.raises(ValueError, match="bytes"):
        FittedEffect(size=3, table=fitted.table)


def test_cube_round_trip_is_exact(fitted: FittedEffect, tmp_path: Path) -> None:
    path = fitted.save_cube(tmp_path / "look.cube")
    text = path.read_text()
    assert "LUT_3D_SIZE 33" in text and 'TITLE "synthetic"' in text
    loaded = FittedEffect.load_cube(path)
    assert loaded.table == fitted.table  # 6 decimals recover every 16-bit value
    assert loaded.report is None and loaded.title == "synthetic"
    image = _open(DATA / "originals" / "hubble.png", 128)
    assert loaded.apply(image).tobytes() == fitted.apply(image).tobytes()
    flat = read_cube(path).table.reshape(-1, 3)
    # ffmpeg-style reading: line k is the input (k % N, k // N % N, k // N^2) / (N - 1), red
    # fastest. Pure red, green and blue sit on lines N-1, (N-1)N and (N-1)N^2.
    n = 33
    for k, pixel in (
        ((n - 1), (255, 0, 0)),
        ((n - 1) * n, (0, 255, 0)),
        ((n - 1) * n * n, (0, 0, 255)),
    ):
        probe = Image.new("RGB", (1, 1), pixel)
        out = np.asarray(fitted.apply(probe), dtype=int)[0, 0]
        assert np.abs(out - np.rint(flat[k] * 255)).max() <= 1


def _ffmpeg() -> str:
    """ffmpeg from the imageio-ffmpeg wheel (a dev dependency), else one on PATH."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        assert found, 'ffmpeg is needed: pip install -e ".[dev]" brings imageio-ffmpeg'
        return found


def test_ffmpeg_reads_the_cube_like_seedless(fitted: FittedEffect, tmp_path: Path) -> None:
    ffmpeg = _ffmpeg()
    cube = fitted.save_cube(tmp_path / "look.cube")
    source = tmp_path / "in.png"
    image = _open(DATA / "originals" / "cat.png", 128)
    image.save(source)
    ours = np.asarray(fitted.apply(image), dtype=int)
    for interp in ("trilinear", "tetrahedral"):
        out = tmp_path / f"{interp}.png"
        subprocess.run(
            [ffmpeg, "-loglevel", "error", "-y", "-i", str(source), "-vf",
             f"lut3d=file={cube}:interp={interp}", "-pix_fmt", "rgb24", str(out)],
            check=True, timeout=60,
        )  # fmt: skip
        theirs = np.asarray(_open(out), dtype=int)
        assert np.abs(theirs - ours).max() <= 1  # rounding only: same order, same domain


def test_load_cube_rebases_a_wider_domain(tmp_path: Path) -> None:
    # identity over DOMAIN 0..2: an 8-bit input x maps to x, so on 0..1 it is the identity
    axis = np.linspace(0.0, 2.0, 9)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    path = write_cube(tmp_path / "wide.cube", np.stack([r, g, b], -1), domain_max=(2, 2, 2))
    loaded = FittedEffect.load_cube(path)
    assert loaded.size == 9
    assert loaded.is_identity


def test_describe_measures_a_known_brightness(astronaut: Image.Image) -> None:
    effect = fit_effect(astronaut, Adjust(brightness=0.85).apply(astronaut))
    text = effect.describe()
    assert text.startswith("brightness at 8")
    assert int(text.split("brightness at ")[1].split("%")[0]) in (84, 85, 86)
    assert "colour saturation unchanged" in text and "colour balance unchanged" in text
    assert text.endswith("Keep composition, content and framing exactly as they are.")


def test_describe_measures_saturation_and_warmth(fitted: FittedEffect) -> None:
    text = fitted.describe()
    saturation = int(text.split("colour saturation at ")[1].split("%")[0])
    assert 118 <= saturation <= 132
    assert "colour balance warmer (red +" in text


def test_identity_pair_gives_an_identity_lut(astronaut: Image.Image) -> None:
    effect = fit_effect(astronaut, astronaut.copy())
    assert effect.is_identity
    assert effect.apply(astronaut).tobytes() == astronaut.tobytes()
    assert FittedEffect.identity().describe().startswith("brightness unchanged, contrast unch")


@pytest.mark.parametrize("colour", [(10, 20, 30), (128, 128, 128)])
def test_a_pair_with_one_colour_leaves_the_other_colours_alone(
    astronaut: Image.Image, colour: tuple[int, int, int]
) -> None:
    # One colour says nothing about the slope of the tone curves: the table must fall back
    # to "unchanged" there, not to curves pulled flat towards black.
    flat = Image.new("RGB", (50, 50), colour)
    effect = fit_effect(flat, flat.copy())
    assert effect.is_identity
    assert _psnr(effect.apply(astronaut), astronaut) >= 50.0
    shifted = fit_effect(flat, Image.new("RGB", (50, 50), tuple(v + 20 for v in colour)))
    out = np.asarray(shifted.apply(astronaut), dtype=float) - np.asarray(astronaut, dtype=float)
    assert 0 < np.median(out) <= 21  # brighter, as the one colour was: never crushed


def test_inputs_as_paths_and_bytes_with_different_sizes(tmp_path: Path) -> None:
    original = _open(DATA / "originals" / "cat.png", 160)
    edited = Adjust(saturation=1.3).apply(original).resize((240, 160), Image.Resampling.BICUBIC)
    path = tmp_path / "original.png"
    original.save(path)
    buffer = io.BytesIO()
    edited.save(buffer, format="PNG")
    effect = fit_effect(path, buffer.getvalue())
    report = effect.report
    assert report is not None
    assert (report.width, report.height) == original.size
    assert any("resampled" in note for note in report.notes)
    assert report.is_global, report.reason
    cropped = fit_effect(original, edited.crop((0, 0, 200, 159)))
    assert cropped.report is not None
    assert any("centre-cropped" in note for note in cropped.report.notes)


def test_exif_orientation_is_applied_before_pairing(tmp_path: Path) -> None:
    original = _open(DATA / "originals" / "rocket.png", 96)
    rotated = original.transpose(Image.Transpose.ROTATE_90)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and tagged "rotate 90 CW to view", which undoes ROTATE_90
    buffer = io.BytesIO()
    Adjust(brightness=1.1).apply(rotated).save(buffer, format="PNG", exif=exif)
    report = fit_effect(original, buffer.getvalue()).report
    assert report is not None
    assert report.is_global, report.reason
    assert report.psnr_db > 45


@pytest.mark.parametrize(
    ("kind", "edit", "verdict", "parts"),
    [
        ("global", "moody", "global", ()),
        ("global", "levels", "global", ()),
        ("local", "vignette", "global + spatial", ("vignette",)),
        ("local", "blur", "global + spatial", ("blur",)),
        ("local", "object", "not reproducible locally", ()),
    ],
)
def test_verdict_on_real_editor_output(
    kind: str, edit: str, verdict: str, parts: tuple[str, ...]
) -> None:
    original = _open(DATA / "originals" / "rocket.png")
    edited = _open(DATA / kind / edit / "rocket.png")
    report = fit_effect(original, edited).report
    assert isinstance(report, FitReport)
    assert (report.verdict, report.parts) == (verdict, parts), report.reason
    assert report.is_global is (verdict == "global")
    assert report.reproducible is (verdict != "not reproducible locally")
    start = {"global": "a global", "global + spatial": "a global colour/tone edit plus"}
    assert report.reason.startswith(start.get(verdict, "not a global")), report.reason


def test_bad_arguments() -> None:
    image = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="size"):
        fit_effect(image, image, size=70)
    with pytest.raises(InvalidImageError):
        fit_effect(b"not an image", image)
    with pytest.raises(InvalidImageError, match="fewer than 16"):
        fit_effect(Image.new("RGB", (3, 3)), Image.new("RGB", (3, 3)))


@pytest.mark.parametrize(
    ("trained", "other", "floor"), [("astronaut", "cat", 44.0), ("coffee", "astronaut", 40.0)]
)
def test_an_edit_approved_as_a_jpeg_is_fitted_where_compression_left_colours_alone(
    trained: str, other: str, floor: float
) -> None:
    """JPEG moves colours at edges (colour subsampling, blocks): fitted on every pixel of a
    JPEG'd approval, these scored 39.2 and 31.8 dB (PSNR against the exact edit)."""
    photo = _open(DATA / "originals" / f"{trained}.png")
    approved = io.BytesIO()
    EDIT.apply(photo).save(approved, format="JPEG", quality=90)
    look = fit_effect(photo, approved.getvalue())
    target = _open(DATA / "originals" / f"{other}.png")
    assert _psnr(look.apply(target), EDIT.apply(target)) >= floor


def test_a_grainy_pair_keeps_every_pixel_for_its_colours() -> None:
    """Grain is as strong in flat areas as at edges: nothing to gain from the flat half."""
    folder = DATA / "spatial" / "ff_grain_contrast"
    sample = prepare(DATA / "originals" / "cat.png", folder / "cat.png", 2_000_000)
    assert sample.colours().counts.sum() == len(sample.flat()[0])
