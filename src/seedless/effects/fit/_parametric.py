"""The parametric colour model: tone curves, a hue-symmetric saturation, tone curves again.

``P(c) = U(S(T(c)))`` with ``T`` and ``U`` three smooth per-channel tone curves each (65 and
33 knots) and ``S`` the saturation operator of :mod:`._saturation`. Editors apply curves,
white balance and levels both before and after their saturation and vibrance controls, and
the two orders differ on saturated colours (a white balance after a saturation change tints
the greys it pivots on), so both are in the model.

It is fitted jointly by Gauss-Newton least squares; outputs clipped at 0 or 255 count as
censored (only "at least/at most"), and dense colours are down-weighted, so a photo full of
one colour does not decide the model alone. Everything is pulled towards "unchanged", so what
the pair cannot tell stays unchanged. This model is what the fitted table follows where the
pair has no evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _saturation as sat
from ._grouped import Colours
from ._hsl import Sliders, fit_sliders
from ._table import Array
from ._vibrance import Vibrance, fit_vibrance

#: An editor's control that the model runs first when the pair is one (:func:`fit_control`).
Control = Sliders | Vibrance

KNOTS = 65  # knots of each tone curve before saturation, every 255/64 levels
POST_KNOTS = 33  # knots of each tone curve after it
# Second-difference penalty on the tone curves: 30 per level^3 of knot spacing, so a curve's
# stiffness does not depend on its number of knots.
_CURVE_SMOOTHNESS = 30.0
# A much weaker first-difference penalty on the curves' departure from the identity: where
# the pair has no levels of a channel, its curve keeps the shift it has at the nearest level
# instead of continuing its slope (or pivoting back through "unchanged").
_CURVE_FLATNESS = 1e-3
_GAIN_RIDGE = (1e-5, 1e-5, 1e-4)  # pulls towards "unchanged": constant, lightness, chroma gains
# Constant gains on red, green and blue that differ from each other (a pivot other than the
# mean, e.g. luma) are pulled harder: only a photo with several hues can tell such pivots
# apart, and a guess that treats the channels alike carries over to other hues best.
_UNEVEN_RIDGE = 1e-3
_GAIN_SMOOTHNESS = 1e-5  # first-difference penalty of the varying gains along lightness
_RICHER_GAIN, _RICHER_LEVELS = 0.15, 0.05  # what a richer level must gain to be kept
_BALANCE_POWER = 0.5  # dense colours weigh count**(1 - power): 0.5 = square root
# The noise (levels squared) the tone curves' smoothness is set for: a pair noisier than this
# (grain, JPEG noise) weighs its colours less against it, by the ratio (see _reliability).
_QUIET = 1.0
_GAUSS_NEWTON_STEPS = 12
_DAMPING = 1e-4  # least Levenberg-Marquardt damping, relative to the system's diagonal
_BLOCK = 32  # columns per block of the Cholesky factorisation
_GOOD_ENOUGH = 0.2  # levels: a pair the simplest level explains this well needs no richer one
_GN_TOLERANCE = 4e-4  # stop when no fitted output moves by more than this (0.1 levels)


def _curve(values: Array, curve: Array) -> Array:
    """A piecewise-linear curve (K knots over 0..1) at values (m,), flat outside 0..1."""
    return np.asarray(np.interp(values, np.linspace(0.0, 1.0, len(curve)), curve))


@dataclass(frozen=True)
class Parametric:
    """Tone curves (3, K), saturation coefficients (P,), tone curves after it (3, K2), and
    the editor's control that runs first, when the pair is one (see :func:`fit_control`)."""

    curves: Array
    coefficients: Array
    post: Array
    control: Control | None = None

    def __call__(self, rgb: Array) -> Array:
        flat = np.clip(rgb.reshape(-1, 3), 0.0, 1.0)
        if self.control is not None:
            flat = self.control(flat)
        toned = np.stack([_curve(flat[:, c], self.curves[c]) for c in range(3)], axis=1)
        saturated = sat.saturate(toned, self.coefficients)
        out = np.stack([_curve(saturated[:, c], self.post[c]) for c in range(3)], axis=1)
        return np.asarray(out.reshape(rgb.shape))


# ---------------------------------------------------------------------------- knots


class _Knots:
    """Where values (m, 3) fall on a curve's K knots: each reads knot ``lower`` with weight
    ``w_lo`` and knot ``lower + 1`` with ``w_hi`` (both (m, 3)), and the sums a fit needs."""

    def __init__(self, values: Array, knots: int) -> None:
        self.size = knots
        position = np.clip(values, 0.0, 1.0) * (knots - 1)
        self.lower = np.minimum(np.floor(position).astype(np.int64), knots - 2)
        frac = position - self.lower
        self.w_lo, self.w_hi = 1.0 - frac, frac
        self.inside = (values > 0.0) & (values < 1.0)

    def at(self, curves: Array) -> Array:
        """The curves at the values: (m, 3)."""
        lo, rows = self.lower, np.arange(3)
        return np.asarray(self.w_lo * curves[rows, lo] + self.w_hi * curves[rows, lo + 1])

    def slopes(self, curves: Array) -> Array:
        """d curve / d value at the values (0 outside 0..1): (m, 3)."""
        lo, rows = self.lower, np.arange(3)
        step = (curves[rows, lo + 1] - curves[rows, lo]) * (self.size - 1)
        return np.asarray(step * self.inside)

    def _spots(self, c: int) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        return (self.lower[:, c], self.w_lo[:, c]), (self.lower[:, c] + 1, self.w_hi[:, c])

    def scatter(self, values: Array, c: int) -> Array:
        """Sum per-pixel values of channel c onto its knots (linear weights): (K,)."""
        return np.asarray(sum(np.bincount(k, values * w, self.size) for k, w in self._spots(c)))

    def pairs(self, other: _Knots, values: Array, c: int, cc: int) -> Array:
        """Sum per-pixel values onto (knot of channel c here, knot of channel cc on other)
        pairs: (K, K_other)."""
        size = self.size * other.size
        out = np.zeros(size)
        for ka, wa in self._spots(c):
            for kb, wb in other._spots(cc):
                out += np.bincount(ka * other.size + kb, values * wa * wb, size)
        return out.reshape(self.size, other.size)

    def cross(self, per_pivot: Array, c: int, terms: sat.Terms) -> Array:
        """Sum per-pixel, per-pivot values (m, pivots) onto (knot of channel c, saturation
        coefficient) pairs: (K, P)."""
        p = sat.COEFFICIENTS
        weighted = per_pivot[:, terms.pivot] * terms.values  # (m, entries)
        out = np.zeros(self.size * p)
        for knot, w in self._spots(c):
            index = knot[:, None] * p + terms.columns
            out += np.bincount(index.ravel(), (weighted * w[:, None]).ravel(), self.size * p)
        return out.reshape(self.size, p)


# ---------------------------------------------------------------------------- the fit


class _Layout:
    """Where each block of unknowns sits: pre curves, saturation coefficients, post curves."""

    pre: slice = slice(0, 3 * KNOTS)
    gains: slice = slice(3 * KNOTS, 3 * KNOTS + sat.COEFFICIENTS)
    post: slice = slice(3 * KNOTS + sat.COEFFICIENTS, 3 * KNOTS + sat.COEFFICIENTS + 3 * POST_KNOTS)
    size: int = 3 * KNOTS + sat.COEFFICIENTS + 3 * POST_KNOTS

    def curve(self, block: slice, knots: int, c: int) -> slice:
        start = block.start + c * knots
        return slice(start, start + knots)


_LAYOUT = _Layout()


def solve_spd(matrix: Array, rhs: Array) -> Array:
    """Solve a symmetric positive-definite system by blocked Cholesky, in plain numpy.

    A few hundred unknowns: LAPACK would do it in a millisecond, but multi-threaded BLAS
    stalls for tens of milliseconds on a busy machine for systems this small (measured: a
    median of 1.4 ms, and up to 176 ms, on two loaded cores), and this runs dozens of times per
    fit. The factorisation works on blocks of 32 columns with einsum, which runs in this
    thread; the result is the same on every run.
    """
    a = np.array(matrix, dtype=np.float64)
    n = len(a)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        for i in range(start, stop):
            pivot = a[i, i]
            if pivot <= 0.0:  # not positive definite: numerical trouble, fall back to LAPACK
                return np.asarray(np.linalg.solve(matrix, rhs))
            root = math.sqrt(pivot)
            a[i, i] = root
            a[i + 1 :, i] /= root
            column = a[i + 1 : stop, i]
            a[i + 1 : stop, i + 1 : stop] -= np.outer(column, column)
            a[stop:, i + 1 : stop] -= np.outer(a[stop:, i], column)
        if stop < n:
            panel = a[stop:, start:stop]
            a[stop:, stop:] -= np.einsum("ik,jk->ij", panel, panel)
    lower = np.tril(a)
    y = np.array(rhs, dtype=np.float64)
    for i in range(n):  # forward: L y = rhs
        y[i] = (y[i] - lower[i, :i] @ y[:i]) / lower[i, i]
    for i in range(n - 1, -1, -1):  # backward: L^T x = y
        y[i] = (y[i] - lower[i + 1 :, i] @ y[i + 1 :]) / lower[i, i]
    return y


def _difference_normal(n: int, order: int) -> Array:
    """D^T D for the first- or second-difference operator D on n points."""
    stencil = np.array([-1.0, 1.0]) if order == 1 else np.array([1.0, -2.0, 1.0])
    out = np.zeros((n, n))
    width = len(stencil)
    for i in range(n - width + 1):
        out[i : i + width, i : i + width] += np.outer(stencil, stencil)
    return out


def _penalty(total_weight: float) -> tuple[Array, Array]:
    """The regularisation (matrix, prior): smooth curves near the identity, smooth gains
    near "unchanged"; varying gains take their neighbours' value where the pair lacks
    lightnesses."""
    layout = _LAYOUT
    penalty = np.zeros((layout.size, layout.size))
    for block, knots in ((layout.pre, KNOTS), (layout.post, POST_KNOTS)):
        spacing = 255.0 / (knots - 1)
        smooth = _CURVE_SMOOTHNESS / spacing**3 * _difference_normal(knots, 2)
        smooth += _CURVE_FLATNESS / spacing * _difference_normal(knots, 1)
        for c in range(3):
            part = layout.curve(block, knots, c)
            penalty[part, part] = smooth
    constant, lightness, chroma = _GAIN_RIDGE
    ridge = (
        [constant] * sat.CONSTANT
        + [lightness] * sat.LIGHTNESS_KNOTS
        + [chroma] * (3 * sat.CHROMA_KNOTS)
    )
    gains = np.diag(ridge)
    uneven = _UNEVEN_RIDGE * (np.eye(3) - np.full((3, 3), 1.0 / 3.0))
    gains[np.ix_(sat.CHANNELS, sat.CHANNELS)] += uneven
    start = sat.CONSTANT
    for knots in (sat.LIGHTNESS_KNOTS, *[sat.CHROMA_KNOTS] * 3):
        part = slice(start, start + knots)
        gains[part, part] += _GAIN_SMOOTHNESS * _difference_normal(knots, 1)
        start += knots
    penalty[layout.gains, layout.gains] = total_weight * gains
    penalty += 1e-9 * np.eye(layout.size)
    prior = np.zeros(layout.size)
    prior[layout.pre] = np.tile(np.linspace(0.0, 1.0, KNOTS), 3)
    prior[layout.post] = np.tile(np.linspace(0.0, 1.0, POST_KNOTS), 3)
    return penalty, prior


class _Data:
    """What stays fixed across Gauss-Newton steps: the colours on the pre-curve knots, pixel
    weights, censoring."""

    def __init__(self, colours: Array, counts: Array, targets: Array, noise: float = 0.0) -> None:
        self.knots = _Knots(colours, KNOTS)
        # Balance: each pixel weighs 1 / sqrt(pixels in its 16^3 histogram bin), so a photo
        # dominated by one colour still lets its other colours speak.
        coarse = np.minimum((colours * 16).astype(np.int64), 15)
        bins = (coarse[:, 0] << 8) | (coarse[:, 1] << 4) | coarse[:, 2]
        density = np.bincount(bins, counts, 4096)[bins]
        weights = counts / density**_BALANCE_POWER
        self.weights = weights * (256 * 8.0 / weights.sum()) * _reliability(counts, noise)
        self.targets = targets
        self.low = targets <= 0.5 / 255.0
        self.high = targets >= 254.5 / 255.0
        self.clipped = self.low | self.high
        self.any_clipped = np.asarray(self.clipped.any(axis=1))

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


def _reliability(counts: Array, noise: float) -> Array:
    """How much the colours of a noisy pair count, relative to a quiet pair's: (m,).

    A penalised fit's smoothing should grow with the noise of its data, so a pair ``r`` times
    noisier than :data:`_QUIET` weighs its colours ``1 / r`` as much against the tone curves'
    smoothness (the gains' pull towards "unchanged" scales with the weights, and stays);
    and the mean output of a colour seen in ``n`` pixels is noisier the smaller ``n`` is, so
    it weighs ``n / (n + r - 1)`` of that (a quiet pair: 1). Without this, one grainy pixel
    at the end of a photo's range (11 levels off, weighed as much as 200 pixels near it)
    bent a tone curve by 15 levels where no photo of the pair reached.
    """
    ratio = max(noise / _QUIET, 1.0)
    return np.asarray(counts / (counts + ratio - 1.0) / ratio)


@dataclass(frozen=True)
class _Step:
    """The model linearised at the current parameters."""

    out: Array  # (m, 3) the prediction
    jacobian: Array  # (m, 3, 3) d out / d toned
    spread: Array  # (m, 3, pivots) d out / d (gain of each pivot)
    terms: sat.Terms
    post: _Knots  # the saturated colours on the post-curve knots


def _predict(data: _Data, params: Array, varying: bool) -> Array:
    """The model's output at the pair's colours: (m, 3)."""
    layout = _LAYOUT
    toned = data.knots.at(params[layout.pre].reshape(3, KNOTS))
    saturated = sat.saturate(toned, params[layout.gains], varying)
    return _Knots(saturated, POST_KNOTS).at(params[layout.post].reshape(3, POST_KNOTS))


def _linearise(data: _Data, params: Array, varying: bool) -> _Step:
    layout = _LAYOUT
    pre = params[layout.pre].reshape(3, KNOTS)
    post = params[layout.post].reshape(3, POST_KNOTS)
    toned = data.knots.at(pre)
    saturated, jacobian, terms, spread = sat.state(toned, params[layout.gains], varying)
    post_knots = _Knots(saturated, POST_KNOTS)
    slope = post_knots.slopes(post)  # the post curves scale what reaches the output
    return _Step(
        post_knots.at(post),
        slope[:, :, None] * jacobian,
        slope[:, :, None] * spread,
        terms,
        post_knots,
    )


def _normal_equations(data: _Data, step: _Step, residual: Array, w: Array) -> tuple[Array, Array]:
    """The Gauss-Newton matrix and gradient of one step (see _Layout for the unknowns).

    A pre-curve knot moves the toned colour through its knot weight, then the output through
    the jacobian; a saturation coefficient moves it by its entries' values times the spread
    from their pivots; a post-curve knot moves its own channel through its knot weight.
    """
    layout, pre, post = _LAYOUT, data.knots, step.post
    hessian = np.zeros((layout.size, layout.size))
    gradient = np.zeros(layout.size)
    w_res = w * residual

    def put(rows: slice, cols: slice, block: Array) -> None:
        hessian[rows, cols] = block
        hessian[cols, rows] = block.T

    pre_pre = np.einsum("mc,mcj,mck->mjk", w, step.jacobian, step.jacobian)
    pre_gain = np.einsum("mc,mcj,mci->mji", w, step.jacobian, step.spread)
    pre_res = np.einsum("mc,mcj->mj", w_res, step.jacobian)
    for j in range(3):
        rows = layout.curve(layout.pre, KNOTS, j)
        for jj in range(j, 3):
            put(rows, layout.curve(layout.pre, KNOTS, jj), pre.pairs(pre, pre_pre[:, j, jj], j, jj))
        put(rows, layout.gains, pre.cross(pre_gain[:, j, :], j, step.terms))
        gradient[rows] = pre.scatter(pre_res[:, j], j)
    for c in range(3):  # post curve c reads only output channel c
        rows = layout.curve(layout.post, POST_KNOTS, c)
        put(rows, rows, post.pairs(post, w[:, c], c, c))
        for j in range(3):
            block = post.pairs(pre, w[:, c] * step.jacobian[:, c, j], c, j)
            put(rows, layout.curve(layout.pre, KNOTS, j), block)
        per_pivot = w[:, c, None] * step.spread[:, c, :]
        put(rows, layout.gains, post.cross(per_pivot, c, step.terms))
        gradient[rows] = post.scatter(w_res[:, c], c)
    put(
        layout.gains,
        layout.gains,
        step.terms.gram(np.einsum("mc,mci,mcl->mil", w, step.spread, step.spread)),
    )
    gradient[layout.gains] = step.terms.scatter(np.einsum("mc,mci->mi", w_res, step.spread))
    return hessian, gradient


def _objective(
    data: _Data, params: Array, penalty: Array, prior: Array, varying: bool
) -> tuple[float, Array]:
    """The penalised, weighted squared error at params, and the prediction there."""
    out = _predict(data, params, varying)
    residual = data.targets - out
    shift = params - prior
    loss = float((data.trust(out) * residual * residual).sum() + shift @ penalty @ shift)
    return loss, out


def _active(level: int) -> Array:
    """The unknowns a level of the model fits: 0 curves and constant saturation gains, 1 also
    the gains varying with lightness and chroma, 2 also the curves after saturation; -1 curves,
    gains on red, green and blue (a 3x3 matrix) and curves after."""
    layout = _LAYOUT
    active = np.ones(layout.size, dtype=bool)
    if level == -1:
        active[layout.gains.start + len(sat.CHANNELS) : layout.gains.stop] = False
        return active
    if level < 2:
        active[layout.post] = False
    if level < 1:
        active[layout.gains.start + sat.CONSTANT : layout.gains.stop] = False
    return active


def _gauss_newton(
    data: _Data, penalty: Array, prior: Array, start: Array, active: Array
) -> tuple[Array, Array]:
    """Fit the active unknowns from ``start`` (the others stay as they are); returns the
    parameters and the prediction at the pair's colours.

    Gauss-Newton steps solve the regularised normal equations of the linearised model; the
    model is only piecewise smooth (the max and min pivots switch channels, the post curves
    move with what reaches them), so a step that does not lower the penalised error is
    retried with Levenberg-Marquardt damping, up to seven times, then the fit stops.
    """
    varying = bool(active[_LAYOUT.gains.start + sat.CONSTANT : _LAYOUT.gains.stop].any())
    params = start.copy()
    loss, out = _objective(data, params, penalty, prior, varying)
    block = np.ix_(active, active)
    damping = 0.0  # plain Gauss-Newton until a step fails
    for _ in range(_GAUSS_NEWTON_STEPS):
        step = _linearise(data, params, varying)
        hessian, gradient = _normal_equations(data, step, data.targets - out, data.trust(out))
        system = hessian[block] + penalty[block]
        rhs = (gradient - penalty @ (params - prior))[active]
        scale = np.diag(system).copy()
        for _retry in range(7):
            trial = params.copy()
            trial[active] += solve_spd(system + damping * np.diag(scale), rhs)
            trial_loss, trial_out = _objective(data, trial, penalty, prior, varying)
            if trial_loss < loss:
                damping = damping / 4.0 if damping > _DAMPING else 0.0
                break
            damping = max(damping * 8.0, _DAMPING)
        else:
            break
        moved = float(np.abs(trial_out - out).max())
        params, loss, out = trial, trial_loss, trial_out
        if moved < _GN_TOLERANCE:
            break
    return params, out


def _rmse(data: _Data, counts: Array, out: Array) -> float:
    """Root-mean-square error of a fitted level on the pair's pixels, in 8-bit levels."""
    error = np.clip(out, 0.0, 1.0) - data.targets
    return float(np.sqrt((error * error * counts[:, None]).sum() / (3.0 * counts.sum())) * 255.0)


def fit_parametric(grouped: Colours, *, levels: int = 2) -> Parametric:
    """Fit the model at increasing levels (see :func:`_active`), up to ``levels``, and keep
    the simplest one that explains the pair about as well as any richer one.

    A richer level is kept only when it lowers the error on the pair by at least 15% and
    0.05 levels: a photo with few hues lets a richer model explain a per-channel edit in
    ways that go wrong on other hues, so richness has to earn its place.

    When an editor's control explains the pair (:func:`fit_control`), the model is fitted
    on top of it, and follows its geometry on colours the pair lacks. A noisy pair
    (``grouped.noise``) has stiffer tone curves (see :func:`_reliability`).
    """
    colours, counts, targets, noise = grouped
    control = fit_control(colours, counts, targets)
    if control is not None:
        colours = control(colours)
    layout = _LAYOUT
    data = _Data(colours, counts, targets, noise)
    penalty, prior = _penalty(float(data.weights.sum()))
    params, out = _gauss_newton(data, penalty, prior, prior, _active(0))
    error = _rmse(data, counts, out)
    for level in range(1, levels + 1):
        if error < _GOOD_ENOUGH:
            break
        richer, richer_out = _gauss_newton(data, penalty, prior, params, _active(level))
        richer_error = _rmse(data, counts, richer_out)
        if error - richer_error >= max(_RICHER_GAIN * error, _RICHER_LEVELS):
            params, error = richer, richer_error
    return Parametric(
        params[layout.pre].reshape(3, KNOTS),
        params[layout.gains],
        params[layout.post].reshape(3, POST_KNOTS),
        control,
    )


def fit_control(colours: Array, counts: Array, targets: Array) -> Control | None:
    """The editor's control that alone explains the pair to within rounding, if one does:
    HSL lightness and saturation sliders (:mod:`._hsl`), else a vibrance with levels after it
    (a white balance, a contrast; :mod:`._vibrance`).

    Such a control has a handful of numbers, which one photo pins down, where the model's
    curves and gains can explain the same pair in ways that part on colours it lacks.
    """
    sliders = fit_sliders(colours, counts, targets)
    if sliders is not None:
        return sliders
    return fit_vibrance(colours, counts, targets)


def fit_linear(colours: Array, counts: Array, targets: Array) -> Parametric:
    """Fit curves, a 3x3 matrix (gains on red, green and blue) and curves after it: the form
    Pillow applies with point operations and a matrix conversion."""
    layout = _LAYOUT
    data = _Data(colours, counts, targets)
    penalty, prior = _penalty(float(data.weights.sum()))
    params, _ = _gauss_newton(data, penalty, prior, prior, _active(-1))
    return Parametric(
        params[layout.pre].reshape(3, KNOTS),
        params[layout.gains],
        params[layout.post].reshape(3, POST_KNOTS),
    )
