"""Benchmark .cube LUTs: loading them, and applying them to 12 MP photos, against baselines
measured in the same run.

    python bench/bench_cube.py [--photos 6] [--megapixels 12] [--repeats 3] [--rounds 5]
                               [--jobs N] [--quick]

1. Loading (``CubeEffect.load``) 33³, 65³ and 256³ files: median time and peak traced memory
   (Python objects and numpy buffers), against OpenColorIO's C++ reader on the same file
   (when ``opencolorio`` is installed) and a row-by-row Python parse (how seedless read
   files before; 33³ and 65³ only, 256³ took 51 s and 4.3 GB that way).
2. Applying, in one process, image after image (as each ``seedless apply`` worker does), on
   12 MP JPEGs made from examples/photos (upscaled, with a little sensor-like noise so they
   have as many distinct colours as camera photos): decode + effect + encode for each path,
   against decode + encode alone (the floor) and Pillow's ``Color3DLUT`` (how fitted looks are
   applied):

   - ``pillow 33``: ``ImageFilter.Color3DLUT`` on the camera-style 33³ table (trilinear);
   - ``cube trilinear 33``: the same file as a ``CubeEffect`` (the colour table; its new
     colours interpolated by Pillow's ``Color3DLUT``, so the bytes are Pillow's);
   - ``cube tetrahedral 33`` / ``65``: the colour table (first photo, then the others);
   - ``shaper + cube``: a Resolve 1D shaper + 33³ file, tetrahedral.
3. ``seedless apply --effect LUT.cube`` end to end over the photos with ``--jobs`` workers
   (default: one per core, as the command's own default), tetrahedral and trilinear, against
   the decode + encode floor in the same pool, round after round (issue 18's budget: <= 2x
   the floor). The ratio is the median of the rounds' ratios (each round's cases run one
   after the other, so they share the machine's load).

Every timed case runs in a fresh fork (nothing cached leaks between cases), the cases take
turns round after round, and medians are reported. Nothing here is an assertion: it reports.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_apply import floor, run_isolated  # noqa: E402

from seedless.cli import main as seedless_main  # noqa: E402
from seedless.effects.cube_lut import CubeEffect  # noqa: E402
from seedless.images import decode, encode  # noqa: E402

# ------------------------------------------------------------------------------ data


def lattice(n: int) -> np.ndarray:
    axis = np.linspace(0.0, 1.0, n)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1).reshape(-1, 3)


def log_to_display(x: np.ndarray) -> np.ndarray:
    """A camera-style log-to-display look (as tests/effects/cubes/make_cubes.py)."""
    linear = 2.0 ** (x * 10.0 - 7.0) - 2.0**-7.0
    matrix = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [-0.1, -0.3, 1.4]])
    mixed = np.clip(linear @ matrix, 0.0, None)
    return 1.1 * (mixed / (mixed + 0.18)) ** (1.0 / 1.6)


def write_rows(handle: io.TextIOBase, rows: np.ndarray) -> None:
    """Rows of values in 0..1.2 as fixed-width "%.6f" text, fast (no per-row Python work)."""
    clipped = np.clip(np.round(rows, 6), 0.0, 9.999999)
    units = np.floor(clipped).astype(np.uint8)
    micro = np.rint((clipped - units) * 1e6).astype(np.int64)
    width = 27  # "d.dddddd d.dddddd d.dddddd\n"
    for start in range(0, len(rows), 1 << 18):
        u, m = units[start : start + (1 << 18)], micro[start : start + (1 << 18)]
        text = np.full((len(u), width), ord(" "), dtype=np.uint8)
        text[:, -1] = ord("\n")
        for c in range(3):
            at = 9 * c
            text[:, at] = ord("0") + u[:, c]
            text[:, at + 1] = ord(".")
            for digit in range(6):
                text[:, at + 2 + digit] = ord("0") + (m[:, c] // 10 ** (5 - digit)) % 10
        handle.write(text.tobytes().decode("ascii"))


def write_cube(path: Path, n: int, *, shaper: bool = False) -> Path:
    with path.open("w", encoding="ascii") as handle:
        if shaper:
            t = np.linspace(0.0, 1.0, 1024)
            handle.write("LUT_1D_SIZE 1024\nLUT_1D_INPUT_RANGE 0 1\n")
            handle.write(f"LUT_3D_SIZE {n}\nLUT_3D_INPUT_RANGE 0 1\n")
            write_rows(handle, np.repeat((t**0.6)[:, None], 3, axis=1))
            write_rows(handle, log_to_display(lattice(n) ** (1 / 0.6)))
        else:
            handle.write(f'TITLE "bench {n}"\nLUT_3D_SIZE {n}\n')
            for b in range(0, n, 16):  # a slab of blue at a time: 256³ stays a few hundred MB
                axis = np.linspace(0.0, 1.0, n)
                bb, gg, rr = np.meshgrid(axis[b : b + 16], axis, axis, indexing="ij")
                write_rows(handle, log_to_display(np.stack([rr, gg, bb], -1).reshape(-1, 3)))
    return path


def make_photos(folder: Path, count: int, megapixels: float) -> list[Path]:
    sources = sorted((ROOT / "examples" / "photos").glob("*.jpg"))
    rng = np.random.default_rng(12)
    files = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as image:
            scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
            size = (round(image.width * scale), round(image.height * scale))
            big = np.asarray(image.convert("RGB").resize(size, Image.Resampling.LANCZOS))
        noisy = np.clip(big + rng.normal(0.0, 2.0, big.shape), 0, 255).astype(np.uint8)
        path = folder / f"photo-{i}.jpg"
        Image.fromarray(noisy).save(path, quality=90)
        files.append(path)
    return files


# ------------------------------------------------------------------------------ loading


def python_rows(path: Path) -> np.ndarray:
    """How seedless read .cube files before: a tuple of floats per line, then one array."""
    rows: list[tuple[float, ...]] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0][0] in "0123456789-.":
            rows.append(tuple(float(p) for p in parts))
    return np.asarray(rows)


def with_ocio(path: Path) -> None:
    import PyOpenColorIO as ocio

    ocio.ClearAllCaches()
    transform = ocio.FileTransform(src=str(path), interpolation=ocio.INTERP_TETRAHEDRAL)
    ocio.Config.CreateRaw().getProcessor(transform)


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(fn: Callable[[], object]) -> float:
    """Peak traced memory (MB) of ``fn``: Python objects plus numpy's buffers."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def bench_loading(base: Path, repeats: int, quick: bool) -> None:
    try:
        import PyOpenColorIO  # noqa: F401

        have_ocio = True
    except ImportError:
        have_ocio = False
    print("\nloading (CubeEffect.load; median time, peak traced memory)")
    print(f"  {'file':12s} {'seedless':>10s} {'memory':>9s} {'OCIO':>9s} {'old rows':>10s}")
    for n in (33, 65) if quick else (33, 65, 256):
        path = write_cube(base / f"load{n}.cube", n)
        runs = 1 if n > 65 else repeats
        ours = timed(lambda p=path: CubeEffect.load(p), runs)
        memory = peak_memory(lambda p=path: CubeEffect.load(p))
        ocio = "      -"
        if have_ocio:
            try:
                ocio = f"{timed(lambda p=path: with_ocio(p), runs):8.3f}s"
            except Exception:  # OpenColorIO reads LUT_3D_SIZE up to 129 only
                ocio = " refused"
        old = f"{timed(lambda p=path: python_rows(p), runs):9.3f}s" if n <= 65 else "        -"
        size = path.stat().st_size / 1e6
        print(f"  {n}³ {size:6.0f} MB {ours:9.3f}s {memory:7.0f} MB {ocio} {old}")
        path.unlink()


# ------------------------------------------------------------------------------ applying


def apply_case(files: list[Path], effect: Callable[[Image.Image], Image.Image] | None) -> None:
    for path in files:
        image = decode(path.read_bytes())
        out = effect(image) if effect is not None else image.copy()
        encode(out, like=image)


def per_image(case: Callable[[], object], files: list[Path]) -> list[float]:
    """Seconds for each photo, in order, in a fresh fork of this process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: time the case, report, never return into the benchmark
        os.close(read)
        effect = case()
        times = []
        for path in files:
            start = time.perf_counter()
            apply_case([path], effect)  # type: ignore[arg-type]
            times.append(time.perf_counter() - start)
        os.write(write, " ".join(f"{t:.6f}" for t in times).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return [float(value) for value in data.split()]


def bench_applying(base: Path, files: list[Path], rounds: int) -> None:
    cube33 = write_cube(base / "look33.cube", 33)
    cube65 = write_cube(base / "look65.cube", 65)
    shaper = write_cube(base / "shaper33.cube", 33, shaper=True)
    table = CubeEffect.load(cube33).stages.lut3d

    def pillow() -> Callable[[Image.Image], Image.Image]:
        lut = ImageFilter.Color3DLUT(33, table)
        return lambda image: image.filter(lut)

    def cube(path: Path, interp: str) -> Callable[[], Callable[[Image.Image], Image.Image]]:
        return lambda: CubeEffect.load(path, interpolation=interp).apply  # type: ignore[arg-type]

    cases: dict[str, Callable[[], object]] = {
        "floor (decode + encode)": lambda: None,
        "pillow 33 (Color3DLUT)": pillow,
        "cube trilinear 33": cube(cube33, "trilinear"),
        "cube tetrahedral 33": cube(cube33, "tetrahedral"),
        "cube tetrahedral 65": cube(cube65, "tetrahedral"),
        "shaper + cube 33, tetrahedral": cube(shaper, "tetrahedral"),
    }
    runs: dict[str, list[list[float]]] = {name: [] for name in cases}
    for _ in range(rounds):  # the cases take turns, round after round
        for name, case in cases.items():
            runs[name].append(per_image(case, files))
    times = {
        name: [statistics.median(photo) for photo in zip(*r, strict=True)]
        for name, r in runs.items()
    }
    floor_t = statistics.median(times["floor (decode + encode)"])
    pillow_t = statistics.median(times["pillow 33 (Color3DLUT)"]) - floor_t
    print(
        f"\napplying in one process, {len(files)} photos in turn (median of {rounds} rounds); "
        "the first photo fills the colour table"
    )
    print(
        f"  {'path':32s} {'1st photo':>10s} {'others':>9s} {'/ floor':>8s} {'pass / Pillow':>14s}"
    )
    for name, values in times.items():
        rest = statistics.median(values[1:]) if len(values) > 1 else values[0]
        if name.startswith("floor"):
            print(f"  {name:32s} {values[0]:9.3f}s {rest:8.3f}s")
            continue
        effect_t = statistics.median(values) - floor_t
        print(
            f"  {name:32s} {values[0]:9.3f}s {rest:8.3f}s "
            f"{statistics.median(values) / floor_t:7.2f}x {effect_t / pillow_t:13.2f}x"
        )


def bench_command(base: Path, files: list[Path], jobs: int, rounds: int) -> None:
    cube33 = write_cube(base / "cli33.cube", 33)

    def apply(out: Path, *flags: str) -> None:
        args = ["apply", *map(str, files), "-o", str(out), "--jobs", str(jobs), "--quiet"]
        assert seedless_main([*args, "--effect", str(cube33), *flags]) == 0

    cases: dict[str, Callable[[Path], None]] = {
        "floor": lambda out: floor(files, out, jobs),
        "tetrahedral": lambda out: apply(out),
        "trilinear": lambda out: apply(out, "--interp", "trilinear"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(rounds):
        for name, fn in cases.items():
            out = base / f"cli-{name}-{i}"
            out.mkdir()
            times[name].append(run_isolated(fn, out))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nseedless apply --effect LUT.cube, {len(files)} photos, {jobs} workers ({rounds}x)")
    for name in ("floor", "tetrahedral", "trilinear"):
        ratios = [t / f for t, f in zip(times[name], times["floor"], strict=True)]
        print(
            f"  {name:12s} {median[name]:7.3f}s  {statistics.median(ratios):5.2f}x the floor "
            f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)}; budget <= 2x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of seedless apply")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="skip the 256³ file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files = make_photos(base, args.photos, args.megapixels)
        with Image.open(files[0]) as probe:
            colours = len(np.unique(np.asarray(probe).reshape(-1, 3), axis=0))
            print(
                f"{len(files)} JPEG photos of {probe.width}x{probe.height} "
                f"({colours} distinct colours in the first)"
            )
        bench_loading(base, args.repeats, args.quick)
        bench_applying(base, files, args.repeats)
        bench_command(base, files, args.jobs, args.rounds)


if __name__ == "__main__":
    main()
