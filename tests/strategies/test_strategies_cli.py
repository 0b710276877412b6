"""`seedless reproduce` and `seedless verify`, against the loopback emulator via the environment."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw
from strategy_helpers import TARGET, brighten, small_photo

from seedless import Adjust, fit_effect
from seedless.cli import main
from seedless.testing import Emulator

pytest.importorskip("google.genai")

TODAY = ["--today", "2026-11-25"]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator() as emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        yield emulator


@pytest.fixture(autouse=True)
def not_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fitting is tested in test_plan.py; here a stand-in fitter keeps the CLI tests fast."""
    report = SimpleNamespace(
        is_global=False,
        reproducible=False,
        reason="not a global colour/tone edit: content changed.",
        psnr_db=20.0,
    )
    fitted = SimpleNamespace(report=report, describe=lambda: "brightness at 75% of the original")
    plan_module = importlib.import_module("seedless.strategies.plan")
    monkeypatch.setattr(plan_module, "_fit", lambda original, approved: fitted)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """original.png, approved.png (darker + a drawn object: a content edit), two photos."""
    folder = tmp_path / "in"
    folder.mkdir()
    original = small_photo("coffee.jpg")
    image = Image.open(io.BytesIO(brighten(original, TARGET))).convert("RGB")
    ImageDraw.Draw(image).ellipse((50, 30, 110, 90), fill=(230, 40, 40))
    paths = {"original": folder / "original.png", "approved": folder / "approved.png"}
    paths["original"].write_bytes(original)
    image.save(paths["approved"])
    for name in ("cat", "rocket"):
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(small_photo(f"{name}.jpg"))
    return paths


def test_reproduce_dry_run_plans_and_sends_nothing(
    emu: Emulator, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "reproduce", str(files["cat"]), str(files["rocket"]), "--original", str(files["original"]),
        "--approved", str(files["approved"]), "--model", "gemini:gemini-3-pro-image",
        "-o", str(tmp_path / "out"), "--dry-run", *TODAY,
    ])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    assert "Path: anchored on gemini:gemini-3-pro-image" in out.out
    assert "not a global colour/tone edit: content changed" in out.out
    assert "up to" not in out.out and "8 call(s) for 2 image(s)" in out.out
    assert "nothing was sent" in out.err
    assert emu.requests == [] and not (tmp_path / "out").exists()


def test_reproduce_anchored_writes_images_recipe_and_sheets(
    emu: Emulator, files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code = main([
        "reproduce", str(files["cat"]), str(files["rocket"]), "--original", str(files["original"]),
        "--approved", str(files["approved"]), "--model", "gemini:gemini-3-pro-image",
        "--prompt", "darker, with a red ball", "--best-of", "2", "-o", str(out), *TODAY,
    ])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cat.png",
        "recipe.json",
        "rocket.png",
        "sheets",
    ]
    assert sorted(p.name for p in (out / "sheets").iterdir()) == ["cat.png", "rocket.png"]
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["strategy"] == "anchored" and recipe["instruction"] == "darker, with a red ball"
    assert recipe["best_of"]["n"] == 2
    assert len(emu.gemini.requests) == 4


def test_reproduce_with_an_exact_effect_is_local(
    emu: Emulator, files: dict[str, Path], tmp_path: Path
) -> None:
    effect = tmp_path / "look.json"
    effect.write_text(json.dumps({"kind": "adjust", "brightness": 0.8}))
    for run in ("a", "b"):
        assert main(["reproduce", str(files["cat"]), "--effect", str(effect),
                     "-o", str(tmp_path / run), *TODAY]) == 0  # fmt: skip
    assert (tmp_path / "a" / "cat.png").read_bytes() == (tmp_path / "b" / "cat.png").read_bytes()
    assert emu.requests == []


def test_reproduce_warns_about_a_photo_mostly_outside_a_fitted_look(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grey = Image.new("RGB", (48, 32), (120, 120, 120))
    grey.paste((90, 90, 90), (0, 0, 24, 32))
    effect = tmp_path / "look.json"
    effect.write_text(fit_effect(grey, Adjust(brightness=1.2).apply(grey)).model_dump_json())
    Image.new("RGB", (48, 32), (20, 60, 220)).save(tmp_path / "blue.png")
    assert main(["reproduce", str(tmp_path / "blue.png"), "--effect", str(effect),
                 "-o", str(tmp_path / "out"), *TODAY]) == 0  # fmt: skip
    assert "blue.png: only 0% of its colours" in capsys.readouterr().err
    assert emu.requests == []


def test_reproduce_refuses_missing_pair_and_input_folder(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reproduce", str(files["cat"]), "-o", str(tmp_path / "o")]) == 1
    assert "give --original and --approved" in capsys.readouterr().err
    args = ["reproduce", str(files["cat"]), "--original", str(files["original"]),
            "--approved", str(files["approved"]), "-o", str(files["cat"].parent)]  # fmt: skip
    assert main(args) == 1
    assert "holds inputs" in capsys.readouterr().err


def test_reproduce_refuses_an_output_folder_holding_the_pair_or_the_recipe(
    emu: Emulator, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    original = out / "cat.png"  # the run would write cat.png here, over the original
    original.write_bytes(files["original"].read_bytes())
    code = main([
        "reproduce", str(files["cat"]), "--original", str(original),
        "--approved", str(files["approved"]), "--model", "gemini:gemini-3-pro-image",
        "--best-of", "1", "-o", str(out), *TODAY,
    ])  # fmt: skip
    assert code == 1 and "holds inputs" in capsys.readouterr().err
    assert original.read_bytes() == files["original"].read_bytes()
    assert emu.requests == []
    effect = tmp_path / "look.json"
    effect.write_text(json.dumps({"kind": "adjust", "brightness": 0.8}))
    assert main(["reproduce", str(files["cat"]), "--effect", str(effect),
                 "-o", str(tmp_path / "a"), *TODAY]) == 0  # fmt: skip
    recipe = tmp_path / "a" / "recipe.json"
    saved = recipe.read_bytes()
    assert main(["reproduce", str(files["rocket"]), "--recipe", str(recipe),
                 "-o", str(tmp_path / "a"), *TODAY]) == 1  # fmt: skip
    assert "holds inputs" in capsys.readouterr().err
    assert recipe.read_bytes() == saved


def test_verify_seeded_flux_agrees(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", "a red kite", "-m", "openai:flux-dev", "--trials", "3", "--seed", "5"]
    code = main([*args, *TODAY])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "agrees with the matrix: the results are identical" in out.out
    assert "3 calls" in out.err


def test_verify_gemini_varies_as_the_matrix_says(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", "a red kite", "-m", "gemini:gemini-3-pro-image", "-k", "3", "--json"]
    code = main([*args, *TODAY])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (data["expected"], data["observed"], data["agrees"]) == ("none", "varies", True)
    assert data["unique_outputs"] == 3 and data["structural_mean"] > 0


def test_verify_refuses_a_seed_on_gemini_before_sending(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", "x", "-m", "gemini:gemini-3-pro-image", "--seed", "1", *TODAY])
    err = capsys.readouterr().err
    assert code == 1 and "best-effort" in err
    # The command line's way to send it anyway is the flag, not the Python keyword.
    assert "--seed-policy best_effort" in err and "seed_policy=" not in err
    assert emu.requests == []


def _anchored(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "reproduce", str(files["cat"]), "--original", str(files["original"]),
        "--approved", str(files["approved"]), "--model", "gemini:gemini-3-pro-image",
        "-o", str(out), *extra, *TODAY,
    ]  # fmt: skip


def test_reproduce_refuses_a_plan_over_its_budget(
    emu: Emulator, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(_anchored(files, out, "--best-of", "4", "--budget", "0.10")) == 1
    err = capsys.readouterr().err
    assert "BudgetExceededError" in err and "over --budget $0.1000" in err
    assert emu.requests == [] and not out.exists()


def test_reproduce_shows_progress_and_exits_1_when_a_candidate_was_blocked(
    emu: Emulator, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.gemini.block_next()
    out = tmp_path / "out"
    assert main(_anchored(files, out, "--best-of", "2")) == 1
    err = capsys.readouterr().err
    assert "seedless reproduce: 2/2 call (100%)" in err  # lines, as stderr is no terminal
    assert "cat.png: 1 of 2 candidate(s) made it; 1 ContentBlockedError" in err
    assert (out / "cat.png").exists() and (out / "recipe.json").exists()
