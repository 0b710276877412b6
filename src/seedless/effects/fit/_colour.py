"""The colour table of a look: the parametric model, plus a residual lattice where the pairs
have evidence (:mod:`._parametric`, :mod:`._lattice`)."""

from __future__ import annotations

import numpy as np
from PIL import ImageFilter

from ._lattice import fit_residual
from ._pairs import coarsen
from ._parametric import fit_parametric
from ._table import Array, lattice


def colour_table(
    colours: Array, counts: Array, targets: Array, size: int, *, quick: bool = False
) -> Array:
    """The fitted colour table (N, N, N, 3), from colours grouped by :func:`aggregate`;
    ``quick``: the parametric model's simplest level only (for intermediate steps)."""
    model = fit_parametric(*coarsen(colours, counts, targets), levels=0 if quick else 2)
    base = np.clip(model(lattice(size)), 0.0, 1.0)
    return np.asarray(np.clip(base + fit_residual(colours, counts, targets, base), 0.0, 1.0))


def colour_pass(table: Array) -> ImageFilter.Color3DLUT:
    """The table as a Pillow filter."""
    return ImageFilter.Color3DLUT(table.shape[0], table.astype(np.float32))
