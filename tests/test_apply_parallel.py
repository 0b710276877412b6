"""`seedless apply` over worker processes: pool choice, identical bytes, dead workers, Ctrl-C.

The fork path only runs in a process with no other thread, and pytest's process has numpy's
BLAS pool by now, so those checks run `seedless apply` in a fresh interpreter, as users do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

import seedless
from seedless._parallel import InlineExecutor, can_fork, cpu_pool, os_threads
from seedless.cli import main

SRC = Path(seedless.__file__).resolve().parents[1]


DROPPED = {"PILLOW_BLOCKS_MAX", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env={k: v for k, v in os.environ.items() if k not in DROPPED} | {"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def many_photos(photos: list[Path], folder: Path, count: int) -> Path:
    folder.mkdir()
    jpegs = [p for p in photos if p.suffix == ".jpg"]
    for i in range(count):
        source = jpegs[i % len(jpegs)]
        (folder / f"{source.stem}-{i:03d}.jpg").write_bytes(source.read_bytes())
    return folder


# ------------------------------------------------------------------------------ the pool


def test_one_worker_or_one_task_runs_inline() -> None:
    seen: list[int] = []
    for jobs, tasks in ((1, 5), (4, 1)):
        pool = cpu_pool(jobs, tasks, initializer=seen.append, initargs=(jobs,))
        assert isinstance(pool, InlineExecutor)
        with pool:
            assert pool.submit(pow, 2, 10).result() == 1024
            assert isinstance(pool.submit(int, "x").exception(), ValueError)
    assert seen == [1, 4]


def test_a_process_running_threads_gets_a_thread_pool() -> None:
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert not can_fork()
        with cpu_pool(2, 8) as pool:
            assert isinstance(pool, ThreadPoolExecutor)
            assert sorted(pool.map(abs, [-1, -2])) == [1, 2]
    finally:
        stop.set()
        helper.join()


def test_a_single_threaded_process_forks_workers_with_their_setup() -> None:
    result = run_python(
        """
        import os, threading
        from PIL import Image
        from seedless._parallel import can_fork, cpu_pool, os_threads, PILLOW_BLOCKS
        from concurrent.futures import ProcessPoolExecutor

        def probe(_):
            import numpy  # imported after the fork: one BLAS thread, not a pool per worker
            return os.getpid(), Image.core.get_blocks_max(), len(os.listdir("/proc/self/task"))

        assert os_threads() == 1 and can_fork()
        with cpu_pool(2, 4) as pool:
            assert isinstance(pool, ProcessPoolExecutor)
            answers = list(pool.map(probe, range(4)))
        assert all(pid != os.getpid() for pid, _, _ in answers)
        assert {blocks for _, blocks, _ in answers} == {PILLOW_BLOCKS}
        assert {threads for _, _, threads in answers} == {1}
        assert Image.core.get_blocks_max() != PILLOW_BLOCKS  # the caller's is left alone
        threading.Thread(target=lambda: None).start()
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_native_threads_count_too() -> None:
    # numpy's BLAS pool is invisible to `threading` but not to fork: can_fork follows the OS.
    assert can_fork() == (threading.active_count() == 1 and os_threads() == 1)
    if sys.platform.startswith("linux"):
        assert os_threads() == len(os.listdir("/proc/self/task"))


# ------------------------------------------------------------------------------ the command


def test_processes_write_the_same_bytes_as_one_worker(photos: list[Path], tmp_path: Path) -> None:
    folder = many_photos(photos, tmp_path / "in", 6)
    result = run_python(
        """
        import sys
        from seedless._parallel import can_fork
        from seedless.cli import main
        from seedless.cli.apply import _preload

        _preload()
        assert can_fork(), "the command's own imports must not start a thread"
        folder, out = sys.argv[1], sys.argv[2]
        flags = ["--brightness", "0.85", "--contrast", "1.15", "--saturation", "1.2",
                 "--warmth", "0.2", "--quiet"]
        assert main(["apply", folder, "-o", out + "/two", "--jobs", "2", *flags]) == 0
        assert main(["apply", folder, "-o", out + "/one", "--jobs", "1", *flags]) == 0
        assert "numpy" not in sys.modules, "the colour path must not start numpy's threads"
        """,
        str(folder),
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == names
    for name in names:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_an_unreadable_file_is_named_and_the_others_are_written(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = many_photos(photos, tmp_path / "in", 4)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    out = tmp_path / "out"
    assert main(["apply", str(folder), "-o", str(out), "--contrast", "1.1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "failed" in err and "broken.jpg" in err and "cannot be read" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in folder.iterdir() if p.name != "broken.jpg"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["apply", "{p}", "-o", "{o}", "--brightness", "20"], "brightness"),
        (["apply", "{p}", "-o", "{o}", "--effect", "{bad}"], "bad.json: brightness"),
        (["apply", "{no}", "-o", "{o}", "--brightness", "2"], "no such file or folder"),
        (["fit", "{p}", "{p}", "-o", "{o}/look.cube", "--points", "99"], "2..65"),
        (
            ["fit", "{p}", "{p}", "-o", "{o}/l.cube", "--apply", "{no}", "--apply-out", "{o}"],
            "no such",
        ),
    ],
)
def test_bad_arguments_are_reported_not_raised(
    photos: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    words: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "adjust", "brightness": 99}')
    names = {"p": photos[0], "o": tmp_path / "out", "bad": bad, "no": tmp_path / "missing"}
    assert main([arg.format(**names) for arg in args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seedless: ") and words in err


def test_two_runs_at_once_in_one_process_keep_their_own_effects(
    photos: list[Path], tmp_path: Path
) -> None:
    folder = many_photos(photos, tmp_path / "in", 8)
    runs = {"dark": "0.6", "bright": "1.4"}

    def apply(name: str, out: Path) -> int:
        return main(["apply", str(folder), "-o", str(out), "--brightness", runs[name], "--quiet"])

    for name in runs:  # one after the other: the reference
        assert apply(name, tmp_path / f"{name}-alone") == 0
    results: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda n=name: results.update({n: apply(n, tmp_path / n)}))
        for name in runs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"dark": 0, "bright": 0}
    for name in runs:
        for photo in folder.iterdir():
            alone = (tmp_path / f"{name}-alone" / photo.name).read_bytes()
            assert (tmp_path / name / photo.name).read_bytes() == alone


def test_a_dead_worker_fails_its_files_and_keeps_the_rest(
    photos: list[Path], tmp_path: Path
) -> None:
    folder = many_photos(photos, tmp_path / "in", 12)
    out = tmp_path / "out"
    result = run_python(
        """
        import os, sys
        import seedless.cli.apply as apply
        from seedless.cli import main

        real = apply._apply_one

        def dies_on_the_rocket(run, source, target, mime):
            if source.name == "rocket-011.jpg":
                os._exit(3)  # a crash in a decoder, or the OOM killer
            return real(run, source, target, mime)

        apply._apply_one = dies_on_the_rocket
        sys.exit(main(["apply", sys.argv[1], "-o", sys.argv[2], "--brightness", "0.9",
                       "--jobs", "2", "--quiet"]))
        """,
        str(folder),
        str(out),
    )
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("seedless: failed")]
    assert failed and all("a worker process died" in line for line in failed)
    assert any("rocket-011.jpg" in line for line in failed)
    written = {p.name for p in out.iterdir()}
    assert not any(name.endswith(".tmp") for name in written)
    assert len(written) + len(failed) == 12 and "rocket-011.jpg" not in written
    for name in written:
        with Image.open(out / name) as image:
            image.load()  # every file written is whole


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_ctrl_c_stops_the_run_and_leaves_only_whole_files(
    photos: list[Path], tmp_path: Path
) -> None:
    folder = many_photos(photos, tmp_path / "in", 120)
    out = tmp_path / "out"
    script = textwrap.dedent(
        """
        import sys, time
        import seedless.cli.apply as apply
        from seedless.cli import main

        real = apply._apply_one

        def slow(run, source, target, mime):
            time.sleep(0.05)
            return real(run, source, target, mime)

        apply._apply_one = slow
        sys.exit(main(["apply", sys.argv[1], "-o", sys.argv[2], "--gamma", "1.2",
                       "--jobs", "2", "--quiet"]))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder), str(out)],
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list(out.glob("*.jpg"))) < 4:
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C does: the parent and its workers
        started = time.monotonic()
        _, err = child.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        if child.poll() is None:  # pragma: no cover - only if the child hung
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    assert child.returncode == 130 and "interrupted" in err
    assert "Traceback" not in err  # no worker printed a KeyboardInterrupt of its own
    assert stopped_in < 5
    written = sorted(out.iterdir())
    # only the files in hand when Ctrl-C came were finished; the rest were never started
    assert 4 <= len(written) < 20 and not [p for p in written if p.suffix == ".tmp"]
    for path in written:
        with Image.open(path) as image:
            image.load()
