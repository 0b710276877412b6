"""The pixel maths of the built-in scorers and of ``measure_reproducibility``, in numpy.

Images as RGB arrays at a size, CIELAB ΔE, gradient correlation, SSIM, the colour transfer
fitted on an approved pair, and the pairwise distances of several results. numpy is imported
here, at the top; :mod:`.scorers` and :mod:`.measure`, which ``import seedless`` loads, import
this module when they first compute, so numpy stays out of ``import seedless``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
from PIL import Image

__all__ = [
    "Array",
    "ColourTransfer",
    "Mask",
    "delta_e",
    "fit_colour_transfer",
    "gradient_correlation",
    "mean",
    "pairwise_distances",
    "pixel_delta_e",
    "rgb_array",
    "same",
    "scaled_size",
    "smallest",
    "ssim",
]

Array: TypeAlias = np.ndarray[Any, np.dtype[np.float64]]
Mask: TypeAlias = np.ndarray[Any, np.dtype[np.bool_]]


def scaled_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``size`` shrunk (never grown) to fit ``long_side``, aspect kept."""
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def rgb_array(image: Image.Image, size: tuple[int, int]) -> Array:
    """RGB values in 0..1 at exactly ``size`` (area averaging when shrinking)."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64) / 255.0


def _srgb_to_lab(rgb: Array) -> Array:
    """sRGB in 0..1 (any shape ending in 3) to CIELAB under D65."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [[0.4124564, 0.3575761, 0.1804375],
         [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    eps = 216 / 24389
    f = np.where(xyz > eps, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    lab: Array = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def pixel_delta_e(a: Array, b: Array) -> Array:
    """CIE76 ΔE of every pixel of two RGB arrays (0..1) of the same shape, flattened."""
    lab = (_srgb_to_lab(a) - _srgb_to_lab(b)).reshape(-1, 3)
    return np.asarray(np.sqrt((lab**2).sum(axis=1)), dtype=np.float64)


def delta_e(a: Array, b: Array) -> float:
    """Mean CIE76 ΔE between two RGB arrays (0..1) of the same shape (2.3 ≈ just noticeable)."""
    return float(pixel_delta_e(a, b).mean())


def _luma(rgb: Array) -> Array:
    return np.asarray(rgb @ np.array([0.299, 0.587, 0.114]), dtype=np.float64)


def gradient_correlation(a: Array, b: Array) -> float:
    """Pearson correlation of the luma gradient fields of two RGB arrays of the same shape.

    1.0 means the same edges in the same places (a global tone change keeps it near 1.0);
    moved, added or removed content lowers it.
    """
    fields = []
    for rgb in (a, b):
        luma = _luma(rgb)
        gx = np.diff(luma, axis=1)[:-1, :] if luma.shape[0] > 1 else np.diff(luma, axis=1)
        gy = np.diff(luma, axis=0)[:, :-1] if luma.shape[1] > 1 else np.diff(luma, axis=0)
        fields.append(np.concatenate([gx.ravel(), gy.ravel()]))
    x, y = fields[0] - fields[0].mean(), fields[1] - fields[1].mean()
    denominator = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    if denominator < 1e-12:
        return 1.0 if float(np.abs(x - y).max(initial=0.0)) < 1e-9 else 0.0
    return float((x * y).sum() / denominator)


def _box_mean(values: Array, radius: int) -> Array:
    """Mean over a (2r+1)^2 window, edges handled by shrinking the window (integral image)."""
    height, width = values.shape
    padded = np.zeros((height + 1, width + 1))
    padded[1:, 1:] = values.cumsum(0).cumsum(1)
    ys, xs = np.arange(height), np.arange(width)
    y0, y1 = np.clip(ys - radius, 0, height), np.clip(ys + radius + 1, 0, height)
    x0, x1 = np.clip(xs - radius, 0, width), np.clip(xs + radius + 1, 0, width)
    total = padded[y1][:, x1] - padded[y0][:, x1] - padded[y1][:, x0] + padded[y0][:, x0]
    area = np.outer(y1 - y0, x1 - x0)
    return np.asarray(total / area, dtype=np.float64)


def ssim(a: Array, b: Array, *, radius: int = 3) -> float:
    """Mean structural similarity (SSIM, 7x7 box windows) of the luma of two RGB arrays."""
    x, y = _luma(a) * 255.0, _luma(b) * 255.0
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _box_mean(x, radius), _box_mean(y, radius)
    vx = _box_mean(x * x, radius) - mx * mx
    vy = _box_mean(y * y, radius) - my * my
    cov = _box_mean(x * y, radius) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


# ------------------------------------------------------------------------------ colour transfer


#: Colour-transfer families, simplest first: the number of terms per output channel.
_FAMILIES = {"affine": 4, "quadratic": 7, "cubic": 10}


def _features(rgb: Array, family: str) -> Array:
    """Features of RGB pixels: 1, r, g, b, then per-channel powers (never cross terms).

    Cross terms (r·g ...) fit one photo's colours well and extrapolate wildly to another
    photo's; per-channel powers stay tame, because each channel of a photo usually spans
    most of its range even when the colours do not.
    """
    pixels = rgb.reshape(-1, 3)
    columns = [np.ones(len(pixels)), pixels[:, 0], pixels[:, 1], pixels[:, 2]]
    for power in range(2, (_FAMILIES[family] - 1) // 3 + 1):
        columns += [pixels[:, channel] ** power for channel in range(3)]
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class ColourTransfer:
    """A smooth colour mapping fitted on an approved pair: ``family`` and its coefficients."""

    family: str
    coefficients: Array = field(repr=False)
    residual_delta_e: float = 0.0
    """Mean ΔE of the fit over the pixels it explains."""
    content_fraction: float = 0.0
    """Share of the pair's pixels no colour mapping explains (changed content)."""

    def apply(self, rgb: Array) -> Array:
        """Map an RGB array (0..1); the result is clipped to 0..1."""
        out = np.clip(_features(rgb, self.family) @ self.coefficients, 0.0, 1.0)
        return np.asarray(out.reshape(rgb.shape), dtype=np.float64)


def _solve(before: Array, after: Array, family: str, ridge: float, keep: Mask) -> Array:
    x = _features(before, family)[keep]
    y = after.reshape(-1, 3)[keep]
    penalty = np.eye(x.shape[1]) * ridge * len(x)
    penalty[0, 0] = 0.0
    return np.asarray(np.linalg.solve(x.T @ x + penalty, x.T @ y), dtype=np.float64)


def _choose(before: Array, after: Array, keep: Mask, ridge: float) -> ColourTransfer:
    """The simplest family whose error (on ``keep``) is within 0.25 ΔE or 25% of the best."""
    fits = []
    for family in _FAMILIES:
        transfer = ColourTransfer(family, _solve(before, after, family, ridge, keep))
        error = float(pixel_delta_e(transfer.apply(before), after)[keep].mean())
        fits.append(ColourTransfer(family, transfer.coefficients, error))
    best = min(fit.residual_delta_e for fit in fits)
    for fit in fits:
        if fit.residual_delta_e <= best + max(0.25, 0.25 * best):
            return fit
    return fits[-1]  # pragma: no cover - the best always qualifies


def fit_colour_transfer(before: Array, after: Array, *, ridge: float = 1e-5) -> ColourTransfer:
    """Fit a smooth colour mapping taking ``before`` to ``after``, robust to changed content.

    Least squares over three families (affine, then per-channel quadratic and cubic curves);
    the simplest one that explains the pair about as well as the best is kept: affine maps
    capture brightness, linear contrast, saturation and colour balance and transfer well
    between photos, curves (gamma) need the powers. Pixels no mapping explains (ΔE above
    ``max(6, 3 x median)``: pasted objects, changed content) are left out and the fit
    repeated; their share is reported as ``content_fraction``.
    """
    count = before.shape[0] * before.shape[1]
    keep = np.ones(count, dtype=bool)
    transfer = _choose(before, after, keep, ridge)
    for _ in range(3):
        errors = pixel_delta_e(transfer.apply(before), after)
        limit = max(6.0, 3.0 * float(np.median(errors)))
        update = errors <= limit
        if update.mean() < 0.5:  # never fit on fewer than half of the pixels
            update = errors <= float(np.median(errors))
        if np.array_equal(update, keep):
            break
        keep = update
        transfer = _choose(before, after, keep, ridge)
    return ColourTransfer(
        transfer.family,
        transfer.coefficients,
        transfer.residual_delta_e,
        content_fraction=1.0 - float(keep.mean()),
    )


# ------------------------------------------------------------------------------ spread


def pairwise_distances(
    images: Sequence[Image.Image], *, pixel_size: int, structure_size: int
) -> tuple[bool, list[float], list[float]]:
    """(identical pixels, pairwise pixel distances, pairwise structural distances) of RGB
    images: mean absolute difference in 8-bit levels at up to ``pixel_size`` px, and 1 - SSIM
    of the luma at up to ``structure_size`` px."""
    native = [np.asarray(image) for image in images]
    identical = all(a.shape == native[0].shape and np.array_equal(a, native[0]) for a in native[1:])
    base = images[0].size
    psize = scaled_size(base, pixel_size)
    ssize = scaled_size(base, structure_size)
    pixel_arrays = [rgb_array(image, psize) for image in images]
    structure_arrays = [rgb_array(image, ssize) for image in images]
    pixels: list[float] = []
    structures: list[float] = []
    for i, j in itertools.combinations(range(len(images)), 2):
        if np.array_equal(native[i], native[j]):
            pixels.append(0.0)
            structures.append(0.0)
            continue
        pixels.append(float(np.abs(pixel_arrays[i] - pixel_arrays[j]).mean() * 255.0))
        structures.append(max(0.0, 1.0 - ssim(structure_arrays[i], structure_arrays[j])))
    return identical, pixels, structures


def same(a: Array, b: Array) -> bool:
    """Whether two arrays hold the same shape and values."""
    return bool(np.array_equal(a, b))


def smallest(values: Array, share: float) -> Array:
    """The smallest ``share`` of ``values`` (at least one), sorted."""
    return np.sort(values)[: max(1, round(len(values) * share))]


def mean(values: Sequence[float]) -> float:
    """The mean of ``values`` (numpy's), 0.0 for none."""
    return float(np.mean(values)) if values else 0.0
