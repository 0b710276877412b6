"""Per-photo levels before the fitted table: what makes an image-dependent look exact.

Some edits depend on each photo's own range: an auto-levels step, a "normalize", a toning
whose strength follows the photo's black and white points. :class:`Normalise` reproduces that
part: it measures the photo's ``low`` and ``high`` percentiles (of luma, or of each channel)
and maps them, linearly, onto fixed ``black`` and ``white`` levels, before the fixed table.
The percentiles come from the photo's exact histogram, so the result is deterministic.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ._table import Array

_MIN_SPAN = 4.0 / 255.0  # a photo narrower than this is stretched as if it spanned it


class Normalise(BaseModel):
    """Map the photo's own ``low``/``high`` percentiles onto ``black``/``white``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statistic: Literal["luma", "channels"] = Field(
        description="percentiles of the photo's luma (one stretch for all channels) or of "
        "each channel"
    )
    low: float = Field(ge=0.0, le=0.25, description="lower percentile, as a fraction")
    high: float = Field(ge=0.75, le=1.0, description="upper percentile, as a fraction")
    black: tuple[float, float, float] = Field(description="where the lower one goes, 0..1")
    white: tuple[float, float, float] = Field(description="where the upper one goes, 0..1")

    def levels(self, image: Image.Image) -> tuple[Array, Array]:
        """The photo's lower and upper percentiles per channel, 0..1: ((3,), (3,))."""
        return levels(image, self.statistic, self.low, self.high)

    def affine(self, image: Image.Image) -> tuple[Array, Array]:
        """(scale, offset) per channel such that ``scale * x + offset`` normalises x (0..1)."""
        low, high = self.levels(image)
        span = np.maximum(high - low, _MIN_SPAN)
        scale = (np.asarray(self.white) - np.asarray(self.black)) / span
        return scale, np.asarray(self.black) - low * scale

    def describe(self) -> str:
        what = "luma" if self.statistic == "luma" else "each channel"
        return (
            f"each photo's own levels first ({what}: the {self.low:.1%} and {self.high:.1%} "
            "points stretched to fixed black and white points)"
        )


def levels(image: Image.Image, statistic: str, low: float, high: float) -> tuple[Array, Array]:
    """Lower and upper percentiles (fractions ``low``, ``high``) of an RGB image's luma or
    channels, from its exact histogram, interpolated within a level: ((3,), (3,)) in 0..1."""
    if statistic == "luma":
        counts = np.asarray(image.convert("L").histogram(), dtype=np.float64)[None, :]
    else:
        counts = np.asarray(image.histogram(), dtype=np.float64)[:768].reshape(3, 256)
    out = np.array([[_percentile(row, q) for q in (low, high)] for row in counts]) / 255.0
    if len(out) == 1:
        out = np.repeat(out, 3, axis=0)
    return out[:, 0], out[:, 1]


def _percentile(counts: Array, fraction: float) -> float:
    """The ``fraction`` quantile of the pixel values a histogram counts, as numpy's
    ``quantile`` gives it for the pixels themselves (0: the darkest, 1: the brightest)."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    if total <= 0:
        return 0.0
    rank = fraction * (total - 1)
    below, above = math.floor(rank), math.ceil(rank)

    def value(r: int) -> float:
        return float(np.searchsorted(cumulative, r + 1, side="left"))

    low = value(below)
    return low + (rank - below) * (value(above) - low)
