"""CubeEffect: .cube LUTs as effects: interpolation, JSON, modes, replay of fitted looks, CLI."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import seedless
from seedless.cli import main
from seedless.effects import effect_from_dict, load_effect
from seedless.effects.cube import format_cube, identity_table, parse_cube_file
from seedless.effects.cube_lut import CubeEffect
from seedless.effects.fit import FittedEffect, fit_effect

CUBES = Path(__file__).parent / "cubes"
PHOTOS = Path(__file__).resolve().parents[2] / "examples" / "photos"


def photo(name: str = "coffee.jpg", size: int = 160) -> Image.Image:
    with Image.open(PHOTOS / name) as image:
        return image.convert("RGB").resize((size, size * 2 // 3))


def warm_table(n: int = 9) -> np.ndarray:
    table = identity_table(n)
    return np.clip(table * [1.08, 1.0, 0.9] + [0.02, 0.0, -0.01], 0.0, 1.0)


def test_imported_files_default_to_tetrahedral_and_seedless_exports_to_trilinear() -> None:
    assert load_effect(CUBES / "resolve_3d.cube").interpolation == "tetrahedral"
    ours = parse_cube_file(format_cube(warm_table(), title="look"))
    assert CubeEffect.from_cube(ours).interpolation == "trilinear"
    assert CubeEffect.from_cube(ours, interpolation="tetrahedral").interpolation == "tetrahedral"
    # Only seedless's own first comment counts, not a file that mentions it further down.
    other = parse_cube_file("# made elsewhere\n# Created by seedless\n" + format_cube(warm_table()))
    assert CubeEffect.from_cube(other).interpolation == "tetrahedral"


def test_a_fitted_look_exported_and_reimported_replays_bit_identically(tmp_path: Path) -> None:
    original = photo("coffee.jpg")
    approved = original.point(lambda v: min(255, int(v * 1.1) + 4)).convert("RGB")
    look = fit_effect(original, approved, size=17)
    path = look.save_cube(tmp_path / "look.cube")
    again = load_effect(path)
    assert isinstance(again, CubeEffect) and again.interpolation == "trilinear"
    # The look's table, bit for bit; a look applied as point operations (its table is curves
    # and a matrix within half a level) is within a level of it.
    table = look.model_copy(update={"fast": None})
    for image in (photo("astronaut.jpg"), photo("cat.jpg").convert("L"), photo("rocket.jpg")):
        assert again.apply(image).tobytes() == table.apply(image).tobytes()
        assert again.apply(image).mode == look.apply(image).mode
        ours, theirs = np.asarray(look.apply(image), int), np.asarray(again.apply(image), int)
        assert np.abs(ours - theirs).max() <= 1


def test_interpolation_is_recorded_in_the_json_and_replays(tmp_path: Path) -> None:
    effect = load_effect(CUBES / "resolve_shaper.cube")
    data = effect.model_dump(mode="json")
    assert data["kind"] == "cube" and data["interpolation"] == "tetrahedral"
    again = effect_from_dict(data)
    assert isinstance(again, CubeEffect) and again == effect
    image = photo()
    assert again.apply(image).tobytes() == effect.apply(image).tobytes()
    trilinear = effect_from_dict({**data, "interpolation": "trilinear"})
    assert trilinear.apply(image).tobytes() != effect.apply(image).tobytes()
    saved = tmp_path / "look.json"
    saved.write_text(effect.model_dump_json())
    assert load_effect(saved).apply(image).tobytes() == effect.apply(image).tobytes()
    assert "lut3d=" not in repr(effect)  # the tables stay out of reprs


def test_with_interpolation_does_not_reuse_the_other_kernel() -> None:
    effect = load_effect(CUBES / "resolve_3d.cube")
    image = photo()
    tetrahedral = effect.apply(image).tobytes()
    trilinear = effect.with_interpolation("trilinear")
    assert trilinear.apply(image).tobytes() != tetrahedral
    assert effect.apply(image).tobytes() == tetrahedral


def test_modes_alpha_and_grey(tmp_path: Path) -> None:
    effect = load_effect(CUBES / "adobe_3d.cube")
    image = photo()
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(image.size))
    out = effect.apply(rgba)
    assert out.mode == "RGBA" and out.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    assert out.convert("RGB").tobytes() == effect.apply(image).tobytes()
    grey = CubeEffect.from_cube(parse_cube_file(format_cube(identity_table(5) ** 1.2)))
    assert grey.apply(image.convert("L")).mode == "L"  # keeps greys grey
    assert effect.apply(image.convert("L")).mode == "RGB"  # tints them
    assert effect.apply(image.convert("P")).mode == "RGB"
    with pytest.raises(Exception, match="mode CMYK"):
        effect.apply(image.convert("CMYK"))


def test_one_d_lut_applies_per_channel() -> None:
    effect = load_effect(CUBES / "resolve_1d.cube")
    image = photo()
    out = np.asarray(effect.apply(image)).astype(int)
    expected = effect.transform(np.asarray(image) / 255.0)
    assert np.abs(out - np.floor(np.clip(expected, 0, 1) * 255 + 0.5)).max() == 0


def test_bit_identical_run_to_run_across_threads_and_pickling() -> None:
    effect = load_effect(CUBES / "resolve_shaper.cube")
    images = [photo(name) for name in ("coffee.jpg", "cat.jpg", "rocket.jpg", "astronaut.jpg")]
    first = [effect.apply(image).tobytes() for image in images]
    copy = pickle.loads(pickle.dumps(effect))
    assert [copy.apply(image).tobytes() for image in images] == first
    results: dict[int, list[bytes]] = {}

    def run(k: int) -> None:
        fresh = effect_from_dict(effect.model_dump())
        results[k] = [fresh.apply(image).tobytes() for image in reversed(images)][::-1]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == first for result in results.values())


def test_describe_speaks_in_numbers() -> None:
    text = load_effect(CUBES / "resolve_shaper.cube").describe()
    assert text.startswith("brightness at ")
    assert text.endswith("Keep composition, content and framing exactly as they are.")


def test_invalid_json_forms_are_refused() -> None:
    data = load_effect(CUBES / "adobe_1d.cube").model_dump()
    with pytest.raises(ValueError, match="bytes"):
        CubeEffect(**{**data, "lut1d_size": 16})
    with pytest.raises(ValueError, match="lut1d, lut3d or both"):
        CubeEffect()
    with pytest.raises(ValueError, match="interpolation"):
        CubeEffect(**{**data, "interpolation": "cubic"})
    with pytest.raises(ValueError, match="below"):
        CubeEffect(**{**data, "lut1d_min": (1.0, 0.0, 0.0)})


# ------------------------------------------------------------------------------ the command


def test_apply_interp_flag(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    photo().save(source)
    cube = str(CUBES / "resolve_3d.cube")
    written = {}
    for interp in ("tetrahedral", "trilinear", None):
        out = tmp_path / str(interp)
        flags = ["--interp", interp] if interp else []
        assert (
            main(["apply", str(source), "-o", str(out), "--effect", cube, "--quiet", *flags]) == 0
        )
        written[interp] = (out / "in.png").read_bytes()
    assert written[None] == written["tetrahedral"] != written["trilinear"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--interp", "trilinear", "--brightness", "0.9"], "--interp goes with --effect"),
        (["--interp", "trilinear", "--effect", "{json}"], "--interp applies to .cube LUTs"),
    ],
)
def test_apply_interp_flag_misuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    source = tmp_path / "in.png"
    photo().save(source)
    adjust = tmp_path / "adjust.json"
    adjust.write_text('{"kind": "adjust", "brightness": 0.9}')
    flags = [flag.replace("{json}", str(adjust)) for flag in flags]
    assert main(["apply", str(source), "-o", str(tmp_path / "out"), *flags]) != 0
    assert words in capsys.readouterr().err


def test_fitted_effects_stay_fitted_effects() -> None:
    # FittedEffect.load_cube is unchanged: seedless's own exports come back as fitted looks.
    assert FittedEffect.identity(5).kind == "lut"


def test_apply_reads_a_cube_with_numpy_and_still_forks_its_workers(tmp_path: Path) -> None:
    code = """
        import argparse, sys
        from seedless._parallel import can_fork
        from seedless.cli.apply import effect_from_args

        args = argparse.Namespace(effect=sys.argv[1], interp=None, **{
            name: None for name in ("brightness", "contrast", "saturation", "sharpness",
            "gamma", "warmth", "tint", "grain", "grain_seed", "vignette")})
        effect_from_args(args)
        assert "numpy" in sys.modules
        assert can_fork(), "reading the .cube started threads (numpy's BLAS pool)"
        """
    blas = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
    env = {k: v for k, v in os.environ.items() if k not in blas}
    env["PYTHONPATH"] = str(Path(seedless.__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(CUBES / "resolve_3d.cube")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("interp", ["tetrahedral", "trilinear"])
def test_ffmpeg_lut3d_agrees_on_a_plain_3d_file(tmp_path: Path, interp: str) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    source = tmp_path / "in.png"
    image = photo()
    image.save(source)
    out = tmp_path / "out.png"
    cube = CUBES / "adobe_3d.cube"  # outputs outside 0..1, no domain: ffmpeg reads it whole
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(source), "-vf",
         f"lut3d=file={cube}:interp={interp}", "-pix_fmt", "rgb24", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    with Image.open(out) as theirs:
        expected = np.asarray(theirs.convert("RGB")).astype(int)
    ours = np.asarray(load_effect(cube).with_interpolation(interp).apply(image)).astype(int)
    assert np.abs(ours - expected).max() <= 1
