"""Benchmark `seedless apply` against the naive loop and the decode+encode floor, same run.

    python bench/bench_apply.py [--copies 6] [--scale 3] [--jobs N] [--repeats 5]

Builds a working set from the sample photos in examples/photos (each upscaled by --scale so
timings reflect camera-sized files, and copied --copies times), then times, on the same files:

- naive: the loop people write by hand: one file at a time, open, an ImageEnhance chain, save;
- seedless: `seedless apply` with the same edit (parallel over --jobs workers);
- floor: decode + encode only, with the same encoder settings, the same atomic writes and the
  same worker pool.

Every case runs in a fresh fork of this process (as a new command would, without the
interpreter's start-up), and the cases take turns round after round.

Prints the ratios the project tracks: naive / seedless (goal >= 3x) and seedless / floor
(goal <= 1.3x). Nothing here is an assertion: it reports.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seedless import Adjust  # noqa: E402
from seedless._parallel import cpu_pool  # noqa: E402
from seedless.cli import main as seedless_main  # noqa: E402
from seedless.images import decode, encode, write_atomic  # noqa: E402

EDITS = {
    "colour (brightness, contrast, saturation, warmth)": Adjust(
        brightness=0.85, contrast=1.15, saturation=1.2, warmth=0.2
    ),
    "four ImageEnhance knobs (brightness, contrast, saturation, sharpness)": Adjust(
        brightness=0.85, contrast=1.15, saturation=1.2, sharpness=1.4
    ),
}


def make_working_set(folder: Path, copies: int, scale: int) -> list[Path]:
    files = []
    for photo in sorted((ROOT / "examples" / "photos").glob("*.jpg")):
        with Image.open(photo) as image:
            big = image.resize(
                (image.width * scale, image.height * scale), Image.Resampling.LANCZOS
            )
            data = io.BytesIO()
            big.save(
                data,
                format="JPEG",
                quality=90,
                exif=image.info.get("exif", b""),
                icc_profile=image.info.get("icc_profile"),
            )
        for i in range(copies):
            target = folder / f"{photo.stem}-{i}.jpg"
            target.write_bytes(data.getvalue())
            files.append(target)
    return files


def naive(files: list[Path], out: Path, adjust: Adjust) -> None:
    for path in files:
        image = Image.open(path)
        if adjust.brightness != 1:
            image = ImageEnhance.Brightness(image).enhance(adjust.brightness)
        if adjust.contrast != 1:
            image = ImageEnhance.Contrast(image).enhance(adjust.contrast)
        if adjust.saturation != 1:
            image = ImageEnhance.Color(image).enhance(adjust.saturation)
        if adjust.sharpness != 1:
            image = ImageEnhance.Sharpness(image).enhance(adjust.sharpness)
        if adjust.warmth:
            r, g, b = image.split()
            gain = 0.25 * adjust.warmth
            r = r.point([min(255, round(v * (1 + gain))) for v in range(256)])
            b = b.point([min(255, round(v * (1 - gain))) for v in range(256)])
            image = Image.merge("RGB", (r, g, b))
        with Image.open(path) as source:
            data, _ = encode(image, like=source)
        (out / path.name).write_bytes(data)


def _floor_one(path: Path, out: Path) -> None:
    source = decode(path.read_bytes())
    data, _ = encode(source.copy(), like=source)
    write_atomic(str(out / path.name), data)


def floor(files: list[Path], out: Path, jobs: int) -> None:
    """Decode and encode each file, written like `seedless apply` writes, in the same pool."""
    with cpu_pool(jobs, len(files)) as pool:
        list(pool.map(_floor_one, files, [out] * len(files)))


def seedless_apply(files: list[Path], out: Path, adjust: Adjust, jobs: int) -> None:
    args = ["apply", *map(str, files), "-o", str(out), "--jobs", str(jobs), "--quiet"]
    status = seedless_main(args + adjust.to_cli_args())
    assert status == 0


def run_isolated(fn: Callable[[Path], None], out: Path) -> float:
    """Seconds ``fn(out)`` takes in a fresh fork of this process, as a new command would run.

    Each case starts from the same state: nothing one case imports (numpy, whose BLAS threads
    would keep `seedless apply` from forking its workers) or caches leaks into the next.
    """
    if not hasattr(os, "fork"):
        start = time.perf_counter()
        fn(out)
        return time.perf_counter() - start
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: run the case, never return into the benchmark
        code = 1
        try:
            fn(out)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"a benchmark case failed (wait status {status})")
    return elapsed


def measure(cases: dict[str, Callable[[Path], None]], base: Path, repeats: int) -> dict[str, float]:
    """Median seconds of each case. The cases take turns, round after round, so a machine that
    drifts (a noisy neighbour, frequency changes) moves every case alike, not just one."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(repeats):
        for name, fn in cases.items():
            out = base / f"out-{time.perf_counter_ns()}-{i}"
            out.mkdir()
            times[name].append(run_isolated(fn, out))
            shutil.rmtree(out)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files = make_working_set(base, args.copies, args.scale)
        with Image.open(files[0]) as probe:
            size = f"{probe.width}x{probe.height}"
        print(
            f"{len(files)} JPEG files (e.g. {size}), {args.jobs} workers, "
            f"median of {args.repeats} interleaved rounds"
        )
        cases: dict[str, Callable[[Path], None]] = {
            "floor": lambda out: floor(files, out, args.jobs),
            "floor 1": lambda out: floor(files, out, 1),
        }
        for name, adjust in EDITS.items():
            cases[f"{name} naive"] = lambda out, a=adjust: naive(files, out, a)
            cases[f"{name} ours"] = lambda out, a=adjust: seedless_apply(files, out, a, args.jobs)
            cases[f"{name} ours 1"] = lambda out, a=adjust: seedless_apply(files, out, a, 1)
        t = measure(cases, base, args.repeats)
        floor_s, floor_1 = t["floor"], t["floor 1"]
        print(
            f"floor (decode+encode): {floor_s:.3f}s with {args.jobs} workers, {floor_1:.3f}s with 1"
        )
        for name in EDITS:
            naive_s, ours, ours_1 = t[f"{name} naive"], t[f"{name} ours"], t[f"{name} ours 1"]
            print(f"\n{name}")
            print(f"  naive loop        {naive_s:8.3f}s")
            print(f"  seedless apply    {ours:8.3f}s   ({ours_1:.3f}s with 1 worker)")
            print(f"  naive / seedless  {naive_s / ours:8.2f}x   (goal >= 3x)")
            print(
                f"  seedless / floor  {ours / floor_s:8.2f}x   (goal <= 1.3x; "
                f"1 worker vs 1-worker floor: {ours_1 / floor_1:.2f}x)"
            )


if __name__ == "__main__":
    main()
