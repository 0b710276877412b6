"""``fit_effect``: from approved before/after pairs to a :class:`FittedEffect` with its report.

For one pair:

1. Pair the pixels (:mod:`._pairs`).
2. Fit the colour table: the parametric model (:mod:`._parametric`), what the table follows
   where the pair has no evidence, and a smooth residual lattice on top (:mod:`._lattice`),
   for accuracy where it has, fading out with distance from it.
3. Measure what the table leaves unexplained (:mod:`._verdict`); where that points at a blur
   or sharpening, or a vignette, fit it (:mod:`._spatial`), keep it when it explains clearly
   more, and fit the table again on the pair with the part accounted for. Then film grain,
   from what is left.
4. The verdict comes from what the whole look leaves unexplained.

Several pairs go to :mod:`._adaptive`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from ._adaptive import fit_several
from ._colour import ColourFit, colour_pass, colour_table, control_notes, fit_colour
from ._effect import FittedEffect, seen_bitmap
from ._grouped import aggregate
from ._normalise import tonal_range
from ._pairs import ImageSource, Sample, prepare
from ._parts import Detail, Grain, Vignette
from ._spatial import Fitted, fit_detail, fit_grain, fit_vignette, mse
from ._table import Array
from ._verdict import build_report, measure

_MAX_FIT_PIXELS = 2_000_000  # larger pairs are decimated (every k-th pixel) for the fit
_DETAIL_WINDOW = 1024  # blur and sharpening are fitted on a full-resolution window this big
_KEEP = 0.6  # a spatial part is kept when it leaves at most this share of the squared error
_SEE_THROUGH = 3.0  # px: the blur that shows a pair's colour edit through its blur/sharpening
# A blur or sharpening and a quick colour table are fitted in turn until the radius settles
# (moves by less than this share), at most this often.
_SETTLED = 0.005
_ROUNDS = 6

Pair = tuple[ImageSource, ImageSource]


def fit_effect(
    original: ImageSource | Sequence[Pair],
    edited: ImageSource | None = None,
    *,
    size: int = 33,
    title: str = "",
    max_pixels: int = _MAX_FIT_PIXELS,
) -> FittedEffect:
    """Fit the look that turns ``original`` into ``edited``, or one look for several pairs.

    Images may be PIL images, encoded bytes or paths; the two of a pair need not be the same
    size. ``fit_effect(before, after)`` fits one pair; ``fit_effect([(before1, after1),
    (before2, after2), ...])`` fits one look on all pairs (more colours seen) and checks
    that they agree: when one fixed table cannot explain them all, it tries a look that
    first normalises each photo's own levels (``report.image_dependent``).

    ``size`` is the table's lattice (2..65; 33 is the usual ``.cube`` size). Pairs above
    ``max_pixels`` are decimated for the colour fit. The result's ``report`` says how well
    the look explains the pairs and gives the verdict: ``"global"``, ``"global + spatial"``
    (with a vignette, blur, sharpening or grain, in ``report.parts``) or ``"not
    reproducible locally"``; the look is returned either way.
    """
    if not 2 <= size <= 65:
        raise ValueError(f"size must be 2..65 (Pillow's Color3DLUT limit), not {size}")
    pairs = _pairs(original, edited)
    samples = [prepare(before, after, max_pixels) for before, after in pairs]
    if len(samples) > 1:
        return fit_several(samples, size=size, title=title)
    return _fit_one(samples[0], size, title)


def _pairs(original: ImageSource | Sequence[Pair], edited: ImageSource | None) -> list[Pair]:
    if edited is not None:
        return [(original, edited)]  # type: ignore[list-item]
    if isinstance(original, str | bytes | bytearray | memoryview | Image.Image | os.PathLike):
        raise TypeError(
            "fit_effect takes an original and its edit, fit_effect(before, after), or a list "
            "of pairs, fit_effect([(before1, after1), (before2, after2)])"
        )
    if not isinstance(original, Sequence):  # an open file, say: not a list of pairs
        raise TypeError("fit_effect(original) alone takes a list of (original, edited) pairs")
    pairs: list[Any] = list(original)
    if not pairs or not all(isinstance(p, tuple | list) and len(p) == 2 for p in pairs):
        raise TypeError("fit_effect([...]) takes (original, edited) pairs, at least one")
    return [(p[0], p[1]) for p in pairs]


def _fit_one(sample: Sample, size: int, title: str) -> FittedEffect:
    grouped = sample.colours()
    colour = fit_colour(grouped, size)
    first = measure(FittedEffect.from_table(colour.table), sample)
    kept: list[Fitted] = []
    if first.wants_detail:
        found: Fitted | None = None
        trial, plain = _smooth_tables(sample, size)  # blur and sharpening spare flat areas
        for _ in range(_ROUNDS):  # the part and the table, fitted in turn
            part = _try_detail(sample, trial, plain, blur=first.edge_gain > 0)
            if part is None:
                break
            settled = found is not None and _settled(found.part, part.part)
            found = part
            if settled:
                break
            trial = _refit(sample, [found], size, quick=True).table
        if found is not None:
            kept.append(found)
            colour = _refit(sample, kept, size)
    if first.wants_vignette:
        vignette = _try_vignette(sample, colour.table, kept)
        if vignette is not None:
            kept.append(vignette)
            colour = _refit(sample, kept, size)
    look = FittedEffect.from_table(colour.table, title=title, fast=True).model_copy(
        update={
            "before": tuple(f.part for f in kept if f.stage == "before"),
            "after": tuple(f.part for f in kept if f.stage == "after"),
        }
    )
    measures = measure(look, sample)
    grain = _try_grain(sample, look)
    parts = tuple(_name(f.part) for f in kept) + (("grain",) if grain is not None else ())
    follows = colour.follows()
    notes = [*sample.notes, *control_notes(follows)]
    report = build_report(measures, sample, parts, grouped.colours, grouped.counts, notes)
    update: dict[str, object] = {
        "seen": seen_bitmap(grouped.colours),
        "seen_range": tonal_range(Image.fromarray(sample.xs)),
        "report": report,
        "follows": follows,
    }
    if grain is not None:
        update["after"] = (*look.after, grain)
    return look.model_copy(update=update)


def _settled(last: Vignette | Detail | Grain, new: Vignette | Detail | Grain) -> bool:
    """Whether a blur or sharpening fitted again moved its radius and amount by less than
    :data:`_SETTLED` (the table and the part fitted in turn converge slowly: on a dark photo
    of stars, a blur's radius went 2.57, 2.86, 2.95, 3.01, 2.99, 3.00 px)."""
    assert isinstance(last, Detail) and isinstance(new, Detail)
    return (
        abs(new.radius - last.radius) < _SETTLED * last.radius
        and abs(new.amount - last.amount) < _SETTLED * max(abs(last.amount), 0.1)
        and new.kernel == last.kernel
    )


def _name(part: Vignette | Detail | Grain) -> str:
    if isinstance(part, Detail):
        return "blur" if part.amount < 0 else "sharpen"
    return part.part


def _window(sample: Sample) -> tuple[Array, Array]:
    """The full-resolution pair, or its central window when it is large."""
    height, width = sample.x.shape[:2]
    side = _DETAIL_WINDOW
    if height <= side and width <= side:
        return sample.x, sample.y
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    window = (slice(top, top + side), slice(left, left + side))
    return sample.x[window], sample.y[window]


def _smooth_tables(sample: Sample, size: int) -> tuple[Array, Array]:
    """The colour tables fitted on the flattest half of the pair (least local detail): with
    both sides blurred alike (:func:`_see_through`), and as they are."""
    flat = sample.flattest
    x, y = _see_through(sample.xs), _see_through(sample.ys)
    return (
        colour_table(aggregate(x[flat], y[flat]), size, quick=True),
        colour_table(aggregate(sample.xs[flat], sample.ys[flat]), size, quick=True),
    )


def _see_through(values: Array) -> Array:
    """(H, W, 3) values blurred by :data:`_SEE_THROUGH` px, as 8-bit.

    A blur or sharpening keeps local means, so a pair blurred alike on both sides shows the
    colour edit alone: what the fitted part misses (noise a sharpening amplified in a dark
    sky, halos clipped at black, a kernel's tails) would otherwise teach the colour table a
    contrast and saturation the edit never made.
    """
    rgb = np.clip(np.rint(values), 0.0, 255.0).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(_SEE_THROUGH)))


def _try_detail(sample: Sample, table: Array, plain: Array, *, blur: bool) -> Fitted | None:
    """The blur or sharpening fitted with ``table``, when it explains clearly more than that
    table alone and than ``plain`` (the flat half's table, unblurred) alone."""
    x, y = _window(sample)
    lut = colour_pass(table)

    def colour(image: Image.Image) -> Image.Image:
        return image.filter(lut)

    source = Image.fromarray(x)
    fitted = fit_detail(source, y, colour, reference=sample.long_side, blur=blur)
    alone = min(
        mse(np.asarray(colour(source)), y), mse(np.asarray(source.filter(colour_pass(plain))), y)
    )
    return fitted if fitted.error < _KEEP * alone else None


def _try_vignette(sample: Sample, table: Array, kept: list[Fitted]) -> Fitted | None:
    """The better of the two vignettes :func:`fit_vignette` finds (after or before the
    table), when it explains clearly more than the table alone."""
    source = _before_parts(Image.fromarray(sample.xs), kept)
    base = mse(np.asarray(_after_parts(source.filter(colour_pass(table)), kept)), sample.ys)
    best: Fitted | None = None
    for vignette, stage in fit_vignette(np.asarray(source), sample.ys, sample.long_side):
        trial = [*kept, Fitted(vignette, stage, 0.0)]
        refitted = colour_pass(_refit(sample, trial, table.shape[0], quick=True).table)
        start = _before_parts(Image.fromarray(sample.xs), trial)
        error = mse(np.asarray(_after_parts(start.filter(refitted), trial)), sample.ys)
        if best is None or error < best.error:
            best = Fitted(vignette, stage, error)
    return best if best is not None and best.error < _KEEP * base else None


def _before_parts(image: Image.Image, kept: list[Fitted]) -> Image.Image:
    for fitted in kept:
        if fitted.stage == "before":
            image = fitted.part.apply(image)
    return image


def _after_parts(image: Image.Image, kept: list[Fitted]) -> Image.Image:
    for fitted in kept:
        if fitted.stage == "after":
            image = fitted.part.apply(image)
    return image


def _refit(sample: Sample, kept: list[Fitted], size: int, *, quick: bool = False) -> ColourFit:
    """The colour table (and its control) fitted again with the spatial parts accounted
    for: the original through the parts that run before the table, the edit divided by the
    vignette's gain; the ``quick`` tables that a blur or sharpening is fitted against see the
    pair through :func:`_see_through`. (A blur or sharpening after the table is treated as
    if before it: for the colours between edges, the two are the same.)"""
    x = np.asarray(_before_parts(Image.fromarray(sample.xs), kept))
    for fitted in kept:
        if isinstance(fitted.part, Detail) and fitted.stage == "after":
            x = np.asarray(fitted.part.apply(Image.fromarray(x)))
    y = sample.ys.astype(np.float64)
    for fitted in kept:
        if isinstance(fitted.part, Vignette) and fitted.stage == "after":
            gain = fitted.part.gain_map(y.shape[1], y.shape[0])[:, :, None]
            y = np.clip(y / np.maximum(gain, 0.05), 0.0, 255.0)
    if quick and any(isinstance(fitted.part, Detail) for fitted in kept):
        x, y = _see_through(x), _see_through(y)
    return fit_colour(sample.colours(x, y), size, quick=quick)


def _try_grain(sample: Sample, look: FittedEffect) -> Grain | None:
    x, y = _window(sample)
    predicted = np.asarray(look.apply(Image.fromarray(x)), dtype=np.float64)
    return fit_grain(y.astype(np.float64) - predicted, predicted, sample.long_side)
