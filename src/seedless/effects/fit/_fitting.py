"""``fit_effect``: from an approved before/after pair to a :class:`FittedEffect` with its report.

1. Pair the pixels (:mod:`._pairs`).
2. Fit the parametric model (:mod:`._parametric`): what the table follows where the pair has
   no evidence.
3. Fit a smooth residual lattice on top (:mod:`._lattice`), for accuracy where it has.
4. The table is ``clip(parametric + residual, 0, 1)`` at the lattice points; the report
   (:mod:`._verdict`) comes from running that exact table over the original.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import InvalidImageError
from ._effect import FittedEffect
from ._lattice import fit_residual
from ._pairs import ImageSource, aggregate, coarsen, open_image, pair_images
from ._parametric import fit_parametric
from ._table import lattice
from ._verdict import build_report

_MAX_FIT_PIXELS = 2_000_000  # larger pairs are decimated (every k-th pixel) for the fit


def fit_effect(
    original: ImageSource,
    edited: ImageSource,
    *,
    size: int = 33,
    title: str = "",
    max_pixels: int = _MAX_FIT_PIXELS,
) -> FittedEffect:
    """Fit the global colour/tone transform that turns ``original`` into ``edited``.

    Both may be PIL images, encoded bytes or paths; they need not be the same size. ``size``
    is the LUT lattice (2..65; 33 is the usual ``.cube`` size). Pairs above ``max_pixels``
    are decimated for the fit. The result's ``report`` says how well the LUT explains the
    pair and whether the edit was global; it is returned either way.
    """
    if not 2 <= size <= 65:
        raise ValueError(f"size must be 2..65 (Pillow's Color3DLUT limit), not {size}")
    before = open_image(original, "original")
    after = open_image(edited, "edited")
    pair = pair_images(before, after)
    x, y, mask = pair.x, pair.y, pair.mask
    notes = list(pair.notes)

    step = max(1, math.ceil(math.sqrt(x.shape[0] * x.shape[1] / max_pixels)))
    xs, ys_img = x[::step, ::step], y[::step, ::step]
    ms = mask[::step, ::step] if mask is not None else None
    if step > 1:
        notes.append(f"fitted on one pixel in {step} along each axis ({xs.shape[1]}x{xs.shape[0]})")

    flat_x = xs.reshape(-1, 3)
    flat_y = ys_img.reshape(-1, 3)
    if ms is not None:
        flat_x, flat_y = flat_x[ms.ravel()], flat_y[ms.ravel()]
    if len(flat_x) < 16:
        raise InvalidImageError("the pair has fewer than 16 usable pixels; nothing to fit")

    colours, counts, targets = aggregate(flat_x, flat_y)
    model = fit_parametric(*coarsen(colours, counts, targets))
    base = np.clip(model(lattice(size)), 0.0, 1.0)
    residual = fit_residual(colours, counts, targets, base)
    effect = FittedEffect.from_table(np.clip(base + residual, 0.0, 1.0), title=title)

    report = build_report(effect, xs, ys_img, ms, x, y, step, colours, counts, notes)
    return effect.model_copy(update={"report": report})
