"""One look from several approved pairs, and image-dependent looks.

All pairs' pixels feed one colour table (more colours seen, a safer look). The pairs are then
checked against each other: each is re-run through the joint table. When one of them comes out
clearly worse than one fixed edit would (they disagree), the edit depended on each photo, and
an adaptive family is tried: each photo's own levels are normalised first (:class:`Normalise`:
black and white points as percentiles of its luma or of each channel), then one fixed table.
The normalisation that makes the pairs agree best is chosen by comparing, on the colours two
pairs share, what each pair's edit did to them; the adaptive look is kept when it explains the
pairs better than the fixed one.

Spatial parts (vignette, blur, grain) are fitted from one pair only (see :mod:`._fitting`).
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from PIL import Image

from ._colour import colour_table
from ._effect import FitReport, FittedEffect, seen_bitmap
from ._normalise import Normalise, levels
from ._pairs import Sample, aggregate
from ._table import Array
from ._verdict import Measures, build_report, measure

_AGREE_DB = 40.0  # every pair explained at least this well: the pairs agree
_PERCENTILES = ((0.0, 1.0), (0.001, 0.999), (0.005, 0.995), (0.01, 0.99), (0.02, 0.99))
_STATISTICS = ("luma", "channels")
_BINS = 16  # pairs are compared on a 16x16x16 histogram of (normalised) input colours
_MIN_SHARED = 8  # pixels of each pair a bin needs to count as shared


def fit_several(samples: list[Sample], *, size: int, title: str) -> FittedEffect:
    """One look for all pairs; adaptive when the pairs disagree (see the module docstring)."""
    fixed = _fit(samples, size, title, None)
    fixed_scores = [measure(fixed, sample) for sample in samples]
    adaptive: FittedEffect | None = None
    if min(m.psnr for m in fixed_scores) < _AGREE_DB:
        normalise = _best_normalise(samples)
        if normalise is not None:
            candidate = _fit(samples, size, title, normalise)
            scores = [measure(candidate, sample) for sample in samples]
            if _pooled(scores) > _pooled(fixed_scores):
                adaptive, fixed_scores = candidate, scores
    look = adaptive or fixed
    return look.model_copy(update={"report": _report(samples, fixed_scores, adaptive is not None)})


def _fit(samples: list[Sample], size: int, title: str, normalise: Normalise | None) -> FittedEffect:
    """The colour table fitted on all pairs (normalised first when asked)."""
    xs, ys = zip(*(_pixels(sample, normalise) for sample in samples), strict=True)
    colours, counts, targets = aggregate(np.concatenate(xs), np.concatenate(ys))
    table = colour_table(colours, counts, targets, size)
    look = FittedEffect.from_table(table, title=title, fast=normalise is None)
    return look.model_copy(update={"normalise": normalise, "seen": seen_bitmap(colours)})


def _pixels(sample: Sample, normalise: Normalise | None) -> tuple[Array, Array]:
    """A pair's opaque pixel pairs, the original normalised as the look would (uint8)."""
    x, y = sample.flat()
    if normalise is None:
        return x, y
    scale, offset = normalise.affine(Image.fromarray(sample.x))
    normalised = np.clip(np.rint((x / 255.0 * scale + offset) * 255.0), 0, 255)
    return normalised.astype(np.uint8), y


def _pooled(scores: list[Measures]) -> float:
    """PSNR of the mean squared error over the pairs."""
    mean = sum(10 ** (-m.psnr / 10.0) for m in scores) / len(scores)
    return -10.0 * math.log10(max(mean, 1e-12))


def _best_normalise(samples: list[Sample]) -> Normalise | None:
    """The normalisation under which the pairs' edits agree best, or None when none makes
    them agree clearly better than no normalisation."""
    images = [Image.fromarray(sample.x) for sample in samples]
    baseline = _disagreement([(s.flat()[0], s.flat()[1]) for s in samples])
    best: tuple[float, Normalise] | None = None
    for statistic in _STATISTICS:
        for low, high in _PERCENTILES:
            found = [levels(image, statistic, low, high) for image in images]
            black = tuple(float(v) for v in np.mean([f[0] for f in found], axis=0))
            white = tuple(float(v) for v in np.mean([f[1] for f in found], axis=0))
            normalise = Normalise(
                statistic=statistic,
                low=low,
                high=high,
                black=black,
                white=white,
            )
            score = _disagreement([_pixels(s, normalise) for s in samples])
            if best is None or score < best[0]:
                best = (score, normalise)
    if best is None or best[0] > 0.7 * baseline:
        return None
    return best[1]


def _disagreement(pairs: list[tuple[Array, Array]]) -> float:
    """Root-mean-square difference (8-bit levels) between what two pairs' edits did to the
    colours they share (a 16^3 histogram's bins), over all pairs of pairs."""
    means, counts = [], []
    for x, y in pairs:
        q = x.astype(np.int64) * _BINS // 256
        index = (q[:, 0] * _BINS + q[:, 1]) * _BINS + q[:, 2]
        count = np.bincount(index, minlength=_BINS**3).astype(np.float64)
        total = np.stack(
            [np.bincount(index, y[:, c].astype(np.float64), _BINS**3) for c in range(3)], 1
        )
        means.append(total / np.maximum(count, 1.0)[:, None])
        counts.append(count)
    squared, weight = 0.0, 0.0
    for a, b in combinations(range(len(pairs)), 2):
        shared = (counts[a] >= _MIN_SHARED) & (counts[b] >= _MIN_SHARED)
        w = np.minimum(counts[a], counts[b])[shared]
        difference = means[a][shared] - means[b][shared]
        squared += float((w[:, None] * difference * difference).sum())
        weight += float(w.sum()) * 3.0
    return math.sqrt(squared / weight) if weight > 0 else math.inf


def _report(samples: list[Sample], scores: list[Measures], image_dependent: bool) -> FitReport:
    """The report: the worst pair's measurements decide the verdict."""
    worst = min(range(len(samples)), key=lambda i: scores[i].psnr)
    colours, counts, _ = aggregate(*samples[worst].flat())
    notes = [f"fitted on {len(samples)} pairs"]
    if image_dependent:
        notes.append(
            "the pairs disagree in a way one fixed table cannot explain: the look first "
            "normalises each photo's own levels"
        )
    notes += [note for sample in samples for note in sample.notes]
    report = build_report(scores[worst], samples[worst], (), colours, counts, notes)
    return report.model_copy(
        update={
            "pairs": len(samples),
            "pair_psnr": tuple(round(m.psnr, 3) for m in scores),
            "image_dependent": image_dependent,
        }
    )
