"""The colour table of a look: the parametric model, plus a residual lattice where the pairs
have evidence and it earns its place (:mod:`._parametric`, :mod:`._lattice`)."""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageFilter

from ._grouped import Colours, coarsen
from ._lattice import fit_residual
from ._parametric import fit_parametric
from ._table import Array, lattice, lookup

# The residual lattice must earn its place: it is kept only when it makes the pair, as
# applied (8-bit output), at least this much closer than the parametric model alone. A
# residual that gains less is fitting what one photo happens to show (an edit that
# normalises each photo's own range, noise) and loses as much or more on other photos.
_RESIDUAL_GAIN_DB = 1.0


def colour_table(grouped: Colours, size: int, *, quick: bool = False) -> Array:
    """The fitted colour table (N, N, N, 3), from colours grouped by :func:`aggregate`;
    ``quick``: the parametric model's simplest level only (for intermediate steps)."""
    colours, counts, targets, _ = grouped
    model = fit_parametric(coarsen(grouped), levels=0 if quick else 2)
    base = np.clip(model(lattice(size)), 0.0, 1.0)
    table = np.clip(base + fit_residual(colours, counts, targets, base), 0.0, 1.0)
    if residual_gain(base, table, colours, counts, targets) < _RESIDUAL_GAIN_DB:
        return np.asarray(base)
    return np.asarray(table)


def residual_gain(
    base: Array, table: Array, colours: Array, counts: Array, targets: Array
) -> float:
    """How much closer (dB) ``table`` brings the colours' 8-bit outputs to their targets
    than ``base`` does (``inf`` when it makes them exact)."""
    errors = [
        float(
            (counts[:, None] * (np.rint(lookup(t, colours) * 255.0) - targets * 255.0) ** 2).sum()
        )
        for t in (base, table)
    ]
    if errors[1] <= 0.0:
        return math.inf
    return 10.0 * math.log10(max(errors[0], 1e-12) / errors[1])


def colour_pass(table: Array) -> ImageFilter.Color3DLUT:
    """The table as a Pillow filter."""
    return ImageFilter.Color3DLUT(table.shape[0], table.astype(np.float32))
