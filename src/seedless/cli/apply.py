"""``seedless apply``: exact local edits on files or folders, in parallel, written atomically."""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from .._progress import progress_bar
from ..errors import ConfigurationError, SeedlessError
from ..images import extension_for, remove_temp_files, write_atomic
from ..models import ImageInput
from ..providers.local import apply_effect_bytes
from ._options import add_adjust_flags, add_out
from ._options import effect_from_args as shared_effect_from_args

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="Apply an exact edit (Adjust flags, a saved effect or a .cube) to photos.",
        description="Apply an exact, bit-identical edit to image files or folders with the "
        "local Pillow provider: no keys, no network, no cost. Outputs keep format, EXIF, ICC "
        "profile, XMP, PNG text, JPEG comment and alpha, are written atomically, and never "
        "replace an input.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    add_out(parser, "output folder")
    parser.add_argument("--effect", type=Path, help="effect file: .json (Adjust/fitted) or .cube")
    parser.add_argument(
        "--interp",
        choices=["tetrahedral", "trilinear"],
        help="how a .cube LUT's 3D table is interpolated (default: tetrahedral, as grading "
        "tools apply LUTs; trilinear for looks seedless exported)",
    )
    add_adjust_flags(parser)
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=usable_cores(),
        help="parallel workers: processes on Linux, threads elsewhere (default: usable cores)",
    )
    parser.add_argument(
        "--format",
        choices=["keep", "jpeg", "png"],
        default="keep",
        help="output format: keep each file's own (default), or convert to jpeg or png",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def collect_inputs(paths: Iterable[Path]) -> list[Path]:
    """Image files named directly, plus those inside named folders (not recursive), sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigurationError(f"no such file or folder: {path}")
    return files


def effect_from_args(args: argparse.Namespace) -> Any:
    """The effect of ``--effect`` or the Adjust flags, with ``--interp`` for a .cube LUT."""
    if args.interp and not args.effect:
        raise ConfigurationError(
            "--interp goes with --effect LUT.cube: it sets how that LUT is interpolated"
        )
    if args.effect:
        _one_blas_thread()
    effect = shared_effect_from_args(args)
    if args.interp:
        if not hasattr(effect, "with_interpolation"):
            raise ConfigurationError(
                f"--interp applies to .cube LUTs; {args.effect} holds an effect of kind "
                f"{effect.kind!r}"
            )
        effect = effect.with_interpolation(args.interp)
    return effect


def _one_blas_thread() -> None:
    """Before an effect file is read with numpy here: no BLAS thread pool in this process.

    The workers are forked from this process, which is only done while it runs one thread
    (seedless._parallel); numpy starts its BLAS threads when imported unless told not to.
    """
    if "numpy" not in sys.modules:
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")


# The effects the workers apply, by run: installed once per worker by _install_effect (in
# a worker process, or here for threads, where two runs may share this module at once).
_EFFECTS: dict[int, Any] = {}
_RUNS = itertools.count()


def _install_effect(run: int, effect: Any) -> None:
    _EFFECTS[run] = effect


def _preload() -> None:
    """Load what the workers run, once, in this process, before they are forked from it (the
    modules they use are imported at the top of this one).

    Nothing here may start a thread (numpy would start its BLAS pool): the workers could then
    not be forked. An effect that needs numpy imports it in each worker, on its first image.
    """
    Image.preinit()  # the common format plugins (JPEG, PNG, ...)


def _apply_one(
    run: int, source: Path, target: Path, mime: str | None
) -> tuple[str | None, str | None]:
    """Edit one file into ``target``; return (why it failed, or None; a warning, or None)."""
    try:
        data = ImageInput.of(source)
        image = apply_effect_bytes(data, _EFFECTS[run], mime)
        write_atomic(str(target), image.data)
    except (SeedlessError, OSError) as exc:
        return str(exc), None
    return None, look_warning(_EFFECTS[run], source, data.data)


#: Below this share of its colours seen in the approved pair, a photo gets a warning.
COVERAGE_WARNING = 0.5
_MORE_PAIRS = "seedless fit ORIGINAL EDITED --pair BEFORE AFTER ..."


def look_warning(effect: Any, source: Path, data: bytes | None = None) -> str | None:
    """A warning when a fitted look may not hold on this photo: most of its colours are ones
    the look's pairs never showed (the look then follows its smooth model there), or its
    tonal range is much narrower than theirs (a fixed look cannot know whether the edit
    followed each photo's own levels: FittedEffect.narrow_range). None otherwise, or for
    other effects."""
    if getattr(effect, "seen", None) is None:
        return None
    try:
        with Image.open(io.BytesIO(data) if data is not None else source) as image:
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            share = effect.coverage_of(image)
            span = effect.narrow_range(image)
    except (OSError, ValueError):
        return None
    if share is not None and share < COVERAGE_WARNING:
        return (
            f"{source}: only {share:.0%} of its colours are colours the approved pair showed; "
            f"the look follows its smooth model for the rest. Check it, or fit on more pairs: "
            f"{_MORE_PAIRS}"
        )
    if span is not None:
        return (
            f"{source}: its tones span {span:.0%} of the approved photos' range. If the edit "
            "follows each photo's own levels (auto levels, normalize, sepia-tone), this photo "
            "comes out differently: check it, or add an approved pair of a photo like it: "
            f"{_MORE_PAIRS}"
        )
    return None


def run(args: argparse.Namespace) -> int:
    from .._parallel import cpu_pool  # lazy: multiprocessing, for a quick CLI start

    effect = effect_from_args(args)
    files = collect_inputs(args.inputs)
    if not files:
        raise ConfigurationError("no image files found in the inputs")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    mime = {"keep": None, "jpeg": "image/jpeg", "png": "image/png"}[args.format]
    targets = _targets(files, out_dir, mime)
    started = time.perf_counter()
    before = {t: _identity(t) for t in targets}  # to tell our outputs from earlier ones
    _preload()
    failures: list[tuple[Path, Path, str]] = []
    warnings: list[str] = []
    lost: list[tuple[Path, Path]] = []  # in a pool whose worker died: written or not?
    # Every task is submitted (the workers forked) before the bar exists, and the bar runs no
    # monitor thread: a process that runs threads is not forked (see seedless._parallel).
    run = next(_RUNS)
    pool = cpu_pool(args.jobs, len(files), initializer=_install_effect, initargs=(run, effect))
    with _forget_run(run), pool:
        futures = {
            pool.submit(_apply_one, run, s, t, mime): (s, t)
            for s, t in zip(files, targets, strict=True)
        }
        bar = progress_bar(len(files), desc="seedless apply", unit="img", enabled=not args.quiet)
        with bar, _Interrupts(pool) as interrupts:
            _collect(futures, bar, interrupts, failures, lost, warnings)
            if interrupts.interrupted:
                _stop(pool, targets, interrupts)
                raise KeyboardInterrupt
    # Every worker has exited. A file of a broken pool was either renamed into place before
    # its worker was stopped (a new file: whole) or not written at all; a temp file of a
    # worker stopped mid-write goes.
    for source, target in lost:
        remove_temp_files(target)
        now = _identity(target)
        if now is None or now == before[target]:
            failures.append((source, target, "a worker process died; the file was not written"))
    elapsed = time.perf_counter() - started
    done = len(files) - len(failures)
    if not args.quiet:
        print(f"wrote {done} image(s) to {out_dir} in {elapsed:.2f}s", file=sys.stderr)
    for warning in sorted(warnings):
        print(f"seedless: warning: {warning}", file=sys.stderr)
    for source, _, message in sorted(failures):
        print(f"seedless: failed {source}: {message}", file=sys.stderr)
    return 1 if failures else 0


def _targets(files: list[Path], out_dir: Path, mime: str | None) -> list[Path]:
    """Where each file goes; refuses to overwrite an input or to write two files to one."""
    inputs = {f.resolve() for f in files}
    targets = [out_dir / (f.name if mime is None else f.stem + extension_for(mime)) for f in files]
    clashes = [t for t in targets if t.resolve() in inputs]
    if clashes:
        raise ConfigurationError(
            f"refusing to overwrite input {clashes[0]}: choose an output folder apart "
            "from the inputs"
        )
    if len(set(targets)) != len(targets):
        raise ConfigurationError("two inputs share a file name; apply them to separate folders")
    return targets


def _collect(
    futures: dict[Any, tuple[Path, Path]],
    bar: Any,
    interrupts: _Interrupts,
    failures: list[tuple[Path, Path, str]],
    lost: list[tuple[Path, Path]],
    warnings: list[str],
) -> None:
    """Wait for the workers' results (a file's problem or a warning, or a dead worker), until
    all are in or Ctrl-C is counted."""
    from concurrent.futures import FIRST_COMPLETED, wait  # lazy: keeps --help quick
    from concurrent.futures.process import BrokenProcessPool  # lazy: multiprocessing

    pending = set(futures)
    while pending and not interrupts.interrupted:
        finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
        for future in finished:
            try:
                problem, warning = future.result()
            except BrokenProcessPool:
                lost.append(futures[future])
            else:
                if problem is not None:
                    failures.append((*futures[future], problem))
                if warning is not None:
                    warnings.append(warning)
            bar.update(1)


class _Interrupts:
    """Ctrl-C while workers run, without KeyboardInterrupt: a signal handler that only counts
    (the first) or terminates the workers (the second).

    A KeyboardInterrupt can land anywhere, also between a lock's acquire and the ``try`` that
    releases it: in the pool's futures (``as_completed`` holds all their locks at once) that
    leaves a lock held forever and the command hung at shutdown, or failing with "release
    unlocked lock". The handler takes no lock either (no ``Event.set``): a second signal may
    interrupt the first handler, and a lock it held would deadlock the second. The loop polls
    the count.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.count = 0  # written only by the handler, in the main thread
        self._previous: Any = None

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            # ProcessPoolExecutor keeps its workers in _processes (terminate_workers() is
            # 3.14+); terminate() is a kill(2), no lock.
            for worker in list((getattr(self.pool, "_processes", None) or {}).values()):
                worker.terminate()

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        # After a Ctrl-C the handler stays (the command is ending; another one must not raise
        # in the middle of the exit); otherwise the caller's own handler comes back.
        if self._previous is not None and not self.interrupted:
            signal.signal(signal.SIGINT, self._previous)


def _stop(pool: Any, targets: list[Path], interrupts: _Interrupts) -> None:
    """After Ctrl-C: files not started are dropped and those in hand finish (each write is
    atomic). A second Ctrl-C while they finish terminates the workers at once (the handler)
    and their temp files are removed: either way no worker process outlives the command."""
    pool.shutdown(wait=True, cancel_futures=True)
    if interrupts.count > 1:
        for target in targets:
            remove_temp_files(target)


@contextlib.contextmanager
def _forget_run(run: int) -> Iterator[None]:
    try:
        yield
    finally:
        _EFFECTS.pop(run, None)


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, or None. An atomic write makes a new inode."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
