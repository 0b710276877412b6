"""The command speaks in flags: one vocabulary, refusals that name flags that exist,
"did you mean", and -v logging of every wire call with secrets redacted."""

from __future__ import annotations

import argparse
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedless.cli import build_parser, main
from seedless.cli._options import FLAGS, JOB_FIELDS
from seedless.testing import Emulator

SRC = Path(__file__).resolve().parents[1] / "src" / "seedless"
TODAY = ["--today", "2026-11-25"]
IMAGEN = "vertex:imagen-4.0-generate-001"  # retired on 2026-08-17
#: Subcommands that send requests to models: each takes the request policy flags.
SENDING = ("generate", "edit", "reproduce", "verify", "batch")
#: A Python keyword argument in a message (``allow_retired=True``, ``model='...'``).
KEYWORD = re.compile(r"\b[a-z]+_?[a-z_]*=(True|False|'|\")")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    found = {s for a in parser._actions for s in a.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= flags_of(sub)
    return found


def assert_speaks_flags(command: str, text: str) -> None:
    """Every --flag in ``text`` exists on ``command``, and no Python keyword is suggested."""
    known = flags_of(subcommands()[command])
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert named <= known, f"{command} names flags it lacks: {named - known}"
    assert not KEYWORD.search(text), f"{command} speaks Python: {KEYWORD.search(text)}"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator() as emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SEEDLESS_CACHE_DIR", str(tmp_path / "cache"))
        yield emulator


# ---------------------------------------------------------------------- the vocabulary


def test_every_remedy_in_the_library_has_a_flag() -> None:
    settings = set()
    for path in SRC.rglob("*.py"):
        for call in re.findall(r'Remedy\(\s*"[^"]*",([^)]*)\)', path.read_text()):
            settings |= set(re.findall(r"\b([a-z_]+)=", call))
    assert settings and settings <= set(FLAGS), settings - set(FLAGS)
    assert set(FLAGS) >= JOB_FIELDS


@pytest.mark.parametrize("command", SENDING)
def test_commands_that_send_requests_share_the_request_flags(command: str) -> None:
    flags = flags_of(subcommands()[command])
    assert {"--allow-retired", "--seed-policy", "--budget", "-m", "--model"} <= flags
    assert command == "verify" or "-o" in flags  # verify measures; it writes nothing


def test_one_word_per_meaning_across_subcommands() -> None:
    for name, parser in subcommands().items():
        for action in parser._actions:
            strings = set(action.option_strings)
            if "-o" in strings:
                assert action.dest == "out" and "--out" in strings, name
            if "--size" in strings:
                assert "size" in (action.help or "") and "image" in (action.help or ""), name
            if "-m" in strings:
                assert action.dest == "model", name
            if "-n" in strings:  # how many (images, rows); candidates are --best-of
                assert action.dest == "n" and "candidate" not in (action.help or ""), name
        flags = flags_of(parser)
        assert not flags & {"--output", "--instruction"}, name


def test_a_mistyped_subcommand_or_flag_gets_did_you_mean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["aply"])
    assert exited.value.code == 2
    assert "did you mean apply" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["apply", str(tmp_path), "-o", str(tmp_path / "o"), "--brigthness", "0.8"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --brigthness" in err and "did you mean --brightness" in err
    assert err.startswith("usage: seedless apply")
    with pytest.raises(SystemExit):
        main(["ledger", "export", "out", "--format", "jsn"])
    assert "did you mean jsonl" in capsys.readouterr().err


# ---------------------------------------------------------------------- refusals in flags


def test_a_retired_model_refused_in_flag_words_then_run_with_allow_retired(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", "a red kite", "-m", IMAGEN, "--seed", "5", "-k", "2", *TODAY]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "pass --allow-retired" in err
    assert_speaks_flags("verify", err)
    assert emu.requests == []
    with warnings.catch_warnings():  # google-genai's generate_images, said once a process
        warnings.simplefilter("ignore", DeprecationWarning)
        assert main([*args, "--allow-retired"]) == 0
    assert len(emu.vertex.requests) == 2


def test_batch_names_the_flag_and_the_job_field_and_takes_either(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    job = {"id": "kite", "model": IMAGEN, "prompt": "a kite", "seed": 3}
    jobs.write_text(json.dumps(job) + "\n")
    out = tmp_path / "out"
    assert main(["batch", str(jobs), "-o", str(out), "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert '--allow-retired (or "allow_retired": true in a job file)' in shown
    assert_speaks_flags("batch", shown)
    jobs.write_text(json.dumps({**job, "allow_retired": True}) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert main(["batch", str(jobs), "-o", str(out), "--quiet"]) == 0
    assert len(emu.vertex.requests) == 1


def test_reproduce_without_a_model_names_the_flag(
    tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image, ImageDraw

    approved = tmp_path / "approved.png"
    with Image.open(photos[0]) as image:
        edited = image.convert("RGB")
    ImageDraw.Draw(edited).ellipse((10, 10, 60, 60), fill=(230, 40, 40))  # content, not colour
    edited.save(approved)
    args = ["reproduce", str(photos[1]), "--original", str(photos[0]), "--approved"]
    assert main([*args, str(approved), "-o", str(tmp_path / "out"), *TODAY]) == 1
    err = capsys.readouterr().err
    assert "--model provider:model" in err
    assert_speaks_flags("reproduce", err)


def test_a_best_effort_seed_names_the_seed_policy_flag(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "x", "-m", "gemini:gemini-3-pro-image", "--seed", "1", *TODAY]) == 1
    err = capsys.readouterr().err
    assert "pass --seed-policy best_effort" in err
    assert_speaks_flags("verify", err)


def test_a_missing_key_and_a_missing_effect_are_named_in_flag_words(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    photos: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["generate", "x", "-m", "openai:gpt-image-2", "-o", str(tmp_path), *TODAY]) == 1
    err = capsys.readouterr().err
    assert "Set OPENAI_API_KEY" in err and "[[endpoint]] table" in err
    assert "--model local:pillow" in err
    assert_speaks_flags("generate", err)
    assert main(["verify", "x", "-m", "local:pillow", "--image", str(photos[0])]) == 1
    err = capsys.readouterr().err
    assert "Pass --effect FILE (or Adjust flags such as --brightness 0.85)" in err
    assert_speaks_flags("verify", err)


def test_a_folder_edit_without_a_prompt_names_the_flag_and_the_field(
    emu: Emulator, tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["batch", str(photos[0]), "-o", str(tmp_path / "out"), "-m", "nano-banana-pro"]
    assert main([*args, "--dry-run", *TODAY[:0]]) == 0
    shown = capsys.readouterr().out
    assert '--prompt TEXT (or "prompt": ... in a job file)' in shown
    assert_speaks_flags("batch", shown)


# ---------------------------------------------------------------------- batch and verify


def test_batch_with_a_mistyped_model_fails_before_creating_anything(
    tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["batch", str(photos[0].parent), "-o", str(out), "-m", "flux-devv", "--prompt", "x"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Unknown model 'flux-devv'" in err and "flux-dev" in err
    assert not out.exists()


def test_batch_takes_adjust_flags_and_several_inputs(
    tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    first, second = photos[0], photos[1]
    args = ["batch", str(first), str(second), "-o", str(out), "--brightness", "0.8"]
    assert main([*args, "--no-cache", "--quiet"]) == 0
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "seedless-")))
    assert written == sorted([first.name, second.name])
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("")
    assert main(["batch", str(jobs), "-o", str(out), "--brightness", "0.8"]) == 1
    assert "--brightness" in capsys.readouterr().err


def test_verify_refuses_to_cross_its_budget(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", "a kite", "-m", "openai:flux-dev", "--seed", "1", "-k", "3", *TODAY]
    assert main([*args, "--budget", "0.05"]) == 1  # 3 x $0.02
    err = capsys.readouterr().err
    assert "BudgetExceededError" in err and "--budget" in err
    assert emu.requests == []


# ---------------------------------------------------------------------- -v


def test_verbose_logs_every_wire_call_and_retry_without_secrets(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.openai.fail_next(429, retry_after=0)
    args = ["-v", "verify", "a kite", "-m", "openai:flux-dev", "--seed", "1", "-k", "2", *TODAY]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("HTTP Request: POST") == 3  # two calls and one retry
    assert "retry openai:flux-dev after RateLimitError" in err
    assert err.count("openai:flux-dev call") == 2
    assert emu.openai.api_key not in err
    # the logging ends with the command
    assert main(args[1:]) == 0
    assert "HTTP Request" not in capsys.readouterr().err
