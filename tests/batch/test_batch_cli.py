"""``seedless batch`` and ``seedless ledger``: folder + effect, JSONL against the emulator."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedless import Adjust
from seedless.cli import main
from seedless.testing import Emulator


@pytest.fixture
def emulated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator() as emu:
        env = emu.env()
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.setenv(name, env[name])
        monkeypatch.setenv("SEEDLESS_CACHE_DIR", str(tmp_path / "cache"))
        yield emu


def test_folder_with_an_effect_then_resume_and_ledger(
    tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    effect = tmp_path / "look.json"
    effect.write_text(Adjust(brightness=0.8).model_dump_json())
    out = tmp_path / "out"
    args = ["batch", str(photos[0].parent), "-o", str(out), "--effect", str(effect), "--no-cache"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "estimate:" in err and f"{len(photos)} done" in err
    assert sorted(
        p.name for p in out.iterdir() if not p.name.startswith((".", "seedless-"))
    ) == sorted(p.name for p in photos)
    assert main([*args, "--quiet"]) == 0  # resume: nothing to do
    capsys.readouterr()

    assert main(["ledger", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert f"run out: {len(photos)} job(s) (done {len(photos)})" in shown and "$0.0000" in shown
    assert main(["ledger", "show", "out", "--dir", str(out)]) == 0  # a run by name
    capsys.readouterr()
    assert main(["ledger", "show", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["by_status"] == {"done": len(photos)}

    assert main(["ledger", "export", str(out), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(photos) and {r["status"] for r in rows} == {"done"}
    assert main(["ledger", "export", str(out), "--attempts", "-o", str(tmp_path / "a.jsonl")]) == 0
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == len(photos) and json.loads(lines[0])["outcome"] == "done"
    assert main(["ledger", "runs", str(out)]) == 0
    assert capsys.readouterr().out.startswith("out\t")
    # a mistyped folder is named in the error, not taken silently for a run name in "."
    missing = str(tmp_path / "oot")
    assert main(["ledger", "show", missing, "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert missing in err and "no such folder" in err


def test_refuses_to_write_over_its_inputs(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / photos[0].name).write_bytes(photos[0].read_bytes())
    assert main(["batch", str(folder), "-o", str(folder), "--model", "local:pillow"]) == 1
    assert "over their inputs" in capsys.readouterr().err
    assert main(["batch", str(folder), "-o", str(tmp_path / "o")]) == 1
    assert "say what to do" in capsys.readouterr().err


def test_jsonl_against_the_emulator_with_budget_price_and_failures(
    emulated_env: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"fox-{i}",
                    "model": "openai:flux-dev",
                    "prompt": f"fox {i}",
                    "seed": i,
                    "size": "512x512",
                }
            )
            + "\n"
            for i in range(6)
        )
    )
    out = tmp_path / "out"
    # a relay's price, a dry run first: nothing is sent
    common = ["batch", str(jobs), "-o", str(out), "--price", "openai:flux-dev=0.01"]
    assert main([*common, "--dry-run"]) == 0
    assert "$0.0600" in capsys.readouterr().out and not emulated_env.openai.requests
    # a budget for four: it stops before the fifth
    assert main([*common, "--budget", "0.04", "-j", "2", "--quiet"]) == 1
    assert len(emulated_env.openai.requests) == 4
    # raise it and resume; one job is blocked by the safety filter and recorded as such
    emulated_env.openai.block_next()
    assert main([*common, "--budget", "1", "--quiet"]) == 1
    capsys.readouterr()
    assert main(["ledger", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "done 5" in shown and "ContentBlockedError: 1" in shown and "$0.0500" in shown
    # resuming leaves the blocked job failed: the batch is still not complete
    assert main([*common, "--budget", "1", "--quiet"]) == 1
    # the same jobs into another folder: the five made before come from the cache
    sent = len(emulated_env.openai.requests)
    assert main(["batch", str(jobs), "-o", str(tmp_path / "again"), "--quiet"]) == 0
    assert len(emulated_env.openai.requests) == sent + 1  # only the one never made was sent


def test_csv_export_of_a_run_without_rows_still_has_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seedless.batch import Ledger

    with Ledger.open(tmp_path) as ledger:
        ledger.begin_run("empty", str(tmp_path), budget=None)
    for extra, column in (([], "job_id"), (["--attempts"], "outcome")):
        assert main(["ledger", "export", str(tmp_path), "--format", "csv", *extra]) == 0
        header = next(csv.reader(io.StringIO(capsys.readouterr().out)), [])
        assert column in header and "run" in header


def test_seed_policy_lets_a_batch_send_seeds_to_best_effort_models(
    emulated_env: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in emulated_env.env().items():
        monkeypatch.setenv(name, value)
    jobs = tmp_path / "jobs.jsonl"
    job = {"id": "kite", "model": "gemini:gemini-nano-banana-2.1", "prompt": "a kite", "seed": 3}
    jobs.write_text(json.dumps(job) + "\n")
    common = ["batch", str(jobs), "-o", str(tmp_path / "out"), "--dry-run"]
    assert main(common) == 0  # the estimate lists the refusal, in the command's words
    shown = capsys.readouterr().out
    assert "--seed-policy best_effort" in shown and "seed_policy=" not in shown
    assert main([*common[:-1], "--seed-policy", "best_effort", "--quiet"]) == 0
    assert emulated_env.gemini.requests[-1].body["generationConfig"]["seed"] == 3


def test_provider_engine_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--engine provider --no-wait submits, --status shows, the same command collects,
    ``ledger show`` lists the provider batches; jobs no engine takes are refused."""
    with Emulator() as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        emu.gemini.batches.engine.schedule.pending = 0.3
        jobs = tmp_path / "jobs.jsonl"
        lines = [{"id": f"fox-{i}", "model": "gemini:gemini-3-pro-image", "prompt": f"fox {i}"}
                 for i in range(3)]  # fmt: skip
        jobs.write_text("".join(json.dumps(line) + "\n" for line in lines))
        out = tmp_path / "out"
        common = ["batch", str(jobs), "-o", str(out), "--engine", "provider", "--no-cache",
                  "--poll-interval", "0.02"]  # fmt: skip
        assert main([*common, "--no-wait"]) == 1  # submitted, not yet collected
        err = capsys.readouterr().err
        assert "3 job(s) submitted now in 1 provider batch" in err and "[batch]" in err
        assert main(["batch", "--status", "-o", str(out)]) == 0
        shown = capsys.readouterr().out
        assert "batches/" in shown and "3 job(s) waiting" in shown
        assert main(common) == 0
        assert sorted(p.name for p in out.glob("*.png")) == ["fox-0.png", "fox-1.png", "fox-2.png"]
        assert main(["ledger", "show", str(out)]) == 0
        shown = capsys.readouterr().out
        assert "provider batches" in shown and "collected" in shown
        flux = tmp_path / "flux.jsonl"
        flux.write_text(json.dumps({"model": "openai:flux-dev", "prompt": "x", "seed": 1}) + "\n")
        assert main(["batch", str(flux), "-o", str(tmp_path / "o2"), "--engine", "provider"]) == 1
        assert "--engine auto" in capsys.readouterr().err
        assert len(emu.gemini.batches.created) == 1
