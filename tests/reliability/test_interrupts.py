"""Ctrl-C, twice: the command exits 130, promptly, and leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forked workers: Linux only")


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_a_double_ctrl_c_in_apply_exits_130_without_orphan_workers(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    noise = Image.effect_noise((1200, 900), 60).convert("RGB")
    for i in range(80):
        noise.save(photos / f"p{i:03d}.jpg", quality=92)
    command = [sys.executable, "-m", "seedless", "apply", str(photos), "--brightness", "1.1"]
    for round_, gap in enumerate((0.0, 0.002, 0.005, 0.01, 0.02, 0.05)):
        out = tmp_path / f"out{round_}"
        process = subprocess.Popen(
            [*command, "-o", str(out), "-j", "2", "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: workers left behind show there
        )
        while not out.exists() or not any(out.iterdir()):  # working: some files written
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        time.sleep(gap)
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=30)
        finally:
            if _alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)  # only this test's own processes
        assert process.returncode == 130, (gap, err)
        deadline = time.monotonic() + 5
        while _alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(process.pid), f"worker processes outlived the command (gap {gap})"
        assert not list(out.glob(".*.tmp"))
