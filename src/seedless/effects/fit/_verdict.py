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

from ._effect import FitReport, FittedEffect, Verdict
from ._pairs import Sample
from ._table import LUMA, Array

_MAX_PATTERN_PIXELS = 400_000  # the spatial tests run on at most this many pixels
_EDGE_WINDOW = 1024  # full-resolution window for the blur/sharpen test on decimated pairs

# -- verdict thresholds (tuned on bench/data/fit, also re-encoded as JPEG q70/q85 and
# resampled; see docs/fitting.md) ----------------------------------------------------------
_MIN_GLOBAL_PSNR = 25.0  # below this the colour transform explains too little of the pair
_MAX_UNEVEN = 0.025  # smooth spatial field (vignette, relight), relative to mean level + 16
_MAX_PATCH = 0.39  # largest block-mean residual relative to the block's level + 16 (objects)
# A region whose detail changed (cloned, retouched) without changing its mean: the largest
# block RMS residual relative to the block's level + 16, when the worst 5% of the blocks also
# hold most of the residual's energy (noise, JPEG and a table's misfits are spread out).
_MAX_TEXTURE, _CONCENTRATED = 0.4, 0.5
_BLUR_GAIN, _BLUR_CORRELATION = 0.5, 0.3  # residual along a band-pass of the image
_SHARPEN_GAIN, _SHARPEN_CORRELATION = -0.07, -0.2

_COVERAGE_BINS = 16  # coverage: fraction of a 16x16x16 colour histogram the original fills


@dataclass(frozen=True)
class Measures:
    """What the look leaves unexplained in the pair, measured (see the module docstring)."""

    psnr: float
    rmse: float
    field: _Field
    patch: _Patch
    texture: _Texture
    edge_gain: float
    edge_corr: float

    @property
    def blurred(self) -> bool:
        return self.edge_gain > _BLUR_GAIN and self.edge_corr > _BLUR_CORRELATION

    @property
    def sharpened(self) -> bool:
        return self.edge_gain < _SHARPEN_GAIN and self.edge_corr < _SHARPEN_CORRELATION

    @property
    def wants_detail(self) -> bool:
        """Worth trying a blur or sharpening part (looser than the verdict's thresholds)."""
        return (self.edge_gain > _BLUR_GAIN / 2 and self.edge_corr > _BLUR_CORRELATION / 2) or (
            self.edge_gain < _SHARPEN_GAIN / 2 and self.edge_corr < _SHARPEN_CORRELATION / 2
        )

    @property
    def wants_vignette(self) -> bool:
        return self.field.relative > _MAX_UNEVEN / 2


def measure(effect: FittedEffect, sample: Sample) -> Measures:
    """Run ``effect`` (without its grain) on the pair and measure what it leaves."""
    fitted = np.asarray(effect.apply(Image.fromarray(sample.xs)), dtype=np.float64)
    target = sample.ys.astype(np.float64)
    residual = target - fitted  # in 8-bit levels
    valid = sample.ms if sample.ms is not None else np.ones(residual.shape[:2], dtype=bool)
    sq = (residual**2).mean(axis=2)[valid]
    rmse = float(np.sqrt(sq.mean())) if sq.size else 0.0
    psnr = 99.0 if rmse < 255.0 * 10 ** (-99.0 / 20.0) else 20.0 * math.log10(255.0 / rmse)

    thin = max(1, math.ceil(math.sqrt(valid.size / _MAX_PATTERN_PIXELS)))
    sub = (slice(None, None, thin), slice(None, None, thin))
    field = _field(residual[sub], fitted[sub], valid[sub])
    patch = _patch(residual[sub], fitted[sub], valid[sub])
    texture = _texture(residual[sub], fitted[sub], valid[sub])
    if sample.step > 1:  # blur/sharpening lives at the pixel scale: test it at full resolution
        window = _centre_window(sample.x.shape[0], sample.x.shape[1], _EDGE_WINDOW)
        wx, wy = sample.x[window], sample.y[window]
        w_fitted = np.asarray(effect.apply(Image.fromarray(wx)), dtype=np.float64)
        edge_gain, edge_corr = _edges(wy.astype(np.float64) - w_fitted, w_fitted)
    else:
        edge_gain, edge_corr = _edges(residual, fitted)
    return Measures(psnr, rmse, field, patch, texture, edge_gain, edge_corr)


def build_report(
    measures: Measures,
    sample: Sample,
    parts: tuple[str, ...],
    colours: Array,
    counts: Array,
    notes: list[str],
) -> FitReport:
    """The report of a fitted look, with its verdict."""
    verdict, reason = _verdict(measures, parts)
    m = measures
    return FitReport(
        psnr_db=round(m.psnr, 3),
        rmse=round(m.rmse, 4),
        coverage=round(coverage(colours), 4),
        is_global=verdict == "global",
        verdict=verdict,
        parts=parts if verdict != "not reproducible locally" else (),
        reason=reason,
        uneven=round(m.field.relative, 4),
        patch=round(m.patch.relative, 4),
        edge_gain=round(m.edge_gain, 4),
        edge_correlation=round(m.edge_corr, 4),
        pixels=int(counts.sum()),
        width=int(sample.x.shape[1]),
        height=int(sample.x.shape[0]),
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
    grid = _Blocks(residual, fitted, valid)
    if not grid.usable.any():
        return _Patch(0.0, 0.0, "", 0.0)
    mean_res = grid.sums(residual * valid[:, :, None]) / grid.weight[:, :, None]
    relative = np.abs(mean_res).max(axis=2) / (grid.level + 16.0)
    relative[~grid.usable] = 0.0
    i, j = np.unravel_index(int(np.argmax(relative)), relative.shape)
    strongest = mean_res[i, j]
    channel = int(np.argmax(np.abs(strongest)))
    share = float((relative > _MAX_PATCH).sum() / grid.usable.sum())
    return _Patch(float(relative[i, j]), float(strongest[channel]), grid.where(i, j), share)


@dataclass(frozen=True)
class _Texture:
    relative: float  # largest block RMS residual / (block level + 16)
    levels: float  # that block's RMS residual (8-bit levels)
    where: str
    concentration: float  # share of the residual's energy in the worst 5% of the blocks


def _texture(residual: Array, fitted: Array, valid: Array) -> _Texture:
    """Localised error that need not change a block's mean: the residual's RMS per block,
    relative to level, and how much of the residual's energy the worst blocks hold."""
    grid = _Blocks(residual, fitted, valid)
    if not grid.usable.any():
        return _Texture(0.0, 0.0, "", 0.0)
    energy = grid.sums((residual * residual).mean(axis=2, keepdims=True) * valid[:, :, None])
    energy = np.where(grid.usable, energy[:, :, 0], 0.0)
    rms = np.sqrt(energy / grid.weight)
    relative = rms / (grid.level + 16.0)
    i, j = np.unravel_index(int(np.argmax(relative)), relative.shape)
    ranked = np.sort(energy.ravel())[::-1]
    worst = ranked[: max(1, int(grid.usable.sum()) // 20)].sum()
    concentration = float(worst / ranked.sum()) if ranked.sum() > 0 else 0.0
    return _Texture(float(relative[i, j]), float(rms[i, j]), grid.where(i, j), concentration)


class _Blocks:
    """The image cut into square blocks (1/12 of the short side): per-block sums, the mean
    level, which blocks are mostly valid, and where a block is in words."""

    def __init__(self, residual: Array, fitted: Array, valid: Array) -> None:
        height, width = residual.shape[:2]
        self.block = max(4, min(height, width) // 12)
        self.rows, self.cols = height // self.block, width // self.block
        counts = self.sums(valid[:, :, None].astype(np.float64))[:, :, 0]
        self.usable = counts >= 0.5 * self.block * self.block
        self.weight = np.maximum(counts, 1.0)
        lum = self.sums((fitted @ LUMA)[:, :, None] * valid[:, :, None])[:, :, 0]
        self.level = lum / self.weight

    def sums(self, a: Array) -> Array:
        b, rows, cols = self.block, self.rows, self.cols
        if rows == 0 or cols == 0:
            return np.zeros((max(rows, 1), max(cols, 1), a.shape[2]))
        cut = a[: rows * b, : cols * b]
        return np.asarray(cut.reshape(rows, b, cols, b, -1).sum(axis=(1, 3)))

    def where(self, i: int | np.integer, j: int | np.integer) -> str:
        vertical = ("top", "middle", "bottom")[min(2, 3 * int(i) // self.rows)]
        horizontal = ("left", "centre", "right")[min(2, 3 * int(j) // self.cols)]
        if (vertical, horizontal) == ("middle", "centre"):
            return "centre"
        if vertical == "middle":
            return horizontal
        if horizontal == "centre":
            return vertical
        return f"{vertical} {horizontal}"


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


def _verdict(m: Measures, parts: tuple[str, ...]) -> tuple[Verdict, str]:
    """The verdict and why, from what the look (with its parts) leaves unexplained."""
    reasons: list[str] = []
    spatial = "the look with its spatial parts" if parts else "the colour transform"
    if m.blurred or m.sharpened:
        way = "blurs or softens" if m.blurred else "sharpens"
        reasons.append(
            f"what {spatial} cannot explain follows the image's edges (correlation "
            f"{m.edge_corr:+.2f}): the edit {way} the image beyond what a Gaussian blur or an "
            "unsharp mask explains"
        )
    if m.field.relative > _MAX_UNEVEN:
        reasons.append(
            f"the edit is spatially uneven: beyond {spatial}, the result is {m.field.pattern} "
            "(relighting or a gradient that is no vignette)"
        )
    if m.patch.relative > _MAX_PATCH:
        way = "brighter" if m.patch.levels > 0 else "darker"
        reasons.append(
            f"part of the picture changed: around the {m.patch.where or 'image'} the edit is "
            f"{abs(m.patch.levels):.0f} levels {way} than {spatial} predicts "
            "(an object added, removed or repainted)"
        )
    elif m.texture.relative > _MAX_TEXTURE and m.texture.concentration > _CONCENTRATED:
        reasons.append(
            f"part of the picture changed: around the {m.texture.where or 'image'} the edit's "
            f"detail differs from what {spatial} predicts by {m.texture.levels:.0f} levels RMS, "
            f"and {m.texture.concentration:.0%} of what it cannot explain lies in a twentieth "
            "of the picture (a region cloned, retouched or replaced)"
        )
    if m.psnr < _MIN_GLOBAL_PSNR:
        reasons.append(
            f"{spatial} explains the pair poorly (fit PSNR {m.psnr:.1f} dB, under "
            f"{_MIN_GLOBAL_PSNR:.0f} dB)"
        )
    if reasons:
        return "not reproducible locally", (
            "not a global colour/tone edit, and not reproducible locally (a content change, "
            "or one no local look explains): " + "; ".join(reasons) + "."
        )
    tail = (
        f"reproduces the pair at {m.psnr:.1f} dB PSNR and what it leaves unexplained has no "
        "spatial pattern and does not follow edges."
    )
    if parts:
        return "global + spatial", (
            f"a global colour/tone edit plus {_words(parts)}, all reproduced exactly: the "
            f"look {tail}"
        )
    return "global", f"a global colour/tone edit: the LUT {tail}"


def _words(parts: tuple[str, ...]) -> str:
    named = {"vignette": "a vignette", "blur": "a blur", "sharpen": "sharpening", "grain": "grain"}
    words = [named.get(part, part) for part in parts]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def coverage(colours: Array) -> float:
    """Fraction of a 16^3 RGB histogram occupied by the original's colours."""
    bins = _COVERAGE_BINS
    q = np.minimum((colours * bins).astype(np.int64), bins - 1)
    occupied = np.unique((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2])
    return float(len(occupied) / bins**3)
