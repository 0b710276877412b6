"""Benchmark ``seedless.fit_effect``: fit on one photo, apply to the others, by edit kind.

    python bench/bench_fit.py            # everything (20-40 minutes on 2 busy cores)
    python bench/bench_fit.py --quick    # 3 photos, fewer rounds of the speed test
    python bench/bench_fit.py --only global,spatial   # some sections

Data (bench/fit_data.py): 5 photos with ImageMagick edits committed in bench/data/fit, and
edits by ImageMagick and ffmpeg filters made at run time with the tools found (listed, with
the pixel hashes Debian 12's packages made, in bench/data/fit/generated.json), so the
thresholds are not tuned to one tool. Every number is on photos other than the one (or two)
the look was fitted on, against the tool's own edit of that photo. By edit kind:

* fixed global edits: mean and worst PSNR; goal mean >= 55 dB, worst >= 45 dB;
* image-dependent toning (the edit depends on each photo's range): fitted from two pairs,
  goal >= 35 dB on the other photos; from one pair, never below the parametric model alone;
* spatial parts (vignette, Gaussian blur, unsharp mask, grain; most with a colour edit on
  top): goal >= 40 dB on other photos, and labelled with their parts. Grain is random: its
  rows are scored on 4x4 block means (the grain averages out; the raw PSNR is shown too);
* content edits: labelled "not reproducible locally";
* speed: ``seedless apply --effect look.json`` on 12-megapixel JPEGs against decode+encode
  (the floor) in the same run, default workers; goal <= 2x.

The script reports; it does not fail. Fits run in worker processes (--jobs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# One BLAS thread per process: the fits run in parallel worker processes, and the speed test
# forks `seedless apply` children that must be able to fork their own workers.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import fit_data  # noqa: E402


@dataclass(frozen=True)
class Scores:
    """One fit (on ``photos``) scored on every other photo."""

    edit: str
    photos: tuple[str, ...]
    psnr: dict[str, float]  # other photo -> PSNR
    smooth: dict[str, float]  # ... on 4x4 block means
    baseline: dict[str, float]  # ... of the parametric model alone (one-pair adaptive)
    coverage: dict[str, float]  # other photo -> look.coverage_of(it)
    warned: dict[str, bool]  # other photo -> seedless apply warns about it
    verdict: str
    parts: tuple[str, ...]
    image_dependent: bool
    fast: bool
    seconds: float


# ---------------------------------------------------------------------------- workers


def _load(path: Path) -> object:
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _psnr(a: object, b: object, block: int = 1) -> float:
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if block > 1:
        h, w = x.shape[0] // block * block, x.shape[1] // block * block
        x = x[:h, :w].reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))
        y = y[:h, :w].reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def score(folder: str, train: tuple[str, ...], everyone: tuple[str, ...], baseline: bool) -> Scores:
    """Fit on ``train`` (one or more photos), apply to the others (runs in a worker)."""
    from seedless.cli.apply import look_warning
    from seedless.effects.fit import FittedEffect, fit_effect

    originals = {p: _load(fit_data.DATA / "originals" / f"{p}.png") for p in everyone}
    edits = {p: _load(Path(folder) / f"{p}.png") for p in everyone}
    start = time.perf_counter()
    pairs = [(originals[p], edits[p]) for p in train]
    look = fit_effect(pairs[0][0], pairs[0][1]) if len(pairs) == 1 else fit_effect(pairs)
    seconds = time.perf_counter() - start
    parametric: FittedEffect | None = _parametric_alone(pairs[0]) if baseline else None
    psnr, smooth, base, coverage, warned = {}, {}, {}, {}, {}
    for q in everyone:
        if q in train:
            continue
        out = look.apply(originals[q])  # type: ignore[arg-type]
        psnr[q] = _psnr(out, edits[q])
        coverage[q] = look.coverage_of(originals[q]) or 0.0  # type: ignore[arg-type]
        warned[q] = look_warning(look, fit_data.DATA / "originals" / f"{q}.png") is not None
        smooth[q] = _psnr(out, edits[q], block=4)
        if parametric is not None:
            base[q] = _psnr(parametric.apply(originals[q]), edits[q])  # type: ignore[arg-type]
    report = look.report
    assert report is not None
    return Scores(
        Path(folder).name,
        train,
        psnr,
        smooth,
        base,
        coverage,
        warned,
        report.verdict,
        report.parts,
        report.image_dependent,
        look.fast is not None,
        seconds,
    )


def _parametric_alone(pair: tuple[object, object]) -> object:
    """The look's smooth model alone (no residual lattice): the one-pair baseline."""
    import numpy as np

    from seedless.effects.fit import FittedEffect
    from seedless.effects.fit._grouped import aggregate, coarsen
    from seedless.effects.fit._pairs import pair_images
    from seedless.effects.fit._parametric import fit_parametric
    from seedless.effects.fit._table import lattice

    paired = pair_images(*pair)  # type: ignore[arg-type]
    model = fit_parametric(coarsen(aggregate(paired.x.reshape(-1, 3), paired.y.reshape(-1, 3))))
    return FittedEffect.from_table(np.clip(model(lattice(33)), 0.0, 1.0))


# ---------------------------------------------------------------------------- sections


def run_fits(
    pool: ProcessPoolExecutor,
    edits: list[fit_data.Edit],
    photos: tuple[str, ...],
    train_sets: list[tuple[str, ...]],
    baseline: bool = False,
) -> dict[str, list[Scores]]:
    futures = {
        (edit.name, train): pool.submit(score, str(edit.folder), train, photos, baseline)
        for edit in edits
        for train in train_sets
    }
    out: dict[str, list[Scores]] = {edit.name: [] for edit in edits}
    for (name, _), future in futures.items():
        out[name].append(future.result())
    return out


def _all(results: list[Scores], field: str = "psnr") -> list[float]:
    return [v for s in results for v in getattr(s, field).values()]


def _mark(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def section_global(results: dict[str, list[Scores]], edits: list[fit_data.Edit]) -> str:
    print("\n== fixed global edits: fit on one photo, PSNR on each other photo (dB)")
    print(f"{'edit':<22} {'tool':<12} {'mean':>6} {'worst':>6} {'fast':>5}  verdicts  fit s")
    scores: list[float] = []
    right = total = 0
    for edit in edits:
        rows = results[edit.name]
        values = _all(rows)
        scores += values
        ok = sum(r.verdict == "global" for r in rows)
        right, total = right + ok, total + len(rows)
        fast = sum(r.fast for r in rows)
        seconds = statistics.median(r.seconds for r in rows)
        print(
            f"{edit.name:<22} {edit.tool.split()[0]:<12} {statistics.mean(values):6.1f} "
            f"{min(values):6.1f} {fast:>3}/{len(rows)}  {ok}/{len(rows)} global  {seconds:5.1f}"
        )
    mean, worst = statistics.mean(scores), min(scores)
    print(f"{'all':<35} {mean:6.1f} {worst:6.1f}   verdicts {right}/{total}")
    _below(results, edits, 45.0)
    line = (
        f"fixed global edits: mean {mean:.1f} dB (>= 55: {_mark(mean >= 55)}), worst "
        f"{worst:.1f} dB (>= 45: {_mark(worst >= 45)}), {right}/{total} called global"
    )
    print(line)
    return line


def _below(results: dict[str, list[Scores]], edits: list[fit_data.Edit], goal: float) -> None:
    """The fits under ``goal`` on some photo, with the share of its colours the pair showed
    (``coverage_of``) and whether ``seedless apply`` warns about the photo."""
    misses = [
        f"{edit.name} {'+'.join(r.photos)} -> {q} {value:.1f} dB (coverage {r.coverage[q]:.2f}"
        f"{', warned' if r.warned[q] else ''})"
        for edit in edits
        for r in results[edit.name]
        for q, value in r.psnr.items()
        if value < goal
    ]
    if misses:
        print(f"under {goal:.0f} dB: " + "; ".join(misses))


def section_adaptive(
    one: dict[str, list[Scores]], two: dict[str, list[Scores]], edits: list[fit_data.Edit]
) -> list[str]:
    print("\n== image-dependent toning")
    print(
        f"{'edit':<22} {'one pair':>9} {'worst':>6} {'param.':>7} {'worst':>6} {'below':>6}"
        f"   {'two pairs':>9} {'worst':>6} {'adaptive':>9}"
    )
    lines = []
    for edit in edits:
        single, double = one[edit.name], two[edit.name]
        full, base = _all(single), _all(single, "baseline")
        below = sum(s.psnr[q] < s.baseline[q] - 0.1 for s in single for q in s.psnr)
        shortfall = max(s.baseline[q] - s.psnr[q] for s in single for q in s.psnr)
        pair_values = _all(double)
        adaptive = sum(s.image_dependent for s in double)
        print(
            f"{edit.name:<22} {statistics.mean(full):9.1f} {min(full):6.1f} "
            f"{statistics.mean(base):7.1f} {min(base):6.1f} {below:>3}/{len(full):<3}"
            f"{statistics.mean(pair_values):9.1f} {min(pair_values):6.1f} "
            f"{adaptive:>5}/{len(double)}"
        )
        lines.append(
            f"{edit.name}: two pairs mean {statistics.mean(pair_values):.1f}, worst "
            f"{min(pair_values):.1f} dB (>= 35: {_mark(min(pair_values) >= 35)}; "
            f"{_by_evidence(double)}); one pair below the parametric model alone on "
            f"{below}/{len(full)} photos, by at most {max(shortfall, 0.0):.2f} dB "
            f"({_mark(below == 0)})"
        )
    print(
        "(param.: the smooth model alone, fitted on the same pair; below: photos where the "
        "fitted look is more than 0.1 dB worse than it; adaptive: two-pair fits that found "
        "the edit image-dependent)"
    )
    for line in lines:
        print(line)
    return lines


def _by_evidence(double: list[Scores]) -> str:
    """Worst PSNR of the two-pair fits that found the edit image-dependent, and of those whose
    pairs agreed (both photos alike in range: no evidence that the edit depends on it)."""
    parts = []
    for found, words in ((True, "found image-dependent"), (False, "pairs agreed")):
        rows = [s for s in double if s.image_dependent == found]
        if rows:
            parts.append(f"{words} {len(rows)}/{len(double)}: worst {min(_all(rows)):.1f}")
    low = [(s, q) for s in double for q in s.psnr if s.psnr[q] < 35]
    warned = sum(s.warned[q] for s, q in low)
    parts.append(f"seedless apply warned about {warned} of the {len(low)} photos under 35 dB")
    return ", ".join(parts)


def section_spatial(results: dict[str, list[Scores]], edits: list[fit_data.Edit]) -> str:
    print("\n== spatial parts (most with a colour edit on top): PSNR on other photos (dB)")
    print(f"{'edit':<22} {'tool':<12} {'parts':<9} {'mean':>6} {'worst':>6}  labelled  raw")
    means, worsts = [], []
    right = total = 0
    for edit in edits:
        rows = results[edit.name]
        grain = "grain" in edit.parts
        values = _all(rows, "smooth" if grain else "psnr")
        raw = _all(rows)
        ok = sum(r.verdict == "global + spatial" and r.parts == edit.parts for r in rows)
        right, total = right + ok, total + len(rows)
        means.append(statistics.mean(values))
        worsts.append(min(values))
        labels = sorted({"+".join(r.parts) or r.verdict[:10] for r in rows})
        note = f" {statistics.mean(raw):4.1f}/{min(raw):4.1f}" if grain else ""
        print(
            f"{edit.name:<22} {edit.tool.split()[0]:<12} {'+'.join(edit.parts):<9} "
            f"{means[-1]:6.1f} {worsts[-1]:6.1f}  {ok}/{len(rows)}{note}  {', '.join(labels)}"
        )
    mean, worst = statistics.mean(means), min(worsts)
    line = (
        f"spatial parts: mean {mean:.1f} dB, worst {worst:.1f} dB (>= 40: {_mark(worst >= 40)}; "
        f"grain on 4x4 means), labelled with their parts {right}/{total}"
    )
    print(line)
    return line


def section_content(results: dict[str, list[Scores]], edits: list[fit_data.Edit]) -> str:
    print("\n== content edits: verdict")
    right = total = 0
    for edit in edits:
        rows = results[edit.name]
        ok = sum(r.verdict == "not reproducible locally" for r in rows)
        right, total = right + ok, total + len(rows)
        print(f"{edit.name:<22} {edit.tool.split()[0]:<12} {ok}/{len(rows)} not reproducible")
    line = f"content edits labelled not reproducible locally: {right}/{total}"
    print(line)
    return line


# ---------------------------------------------------------------------------- .cube, speed


def section_cube(global_edits: list[fit_data.Edit], photos: tuple[str, ...]) -> str:
    """The .cube export applied by ffmpeg's lut3d, against seedless's own output."""
    import numpy as np
    from PIL import Image

    from seedless.effects.fit import FittedEffect, fit_effect

    exe = fit_data.ffmpeg()
    worst_level, identical = 0, True
    with tempfile.TemporaryDirectory() as tmp:
        for edit in global_edits:
            source = fit_data.DATA / "originals" / f"{photos[0]}.png"
            look = fit_effect(source, edit.folder / f"{photos[0]}.png")
            cube = look.save_cube(Path(tmp) / "look.cube")
            probe = fit_data.DATA / "originals" / f"{photos[1]}.png"
            ours = np.asarray(look.apply(Image.open(probe).convert("RGB")), dtype=int)
            again = FittedEffect.load_cube(cube).apply(Image.open(probe).convert("RGB"))
            identical &= bool(np.abs(np.asarray(again, dtype=int) - ours).max() <= 1)
            if exe is None:
                continue
            out = Path(tmp) / "ffmpeg.png"
            subprocess.run(
                [exe, "-v", "error", "-y", "-i", str(probe), "-vf",
                 f"lut3d=file={cube}:interp=trilinear", "-pix_fmt", "rgb24", str(out)],
                check=True, timeout=120,
            )  # fmt: skip
            theirs = np.asarray(Image.open(out).convert("RGB"), dtype=int)
            worst_level = max(worst_level, int(np.abs(theirs - ours).max()))
    line = (
        f".cube: loaded back within a level of the look {'everywhere' if identical else 'NOT'}; "
        f"ffmpeg lut3d within {worst_level} level(s) of seedless's output "
        f"({_mark(worst_level <= 1)})"
        if exe
        else ".cube: ffmpeg not found"
    )
    print("\n" + line)
    return line


def _speed_looks(base: Path) -> dict[str, tuple[Path, bool]]:
    """Two looks fitted on the cat photo, saved as .json: one that runs as point operations,
    one that needs the 3D table; with whether each has the fast path."""
    from seedless.effects.fit import fit_effect

    looks = {}
    for name, folder in (
        ("curves look (levels)", fit_data.DATA / "global" / "levels"),
        ("table look (HSL saturation)", fit_data.DATA / "global" / "saturation"),
    ):
        look = fit_effect(fit_data.DATA / "originals" / "cat.png", folder / "cat.png")
        path = base / f"{len(looks)}.json"
        path.write_text(look.model_dump_json())
        looks[name] = (path, look.fast is not None)
    return looks


def section_speed(repeats: int, copies: int) -> str:
    """seedless apply --effect on 12 MP JPEGs against the floor, same run, default workers."""
    from bench_apply import floor, measure

    from seedless import Adjust
    from seedless.cli import main as seedless_main
    from seedless.cli.apply import usable_cores

    jobs = usable_cores()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files = []
        for i, photo in enumerate(itertools.islice(itertools.cycle(fit_data.photos()), copies)):
            target = base / f"{photo}-{i}.jpg"
            target.write_bytes(fit_data.photo_12mp(photo, seed=i))
            files.append(target)
        looks = _speed_looks(base)

        def apply_case(effect: Path) -> Callable[[Path], None]:
            def run(out: Path) -> None:
                args = ["apply", *map(str, files), "-o", str(out), "--quiet", "--effect"]
                with contextlib.redirect_stderr(io.StringIO()):  # coverage warnings
                    assert seedless_main([*args, str(effect)]) == 0

            return run

        def adjust(out: Path) -> None:
            cli = Adjust(brightness=0.85, contrast=1.15, saturation=1.2, warmth=0.2).to_cli_args()
            assert seedless_main(["apply", *map(str, files), "-o", str(out), "--quiet", *cli]) == 0

        cases: dict[str, Callable[[Path], None]] = {"floor": lambda out: floor(files, out, jobs)}
        for name, (path, _) in looks.items():
            cases[name] = apply_case(path)
        cases["Adjust (for reference)"] = adjust
        times = measure(cases, base, repeats)
    print(
        f"\n== speed: seedless apply on {len(files)} 12 MP JPEGs (4000x3000), {jobs} workers, "
        f"median of {repeats} interleaved rounds"
    )
    floor_s = times["floor"]
    print(f"{'floor (decode+encode)':<32} {floor_s:7.2f}s")
    ratios = {}
    for name, seconds in times.items():
        if name == "floor":
            continue
        ratios[name] = seconds / floor_s
        path_note = ""
        if name in looks:
            path_note = "point operations" if looks[name][1] else "3D table (colour table)"
        print(f"{name:<32} {seconds:7.2f}s  {ratios[name]:5.2f}x floor  {path_note}")
    curves = ratios["curves look (levels)"]
    table = ratios["table look (HSL saturation)"]
    line = (
        f"apply --effect: {curves:.2f}x the floor for a look applied as point operations, "
        f"{table:.2f}x for one that needs the 3D table (<= 2: "
        f"{_mark(max(curves, table) <= 2.0)}; floor {floor_s:.2f} s)"
    )
    print(line)
    return line


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 photos, 2 speed rounds")
    parser.add_argument("--jobs", type=int, default=2, help="fits in parallel (processes)")
    parser.add_argument(
        "--only", default="global,adaptive,spatial,content,cube,speed", help="sections"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    photos = tuple(fit_data.photos()[:3] if args.quick else fit_data.photos())
    print(f"seedless fit benchmark: photos {', '.join(photos)}; tools {fit_data.versions()}")
    work = Path(tempfile.mkdtemp(prefix="seedless-bench-fit-"))
    made, skipped = fit_data.generate(work, list(photos))
    for line in skipped:
        print(f"skipped: {line}")
    for edit in made:
        same = fit_data.same_pixels(edit) if not args.quick else None
        if same is False:
            print(f"note: {edit.name}: this run's {edit.tool} made other pixels than recorded")
    every = fit_data.committed() + made
    by_kind = {kind: [e for e in every if e.kind == kind] for kind in fit_data.KINDS}
    summary: list[str] = []
    singles = [(p,) for p in photos]
    started = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")  # this process already runs numpy
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=spawn) as pool:
        if "global" in only:
            results = run_fits(pool, by_kind["global"], photos, singles)
            summary.append(section_global(results, by_kind["global"]))
        if "adaptive" in only and by_kind["adaptive"]:
            one = run_fits(pool, by_kind["adaptive"], photos, singles, baseline=True)
            two = run_fits(
                pool, by_kind["adaptive"], photos, list(itertools.combinations(photos, 2))
            )
            summary += section_adaptive(one, two, by_kind["adaptive"])
        if "spatial" in only:
            results = run_fits(pool, by_kind["spatial"], photos, singles)
            summary.append(section_spatial(results, by_kind["spatial"]))
        if "content" in only:
            results = run_fits(pool, by_kind["content"], photos, singles)
            summary.append(section_content(results, by_kind["content"]))
    print(f"\n(fits took {time.perf_counter() - started:.0f} s in all, {args.jobs} workers)")
    if "cube" in only:
        summary.append(section_cube(by_kind["global"], photos))
    if "speed" in only:
        summary.append(section_speed(2 if args.quick else 5, 6 if args.quick else 10))
    print("\n== summary")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
