"""The seedless command: apply, capabilities, --version, --help."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance

from seedless import __version__
from seedless.cli import main


def test_apply_writes_edited_copies_and_is_repeatable(photos: list[Path], tmp_path: Path) -> None:
    args = ["apply", str(photos[0].parent), "--brightness", "0.85", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b"), "--jobs", "1"]) == 0
    for photo in photos:
        first = (tmp_path / "a" / photo.name).read_bytes()
        assert first == (tmp_path / "b" / photo.name).read_bytes()
    jpeg = next(p for p in photos if p.suffix == ".jpg")
    with Image.open(tmp_path / "a" / jpeg.name) as ours, Image.open(jpeg) as source:
        assert ours.size == source.size and ours.format == "JPEG"


def test_apply_matches_pillow_on_png(photos: list[Path], tmp_path: Path) -> None:
    png = next(p for p in photos if p.suffix == ".png")
    assert main(["apply", str(png), "-o", str(tmp_path), "--brightness", "0.85", "--quiet"]) == 0
    with Image.open(tmp_path / png.name) as opened, Image.open(png) as original:
        ours, source = opened.copy(), original.copy()
    rgb, alpha = source.convert("RGB"), source.getchannel("A")
    expected = ImageEnhance.Brightness(rgb).enhance(0.85)
    import numpy as np

    diff = np.abs(np.asarray(ours.convert("RGB"), int) - np.asarray(expected, int)).max()
    assert diff <= 1 and ours.getchannel("A").tobytes() == alpha.tobytes()
    assert opened.text == original.text and "Copyright" in opened.text  # type: ignore[attr-defined]


def test_apply_never_overwrites_inputs(photos: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / photos[0].name
    copy.write_bytes(photos[0].read_bytes())
    before = copy.read_bytes()
    assert main(["apply", str(copy), "-o", str(tmp_path), "--brightness", "0.5", "--quiet"]) == 1
    assert copy.read_bytes() == before


def test_apply_with_an_effect_file(photos: list[Path], tmp_path: Path) -> None:
    effect = tmp_path / "look.json"
    effect.write_text(json.dumps({"kind": "adjust", "contrast": 1.2}))
    assert (
        main(
            ["apply", str(photos[0]), "-o", str(tmp_path / "o"), "--effect", str(effect), "--quiet"]
        )
        == 0
    )
    assert (tmp_path / "o" / photos[0].name).exists()
    assert main(["apply", str(photos[0]), "-o", str(tmp_path / "o")]) == 1  # nothing to apply


def test_capabilities_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capabilities", "--today", "2026-11-25"]) == 0
    table = capsys.readouterr().out
    assert "local:pillow" in table and "retired" in table
    assert main(["capabilities", "--json", "--supports", "seed"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(row["seed"] in ("seeded", "deterministic") for row in rows)


def test_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "seedless", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"seedless {__version__}"
    help_text = subprocess.run(
        [sys.executable, "-m", "seedless", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "apply" in help_text and "capabilities" in help_text


def test_fit_then_apply_a_cube(photos: list[Path], tmp_path: Path) -> None:
    from seedless import Adjust

    original = next(p for p in photos if p.name == "coffee.jpg")
    with Image.open(original) as image:
        Adjust(brightness=0.9, saturation=1.25, warmth=0.2).apply(image.convert("RGB")).save(
            tmp_path / "approved.png"
        )
    cube = tmp_path / "look.cube"
    assert main(["fit", str(original), str(tmp_path / "approved.png"), "-o", str(cube)]) == 0
    assert cube.read_text().count("\n") > 33**3
    assert (
        main(["apply", str(photos[0]), "-o", str(tmp_path / "a"), "--effect", str(cube), "--quiet"])
        == 0
    )
    assert (
        main(["apply", str(photos[0]), "-o", str(tmp_path / "b"), "--effect", str(cube), "--quiet"])
        == 0
    )
    first = (tmp_path / "a" / photos[0].name).read_bytes()
    assert first == (tmp_path / "b" / photos[0].name).read_bytes()
    assert first != photos[0].read_bytes()


def _small_copy(photos: list[Path], name: str, folder: Path, width: int = 200) -> Path:
    """A small PNG copy of an example photo: a fit's time grows with the photo's colours."""
    source = next(p for p in photos if p.name == name)
    copy = folder / f"small-{Path(name).stem}.png"
    with Image.open(source) as image:
        rgb = image.convert("RGB")
    rgb.resize((width, round(width * rgb.height / rgb.width)), Image.Resampling.BOX).save(copy)
    return copy


def test_fit_of_a_content_edit_exits_1_and_says_what_to_do(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seedless import Adjust

    original = _small_copy(photos, "coffee.jpg", tmp_path)
    approved = tmp_path / "approved.png"
    with Image.open(original) as image:
        edited = Adjust(brightness=0.9).apply(image.convert("RGB"))
    w, h = edited.size
    ImageDraw.Draw(edited).ellipse((w * 0.3, h * 0.3, w * 0.6, h * 0.6), fill=(230, 40, 40))
    edited.save(approved)
    cube = tmp_path / "look.cube"
    assert main(["fit", str(original), str(approved), "-o", str(cube)]) == 1
    assert cube.exists()  # the global part is saved all the same
    out = capsys.readouterr()
    assert "verdict: NOT reproducible locally" in out.out
    assert f"seedless reproduce PHOTOS --original {original} --approved {approved}" in out.err
    assert main(["fit", str(original), str(approved), "-o", str(cube), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["is_global"] is False and report["verdict"] == "not reproducible locally"


def test_fit_of_a_vignette_saves_the_whole_look_as_json(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seedless import Adjust

    original = _small_copy(photos, "coffee.jpg", tmp_path)
    approved = tmp_path / "approved.png"
    with Image.open(original) as image:
        Adjust(brightness=0.9, vignette=0.8).apply(image.convert("RGB")).save(approved)
    look = tmp_path / "look.json"
    assert main(["fit", str(original), str(approved), "-o", str(look)]) == 0
    assert "verdict: global + spatial (vignette)" in capsys.readouterr().out
    assert main(["fit", str(original), str(approved), "-o", str(tmp_path / "look.cube")]) == 0
    assert "holds the fixed colour table only" in capsys.readouterr().err


def test_capabilities_unknown_supports_is_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capabilities", "--supports", "sed"]) == 2
    err = capsys.readouterr().err
    assert "unknown capability 'sed'" in err and "seed" in err and "Traceback" not in err


def test_capabilities_unknown_provider_is_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capabilities", "--provider", "gemin"]) == 2
    err = capsys.readouterr().err
    assert "gemin" in err and "gemini" in err and "Traceback" not in err


def test_a_missing_file_is_a_one_line_error(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jpg"
    argv = ["reproduce", str(photos[0]), "--original", str(missing), "--approved", str(photos[1])]
    assert main([*argv, "-o", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seedless: ") and "nope.jpg" in err and "Traceback" not in err


@pytest.mark.parametrize("noun", ["models", "ledger"])
def test_a_noun_without_a_verb_prints_its_help(
    noun: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([noun]) == 2  # like `seedless` alone: the help, exit 2, not a usage error
    out = capsys.readouterr().out
    assert out.startswith(f"usage: seedless {noun} ") and "VERB" in out


def test_every_option_has_help() -> None:
    from seedless.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")
            elif action.option_strings and not action.help:
                yield f"{path} {action.option_strings[-1]}"

    assert list(walk(build_parser(), "seedless")) == []


def test_fit_apply_writes_the_good_files_and_names_the_bad_ones(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seedless import Adjust

    original = next(p for p in photos if p.name == "coffee.jpg")
    with Image.open(original) as image:
        Adjust(brightness=0.9).apply(image.convert("RGB")).save(tmp_path / "approved.png")
    folder = tmp_path / "todo"
    folder.mkdir()
    (folder / "a-notes.jpg").write_text("not a photo")  # first: it stopped everything
    for photo in photos[:2]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    out = tmp_path / "edited"
    code = main(
        ["fit", str(original), str(tmp_path / "approved.png"), "-o", str(tmp_path / "l.cube"),
         "--apply", str(folder), "--apply-out", str(out)]
    )  # fmt: skip
    assert code == 1
    captured = capsys.readouterr()
    assert f"wrote 2 image(s) to {out}" in captured.out
    assert "failed" in captured.err and "a-notes.jpg" in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in photos[:2])
