"""The verdict: is the edit global? Measurements of what the fitted table leaves unexplained.

The residual (edit minus table(original), in 8-bit levels) is tested for a smooth spatial
gain/offset field (vignettes, relighting, gradients), its largest block average (objects added
or repainted), its correlation with a band-pass of the image (blur, sharpening) and the
overall PSNR. Noise, JPEG artefacts and resampling cancel out of the first two and do not
correlate strongly with edges, so a global edit delivered as a JPEG or at another size is
still called global.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ._effect import FitReport, FittedEffect
from ._table import LUMA, Array

_MAX_PATTERN_PIXELS = 400_000  # the spatial tests run on at most this many pixels
_EDGE_WINDOW = 1024  # full-resolution window for the blur/sharpen test on decimated pairs

# -- verdict thresholds (tuned on bench/data/fit, also re-encoded as JPEG q70/q85 and
# resampled; see docs/fitting.md) ----------------------------------------------------------
_MIN_GLOBAL_PSNR = 25.0  # below this the colour transform explains too little of the pair
_MAX_UNEVEN = 0.025  # smooth spatial field (vignette, relight), relative to mean level + 16
_MAX_PATCH = 0.39  # largest block-mean residual relative to the block's level + 16 (objects)
_BLUR_GAIN, _BLUR_CORRELATION = 0.5, 0.3  # residual along a band-pass of the image
_SHARPEN_GAIN, _SHARPEN_CORRELATION = -0.07, -0.2

_COVERAGE_BINS = 16  # coverage: fraction of a 16x16x16 colour histogram the original fills


def build_report(
    effect: FittedEffect,
    xs: Array,
    ys: Array,
    mask: Array | None,
    x_full: Array,
    y_full: Array,
    step: int,
    colours: Array,
    counts: Array,
    notes: list[str],
) -> FitReport:
    fitted = np.asarray(effect.apply(Image.fromarray(xs)), dtype=np.float64)
    target = ys.astype(np.float64)
    residual = target - fitted  # in 8-bit levels
    valid = mask if mask is not None else np.ones(residual.shape[:2], dtype=bool)
    sq = (residual**2).mean(axis=2)[valid]
    rmse = float(np.sqrt(sq.mean())) if sq.size else 0.0
    psnr = 99.0 if rmse < 255.0 * 10 ** (-99.0 / 20.0) else 20.0 * math.log10(255.0 / rmse)

    thin = max(1, math.ceil(math.sqrt(valid.size / _MAX_PATTERN_PIXELS)))
    sub = (slice(None, None, thin), slice(None, None, thin))
    field = _field(residual[sub], fitted[sub], valid[sub])
    patch = _patch(residual[sub], fitted[sub], valid[sub])
    if step > 1:  # blur/sharpening lives at the pixel scale: test it at full resolution
        window = _centre_window(x_full.shape[0], x_full.shape[1], _EDGE_WINDOW)
        wx, wy = x_full[window], y_full[window]
        w_fitted = np.asarray(effect.apply(Image.fromarray(wx)), dtype=np.float64)
        edge_gain, edge_corr = _edges(wy.astype(np.float64) - w_fitted, w_fitted)
    else:
        edge_gain, edge_corr = _edges(residual, fitted)

    is_global, reason = _verdict(psnr, field, patch, edge_gain, edge_corr)
    return FitReport(
        psnr_db=round(psnr, 3),
        rmse=round(rmse, 4),
        coverage=round(coverage(colours), 4),
        is_global=is_global,
        reason=reason,
        uneven=round(field.relative, 4),
        patch=round(patch.relative, 4),
        edge_gain=round(edge_gain, 4),
        edge_correlation=round(edge_corr, 4),
        pixels=int(counts.sum()),
        width=int(x_full.shape[1]),
        height=int(x_full.shape[0]),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Field:
    relative: float  # RMS of the smooth field / (mean level + 16)
    pattern: str  # in words, e.g. "darker towards the corners than at the centre by 30 levels"


def _field(residual: Array, fitted: Array, valid: Array) -> _Field:
    """The smooth (quadratic in x, y) gain and offset field that best explains the residual.

    residual_c(x, y) ~ g(x, y) * fitted_c + 255 * a(x, y), g and a quadratic polynomials.
    Vignettes and relighting are such fields; noise, JPEG artefacts and a LUT's small misfits
    average out over the whole image.
    """
    height, width = residual.shape[:2]
    rows, cols = np.nonzero(valid)
    if len(rows) < 16:
        return _Field(0.0, "")
    u = (cols + 0.5) / width * 2.0 - 1.0
    v = (rows + 0.5) / height * 2.0 - 1.0
    basis = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)  # (n, 6)
    level = fitted[rows, cols]  # (n, 3), 8-bit levels
    res = residual[rows, cols]
    s1, s2 = level.sum(axis=1), (level * level).sum(axis=1)
    normal = np.zeros((12, 12))
    normal[:6, :6] = basis.T @ (basis * s2[:, None])
    normal[:6, 6:] = 255.0 * basis.T @ (basis * s1[:, None])
    normal[6:, :6] = normal[:6, 6:].T
    normal[6:, 6:] = 3.0 * 255.0**2 * basis.T @ basis
    rhs = np.concatenate([basis.T @ (res * level).sum(axis=1), 255.0 * basis.T @ res.sum(axis=1)])
    scale = np.sqrt(np.maximum(np.diag(normal), 1e-12))
    theta = (
        np.linalg.solve(normal / np.outer(scale, scale) + 1e-9 * np.eye(12), rhs / scale) / scale
    )
    gain, offset = basis @ theta[:6], basis @ theta[6:] * 255.0
    pred = gain[:, None] * level + offset[:, None]
    pred -= pred.mean(axis=0)
    mean_level = float(level.mean())
    relative = float(np.sqrt((pred * pred).mean())) / (mean_level + 16.0)

    def at(x: float, y: float) -> float:
        b = np.array([1.0, x, y, x * x, x * y, y * y])
        return float(b @ theta[:6] * mean_level + b @ theta[6:] * 255.0)

    centre = at(0.0, 0.0)
    corners = float(np.mean([at(x, y) for x in (-1.0, 1.0) for y in (-1.0, 1.0)]))
    left, right, top, bottom = at(-1.0, 0.0), at(1.0, 0.0), at(0.0, -1.0), at(0.0, 1.0)
    candidates = [
        (corners - centre, "towards the corners than at the centre"),
        (left - right, "on the left than on the right"),
        (top - bottom, "at the top than at the bottom"),
    ]
    size, where = max(candidates, key=lambda c: abs(c[0]))
    way = "brighter" if size > 0 else "darker"
    return _Field(relative, f"{way} {where} by about {abs(size):.0f} levels")


@dataclass(frozen=True)
class _Patch:
    relative: float  # largest block residual / (block level + 16)
    levels: float  # that block's residual on its strongest channel (signed, 8-bit levels)
    where: str  # "top left", "centre" ...
    share: float  # fraction of blocks over the threshold


def _patch(residual: Array, fitted: Array, valid: Array) -> _Patch:
    """Localised error: residual averaged over blocks (noise cancels), relative to level."""
    height, width = residual.shape[:2]
    block = max(4, min(height, width) // 12)
    rows, cols = height // block, width // block
    if rows == 0 or cols == 0:
        return _Patch(0.0, 0.0, "", 0.0)
    h, w = rows * block, cols * block

    def blocks(a: Array) -> Array:
        return np.asarray(a[:h, :w].reshape(rows, block, cols, block, -1).sum(axis=(1, 3)))

    weight = blocks(valid[:, :, None].astype(np.float64))[:, :, 0]
    res = blocks(residual * valid[:, :, None])
    lum = blocks((fitted @ LUMA)[:, :, None] * valid[:, :, None])[:, :, 0]
    usable = weight >= 0.5 * block * block
    if not usable.any():
        return _Patch(0.0, 0.0, "", 0.0)
    mean_res = res / np.maximum(weight, 1.0)[:, :, None]
    mean_lum = lum / np.maximum(weight, 1.0)
    relative = np.abs(mean_res).max(axis=2) / (mean_lum + 16.0)
    relative[~usable] = 0.0
    i, j = np.unravel_index(int(np.argmax(relative)), relative.shape)
    strongest = mean_res[i, j]
    channel = int(np.argmax(np.abs(strongest)))
    vertical = ("top", "middle", "bottom")[min(2, 3 * int(i) // rows)]
    horizontal = ("left", "centre", "right")[min(2, 3 * int(j) // cols)]
    if (vertical, horizontal) == ("middle", "centre"):
        where = "centre"
    elif vertical == "middle":
        where = horizontal
    elif horizontal == "centre":
        where = vertical
    else:
        where = f"{vertical} {horizontal}"
    share = float((relative > _MAX_PATCH).sum() / usable.sum())
    return _Patch(float(relative[i, j]), float(strongest[channel]), where, share)


def _box_blur(a: Array, radius: int) -> Array:
    """Separable box blur with edge replication, on (H, W, C) float arrays."""
    out = a
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        padded = np.pad(out, pad, mode="edge")
        summed = np.cumsum(padded, axis=axis)
        size = out.shape[axis]
        upper = np.take(summed, np.arange(2 * radius + 1, 2 * radius + 1 + size), axis=axis)
        lower = np.take(summed, np.arange(0, size), axis=axis)
        out = (upper - lower) / (2 * radius + 1)
    return out


def _edges(residual: Array, fitted: Array) -> tuple[float, float]:
    """How much of the residual is a band-pass of the image: (gain, correlation).

    A blurred edit leaves residual = blur(image) - image (gain > 0); a sharpened one the
    opposite (gain < 0). A colour transform's residual has no reason to follow edges.
    """
    luma = fitted @ LUMA
    smooth = _box_blur(_box_blur(luma[:, :, None], 1), 1)[:, :, 0]
    band = smooth - luma
    res = residual @ LUMA
    band -= band.mean()
    res = res - res.mean()
    energy = float((band * band).sum())
    res_energy = float((res * res).sum())
    if energy <= 1e-9 or res_energy <= 1e-9:
        return 0.0, 0.0
    dot = float((band * res).sum())
    return dot / energy, dot / math.sqrt(energy * res_energy)


def _centre_window(height: int, width: int, side: int) -> tuple[slice, slice]:
    top = max(0, (height - side) // 2)
    left = max(0, (width - side) // 2)
    return slice(top, top + side), slice(left, left + side)


def _verdict(
    psnr: float, field: _Field, patch: _Patch, edge_gain: float, edge_corr: float
) -> tuple[bool, str]:
    """Global or not, and why, from the measurements."""
    reasons: list[str] = []
    if edge_gain > _BLUR_GAIN and edge_corr > _BLUR_CORRELATION:
        reasons.append(
            f"what the LUT cannot explain follows the image's edges (correlation "
            f"{edge_corr:+.2f}): the edit blurs or softens the image, which no colour "
            "transform does"
        )
    if edge_gain < _SHARPEN_GAIN and edge_corr < _SHARPEN_CORRELATION:
        reasons.append(
            f"what the LUT cannot explain follows the image's edges (correlation "
            f"{edge_corr:+.2f}): the edit sharpens the image, which no colour transform does"
        )
    if field.relative > _MAX_UNEVEN:
        reasons.append(
            f"the edit is spatially uneven: beyond the colour transform, the result is "
            f"{field.pattern} (a vignette, relighting or gradient)"
        )
    if patch.relative > _MAX_PATCH:
        way = "brighter" if patch.levels > 0 else "darker"
        reasons.append(
            f"part of the picture changed: around the {patch.where or 'image'} the edit is "
            f"{abs(patch.levels):.0f} levels {way} than the colour transform predicts "
            "(an object added, removed or repainted)"
        )
    if psnr < _MIN_GLOBAL_PSNR:
        reasons.append(
            f"a colour transform explains the pair poorly (fit PSNR {psnr:.1f} dB, "
            f"under {_MIN_GLOBAL_PSNR:.0f} dB)"
        )
    if reasons:
        return False, "not a global colour/tone edit: " + "; ".join(reasons) + "."
    return True, (
        f"a global colour/tone edit: the LUT reproduces the pair at {psnr:.1f} dB PSNR and "
        "what it leaves unexplained has no spatial pattern and does not follow edges."
    )


def coverage(colours: Array) -> float:
    """Fraction of a 16^3 RGB histogram occupied by the original's colours."""
    bins = _COVERAGE_BINS
    q = np.minimum((colours * bins).astype(np.int64), bins - 1)
    occupied = np.unique((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2])
    return float(len(occupied) / bins**3)
