"""One look from several approved pairs, and image-dependent looks.

All pairs' pixels feed one colour table (more colours seen, a safer look). The pairs are then
checked against each other: each is re-run through the joint table. When one of them is not
explained closely, the families of looks are compared held out: a quick table fitted on each
pair alone predicts every other pair, as one fixed table, with each photo's own levels
stretched first (:class:`Normalise`: black and white points as percentiles of its luma,
intensity or channels; ffmpeg's ``normalize``), or with the table's output stretched from each
photo's own range, with or without ImageMagick's brightness contrast after the stretch (its
``-sepia-tone``: tone, stretch, contrast). Held-out prediction sees whether the edit
follows each photo's levels, where fitting all pairs at once would reward the freer family.
An adaptive family is kept when it predicts the pairs clearly better than one fixed table
(``_MARGIN_DB``), and then fitted on all pairs. Families that predict them about equally well
are tried in the order of how well they predict each pair on average (mean PSNR), and the
first that explains the pairs better than the fixed table is kept: ranking them by how well
they fit the pairs themselves rewards whichever bends most to one photo's quirks. With pairs
whose levels are alike (every photo spans the full range), nothing shows that an edit depends
on them, and the fixed table stays.

Spatial parts (vignette, blur, grain) are fitted from one pair only (see :mod:`._fitting`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations
from typing import Literal

import numpy as np
from PIL import Image

from ._colour import colour_table, control_notes, fit_colour
from ._effect import FitReport, FittedEffect, seen_bitmap
from ._grouped import aggregate
from ._normalise import (
    ALIKE_RANGES,
    REC709,
    Normalise,
    contrast,
    levels,
    tonal_range,
    uncontrast,
)
from ._pairs import Sample
from ._table import Array, lookup
from ._verdict import Measures, build_report, measure

_AGREE_DB = 50.0  # every pair explained at least this well: nothing left to explain
_MARGIN_DB = 1.0  # an adaptive family must predict the pairs this much better (pooled PSNR)
_PERCENTILES = ((0.0, 1.0), (0.001, 0.999), (0.005, 0.995), (0.01, 0.99), (0.02, 0.99))
_STATISTICS: tuple[Literal["luma", "intensity", "channels"], ...] = (
    "luma",
    "intensity",
    "channels",
)
_TIE_DB = 0.5  # held-out predictions this close count as equal: their mean PSNR ranks them
_TRIED = 2  # at most this many of them are fitted on all pairs
_BINS = 16  # held-out pixels count where the pair fitted on saw their 16x16x16 colour bin
_AFTER_ROUNDS = 6  # table and per-photo output levels, fitted in turn
_IM_CONTRAST = 0.5  # ImageMagick's -contrast: the last step of its -sepia-tone


@dataclass(frozen=True)
class _Family:
    """A way the edit may depend on each photo: none ("fixed"), its levels stretched before
    the table, or the table's output stretched from its own range ("after"), then perhaps a
    fixed brightness ``contrast``."""

    stage: Literal["fixed", "before", "after"]
    statistic: Literal["luma", "intensity", "channels"] = "intensity"
    low: float = 0.0
    high: float = 1.0
    contrast: float = 0.0

    def normalise(self, black: Array, white: Array) -> Normalise:
        """Its per-photo levels (stage "before"), mapped onto ``black`` and ``white``."""
        b, w = (float(v) for v in black), (float(v) for v in white)
        return Normalise(
            statistic=self.statistic,
            low=self.low,
            high=self.high,
            black=(next(b), next(b), next(b)),
            white=(next(w), next(w), next(w)),
        )


_FIXED = _Family("fixed")
_FAMILIES = (
    _FIXED,
    _Family("after"),
    _Family("after", contrast=_IM_CONTRAST),
    *(_Family("before", s, low, high) for low, high in _PERCENTILES for s in _STATISTICS),
)


def fit_several(samples: list[Sample], *, size: int, title: str) -> FittedEffect:
    """One look for all pairs; adaptive when the pairs disagree (see the module docstring):
    the first family of :func:`_held_out_families` that explains the pairs better than one
    fixed table."""
    fixed = _fit(samples, size, title, None)
    scores = [measure(fixed, sample) for sample in samples]
    look = fixed
    if min(m.psnr for m in scores) < _AGREE_DB:
        for family in _held_out_families(samples, size):
            candidate = _fit_family(samples, size, title, family)
            candidate_scores = [measure(candidate, sample) for sample in samples]
            if _pooled(candidate_scores) > _pooled(scores):
                look, scores = candidate, candidate_scores
                break
    ranges = [tonal_range(Image.fromarray(sample.xs)) for sample in samples]
    report = _report(samples, scores, look, ranges)
    return look.model_copy(update={"report": report, "seen_range": min(ranges)})


def _held_out_families(samples: list[Sample], size: int) -> list[_Family]:
    """The adaptive families whose quick table, fitted on each pair alone, predicts the other
    pairs best on the colours it saw (pooled error within ``_TIE_DB`` of the best, at most
    ``_TRIED``), when the best predicts them clearly (``_MARGIN_DB``) better than one fixed
    table; best first by their mean PSNR over the predictions (the pooled error weighs the
    worst prediction most, the mean how each pair is predicted)."""
    flats = [sample.flat() for sample in samples]
    tables = {
        strength: [
            colour_table(aggregate(x, _uncontrast8(y, strength)), size, quick=True)
            for x, y in flats
        ]
        for strength in sorted({family.contrast for family in _FAMILIES})
    }
    images = [Image.fromarray(sample.x) for sample in samples]
    scores: list[float] = []
    means: list[float] = []
    for family in _FAMILIES:
        errors = []
        for i, j in permutations(range(len(samples)), 2):
            table = tables[family.contrast][i]
            predicted, inputs = _predict(
                family, table, (flats[i][0], images[i]), flats[j][0], images[j]
            )
            seen = _bins(inputs) if len(flats[j][0]) else None
            covered = np.isin(seen, _bins(flats[i][0] / 255.0)) if seen is not None else None
            if covered is None or not covered.any():
                covered = np.ones(len(predicted), dtype=bool)
            difference = predicted[covered] * 255.0 - flats[j][1][covered]
            errors.append(float((difference**2).mean()))
        scores.append(_db(sum(errors) / len(errors)))
        means.append(float(np.mean([_db(error) for error in errors])))
    best = max(scores)
    if best <= scores[0] + _MARGIN_DB:  # scores[0]: the fixed table
        return []
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[:_TRIED]
    tied = [i for i in ranked if scores[i] >= best - _TIE_DB]
    return [_FAMILIES[i] for i in sorted(tied, key=lambda i: -means[i])]


def _db(mse: float) -> float:
    """The PSNR (dB) of a mean squared error in 8-bit levels."""
    return -10.0 * math.log10(max(mse, 1e-9) / 255.0**2)


def _bins(colours: Array) -> Array:
    """The 16x16x16 histogram bin of each colour (m, 3) in 0..1."""
    q = np.minimum((np.clip(colours, 0.0, 1.0) * _BINS).astype(np.int64), _BINS - 1)
    return np.asarray((q[:, 0] * _BINS + q[:, 1]) * _BINS + q[:, 2])


def _predict(
    family: _Family, table: Array, source: tuple[Array, Image.Image], x8: Array, image: Image.Image
) -> tuple[Array, Array]:
    """What ``table`` (fitted on ``source``'s pixels alone) predicts for pixels x8 (m, 3) of
    ``image`` under ``family``, and the colours it looked up: both 0..1, (m, 3)."""
    x = x8 / 255.0
    if family.stage == "before":
        normalise = family.normalise(*levels(source[1], family.statistic, family.low, family.high))
        scale, offset = normalise.affine(image)
        x = np.clip(x * scale + offset, 0.0, 1.0)
        return lookup(table, x), x
    out = lookup(table, x)
    if family.stage == "after":
        black, white = _output_range(table, source[0])
        low, high = _output_range(table, x8)
        out = contrast((out - low) / (high - low) * (white - black) + black, family.contrast)
    return np.asarray(out), x


def _uncontrast8(y8: Array, strength: float) -> Array:
    """Edited pixels (m, 3), 0..255, taken back through the contrast after the stretch."""
    return uncontrast(y8 / 255.0, strength) * 255.0 if strength else y8


def _fit_family(samples: list[Sample], size: int, title: str, family: _Family) -> FittedEffect:
    """The look of ``family`` fitted on all pairs (levels mapped onto their mean)."""
    if family.stage == "after":
        return _fit_after(samples, size, title, family.contrast)
    found = [
        levels(Image.fromarray(s.x), family.statistic, family.low, family.high) for s in samples
    ]
    black, white = np.mean([f[0] for f in found], axis=0), np.mean([f[1] for f in found], axis=0)
    return _fit(samples, size, title, family.normalise(black, white))


def _fit(samples: list[Sample], size: int, title: str, normalise: Normalise | None) -> FittedEffect:
    """The colour table fitted on all pairs (normalised first when asked)."""
    xs, ys = zip(*(_pixels(sample, normalise) for sample in samples), strict=True)
    grouped = aggregate(np.concatenate(xs), np.concatenate(ys))
    colour = fit_colour(grouped, size)
    look = FittedEffect.from_table(colour.table, title=title, fast=normalise is None)
    return look.model_copy(
        update={
            "normalise": normalise,
            "seen": seen_bitmap(grouped.colours),
            "follows": colour.follows(),
        }
    )


def _fit_after(samples: list[Sample], size: int, title: str, strength: float) -> FittedEffect:
    """The look whose table's output is stretched, per photo, from its own intensity range
    onto fixed levels, then goes through a brightness contrast of ``strength``
    (:class:`Normalise` with stage "after").

    The edits are taken back through the contrast first. Then the table and the levels are
    fitted in turn: each photo's range is measured on the current table's output, the edits
    are mapped back through their photo's stretch, and the table is fitted again on those
    targets (quickly, but for the last round)."""
    flats = [(x, _uncontrast8(y, strength)) for x, y in (sample.flat() for sample in samples)]
    x = np.concatenate([f[0] for f in flats])
    table = colour_table(aggregate(x, np.concatenate([f[1] for f in flats])), size, quick=True)
    for round_ in range(_AFTER_ROUNDS):
        ranges = [_output_range(table, f[0]) for f in flats]
        black, white = min(r[0] for r in ranges), max(r[1] for r in ranges)
        targets = [
            np.clip((y / 255.0 - black) / (white - black) * (high - low) + low, 0.0, 1.0)
            for (_, y), (low, high) in zip(flats, ranges, strict=True)
        ]
        last = round_ == _AFTER_ROUNDS - 1
        table = colour_table(aggregate(x, np.concatenate(targets) * 255.0), size, quick=not last)
    ranges = [_output_range(table, f[0]) for f in flats]
    black, white = min(r[0] for r in ranges), max(r[1] for r in ranges)
    normalise = Normalise(
        statistic="intensity",
        low=0.0,
        high=1.0,
        stage="after",
        black=(black, black, black),
        white=(white, white, white),
        contrast=strength,
    )
    look = FittedEffect.from_table(table, title=title)
    return look.model_copy(update={"normalise": normalise, "seen": seen_bitmap(x / 255.0)})


def _output_range(table: Array, x8: Array) -> tuple[float, float]:
    """The darkest and brightest intensity of the table's output for pixels x8 (m, 3)."""
    intensity = lookup(table, x8 / 255.0) @ REC709
    low = float(intensity.min())
    return low, max(float(intensity.max()), low + 1e-3)


def _pixels(sample: Sample, normalise: Normalise | None) -> tuple[Array, Array]:
    """A pair's pixel pairs for the colour fit (:meth:`Sample.pixels`), the original
    normalised as the look would (uint8)."""
    x, y = sample.pixels()
    if normalise is None:
        return x, y
    scale, offset = normalise.affine(Image.fromarray(sample.x))
    normalised = np.clip(np.rint((x / 255.0 * scale + offset) * 255.0), 0, 255)
    return normalised.astype(np.uint8), y


def _pooled(scores: list[Measures]) -> float:
    """PSNR of the mean squared error over the pairs."""
    mean = sum(10 ** (-m.psnr / 10.0) for m in scores) / len(scores)
    return -10.0 * math.log10(max(mean, 1e-12))


def _report(
    samples: list[Sample], scores: list[Measures], look: FittedEffect, ranges: list[float]
) -> FitReport:
    """The report: the worst pair's measurements decide the verdict. ``ranges``: each
    photo's tonal range."""
    worst = min(range(len(samples)), key=lambda i: scores[i].psnr)
    colours, counts, _, _ = aggregate(*samples[worst].flat())
    notes = [f"fitted on {len(samples)} pairs"]
    if look.normalise is not None:
        where = "after the colour table" if look.normalise.stage == "after" else "first"
        notes.append(
            "the pairs disagree in a way one fixed table cannot explain: the look "
            f"normalises each photo's own levels {where}"
        )
    elif min(ranges) >= ALIKE_RANGES * max(ranges):
        notes.append(
            f"the approved photos span alike tonal ranges ({min(ranges):.0%}-{max(ranges):.0%}), "
            "so the pairs cannot show whether the edit follows each photo's own levels; "
            "range_of() and seedless apply flag a photo of a much narrower range"
        )
    notes += control_notes(look.follows)
    notes += [note for sample in samples for note in sample.notes]
    report = build_report(scores[worst], samples[worst], (), colours, counts, notes)
    return report.model_copy(
        update={
            "pairs": len(samples),
            "pair_psnr": tuple(round(m.psnr, 3) for m in scores),
            "image_dependent": look.normalise is not None,
        }
    )
