"""The colour table of a look: the parametric model, plus a residual lattice where the pairs
have evidence and it earns its place (:mod:`._parametric`, :mod:`._lattice`)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import ImageFilter

from ._grouped import Colours, coarsen
from ._lattice import fit_residual
from ._parametric import Control, fit_parametric
from ._table import Array, lattice, lookup

# The residual lattice must earn its place: it is kept only when it makes the pair, as
# applied (8-bit output), at least this much closer than the parametric model alone. A
# residual that gains less is fitting what one photo happens to show (an edit that
# normalises each photo's own range, noise) and loses as much or more on other photos.
_RESIDUAL_GAIN_DB = 1.0


class ColourFit(NamedTuple):
    """A fitted colour table (N, N, N, 3), and the editor's control the pair was found to be
    (HSL sliders, a vibrance), which the table follows on colours the pair lacks."""

    table: Array
    control: Control | None

    def follows(self) -> str | None:
        """The control in words (``FittedEffect.follows``), or None."""
        return self.control.describe() if self.control is not None else None


def control_notes(follows: str | None) -> list[str]:
    """The report's note on a look's control (``FittedEffect.follows``), when it has one."""
    if follows is None:
        return []
    return [f"the edit is {follows}; the look follows it on colours the photos lack"]


def fit_colour(grouped: Colours, size: int, *, quick: bool = False) -> ColourFit:
    """The colour table, from colours grouped by :func:`aggregate`, and its control;
    ``quick``: the parametric model's simplest level only (for intermediate steps)."""
    colours, counts, targets, _ = grouped
    model = fit_parametric(coarsen(grouped), levels=0 if quick else 2)
    base = np.clip(model(lattice(size)), 0.0, 1.0)
    table = np.clip(base + fit_residual(colours, counts, targets, base), 0.0, 1.0)
    if residual_gain(base, table, colours, counts, targets) < _RESIDUAL_GAIN_DB:
        table = base
    return ColourFit(np.asarray(table), model.control)


def colour_table(grouped: Colours, size: int, *, quick: bool = False) -> Array:
    """The table of :func:`fit_colour`."""
    return fit_colour(grouped, size, quick=quick).table


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
