"""The residual lattice: a smooth 3D correction on top of the parametric model.

Every pixel pulls the 8 lattice points around its colour (trilinear weights) towards what the
editor did; a second-difference smoothness penalty keeps the correction smooth where pixels
are few, and a pull towards zero takes over where there are none, so far from the pair's
colours the table is the parametric model. The regularised linear system is solved with
Jacobi-preconditioned conjugate gradients (numpy only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._table import Array, corners

_GRID_SMOOTHNESS = 1.0  # second-difference penalty on the residual lattice
_GRID_PULL = 0.01  # pull of the residual towards zero (wins where the pair has no pixels)
# Safe extrapolation: the pull grows with the square of a node's distance (in lattice cells)
# from the nearest node the pair's pixels reach, so the residual fades out within a few cells
# of the evidence and the table follows the parametric model beyond, instead of extending
# the residual's trend (which the smoothness penalty alone would do).
_FADE = 1.0
_EVIDENCE = 0.05  # a node is evidence when its pixels' weight reaches this (pixels per cell)
_CG_TOLERANCE = 1e-4
_CG_MAX_STEPS = 500


@dataclass(frozen=True)
class _Cells:
    """Where each colour sits in the lattice: its cell's 8 nodes and its trilinear weights."""

    corner_w: Array  # (m, 8) trilinear weight of each corner
    pixel_nodes: Array  # (m, 8) flat node index of each corner
    node_of: Array  # (occupied cells, 8) flat node index of each corner of each cell
    inverse: Array  # (m,) occupied cell of each colour
    occupied: int  # number of occupied cells


def _cells(colours: Array, n: int) -> _Cells:
    cells = n - 1
    scaled = np.clip(colours, 0.0, 1.0) * cells
    lower = np.minimum(np.floor(scaled).astype(np.int64), cells - 1)
    frac = scaled - lower
    cell = (lower[:, 2] * cells + lower[:, 1]) * cells + lower[:, 0]  # [b][g][r]
    occupied, inverse = np.unique(cell, return_inverse=True)
    corner_w = np.stack(
        [
            (frac[:, 2] if db else 1 - frac[:, 2])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 0] if dr else 1 - frac[:, 0])
            for db, dg, dr in corners()
        ],
        axis=1,
    )
    ob, og, orr = occupied // (cells * cells), (occupied // cells) % cells, occupied % cells
    node_of = np.stack(
        [((ob + db) * n + og + dg) * n + orr + dr for db, dg, dr in corners()], axis=1
    )
    return _Cells(corner_w, node_of[inverse], node_of, inverse, len(occupied))


def _gram(cells: _Cells, weight: Array) -> Array:
    """Per occupied cell, the 8x8 sum of weight * corner weight products: (k, 8, 8)."""
    gram = np.zeros((cells.occupied, 8, 8))
    for a in range(8):
        for b in range(a, 8):
            g = np.bincount(
                cells.inverse, weight * cells.corner_w[:, a] * cells.corner_w[:, b], cells.occupied
            )
            gram[:, a, b] = g
            gram[:, b, a] = g
    return gram


def fit_residual(colours: Array, counts: Array, targets: Array, base: Array) -> Array:
    """Smooth residual lattice (N, N, N, 3) so that base + residual fits the pixels.

    Minimises sum_pixels |trilinear(base + R)(x) - y|^2 * w + smoothness + sum_nodes pull *
    |R|^2 with w = (cells / pixels) * count and a pull that grows with the node's distance
    from the pixels, by Jacobi-preconditioned conjugate gradients.
    """
    n = base.shape[0]
    total = n**3
    cells = _cells(colours, n)
    weight = counts * ((n - 1) ** 3 / counts.sum())
    flat_base = base.reshape(-1, 3)
    residual = targets - np.einsum("ma,mac->mc", cells.corner_w, flat_base[cells.pixel_nodes])
    gram = _gram(cells, weight)
    flat_nodes = cells.node_of.ravel()
    weighted = (weight[:, None] * cells.corner_w)[:, :, None] * residual[:, None, :]  # (m, 8, 3)
    rhs = np.stack(
        [
            np.bincount(cells.pixel_nodes.ravel(), weighted[:, :, c].ravel(), total)
            for c in range(3)
        ],
        axis=1,
    ).reshape(n, n, n, 3)

    evidence = np.bincount(flat_nodes, np.einsum("kaa->ka", gram).ravel(), total)
    pull = _GRID_PULL + _FADE * distance_to(evidence.reshape(n, n, n) >= _EVIDENCE) ** 2
    pull = pull.reshape(n, n, n, 1)

    def operator(field: Array) -> Array:
        out = pull * field + _GRID_SMOOTHNESS * _second_difference_3d(field)
        gathered = gram @ field.reshape(-1, 3)[cells.node_of]  # (k, 8, 3)
        flat = out.reshape(-1, 3)
        for c in range(3):
            flat[:, c] += np.bincount(flat_nodes, gathered[:, :, c].ravel(), total)
        return np.asarray(out)

    diagonal = pull.ravel() + 6.0 * _GRID_SMOOTHNESS + evidence
    return _conjugate_gradients(operator, rhs, (1.0 / diagonal).reshape(n, n, n, 1))


def distance_to(mask: Array, limit: int = 8) -> Array:
    """Distance in lattice steps (6-neighbourhood) from every node to the nearest True node
    of ``mask`` (N, N, N), capped at ``limit``; ``limit`` everywhere when mask is empty."""
    distance = np.full(mask.shape, float(limit))
    reached = mask.copy()
    distance[reached] = 0.0
    for step in range(1, limit):
        grown = reached.copy()
        for axis in range(3):
            for shift in (1, -1):
                moved = np.roll(reached, shift, axis=axis)
                edge = [slice(None)] * 3
                edge[axis] = slice(0, 1) if shift == 1 else slice(-1, None)
                moved[tuple(edge)] = False  # no wrap-around
                grown |= moved
        distance[grown & ~reached] = float(step)
        reached = grown
    return distance


def _conjugate_gradients(operator: Callable[[Array], Array], rhs: Array, inv_diag: Array) -> Array:
    """Solve operator(x) = rhs (symmetric positive definite), Jacobi-preconditioned."""
    field = np.zeros_like(rhs)
    r = rhs.copy()
    z = inv_diag * r
    p = z.copy()
    rz = float((r * z).sum())
    norm = float((rhs * rhs).sum())
    if norm == 0.0:
        return field
    for _ in range(_CG_MAX_STEPS):
        ap = operator(p)
        alpha = rz / float((p * ap).sum())
        field += alpha * p
        r -= alpha * ap
        if float((r * r).sum()) <= _CG_TOLERANCE**2 * norm:
            break
        z = inv_diag * r
        rz_next = float((r * z).sum())
        p = z + (rz_next / rz) * p
        rz = rz_next
    return field


def _second_difference_3d(field: Array) -> Array:
    """Sum over the three axes of D^T D field, D the second difference along that axis."""
    out = np.zeros_like(field)
    for axis in range(3):
        d = np.diff(field, 2, axis=axis)

        def part(start: int, stop: int | None, axis: int = axis) -> tuple[slice, ...]:
            return (slice(None),) * axis + (slice(start, stop),)

        out[part(2, None)] += d
        out[part(1, -1)] -= 2.0 * d
        out[part(0, -2)] += d
    return out
