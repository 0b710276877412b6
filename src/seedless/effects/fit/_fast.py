"""A faster exact pass for tables that are curves, a 3x3 matrix and curves.

Pillow's ``Color3DLUT`` interpolates 8 lattice points per pixel; a per-channel lookup
(``Image.point``) and a matrix conversion (``Image.convert("RGB", matrix)``) cost a fraction
of that. Many looks (levels, curves, gamma, white balance, tints, luma-pivot saturation) are
such a chain, so :func:`point_plan` finds the chain and keeps it only when, on every colour of
a 64^3 grid, it is within one level of the table's exact values, and within half a level
root-mean-square (the table pass itself rounds them, half a level at most). The .cube export
is the table, so ffmpeg's ``lut3d`` stays within a level of either pass. Both are
deterministic.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from . import _saturation as sat
from ._parametric import Parametric, fit_linear
from ._table import Array, lattice, lookup

_MAX_LEVELS = 1.0  # largest difference from the table's output allowed, 8-bit levels
_LOOSE_LEVELS = 2.5  # ... for a fitted table, which the chain's own then replaces
_RMS_LEVELS = 0.5  # root-mean-square difference allowed
_NO_MATRIX = 2e-3  # gains below this on every channel: no matrix step
_FIT_SIZE = 17  # a non-separable chain is fitted on the table resampled to this lattice
_SEPARABLE_LEVELS = 0.25  # a table this close (RMS) to one curve per channel is read as such


class PointOps(BaseModel):
    """``post(matrix @ pre(rgb))``: 8-bit curves, a 3x4 matrix, 8-bit curves; with no
    matrix, one 8-bit curve per channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pre: tuple[float, ...] = Field(
        min_length=768, max_length=768, description="curve values (0..255) at levels 0..255"
    )
    matrix: tuple[float, ...] | None = Field(None, min_length=12, max_length=12)
    post: tuple[float, ...] | None = Field(None, min_length=768, max_length=768)

    def apply(self, image: Image.Image) -> Image.Image:
        """Run the chain on an RGB image (the curves rounded to 8 bits)."""
        out = image.point(_eight_bit(self.pre))
        if self.matrix is not None:
            out = out.convert("RGB", self.matrix)
        if self.post is not None:
            out = out.point(_eight_bit(self.post))
        return out


def _eight_bit(values: tuple[float, ...]) -> list[int]:
    return [min(255, max(0, round(v))) for v in values]


def point_plan(table: Array, *, loose: bool = False) -> PointOps | None:
    """The point-operation chain that reproduces ``table`` within the tolerances, or None.

    A table whose output channels each follow their own input channel (within a quarter of a
    level, root-mean-square) is read as one curve per channel (on its greys); any other is
    fitted with curves, a matrix and curves on a 17^3 resampling of it. The chain is then checked
    on every colour of a 64^3 grid against the table's exact (trilinear, unrounded) values:
    half a level root-mean-square, and at most one level off (``loose``: 2.5 levels, for a
    fitted table that is then replaced by the chain's own, see :func:`chain_table`).
    """
    ops = _separable(table)
    if ops is None:
        nodes = lattice(_FIT_SIZE).reshape(-1, 3)
        ops = _ops(fit_linear(nodes, np.ones(len(nodes)), lookup(table, nodes)))
    probe = _grid_image()
    ours = np.asarray(ops.apply(probe), dtype=np.float64).reshape(-1, 3)
    exact = lookup(table, np.asarray(probe, dtype=np.float64).reshape(-1, 3) / 255.0) * 255.0
    difference = np.abs(ours - exact)
    worst = _LOOSE_LEVELS if loose else _MAX_LEVELS
    if difference.max() > worst or np.sqrt((difference**2).mean()) > _RMS_LEVELS:
        return None
    return ops


def chain_table(ops: PointOps, size: int) -> Array:
    """The chain's values at a size^3 lattice (the 8-bit curves read linearly between levels),
    (N, N, N, 3) indexed [b][g][r], 0..1."""
    nodes = lattice(size).reshape(-1, 3) * 255.0
    levels = np.arange(256, dtype=np.float64)

    def curves(lut: tuple[float, ...], values: Array) -> Array:
        table = np.asarray(lut, dtype=np.float64).reshape(3, 256)
        return np.stack([np.interp(values[:, c], levels, table[c]) for c in range(3)], axis=1)

    out = curves(ops.pre, nodes)
    if ops.matrix is not None:
        matrix = np.asarray(ops.matrix).reshape(3, 4)
        out = np.clip(out @ matrix[:, :3].T + matrix[:, 3], 0.0, 255.0)
    if ops.post is not None:
        out = curves(ops.post, out)
    return np.asarray(out.reshape(size, size, size, 3) / 255.0)


def _separable(table: Array) -> PointOps | None:
    """One curve per channel, read on the grey diagonal (the colours photos have most), when
    each output channel follows its own input channel (within _SEPARABLE_LEVELS, RMS)."""
    n = table.shape[0]
    index = np.arange(n)
    diagonal = table[index, index, index]  # (N, 3): greys
    axes = [diagonal[:, 0], diagonal[:, 1], diagonal[:, 2]]
    b, g, r = np.meshgrid(index, index, index, indexing="ij")
    predicted = np.stack([axes[0][r], axes[1][g], axes[2][b]], axis=-1)
    if np.sqrt(((predicted - table) ** 2).mean()) * 255.0 > _SEPARABLE_LEVELS:
        return None
    knots = np.linspace(0.0, 1.0, n)
    levels = np.arange(256) / 255.0
    values = np.concatenate([np.interp(levels, knots, axis) for axis in axes])
    return PointOps(pre=_levels(values))


def _levels(values: Array) -> tuple[float, ...]:
    """Curve values 0..1 as 8-bit levels (not rounded), 4 decimals."""
    return tuple(round(float(v), 4) for v in np.clip(values * 255.0, 0.0, 255.0))


def _ops(model: Parametric) -> PointOps:
    levels = np.arange(256) / 255.0

    def curve(values: Array, curves: Array, c: int) -> Array:
        return np.asarray(np.interp(values, np.linspace(0.0, 1.0, curves.shape[1]), curves[c]))

    def lut(values: list[Array]) -> tuple[float, ...]:
        return _levels(np.concatenate(values))

    pre = [curve(levels, model.curves, c) for c in range(3)]
    gains = model.coefficients[sat.CHANNELS]
    if np.abs(gains).max() < _NO_MATRIX:  # no mixing: both curves as one, rounded once
        return PointOps(pre=lut([curve(pre[c], model.post, c) for c in range(3)]))
    matrix = (1.0 + gains.sum()) * np.eye(3) - np.outer(np.ones(3), gains)
    rows = np.concatenate([matrix, np.zeros((3, 1))], axis=1)
    post = [curve(levels, model.post, c) for c in range(3)]
    return PointOps(pre=lut(pre), matrix=tuple(float(v) for v in rows.ravel()), post=lut(post))


def _grid_image() -> Image.Image:
    """Every colour of a 64^3 grid (levels 0, 4, ... 252, and 255), as a 512x512 image."""
    axis = np.minimum(np.arange(64) * 4 + np.arange(64) // 63 * 3, 255).astype(np.uint8)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return Image.fromarray(np.stack([r, g, b], axis=-1).reshape(512, 512, 3), "RGB")
