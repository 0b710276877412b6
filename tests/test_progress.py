"""Progress: a bar on a terminal and in Jupyter, plain lines in a log (CI, ``> log 2>&1``)."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pytest

from seedless.batch.progress import Progress
from seedless.cli import main


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_batch_logs_plain_lines_not_bar_redraws() -> None:
    log = io.StringIO()  # not a terminal
    progress = Progress(100, desc="seedless batch r", file=log)
    for i in range(100):
        if i % 10 == 3:
            progress.job_failed()
        else:
            progress.job_done(0.01, cached=False)
    progress.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= 11  # about one a tenth of the way, and the last
    assert lines[-1].startswith("seedless batch r: 100/100 job (100%)")
    assert lines[-1].endswith("done=90 failed=10 cost=$0.90")


def test_a_bar_on_a_terminal_and_in_jupyter(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    progress = Progress(3, file=terminal)
    progress.job_done(0.02, cached=False)
    progress.close()
    assert "\r" in terminal.getvalue() and "1/3" in terminal.getvalue()
    # in a notebook stderr is no terminal, yet the bar (a widget) is what is wanted
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    ipython = types.ModuleType("IPython")
    kernel = types.SimpleNamespace(config={"IPKernelApp": {}})
    ipython.get_ipython = lambda: kernel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    notebook = io.StringIO()
    progress = Progress(3, file=notebook)
    progress.job_done(0.02, cached=False)
    progress.close()
    assert "\r" in notebook.getvalue()


def test_lines_in_a_log_come_every_interval_without_a_total() -> None:
    from seedless._progress import _Lines

    now = [0.0]
    log = io.StringIO()
    lines = _Lines(None, desc="d", unit="job", file=log, interval=30.0, clock=lambda: now[0])
    for t in (1.0, 10.0, 29.0, 31.0, 40.0, 62.0):
        now[0] = t
        lines.update(1)
    lines.set_postfix_str("done=6")
    lines.close()
    assert log.getvalue().splitlines() == [
        "d: 4 job, 31s",
        "d: 6 job, 1m02s",
        "d: 6 job, 1m02s, done=6",
    ]


def test_apply_logs_plain_lines_too(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(p) for p in photos]
    assert main(["apply", *args, "-o", str(tmp_path), "--brightness", "0.9", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert f"seedless apply: {len(photos)}/{len(photos)} img (100%)" in err
