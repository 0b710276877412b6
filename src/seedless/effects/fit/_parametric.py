"""The parametric colour model: per-channel tone curves, then a hue-symmetric saturation.

``P(c) = T(c) + sum_i b_i (T(c) - pivot_i(T(c)))`` with ``T`` three smooth tone curves (65
knots each) and pivots luma, mean, max and min (so ``ImageEnhance.Color``-, HSL- and
HSV-style saturation are all members). It is fitted jointly by Gauss-Newton least squares;
outputs clipped at 0 or 255 count as censored (only "at least/at most"), and dense colours
are down-weighted, so a photo full of one colour does not decide the model alone. It is what
the fitted table follows where the pair has no evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._table import LUMA, Array

KNOTS = 65  # knots of each tone curve, every 255/64 levels (every other one a LUT node)
# Second-difference penalty on the tone curves: 30 per level^3 of knot spacing, so the
# curve's stiffness does not depend on the number of knots.
_CURVE_SMOOTHNESS = 30.0 / (255.0 / (KNOTS - 1)) ** 3
_SATURATION_RIDGE = 1e-3  # pull of the saturation coefficients towards "unchanged"
_BALANCE_POWER = 0.5  # dense colours weigh count**(1 - power): 0.5 = square root
_GAUSS_NEWTON_STEPS = 12
_GN_TOLERANCE = 2e-4  # stop when no fitted output moves by more than this (0.05 levels)
_PIVOTS = 4
_OUTER_121 = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0])


@dataclass(frozen=True)
class Parametric:
    """Per-channel tone curves (3, K knots) then hue-symmetric saturation, coefficients b."""

    curves: Array
    coefficients: Array

    def __call__(self, rgb: Array) -> Array:
        shape = rgb.shape
        flat = np.clip(rgb.reshape(-1, 3), 0.0, 1.0)
        knots = np.linspace(0.0, 1.0, KNOTS)
        toned = np.stack([np.interp(flat[:, c], knots, self.curves[c]) for c in range(3)], axis=1)
        out = toned + spread(toned) @ self.coefficients
        return np.asarray(out.reshape(shape))


def spread(colours: Array) -> Array:
    """colour - pivot for the pivots luma, mean, max and min: (m, 3, 4)."""
    pivots = np.stack(
        [colours @ LUMA, colours.mean(axis=1), colours.max(axis=1), colours.min(axis=1)],
        axis=1,
    )
    return np.asarray(colours[:, :, None] - pivots[:, None, :])


def solve_spd(matrix: Array, rhs: Array) -> Array:
    """Solve a symmetric positive-definite system by Cholesky, in plain numpy.

    A few hundred unknowns: a hand-rolled factorisation avoids multi-threaded LAPACK, which
    stalls badly on busy machines for systems this small, and is deterministic everywhere.
    """
    a = np.array(matrix, dtype=np.float64)
    n = len(a)
    for i in range(n):
        pivot = a[i, i]
        if pivot <= 0.0:  # not positive definite: numerical trouble, fall back to LAPACK
            return np.asarray(np.linalg.solve(matrix, rhs))
        root = math.sqrt(pivot)
        a[i, i] = root
        a[i + 1 :, i] /= root
        col = a[i + 1 :, i]
        a[i + 1 :, i + 1 :] -= np.outer(col, col)
    lower = np.tril(a)
    y = np.array(rhs, dtype=np.float64)
    for i in range(n):  # forward: L y = rhs
        y[i] = (y[i] - lower[i, :i] @ y[:i]) / lower[i, i]
    for i in range(n - 1, -1, -1):  # backward: L^T x = y
        y[i] = (y[i] - lower[i + 1 :, i] @ y[i + 1 :]) / lower[i, i]
    return y


def _second_difference_normal(n: int) -> Array:
    """D^T D for the second-difference operator D on n points."""
    out = np.zeros((n, n))
    for i in range(n - 2):  # each row (1, -2, 1) of D adds its outer product
        out[i : i + 3, i : i + 3] += _OUTER_121
    return out


class _Design:
    """What stays fixed across Gauss-Newton steps: knot weights, pixel weights, censoring.

    Each input value reads the two knots around it, linearly: knot ``lower`` with weight
    ``w_lo`` and knot ``lower + 1`` with ``w_hi`` (both (m, 3)).
    """

    def __init__(self, colours: Array, counts: Array, targets: Array) -> None:
        k = KNOTS
        position = np.clip(colours, 0.0, 1.0) * (k - 1)
        self.lower = np.minimum(np.floor(position).astype(np.int64), k - 2)
        frac = position - self.lower
        self.w_lo, self.w_hi = 1.0 - frac, frac
        # Balance: each pixel weighs 1 / sqrt(pixels in its 16^3 histogram bin), so a photo
        # dominated by one colour still lets its other colours speak.
        coarse = np.minimum((colours * 16).astype(np.int64), 15)
        bins = (coarse[:, 0] << 8) | (coarse[:, 1] << 4) | coarse[:, 2]
        density = np.bincount(bins, counts, 4096)[bins]
        weights = counts / density**_BALANCE_POWER
        self.weights = weights * (256 * 8.0 / weights.sum())
        self.targets = targets
        self.low = targets <= 0.5 / 255.0
        self.high = targets >= 254.5 / 255.0
        self.clipped = self.low | self.high
        self.any_clipped = np.asarray(self.clipped.any(axis=1))
        self.rows = np.arange(len(colours))

    def toned(self, curves: Array) -> Array:
        """The tone curves at every colour: (m, 3)."""
        lo, w_lo, w_hi = self.lower, self.w_lo, self.w_hi
        return np.stack(
            [
                w_lo[:, j] * curves[j, lo[:, j]] + w_hi[:, j] * curves[j, lo[:, j] + 1]
                for j in range(3)
            ],
            axis=1,
        )

    def scatter(self, values: Array, j: int) -> Array:
        """Sum per-pixel values of channel j onto its K knots (linear weights)."""
        k, lo = KNOTS, self.lower[:, j]
        return np.asarray(
            np.bincount(lo, values * self.w_lo[:, j], k)
            + np.bincount(lo + 1, values * self.w_hi[:, j], k)
        )

    def pairs(self, values: Array, j: int, jj: int) -> Array:
        """Sum per-pixel values onto (knot of channel j, knot of channel jj) pairs: (K, K)."""
        k = KNOTS
        out = np.zeros(k * k)
        for da, wa in ((0, self.w_lo[:, j]), (1, self.w_hi[:, j])):
            for db, wb in ((0, self.w_lo[:, jj]), (1, self.w_hi[:, jj])):
                index = (self.lower[:, j] + da) * k + self.lower[:, jj] + db
                out += np.bincount(index, values * wa * wb, k * k)
        return out.reshape(k, k)

    def trust(self, predicted: Array) -> Array:
        """Per-pixel, per-channel weights of this step, censoring included: (m, 3).

        An output at 0 (255) only says "at most 0 (at least 255)". The other channels of such
        a pixel were likely bent by the editor's gamut handling: trust them less.
        """
        active = np.ones_like(self.targets)
        active[self.low & (predicted <= 0.0)] = 0.0
        active[self.high & (predicted >= 1.0)] = 0.0
        trust = np.where(self.clipped | ~self.any_clipped[:, None], 1.0, 0.1) * active
        return np.asarray(self.weights[:, None] * trust)


def _penalty() -> tuple[Array, Array]:
    """The regularisation (matrix, prior): smooth curves, saturation pulled to "unchanged".

    The penalty pulls towards the identity curves and no saturation change, so what the pair
    cannot tell (a curve's slope when a channel has one level) stays unchanged.
    """
    k = KNOTS
    n = 3 * k + _PIVOTS
    penalty = np.zeros((n, n))
    smooth = _CURVE_SMOOTHNESS * _second_difference_normal(k)
    for j in range(3):
        penalty[j * k : (j + 1) * k, j * k : (j + 1) * k] = smooth
    penalty += 1e-9 * np.eye(n)
    prior = np.concatenate([np.tile(np.linspace(0.0, 1.0, k), 3), np.zeros(_PIVOTS)])
    return penalty, prior


def _curve_hessian(design: _Design, w: Array, s: float, v: Array) -> Array:
    """The tone-curve block of the Gauss-Newton matrix, (3K, 3K).

    d out_c / d toned_j = s [c == j] - v_j, with s = 1 + sum b and v = sum_i b_i d pivot_i /
    d toned (luma weights, 1/3, one-hot at the max, one-hot at the min).
    """
    k = KNOTS
    out = np.zeros((3 * k, 3 * k))
    w_sum = w.sum(axis=1)
    for j in range(3):
        block = slice(j * k, (j + 1) * k)
        diag = s * s * w[:, j] - 2.0 * s * v[:, j] * w[:, j] + w_sum * v[:, j] ** 2
        out[block, block] += design.pairs(diag, j, j)
        for jj in range(j + 1, 3):
            other = slice(jj * k, (jj + 1) * k)
            gram = -s * (v[:, jj] * w[:, j] + v[:, j] * w[:, jj]) + w_sum * v[:, j] * v[:, jj]
            cross = design.pairs(gram, j, jj)
            out[block, other] = cross
            out[other, block] = cross.T
    return out


def _normal_equations(
    design: _Design, coeffs: Array, toned: Array, spreads: Array, residual: Array, w: Array
) -> tuple[Array, Array]:
    """The Gauss-Newton matrix and gradient of one step (unknowns: 3 curves, then b)."""
    k = KNOTS
    n = 3 * k + _PIVOTS
    s = 1.0 + float(coeffs.sum())
    v = np.broadcast_to(coeffs[0] * LUMA + coeffs[1] / 3.0, toned.shape).copy()
    v[design.rows, toned.argmax(axis=1)] += coeffs[2]
    v[design.rows, toned.argmin(axis=1)] += coeffs[3]
    hessian = np.zeros((n, n))
    hessian[: 3 * k, : 3 * k] = _curve_hessian(design, w, s, v)
    w_spread = spreads * w[:, :, None]  # (m, 3, 4)
    spread_sum = w_spread.sum(axis=1)  # sum_c w_c spread_ci, (m, 4)
    for j in range(3):
        block = slice(j * k, (j + 1) * k)
        cross = s * w_spread[:, j, :] - v[:, j, None] * spread_sum  # (m, 4)
        for i in range(_PIVOTS):
            column = design.scatter(cross[:, i], j)
            hessian[block, 3 * k + i] = column
            hessian[3 * k + i, block] = column
    hessian[3 * k :, 3 * k :] = w_spread.reshape(-1, _PIVOTS).T @ spreads.reshape(-1, _PIVOTS)
    w_res = w * residual
    res_sum = w_res.sum(axis=1)
    gradient = np.zeros(n)
    for j in range(3):
        gradient[j * k : (j + 1) * k] = design.scatter(s * w_res[:, j] - v[:, j] * res_sum, j)
    gradient[3 * k :] = w_res.reshape(-1) @ spreads.reshape(-1, _PIVOTS)
    return hessian, gradient


def fit_parametric(colours: Array, counts: Array, targets: Array) -> Parametric:
    """Joint Gauss-Newton fit of the tone curves and the saturation coefficients.

    Unknowns: the three curves at K knots (each input value reads two knots, linearly) and
    the four saturation coefficients b. Each step solves the regularised normal equations
    of the linearised model exactly (a (3K + 4) square system).
    """
    k = KNOTS
    design = _Design(colours, counts, targets)
    penalty, prior = _penalty()
    penalty[3 * k :, 3 * k :] += _SATURATION_RIDGE * design.weights.sum() * np.eye(_PIVOTS)
    curves = np.tile(np.linspace(0.0, 1.0, k), (3, 1))
    coeffs = np.zeros(_PIVOTS)
    previous: Array | None = None
    for _ in range(_GAUSS_NEWTON_STEPS):
        toned = design.toned(curves)
        spreads = spread(toned)  # d out / d coefficients, (m, 3, 4)
        predicted = toned + spreads @ coeffs
        if previous is not None and np.abs(predicted - previous).max() < _GN_TOLERANCE:
            break
        previous = predicted
        w = design.trust(predicted)
        hessian, gradient = _normal_equations(
            design, coeffs, toned, spreads, targets - predicted, w
        )
        params = np.concatenate([curves.ravel(), coeffs])
        params = params + solve_spd(hessian + penalty, gradient - penalty @ (params - prior))
        curves = params[: 3 * k].reshape(3, k)
        coeffs = params[3 * k :]
    return Parametric(curves, coeffs)
