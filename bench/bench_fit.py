"""Benchmark ``seedless.fit_effect`` on real photographs edited by ImageMagick.

    python bench/bench_fit.py            # the full run (about 2-4 minutes on 2 cores)
    python bench/bench_fit.py --quick    # skip the 12-megapixel timing

Data: ``bench/data/fit`` (5 photos, 8 global and 5 local edits; see its CREDITS.md and
edits.json). For every global edit and every photo, the LUT is fitted on that one pair and
applied to the four other originals; each output is scored (PSNR, 8-bit) against
ImageMagick's own edit of that photo. Baselines measured in the same run:

* ``no edit``: the untouched original against the edit (how big the edit is);
* ``1D curves``: a per-channel curve fitted on the same pair (mean output for each input
  level, linearly interpolated and extrapolated), the usual "curves match" a naive tool does.

The target is a mean of at least 40 dB over all (edit, fitted photo, other photo) triples.
Local edits (vignette, relighting, blur, sharpening, a painted object) are fitted on every
photo, and the report must call each of them "not global". Global ones must be "global".
The script reports; it does not fail.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from seedless.effects.fit import FittedEffect, fit_effect  # noqa: E402

TARGET_DB = 40.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def pooled_psnr(values: list[float]) -> float:
    """PSNR of the mean MSE over many images (a mean of dB favours near-exact cases)."""
    mse = statistics.mean(255.0**2 / 10 ** (v / 10) for v in values)
    return 10 * math.log10(255.0**2 / mse)


def curves_1d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Baseline: per-channel mean output per input level, interpolated (3, 256)."""
    table = np.zeros((3, 256))
    levels = np.arange(256)
    for c in range(3):
        xs, ys = x[..., c].ravel(), y[..., c].ravel().astype(np.float64)
        count = np.bincount(xs, minlength=256)
        total = np.bincount(xs, ys, minlength=256)
        seen = count > 0
        known, values = levels[seen], total[seen] / count[seen]
        if len(known) == 1:
            table[c] = values[0]
            continue
        inner = np.interp(levels, known, values)
        lo_slope = (values[1] - values[0]) / (known[1] - known[0])
        hi_slope = (values[-1] - values[-2]) / (known[-1] - known[-2])
        inner[levels < known[0]] = values[0] + lo_slope * (levels[levels < known[0]] - known[0])
        inner[levels > known[-1]] = values[-1] + hi_slope * (levels[levels > known[-1]] - known[-1])
        table[c] = inner
    return np.clip(np.rint(table), 0, 255).astype(np.uint8)


def apply_curves(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.stack([table[c][x[..., c]] for c in range(3)], axis=-1)


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "fit")
    parser.add_argument("--size", type=int, default=33, help="LUT size (default 33)")
    parser.add_argument("--quick", action="store_true", help="skip the 12 MP timing")
    args = parser.parse_args()

    meta = json.loads((args.data / "edits.json").read_text())
    photos = [Path(p).stem for p in meta["photos"]]
    edits = meta["edits"]
    global_edits = [e for e, v in edits.items() if v["kind"] == "global"]
    local_edits = [e for e, v in edits.items() if v["kind"] == "local"]
    originals = {p: load(args.data / "originals" / f"{p}.png") for p in photos}

    print(
        f"seedless fit benchmark: {len(photos)} photos ({', '.join(photos)}), LUT size {args.size}"
    )
    print("Fit on one photo, apply to the other four, PSNR against ImageMagick's own edit.\n")
    header = (
        f"{'global edit':<20} {'no edit':>8} {'1D curves':>10} {'worst':>6} "
        f"{'fitted':>7} {'worst':>6} {'in-pair':>8}  verdict"
    )
    print(header)
    print("-" * len(header))

    all_fit: list[float] = []
    all_none: list[float] = []
    all_curves: list[float] = []
    fit_times: list[float] = []
    global_ok = 0
    global_total = 0
    for edit in global_edits:
        edited = {p: load(args.data / "global" / edit / f"{p}.png") for p in photos}
        scores: list[float] = []
        nones: list[float] = []
        curves: list[float] = []
        in_pair: list[float] = []
        verdicts = 0
        for p in photos:
            start = time.perf_counter()
            effect = fit_effect(
                Image.fromarray(originals[p]), Image.fromarray(edited[p]), size=args.size
            )
            fit_times.append(time.perf_counter() - start)
            assert effect.report is not None
            in_pair.append(effect.report.psnr_db)
            verdicts += effect.report.is_global
            table = curves_1d(originals[p], edited[p])
            for q in photos:
                if q == p:
                    continue
                out = np.asarray(effect.apply(Image.fromarray(originals[q])))
                scores.append(psnr(out, edited[q]))
                nones.append(psnr(originals[q], edited[q]))
                curves.append(psnr(apply_curves(table, originals[q]), edited[q]))
        global_ok += verdicts
        global_total += len(photos)
        all_fit += scores
        all_none += nones
        all_curves += curves
        print(
            f"{edit:<20} {statistics.mean(nones):8.1f} {statistics.mean(curves):10.1f} "
            f"{min(curves):6.1f} {statistics.mean(scores):7.1f} {min(scores):6.1f} "
            f"{statistics.mean(in_pair):8.1f}  {verdicts}/{len(photos)} global"
        )
    print("-" * len(header))
    mean_fit = statistics.mean(all_fit)
    print(
        f"{'mean PSNR (dB)':<20} {statistics.mean(all_none):8.1f} "
        f"{statistics.mean(all_curves):10.1f} {min(all_curves):6.1f} {mean_fit:7.1f} "
        f"{min(all_fit):6.1f}"
    )
    pooled = {
        name: pooled_psnr(values)
        for name, values in (("none", all_none), ("curves", all_curves), ("fit", all_fit))
    }
    print(
        f"{'pooled PSNR (dB)':<20} {pooled['none']:8.1f} {pooled['curves']:10.1f} "
        f"{'':6} {pooled['fit']:7.1f}"
    )
    verdict = "MET" if mean_fit >= TARGET_DB else "NOT MET"
    print(
        f"\nfitted LUT on unseen photos: mean PSNR {mean_fit:.1f} dB (target >= "
        f"{TARGET_DB:.0f} dB: {verdict}), worst {min(all_fit):.1f} dB over {len(all_fit)} "
        "photo/edit pairs."
    )
    ratio = 10 ** ((pooled["fit"] - pooled["curves"]) / 10)
    print(
        f"against the 1D-curves baseline (same run): pooled error (mean MSE) {ratio:.0f}x lower, "
        f"worst case {min(all_fit) - min(all_curves):+.1f} dB. Curves alone are near-exact on "
        "per-channel edits and fail on saturation; a mean of dB hides that."
    )
    print(f"global edits called global: {global_ok}/{global_total}")

    print(f"\n{'local edit':<20} {'flagged':>8} {'in-pair':>8}  reason (first photo)")
    local_ok = 0
    local_total = 0
    for edit in local_edits:
        flagged = 0
        psnrs: list[float] = []
        reason = ""
        for p in photos:
            edited_img = Image.open(args.data / "local" / edit / f"{p}.png")
            report = fit_effect(Image.fromarray(originals[p]), edited_img, size=args.size).report
            assert report is not None
            flagged += not report.is_global
            psnrs.append(report.psnr_db)
            reason = reason or report.reason
        local_ok += flagged
        local_total += len(photos)
        short = reason if len(reason) < 110 else reason[:107] + "..."
        print(f"{edit:<20} {flagged}/{len(photos):<6} {statistics.mean(psnrs):8.1f}  {short}")
    print(
        f"local edits called not global: {local_ok}/{local_total} "
        f"({'MET' if local_ok == local_total else 'NOT MET'})"
    )

    # .cube round trip: the saved file, loaded back, gives the same pixels.
    sample = fit_effect(
        Image.fromarray(originals[photos[0]]),
        Image.open(args.data / "global" / global_edits[0] / f"{photos[0]}.png"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        cube = sample.save_cube(Path(tmp) / "look.cube")
        loaded = FittedEffect.load_cube(cube)
        probe = Image.fromarray(originals[photos[1]])
        same = np.array_equal(np.asarray(loaded.apply(probe)), np.asarray(sample.apply(probe)))
    print(f"\n.cube round trip gives identical pixels: {'yes' if same else 'NO'}")

    print(
        f"\nfit time, {originals[photos[0]].shape[1]} px pairs: median "
        f"{statistics.median(fit_times):.2f} s (min {min(fit_times):.2f}, "
        f"max {max(fit_times):.2f})"
    )
    if not args.quick:
        big_x = Image.fromarray(originals[photos[0]]).resize((4000, 3000), Image.Resampling.BICUBIC)
        big_y = sample.apply(big_x)
        start = time.perf_counter()
        big = fit_effect(big_x, big_y, size=args.size)
        fit_big = time.perf_counter() - start
        start = time.perf_counter()
        big.apply(big_x)
        apply_big = time.perf_counter() - start
        print(
            f"fit time, 12 MP pair (4000x3000): {fit_big:.1f} s; apply at 12 MP: {apply_big:.2f} s"
        )


if __name__ == "__main__":
    main()
