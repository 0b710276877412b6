"""Odd entries in a folder, end to end through the command line: file names that are not
UTF-8, a folder, a dangling link, a text file and a FIFO named like images. Each bad entry is
reported by name and the rest runs; nothing hangs; the ledger and its exports keep the names."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from _imagebytes import photo
from seedless import ImageInput
from seedless.batch.ledger import LEDGER_NAME
from seedless.testing import Emulator

LATIN1 = b"caf\xe9.jpg"  # "café.jpg" written by a Latin-1 system: not UTF-8


def _seedless(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")  # strict, as in a UTF-8 terminal
    command = [sys.executable, "-m", "seedless", *map(str, args)]
    return subprocess.run(command, capture_output=True, timeout=60, env=env)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    photos = tmp_path / "in"
    photos.mkdir()
    for name in (LATIN1, b"ok.jpg"):
        Image.new("RGB", (16, 12), (120, 80, 40)).save(
            os.fsdecode(os.fsencode(photos) + b"/" + name)
        )
    (photos / "album.jpg").mkdir()
    (photos / "gone.jpg").symlink_to(photos / "nowhere.jpg")
    (photos / "notes.jpg").write_text("not a photo")
    if hasattr(os, "mkfifo"):
        os.mkfifo(photos / "pipe.jpg")
    return photos


def test_batch_reports_each_bad_entry_runs_the_rest_and_keeps_odd_names(
    folder: Path, tmp_path: Path
) -> None:
    look = tmp_path / "look.json"
    look.write_text('{"kind": "adjust", "brightness": 1.1}')
    out = tmp_path / "out"
    run = _seedless("batch", folder, "-o", out, "--effect", look, "--no-cache")
    assert run.returncode == 1, run.stderr  # some jobs failed
    assert b"Traceback" not in run.stderr
    assert (os.fsencode(out) + b"/" + LATIN1) in [os.fsencode(p) for p in out.iterdir()]
    assert (out / "ok.jpg").is_file()
    conn = sqlite3.connect(out / LEDGER_NAME)
    rows = dict(conn.execute("SELECT CAST(job_id AS BLOB), status FROM jobs").fetchall())
    errors = " ".join(m for (m,) in conn.execute("SELECT error_message FROM jobs") if m)
    conn.close()
    assert rows[b"ok.jpg"] == "done" and sorted(rows.values()).count("done") == 2
    for name in ("album.jpg", "gone.jpg", "notes.jpg", "pipe.jpg"):
        assert rows.get(name.encode()) == "failed", rows
    assert "is a folder" in errors and "No such file" in errors and "FIFO" in errors
    exported = _seedless("ledger", "export", out, "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    assert LATIN1 in exported.stdout  # the name as its own bytes, as ls prints it
    assert _seedless("ledger", "show", out).returncode == 0
    again = _seedless("batch", folder, "-o", out, "--effect", look, "--no-cache", "--quiet")
    assert again.returncode == 1 and b"Traceback" not in again.stderr


def test_apply_skips_bad_entries_by_name_and_never_blocks_on_a_fifo(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "applied"
    run = _seedless("apply", folder, "-o", out, "--brightness", "1.1", "--quiet")
    assert run.returncode == 1  # the bad files are reported, the rest is written
    assert b"notes.jpg" in run.stderr and b"pipe.jpg" in run.stderr
    assert (out / "ok.jpg").is_file()
    assert len([p for p in out.iterdir() if p.suffix == ".jpg"]) == 2


def test_an_openai_style_edit_uploads_a_non_utf8_name(seedless_emulator: Emulator) -> None:
    raw = ImageInput(data=photo(), mime_type="image/jpeg", name=os.fsdecode(LATIN1))
    with seedless_emulator.client() as client:  # httpx's multipart code raised on it
        out = client.edit(raw, "make it moody", model="openai:gpt-image-2")
    assert out.image.data
    (upload,) = seedless_emulator.openai.requests
    assert upload.path == "/v1/images/edits"
