"""A vibrance control: an editor's operation the smooth model follows exactly.

The vibrance of SweetFX/ReShade, ffmpeg's ``vibrance`` filter and many shaders moves each
colour away from a grey pivot of its own luma by a gain that depends on how saturated the
colour already is::

    out = L + (c - L) * (1 + gain + chroma * (max(c) - min(c))),   L = w . c

``chroma < 0`` boosts muted colours more than saturated ones (the usual vibrance),
``chroma > 0`` the reverse (ffmpeg's default), ``chroma = 0`` is a plain saturation on a
luma pivot (Pillow's ``ImageEnhance.Color``). The saturation operator of the parametric
model (:mod:`._saturation`) can express this too, but from one photo its many gains trade
off against its tone curves on the hues the photo shows and go wrong on the hues it lacks.
When these four numbers (two free luma weights, the gain, the chroma term) and levels after
them (each channel scaled and offset: a white balance, a contrast) explain a pair to within
rounding, the parametric model is fitted on top of them (:func:`fit_parametric` in
:mod:`._parametric`), as it is on top of HSL sliders (:mod:`._hsl`), so the vibrance's
geometry and the levels carry over to every colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._hsl import EXPLAINS
from ._table import Array

_STEPS = 30  # Levenberg-Marquardt steps at most
_HOPELESS = 4.0  # levels: a fit this far off after a few steps is not a vibrance
_WEIGHT_SLACK = 0.05  # luma weights may stray this far outside 0..1 (rounding)
# A vibrance is only taken for one when its gain or chroma term is at least this (editors'
# vibrance sliders start around 0.15): on a photo with few hues, a per-channel edit (levels,
# a contrast) can pass for levels with a slight vibrance, and that guess carries worse to
# other hues than the model's own curves (measured: -3 to -4 dB on two such edits).
_MATERIAL = 0.1
_ROUNDING = 1.5  # levels: offsets this small are an editor's rounding (floor or round)
_PLAIN = 0.05  # a chroma term this small: a plain saturation, in words


@dataclass(frozen=True)
class Vibrance:
    """Luma weights (r, g, b; they sum to 1), the gain, its change with chroma, and the
    levels after it: each channel scaled (a white balance, a contrast) and offset."""

    weights: tuple[float, float, float]
    gain: float
    chroma: float
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __call__(self, rgb: Array) -> Array:
        """Colours (m, 3) in 0..1 with the vibrance and the levels applied, each clipped to
        0..1 as an editor's 8-bit steps are."""
        out = np.clip(self._unclipped(rgb)[0], 0.0, 1.0) * np.asarray(self.scale)
        return np.asarray(np.clip(out + np.asarray(self.offset), 0.0, 1.0))

    def describe(self) -> str:
        """In words, with the levels (each channel's scale, and its offset in 8-bit levels
        when it is more than rounding) when they change something."""
        red, green, blue = self.weights
        luma = f"around a luma of {red:.2f} R + {green:.2f} G + {blue:.2f} B"
        if abs(self.chroma) < _PLAIN:
            text = f"a saturation (gain {self.gain:+.2f}, {luma})"
        else:
            text = (
                f"a vibrance (gain {self.gain:+.2f}, {self.chroma:+.2f} per unit of chroma, {luma})"
            )
        offsets = [round(v * 255.0) if abs(v) * 255.0 >= _ROUNDING else 0 for v in self.offset]
        if any(abs(v - 1.0) >= 0.005 for v in self.scale) or any(offsets):
            levels = ", ".join(
                f"{name} x{scale:.2f}" + (f" {offset:+d}" if offset else "")
                for name, scale, offset in zip("RGB", self.scale, offsets, strict=True)
            )
            text += f" with levels after it ({levels})"
        return text

    def _unclipped(self, rgb: Array) -> tuple[Array, Array, Array, Array]:
        """The vibrance's output before clipping and levels (m, 3), its factor (m,), each
        colour's chroma (m,) and its spread from the pivot (m, 3)."""
        chroma = rgb.max(axis=1) - rgb.min(axis=1)
        luma = rgb @ np.asarray(self.weights)
        spread = rgb - luma[:, None]
        factor = 1.0 + self.gain + self.chroma * chroma
        return luma[:, None] + spread * factor[:, None], factor, chroma, spread


def _unpack(p: Array) -> Vibrance:
    red, blue = float(p[0]), float(p[1])
    scale = (float(p[4]), float(p[5]), float(p[6]))
    offset = (float(p[7]), float(p[8]), float(p[9]))
    return Vibrance((red, 1.0 - red - blue, blue), float(p[2]), float(p[3]), scale, offset)


def _model(p: Array, colours: Array) -> tuple[Array, Array]:
    """The vibrance and the levels after it at the colours (m, 3), and the jacobian with
    respect to the 10 parameters (m, 3, 10): red and blue luma weights, gain, chroma term,
    each channel's scale, each channel's offset. Clipped outputs have no gradient."""
    vibrance, scale = _unpack(p), p[4:7]
    out, factor, chroma, spread = vibrance._unclipped(colours)
    inside = (out > 0.0) & (out < 1.0)
    out = np.clip(out, 0.0, 1.0)
    jacobian = np.zeros((len(colours), 3, 10))
    pivot_weight = (1.0 - factor)[:, None]  # d out / d luma, for each channel
    jacobian[:, :, 0] = pivot_weight * (colours[:, 0] - colours[:, 1])[:, None]
    jacobian[:, :, 1] = pivot_weight * (colours[:, 2] - colours[:, 1])[:, None]
    jacobian[:, :, 2] = spread
    jacobian[:, :, 3] = spread * chroma[:, None]
    jacobian[:, :, :4] *= (inside * scale)[:, :, None]
    levelled = out * scale + p[7:10]
    for c in range(3):
        jacobian[:, c, 4 + c] = out[:, c]
        jacobian[:, c, 7 + c] = 1.0
    keep = (levelled > 0.0) & (levelled < 1.0)
    return np.clip(levelled, 0.0, 1.0), jacobian * keep[:, :, None]


def _error(miss: Array, weights: Array) -> float:
    """The weighted RMS error in levels."""
    return float(np.sqrt((weights[:, None] * miss * miss).sum() / 3.0) * 255.0)


def fit_vibrance(colours: Array, counts: Array, targets: Array) -> Vibrance | None:
    """The vibrance that, with levels after it, explains the pair to within
    :data:`EXPLAINS` levels and changes something; else None.

    A Levenberg-Marquardt least-squares fit from "unchanged" (an even pivot, no gain, no
    levels); the model is smooth but for clipping, and a handful of steps decide.
    """
    weights = counts / counts.sum()
    p = np.array([1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    out, jacobian = _model(p, colours)
    miss = out - targets
    cost = float((weights[:, None] * miss * miss).sum())
    damping = 1e-3
    for step in range(_STEPS):
        weighted = jacobian * weights[:, None, None]
        system = np.einsum("mck,mcl->kl", weighted, jacobian)
        gradient = np.einsum("mck,mc->k", weighted, miss)
        for _retry in range(8):
            trial = p - np.linalg.solve(
                system + damping * np.diag(np.diag(system) + 1e-12), gradient
            )
            trial_out, trial_jacobian = _model(trial, colours)
            trial_miss = trial_out - targets
            trial_cost = float((weights[:, None] * trial_miss * trial_miss).sum())
            if trial_cost < cost:
                damping = max(damping / 4.0, 1e-9)
                break
            damping *= 8.0
        else:
            break
        moved = float(np.abs(trial - p).max())
        p, out, jacobian, miss, cost = trial, trial_out, trial_jacobian, trial_miss, trial_cost
        if moved < 1e-6 or (step >= 4 and _error(miss, weights) > _HOPELESS):
            break
    vibrance = _unpack(p)
    if _error(miss, weights) > EXPLAINS:
        return None
    if min(vibrance.weights) < -_WEIGHT_SLACK or max(vibrance.weights) > 1.0 + _WEIGHT_SLACK:
        return None
    if max(abs(vibrance.gain), abs(vibrance.chroma)) < _MATERIAL:
        return None  # levels alone, or nearly, are for the tone curves
    return vibrance
