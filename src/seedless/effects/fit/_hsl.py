"""HSL lightness and saturation sliders: an editor's operation the smooth model follows exactly.

ImageMagick's ``-modulate``, GIMP's Hue-Saturation and many editors' HSL panels scale each
colour's HSL lightness and saturation: the colour keeps its hue, its lightness moves towards
black or white, and its chroma is whatever the scaled saturation allows at the new lightness,
so colours converge on white as they brighten. Per-channel curves and a saturation gain can
match that on the colours a pair shows, but not how it continues on colours it lacks (a pair
without highlights cannot show that brightened highlights lose their colour). When these two
sliders alone explain a pair to within rounding, the parametric model is fitted on top of
them (:func:`fit_parametric` in :mod:`._parametric`), so it carries the sliders' geometry to
every colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._table import Array

# A pair is "these sliders" when they alone leave at most this RMS error (in levels): 8-bit
# outputs of an exact slider edit leave about 0.5 (rounding on both sides of the edit).
EXPLAINS = 1.0
_START = (1.0, 1.0)  # lightness and saturation factors: unchanged
_STEP = (0.2, 0.4)  # first steps of the pattern search
_ROUNDS = 60  # at most this many rounds of the search; the steps halve when a round finds
_SMALLEST = 1e-4  # nothing better, and it stops when they are this small
_UNCHANGED = 0.005  # factors this close to 1 are "unchanged"


def modulate(rgb: Array, lightness: float, saturation: float) -> Array:
    """Colours (m, 3) in 0..1 with their HSL lightness and saturation scaled (hue kept),
    clipped to 0..1 per channel as the editors' 8-bit output is."""
    top, bottom = rgb.max(axis=1), rgb.min(axis=1)
    mid = (top + bottom) / 2.0
    headroom = 1.0 - np.abs(2.0 * mid - 1.0)  # the chroma possible at each lightness
    new_mid = mid * lightness
    new_headroom = 1.0 - np.abs(2.0 * np.clip(new_mid, 0.0, 1.0) - 1.0)
    # chroma' = saturation' * headroom' with saturation = chroma / headroom
    ratio = np.divide(
        saturation * new_headroom, headroom, out=np.zeros_like(mid), where=headroom > 1e-9
    )
    out = new_mid[:, None] + (rgb - mid[:, None]) * ratio[:, None]
    return np.asarray(np.clip(out, 0.0, 1.0))


@dataclass(frozen=True)
class Sliders:
    """The lightness and saturation factors of an HSL edit."""

    lightness: float
    saturation: float

    def __call__(self, rgb: Array) -> Array:
        return modulate(rgb, self.lightness, self.saturation)

    def describe(self) -> str:
        return f"HSL sliders (lightness x{self.lightness:.2f}, saturation x{self.saturation:.2f})"


def fit_sliders(colours: Array, counts: Array, targets: Array) -> Sliders | None:
    """The lightness and saturation factors that explain the pair, when they explain it to
    within :data:`EXPLAINS` levels and change something; else None."""
    weights = counts / counts.sum()

    def error(factors: tuple[float, float]) -> float:
        miss = modulate(colours, *factors) - targets
        miss -= (weights[:, None] * miss).sum() / 3.0  # an editor may floor where others round
        return float(np.sqrt((weights[:, None] * miss * miss).sum() / 3.0) * 255.0)

    best, best_error = _START, error(_START)
    step = _STEP
    for _ in range(_ROUNDS):  # a pattern search: the error is piecewise smooth in the factors
        trials = [
            (best[0] + dl * step[0], best[1] + ds * step[1])
            for dl in (-1, 0, 1)
            for ds in (-1, 0, 1)
            if (dl, ds) != (0, 0)
        ]
        scored = [(error(t), t) for t in trials if t[0] > 0.0 and t[1] >= 0.0]
        found_error, found = min(scored)
        if found_error < best_error:
            best, best_error = found, found_error
        else:
            step = (step[0] / 2.0, step[1] / 2.0)
            if step[0] < _SMALLEST:
                break
    if best_error > EXPLAINS:
        return None
    if abs(best[0] - 1.0) < _UNCHANGED and abs(best[1] - 1.0) < _UNCHANGED:
        return None
    return Sliders(*best)
