"""Per-photo levels around the fitted table: what makes an image-dependent look exact.

Some edits depend on each photo's own range: an auto-levels step, a "normalize", a toning
whose strength follows the photo's black and white points. :class:`Normalise` reproduces that
part: it measures the ``low`` and ``high`` percentiles (of luma, of intensity, or of each
channel) and maps them, linearly, onto fixed ``black`` and ``white`` levels. With ``stage``
"before" (ffmpeg's ``normalize`` and other auto levels) the photo is measured and stretched
before the fixed table; with "after" (ImageMagick's ``-sepia-tone``, which normalises the toned
image) the table's output is measured and stretched, and may then go through a fixed
``contrast`` (:func:`contrast`: ImageMagick's ``-contrast``, the last step of its sepia tone),
which a table before the stretch cannot hold. The percentiles come from the exact pixels, so
the result is deterministic.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._table import Array

REC709 = np.array([0.212656, 0.715158, 0.072186])  # ImageMagick's pixel intensity
_MIN_SPAN = 4.0 / 255.0  # a photo narrower than this is stretched as if it spanned it
_RANGE_TAIL = 0.001  # a photo's tonal range leaves out this share of pixels at each end
_INVERSE_GRID = 4097  # brightness samples uncontrast() inverts the contrast on
_SMALL_SIDE = 256  # a photo's range and coverage are measured on a copy at most this long
#: Photos whose tonal ranges are within this ratio cannot show an edit that follows each
#: photo's own levels: the normalisations of ffmpeg and ImageMagick barely tell them apart.
ALIKE_RANGES = 0.85


class Normalise(BaseModel):
    """Map the photo's own ``low``/``high`` percentiles onto ``black``/``white``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statistic: Literal["luma", "intensity", "channels"] = Field(
        description="percentiles of the photo's luma (ITU-R 601, Pillow's), of its "
        "intensity (ITU-R 709, ImageMagick's): one stretch for all channels; or of each channel"
    )
    low: float = Field(ge=0.0, le=0.25, description="lower percentile, as a fraction")
    high: float = Field(ge=0.75, le=1.0, description="upper percentile, as a fraction")
    stage: Literal["before", "after"] = Field(
        "before",
        description='"before": the photo\'s levels are stretched before the table; "after": '
        "the table's output is measured and stretched",
    )
    black: tuple[float, float, float] = Field(description="where the lower one goes, 0..1")
    white: tuple[float, float, float] = Field(description="where the upper one goes, 0..1")
    contrast: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description='stage "after" only: a contrast applied after the stretch, moving each '
        "colour's HSB brightness along a sine by this strength (0.5: ImageMagick's -contrast)",
    )

    @model_validator(mode="after")
    def _contrast_after(self) -> Normalise:
        if self.contrast and self.stage != "after":
            raise ValueError('a contrast after the stretch needs stage "after"')
        return self

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
        what = {"luma": "luma", "intensity": "intensity"}.get(self.statistic, "each channel")
        points = f"the {self.low:.1%} and {self.high:.1%} points stretched to fixed black and white"
        if self.stage == "after":
            then = f", then a brightness contrast of {self.contrast:+.2f}" if self.contrast else ""
            return f"each photo's own levels after the colour table ({what}: {points}{then})"
        return f"each photo's own levels first ({what}: {points})"


def contrast(rgb: Array, strength: float) -> Array:
    """Colours (..., 3) in 0..1 with their HSB brightness (the largest channel) ``v`` moved
    to ``v + strength * ((sin(pi * (v - 0.5)) + 1) / 2 - v)``, hue and saturation kept:
    ImageMagick's ``-contrast`` at strength 0.5 (``+contrast`` at -0.5). Monotone in ``v``
    for strengths in -1..1, so :func:`uncontrast` inverts it."""
    if not strength:
        return rgb
    brightness = rgb.max(axis=-1, keepdims=True)
    moved = brightness + strength * (0.5 * (np.sin(np.pi * (brightness - 0.5)) + 1.0) - brightness)
    return np.asarray(rgb * (moved / np.maximum(brightness, 1e-12)))


def uncontrast(rgb: Array, strength: float) -> Array:
    """The colours (..., 3) that :func:`contrast` maps onto ``rgb`` (0..1)."""
    if not strength:
        return rgb
    grid = np.linspace(0.0, 1.0, _INVERSE_GRID)
    brightness = rgb.max(axis=-1, keepdims=True)
    before = np.interp(brightness, contrast(np.repeat(grid[:, None], 3, 1), strength)[:, 0], grid)
    return np.asarray(rgb * (before / np.maximum(brightness, 1e-12)))


def levels(image: Image.Image, statistic: str, low: float, high: float) -> tuple[Array, Array]:
    """Lower and upper percentiles (fractions ``low``, ``high``) of an RGB image's luma or
    channels, from its exact histogram, interpolated within a level: ((3,), (3,)) in 0..1."""
    if statistic == "intensity":
        return _intensity_levels(image, low, high)
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


def tonal_range(image: Image.Image) -> float:
    """The photo's tonal range, 0..1: its Rec. 709 intensity's 99.9th minus 0.1st percentile
    (on :func:`small_copy`). The scikit-image photos: 0.72 (the cat), 0.90 (the Hubble
    photo), 0.97-1.0 (the others)."""
    low, high = _intensity_levels(small_copy(image), _RANGE_TAIL, 1.0 - _RANGE_TAIL)
    return float(high[0] - low[0])


def small_copy(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image`` at most about 256 px on its long side (box-reduced by a whole
    factor): enough to measure a photo's range or colours."""
    small = image.convert("RGB")
    factor = max(1, max(small.size) // _SMALL_SIDE)
    return small.reduce(factor) if factor > 1 else small


def _intensity_levels(image: Image.Image, low: float, high: float) -> tuple[Array, Array]:
    """The ``low``/``high`` quantiles of the photo's Rec. 709 intensity (no rounding to a
    level, as ImageMagick measures it), the same for the three channels."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3)
    intensity = rgb @ REC709 / 255.0
    found = np.quantile(intensity, (low, high)) if len(intensity) else np.zeros(2)
    return np.full(3, float(found[0])), np.full(3, float(found[1]))
