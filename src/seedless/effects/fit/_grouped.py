"""Pixel pairs grouped by input colour: what the colour fits see, and its noise."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._table import Array

_MAX_PARAMETRIC_COLOURS = 12_000  # above this, the parametric fit sees colour bins


class Colours(NamedTuple):
    """Pixel pairs grouped by input colour: what the colour fits see."""

    colours: Array  # (m, 3) the distinct input colours, 0..1
    counts: Array  # (m,) pixels of each
    targets: Array  # (m, 3) their mean output, 0..1
    #: The pair's noise: how much the outputs of pixels of one input colour vary about their
    #: mean (pooled variance, 8-bit levels squared). 0 for a point operation; 39 for ffmpeg's
    #: noise=alls=10 before its curves on the cat photo; a blur or vignette counts too until
    #: the fit accounts for it (36 for ImageMagick's -gaussian-blur 0x1.5 there).
    noise: float


def aggregate(x8: Array, y8: Array) -> Colours:
    """Group pixel pairs by exact input colour (see :class:`Colours`).

    ``x8`` is uint8 (m, 3); ``y8`` 8-bit levels (m, 3), integers or not."""
    key = (x8[:, 0].astype(np.int64) << 16) | (x8[:, 1].astype(np.int64) << 8) | x8[:, 2]
    unique, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    y = y8.astype(np.float64)
    sums = np.stack([np.bincount(inverse, y[:, c], len(unique)) for c in range(3)], axis=1)
    squares = np.stack(
        [np.bincount(inverse, y[:, c] * y[:, c], len(unique)) for c in range(3)], axis=1
    )
    spread = float((squares - sums * sums / counts[:, None]).sum())
    repeats = 3 * (len(y) - len(unique))
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    return Colours(
        colours.astype(np.float64) / 255.0,
        counts.astype(np.float64),
        sums / counts[:, None] / 255.0,
        max(spread, 0.0) / repeats if repeats else 0.0,
    )


def coarsen(grouped: Colours) -> Colours:
    """Merge colours into 2-, 4- or 8-level bins (mean input, mean output) when there are many.

    The parametric model has a few hundred unknowns; tens of thousands of distinct colours
    tell it no more than their bin averages do, and cost time and memory (12 MP photos).
    """
    bits = 7
    while len(grouped.colours) > _MAX_PARAMETRIC_COLOURS and bits >= 5:
        grouped = _merge(grouped, bits)
        bits -= 1
    return grouped


def _merge(grouped: Colours, bits: int) -> Colours:
    """Merge colours into bins of 2**(8 - bits) levels per channel."""
    colours, counts, targets, noise = grouped
    side = 1 << bits
    q = np.minimum((colours * side).astype(np.int64), side - 1)
    key = (q[:, 0] << (2 * bits)) | (q[:, 1] << bits) | q[:, 2]
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, counts, len(unique))

    def mean(values: Array) -> Array:
        return (
            np.stack(
                [np.bincount(inverse, counts * values[:, c], len(unique)) for c in range(3)], axis=1
            )
            / total[:, None]
        )

    return Colours(mean(colours), total, mean(targets), noise)
