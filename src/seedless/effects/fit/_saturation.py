"""The saturation operator of the parametric model: gains that move colours along grey pivots.

``S(t) = t + sum_p gain_p(t) * (t - pivot_p(t))``. The terms move each colour away from (or
towards) a grey pivot of its own lightness, never along a hue, so what is learnt from the hues
of one photo carries over to the hues of another:

* constant gains on the pivots red, green, blue (together any linear pivot: luma, mean), max
  and min: ``ImageEnhance.Color``-, HSL- and HSV-style saturation;
* a gain on the mid-range pivot ((max + min) / 2) that varies smoothly with lightness: HSL
  tools change saturation less near black and white than in the midtones;
* gains on red, green and blue proportional to chroma (max - min), varying smoothly with
  lightness: vibrance tools change grey-ish colours more than saturated ones.

The operator is linear in its coefficients; :class:`Terms` holds it sparsely (13 non-zero
entries per colour) with the sums the Gauss-Newton fit needs.
"""

from __future__ import annotations

import numpy as np

from ._table import Array

LIGHTNESS_KNOTS = 17  # the mid-range gain is piecewise linear in lightness over these
CHROMA_KNOTS = 5  # the chroma gains are piecewise linear in lightness over these
# Pivots: red, green, blue, max, min, mid-range (columns of pivots()' output).
_RED, _GREEN, _BLUE, _MAX, _MIN, _MID = range(6)
PIVOTS = 6
# Coefficients: 5 constant gains (red, green, blue, max, min), the mid-range gain at each
# lightness knot, then the chroma gains of red, green and blue at each chroma knot.
CONSTANT = 5
COEFFICIENTS = CONSTANT + LIGHTNESS_KNOTS + 3 * CHROMA_KNOTS
#: The constant gains on red, green and blue (together: a linear pivot).
CHANNELS = [_RED, _GREEN, _BLUE]


def saturate(toned: Array, coefficients: Array, varying: bool = True) -> Array:
    """S(toned) for colours (m, 3) (``varying=False``: the varying gains are zero)."""
    pivot_values, _ = pivots(toned)
    gains = Terms(toned, varying).gains(coefficients)
    return np.asarray(
        toned + np.einsum("mci,mi->mc", toned[:, :, None] - pivot_values[:, None, :], gains)
    )


def state(
    toned: Array, coefficients: Array, varying: bool = True
) -> tuple[Array, Array, Terms, Array]:
    """At these coefficients: S(toned) (m, 3), d S / d toned (m, 3, 3), the terms, and the
    spread of each channel from each pivot (m, 3, pivots)."""
    m = len(toned)
    pivot_values, pivot_grads = pivots(toned)
    terms = Terms(toned, varying)
    spread = toned[:, :, None] - pivot_values[:, None, :]
    gains = terms.gains(coefficients)
    out = toned + np.einsum("mci,mi->mc", spread, gains)
    jacobian = np.repeat(np.eye(3)[None], m, axis=0) * (1.0 + gains.sum(axis=1))[:, None, None]
    jacobian -= np.einsum("mi,mik->mk", gains, pivot_grads)[:, None, :]
    jacobian += np.einsum("mci,mik->mck", spread, terms.gain_grads(coefficients))
    return out, jacobian, terms, spread


def pivots(toned: Array) -> tuple[Array, Array]:
    """The pivots (m, 6) and their gradients with respect to the toned colour (m, 6, 3)."""
    m = len(toned)
    rows = np.arange(m)
    high, low = toned.argmax(axis=1), toned.argmin(axis=1)
    top, bottom = toned[rows, high], toned[rows, low]
    pivots = np.concatenate([toned, np.stack([top, bottom, (top + bottom) / 2.0], axis=1)], axis=1)
    grads = np.zeros((m, PIVOTS, 3))
    grads[:, :3, :] = np.eye(3)
    grads[rows, _MAX, high] = 1.0
    grads[rows, _MIN, low] = 1.0
    grads[rows, _MID, high] += 0.5
    grads[rows, _MID, low] += 0.5
    return pivots, grads


def _hat(t: Array, knots: int) -> tuple[Array, Array, Array]:
    """The two piecewise-linear basis functions over 0..1 that are non-zero at each t:
    knot indices (m, 2), values (m, 2), and d value / d t (m, 2)."""
    n = knots - 1
    position = np.clip(t, 0.0, 1.0) * n
    lower = np.minimum(np.floor(position).astype(np.int64), n - 1)
    frac = position - lower
    inside = ((t > 0.0) & (t < 1.0)).astype(np.float64)[:, None]
    return (
        np.stack([lower, lower + 1], axis=1),
        np.stack([1.0 - frac, frac], axis=1),
        np.array([-float(n), float(n)]) * inside,
    )


class Terms:
    """The saturation terms at toned colours, sparse: at each colour, 13 (coefficient, pivot,
    value) entries are non-zero; the term of an entry is value * (colour - pivot).

    ``columns`` (m, 13) coefficient index, ``pivot`` (13,) pivot of each entry, ``values``
    (m, 13) and ``grads`` (m, 13, 3): d value / d toned colour.
    """

    def __init__(self, toned: Array, varying: bool = True) -> None:
        m = len(toned)
        if not varying:  # only the constant gains: 5 entries
            self.columns = np.broadcast_to(np.arange(CONSTANT), (m, CONSTANT))
            self.pivot = np.arange(CONSTANT)
            self.values = np.ones((m, CONSTANT))
            self.grads = np.zeros((m, CONSTANT, 3))
            return
        rows = np.arange(m)
        high, low = toned.argmax(axis=1), toned.argmin(axis=1)
        top, bottom = toned[rows, high], toned[rows, low]
        lightness, chroma = (top + bottom) / 2.0, top - bottom
        d_light = np.zeros((m, 3))
        d_light[rows, high] += 0.5
        d_light[rows, low] += 0.5
        d_chroma = np.zeros((m, 3))
        d_chroma[rows, high] += 1.0
        d_chroma[rows, low] -= 1.0
        l_knot, l_value, l_slope = _hat(lightness, LIGHTNESS_KNOTS)
        c_knot, c_value, c_slope = _hat(lightness, CHROMA_KNOTS)
        chroma_values = c_value * chroma[:, None]
        chroma_grads = (c_slope * chroma[:, None])[:, :, None] * d_light[:, None, :] + c_value[
            :, :, None
        ] * d_chroma[:, None, :]
        base = CONSTANT + LIGHTNESS_KNOTS
        self.columns = np.concatenate(
            [np.broadcast_to(np.arange(CONSTANT), (m, CONSTANT)), CONSTANT + l_knot]
            + [base + c * CHROMA_KNOTS + c_knot for c in range(3)],
            axis=1,
        )
        self.pivot = np.array([_RED, _GREEN, _BLUE, _MAX, _MIN, _MID, _MID, 0, 0, 1, 1, 2, 2])
        self.values = np.concatenate([np.ones((m, CONSTANT)), l_value] + [chroma_values] * 3, 1)
        light_grads = l_slope[:, :, None] * d_light[:, None, :]
        self.grads = np.concatenate(
            [np.zeros((m, CONSTANT, 3)), light_grads] + [chroma_grads] * 3, axis=1
        )

    def gains(self, coefficients: Array) -> Array:
        """The gain of each pivot at each colour: (m, pivots)."""
        return self._per_pivot(coefficients[self.columns] * self.values)

    def gain_grads(self, coefficients: Array) -> Array:
        """d gain / d toned colour: (m, pivots, 3)."""
        per_entry = coefficients[self.columns][:, :, None] * self.grads
        out = np.zeros((len(per_entry), PIVOTS, 3))
        for entry, pivot in enumerate(self.pivot):
            out[:, pivot] += per_entry[:, entry]
        return out

    def _per_pivot(self, per_entry: Array) -> Array:
        out = np.zeros((len(per_entry), PIVOTS))
        for entry, pivot in enumerate(self.pivot):
            out[:, pivot] += per_entry[:, entry]
        return out

    def scatter(self, per_pivot: Array) -> Array:
        """Sum per-colour, per-pivot values (m, pivots) times the entries onto the
        coefficients: (P,)."""
        weighted = per_pivot[:, self.pivot] * self.values
        return np.bincount(self.columns.ravel(), weighted.ravel(), COEFFICIENTS)

    def gram(self, per_pair: Array) -> Array:
        """Sum per-colour, per-pivot-pair values (m, pivots, pivots) times entry products
        onto the coefficient pairs: (P, P)."""
        p = COEFFICIENTS
        index = self.columns[:, :, None] * p + self.columns[:, None, :]
        weight = (
            per_pair[:, self.pivot[:, None], self.pivot[None, :]]
            * self.values[:, :, None]
            * self.values[:, None, :]
        )
        return np.bincount(index.ravel(), weight.ravel(), p * p).reshape(p, p)
