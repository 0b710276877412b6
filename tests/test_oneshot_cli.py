"""`seedless generate` and `seedless edit` against the emulator: images written, every call
in the calls ledger (unless --no-log), refusals before anything is sent."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from seedless.cli import main
from seedless.cli._calllog import ledger_path
from seedless.testing import Emulator

TODAY = ["--today", "2026-11-25"]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator() as emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        yield emulator


def calls() -> list[dict[str, object]]:
    with sqlite3.connect(ledger_path()) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM calls ORDER BY id")]


def test_generate_writes_the_image_and_logs_the_call(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fox.png"
    # OPENAI_BASE_URL points at the emulator, a relay: openai:flux-dev is served as relay's
    args = ["generate", "a red fox", "-m", "openai:flux-dev", "--seed", "7", "-o", str(out)]
    args += TODAY
    assert main(args) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out) and "1 image(s) from openai:flux-dev" in printed.err
    with Image.open(out) as image:
        assert image.format == "PNG"
    [row] = calls()
    assert (row["command"], row["model"], row["prompt"], row["seed"]) == (
        "generate", "openai:flux-dev", "a red fox", 7,
    )  # fmt: skip
    assert row["status"] == "done" and row["images"] == 1 and row["cost_usd"] == 0.02
    assert json.loads(str(row["outputs"])) == [str(out)]
    assert main([*args, "--no-log", "-o", str(tmp_path / "again.png")]) == 0
    assert len(calls()) == 1
    capsys.readouterr()
    assert main(["ledger", "calls"]) == 0
    listed = capsys.readouterr().out
    assert "generate openai:flux-dev  1 image(s) $0.0200  done  'a red fox'" in listed
    assert str(out) in listed


def test_generate_into_a_folder_with_several_images(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    args = ["generate", "a kite", "-m", "openai:flux-dev", "-n", "2", "--seed", "1", "--json"]
    assert main([*args, "-o", str(folder), *TODAY]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {Path(r["path"]).parent for r in rows} == {folder}
    assert len({r["sha256"] for r in rows}) == 2  # two seeds, two images


def test_a_refusal_is_in_flag_words_sends_nothing_and_logs_nothing(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", "x", "-m", "gemini:gemini-3-pro-image", "--seed", "1", *TODAY]
    assert main([*args, "-o", str(tmp_path)]) == 1
    assert "pass --seed-policy best_effort" in capsys.readouterr().err
    assert main(["generate", "x", "-m", "openai:flux-dev", "--budget", "0.01",
                 "-o", str(tmp_path), *TODAY]) == 1  # fmt: skip
    assert "over --budget" in capsys.readouterr().err
    assert emu.requests == [] and not ledger_path().exists()


def test_a_failed_call_is_logged_as_such(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.openai.block_next()
    args = ["generate", "x", "-m", "openai:flux-dev", "-o", str(tmp_path), *TODAY]
    assert main(args) == 1
    assert "ContentBlockedError" in capsys.readouterr().err
    [row] = calls()
    assert row["status"] == "error" and row["error_class"] == "ContentBlockedError"


def test_edit_with_a_model_and_with_an_exact_effect(
    emu: Emulator, tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "edited.jpg"
    args = ["edit", str(photos[0]), "make it moody", "-m", "gemini:gemini-3-pro-image"]
    assert main([*args, "-o", str(out), *TODAY]) == 0
    assert out.exists() and len(emu.gemini.requests) == 1
    exact = tmp_path / "exact.png"
    assert main(["edit", str(photos[0]), "--brightness", "0.8", "-o", str(exact)]) == 0
    assert exact.exists()
    rows = calls()
    assert [r["model"] for r in rows] == ["gemini:gemini-3-pro-image", "local:pillow"]
    assert rows[0]["prompt"] == "make it moody" and rows[1]["cost_usd"] == 0.0
    assert json.loads(str(rows[0]["inputs"]))[0]["name"] == photos[0].name
    capsys.readouterr()
    assert main(["edit", str(photos[0]), "make it moody", "-o", str(tmp_path)]) == 1
    assert "-m PROVIDER:MODEL" in capsys.readouterr().err
