"""Fitting the spatial parts of a look from one pair: vignette, blur or sharpening, grain.

Each part is tried only when the verdict's measurements point at it, in two stages (before or
after the colour table) where that matters, and kept only when it explains clearly more of the
pair than the table alone. Candidates are scored by running them, with the current table, on
the pair itself (Pillow's filters, the same code ``apply`` runs), so what is kept is what
reproduces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from ._parts import Detail, Grain, Vignette, feather, profile_map
from ._table import LUMA, Array

Colour = Callable[[Image.Image], Image.Image]  # the current table's pass

_SIGMAS = (0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0, 5.0, 6.5, 8.0)
_AMOUNTS = (0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 4.5)
_BLURS = (-1.0, -0.6)
# other blurs tried at the best Gaussian one: (the luma only, kernel), and how much wider
_VARIANTS = (
    (False, "sampled"),
    (True, "sampled"),
    (True, "gaussian"),
    (False, "exponential"),
    (True, "exponential"),
)
_WIDER = 1.25
_WHOLE = 1.02  # a whole blur is kept over a partial one that explains this little more
_VARIANT_GAIN = 0.8  # ... kept when it leaves at most this share of the Gaussian's error
_PROFILE_KNOTS = 17
_CENTRES = (0.4, 0.45, 0.5, 0.55, 0.6)
# A vignette is centred within a tenth of the frame of the middle (editors centre theirs; a
# "vignette" further off is a light from one side, a content change).
_NEAR_MIDDLE = (0.4, 0.6)
_VIGNETTE_PIXELS = 150_000  # the vignette is fitted on at most this many pixels
_FEATHER_PIXELS = 30_000  # ... its feather searched on at most this many
_FEATHERS = (0.02, 0.04, 0.08, 0.12, 0.16, 0.24, 0.32)  # feathers tried (x long side)
_RHOS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # radii of a feathered ellipse, tried
_STEP_KNOTS = 65
_GAUSS_NEWTON = 5  # Gauss-Newton steps for a feathered ellipse's gain outside
# A feathered ellipse is polished on the pair in linear levels (see _polish): on at most this
# many pixels, in this many sweeps of golden-section searches of each parameter within its
# span (centre across, centre down, log feather, radius, gain outside).
_POLISH_PIXELS = 150_000
_POLISH_SWEEPS = 6
_POLISH_SPANS = (0.04, 0.04, 0.3, 0.05, 0.08)
_POLISH_BIN = 4  # levels: the colour bins whose pixels must agree
_PROFILE_SMOOTHNESS = 2e-3  # second differences of the vignette profile, per unit of weight
_GRAIN_KNOTS = 5
_MIN_GRAIN = 1.5  # levels: weaker noise is left as noise (rounding, JPEG)
_GRAIN_AT_EDGES = 2.0  # a residual this much stronger at edges than in flat areas is no grain
_GRAIN_LAG_CORRELATION = 0.8  # a residual this correlated from pixel to pixel is not grain
_GRAIN_WINDOW = 3  # grain is measured against a 7x7 local mean of the residual
_WINDOW_AREA = float((2 * _GRAIN_WINDOW + 1) ** 2)


@dataclass(frozen=True)
class Fitted:
    """A spatial part, where it runs (before or after the table), and the squared error of
    the pair with it (8-bit levels squared, per channel value)."""

    part: Vignette | Detail | Grain
    stage: str
    error: float


def mse(a: Array, b: Array) -> float:
    """Mean squared difference. Two 8-bit images are compared in integers (exact, and three
    times as fast as in floats: the detail search compares a 1-megapixel window 650 times)."""
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        difference = np.subtract(a, b, dtype=np.int16)
        squares = int(np.square(difference, dtype=np.int32).sum(dtype=np.int64))
        return squares / max(int(difference.size), 1)
    difference = a.astype(np.float64) - b.astype(np.float64)
    return float((difference * difference).mean())


# ---------------------------------------------------------------------------- detail


def fit_detail(x: Image.Image, y: Array, colour: Colour, reference: int, *, blur: bool) -> Fitted:
    """The blur (``blur``) or unsharp mask that, with the table, best explains y from x,
    before or after the table: a grid of Gaussian ones on R, G and B, then at the best of
    them the variants (the luma only, an exponential kernel), then the best refined."""
    scale = reference / max(x.size)
    sources = {"before": x, "after": colour(x)}  # what the part starts from, at each stage
    blurs: dict[tuple[str, tuple[float, str, bool, bool]], Image.Image | Array | None] = {}

    def score(sigma: float, amount: float, stage: str, variant: tuple[bool, str]) -> float:
        luma, kernel = variant
        part = Detail(
            radius=sigma * scale, amount=amount, reference=reference, luma=luma, kernel=kernel
        )
        source = sources[stage]
        key = (stage, part.blur_key)
        if key not in blurs:
            blurs.clear()  # the searches move one unknown at a time: the last blur is enough
            blurs[key] = part.blurred(source)
        out = part.finish(source, blurs[key])
        return mse(np.asarray(colour(out) if stage == "before" else out), y)

    plain = (False, "gaussian")
    best = (math.inf, 1.0, -1.0, "before", plain)
    for stage in ("before", "after"):
        grid = min(
            (score(sigma, amount, stage, plain), sigma, amount)
            for sigma in _SIGMAS
            for amount in (_AMOUNTS if not blur else _BLURS)
        )
        best = min(best, (*grid, stage, plain))
        for other in _VARIANTS:  # kept only when clearly better: a grey photo cannot tell
            for wider in (1.0, _WIDER):  # a kernel with longer tails wants a larger deviation
                trial = score(grid[1] * wider, grid[2], stage, other) / _VARIANT_GAIN
                best = min(best, (trial, grid[1] * wider, grid[2], stage, other))
    _, sigma, amount, stage, variant = best
    chosen = partial(score, variant=variant)
    for _ in range(2):  # refine: radius, then amount, by golden-section search
        sigma, error = _golden(partial(_by_sigma, chosen, amount, stage), sigma / 1.3, sigma * 1.3)
        if amount < 0:
            low, high = -1.0, min(0.0, amount + 0.4)
        else:
            low, high = amount / 1.5, amount * 1.5
        amount, error = _golden(partial(_by_amount, chosen, sigma, stage), low, high)
        if amount < 0 and (full := chosen(sigma, -1.0, stage)) <= _WHOLE * error:
            amount, error = -1.0, full  # a blur all but whole is a whole one
    part = Detail(
        radius=sigma * scale,
        amount=max(-1.0, amount),
        reference=reference,
        luma=variant[0],
        kernel=variant[1],
    )
    return Fitted(part, stage, error)


def _by_sigma(
    score: Callable[[float, float, str], float], amount: float, stage: str, sigma: float
) -> float:
    return score(sigma, amount, stage)


def _by_amount(
    score: Callable[[float, float, str], float], sigma: float, stage: str, amount: float
) -> float:
    return score(sigma, amount, stage)


def _golden(
    f: Callable[[float], float], low: float, high: float, steps: int = 12
) -> tuple[float, float]:
    """Minimise f on [low, high] (unimodal) by golden-section search: (argument, value)."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (c, fc) if fc < fd else (d, fd)


# ---------------------------------------------------------------------------- vignette


def fit_vignette(x: Array, y: Array, reference: int) -> list[tuple[Vignette, str]]:
    """Radial gains that explain y from x whatever the colour table is, best first: one
    applied after the table (y = g * T(x)) and one before it (y = T(g * x)).

    Pixels of the same colour that sit at different distances from the centre tell the gain
    apart from the table: after the table, same-colour originals differ in the edit by the
    gain; before it, same-colour edits came from originals that differed by the gain. So the
    log-luma of one side is regressed on the gain profile's basis within bins of the other
    side's colour (a fixed-effects regression), for each candidate centre and shape.
    """
    x_luma, y_luma = x.astype(np.float64) @ LUMA, y.astype(np.float64) @ LUMA
    usable = (x_luma > 12.0) & (y_luma > 12.0) & (x.max(axis=2) < 254.5) & (y.max(axis=2) < 254.5)
    usable &= _thinned(usable, _VIGNETTE_PIXELS)
    fewer = usable & _thinned(usable, _FEATHER_PIXELS)
    found = []
    for stage, binned, logged, sign in (
        ("after", x, y_luma, 1.0),
        ("before", y, x_luma, -1.0),
    ):
        regression = _FixedEffects(_colour_bins(binned[usable]), np.log(logged[usable]))
        quick = _FixedEffects(_colour_bins(binned[fewer]), np.log(logged[fewer]))
        error, vignette = _search(regression, usable, quick, fewer, sign)
        if _pushes_off_centre(vignette):
            continue
        feathered = _feather(quick, fewer, sign, vignette, reference)
        if feathered is not None:
            shape, rho = _polish(x, y, stage, *feathered)
            unit = shape.model_copy(update={"gains": _step(rho, 0.0)})
            inside = unit.gain_map(usable.shape[1], usable.shape[0])[usable].astype(np.float64)
            feathered_error, _ = regression.two_levels(inside, sign)
            if feathered_error < error:
                error, vignette = feathered_error, shape
        found.append((error, vignette, stage))
    found.sort(key=lambda item: item[0])
    return [(vignette, stage) for _, vignette, stage in found]


def _thinned(usable: Array, pixels: int) -> Array:
    """Every k-th pixel along each axis, k such that about ``pixels`` of ``usable`` remain."""
    thin = max(1, math.ceil(math.sqrt(usable.sum() / pixels)))
    sparse = np.zeros_like(usable)
    sparse[::thin, ::thin] = True
    return sparse


def _pushes_off_centre(vignette: Vignette) -> bool:
    """True when the best centre is at the edge of where a vignette may be: the pattern
    wants to sit further off, as a light from one side does (a content change)."""
    low, high = _NEAR_MIDDLE
    return any(min(abs(c - low), abs(c - high)) < 1e-6 for c in vignette.centre)


def _search(
    regression: _FixedEffects, usable: Array, quick: _FixedEffects, fewer: Array, sign: float
) -> tuple[float, Vignette]:
    """The centre and shape whose profile explains the values best: a coarse grid (on
    ``fewer`` pixels), then a finer one around the best centre."""
    height, width = usable.shape

    def score(
        cx: float, cy: float, round_: bool, on: tuple[_FixedEffects, Array] = (regression, usable)
    ) -> tuple[float, Vignette]:
        shape = Vignette(centre=(cx, cy), round=round_, gains=(1.0, 1.0))
        log_gains, error = on[0].profile(_radius(shape, width, height)[on[1]])
        gains = tuple(float(v) for v in np.exp(sign * log_gains))
        return error, Vignette(centre=(cx, cy), round=round_, gains=gains)

    coarse = min(
        (
            score(cx, cy, r, (quick, fewer))
            for r in (False, True)
            for cx in _CENTRES
            for cy in _CENTRES
        ),
        key=lambda item: item[0],
    )
    best = score(*coarse[1].centre, coarse[1].round)
    step = 0.05
    for _ in range(3):
        cx, cy = best[1].centre
        around = [
            score(cx + dx, cy + dy, best[1].round)
            for dx in (-step, 0.0, step)
            for dy in (-step, 0.0, step)
            if (dx or dy)
            and _NEAR_MIDDLE[0] <= cx + dx <= _NEAR_MIDDLE[1]
            and _NEAR_MIDDLE[0] <= cy + dy <= _NEAR_MIDDLE[1]
        ]
        best = min([best, *around], key=lambda item: item[0])
        step /= 2.0
    return best


def _feather(
    regression: _FixedEffects, usable: Array, sign: float, shape: Vignette, reference: int
) -> tuple[Vignette, float] | None:
    """The feathered ellipse (or circle) around ``shape``'s centre that explains the values
    best: a gain of 1 inside radius ``rho``, ``outside`` beyond it, the edge blurred by a
    Gaussian of ``sigma`` pixels (ImageMagick's ``-vignette``, the feathered ellipses of
    photo editors). A coarse grid of radius and feather, then golden-section searches of the
    feather, radius and centre in turn. On a square frame an ellipse that follows the frame
    and a circle are the same: the look follows the frame, as most editors' vignettes do."""
    height, width = usable.shape
    long_side = max(width, height)

    def score(params: tuple[float, ...], round_: bool) -> tuple[float, float]:
        cx, cy, rho, log_sigma = params
        step = profile_map((cx, cy), round_, _step(rho, 0.0), width, height)
        inside = feather(step, math.exp(log_sigma))[usable].astype(np.float64)
        return regression.two_levels(inside, sign)

    cx, cy = shape.centre
    grid = [
        (
            score((cx, cy, rho, math.log(long_side * f)), r)[0],
            (cx, cy, rho, math.log(long_side * f)),
            r,
        )
        for r in ((False, True) if abs(width - height) > 0.02 * long_side else (False,))
        for rho in _RHOS
        for f in _FEATHERS
    ]
    _, start, round_ = min(grid, key=lambda item: item[0])
    params = list(start)
    for _ in range(2):  # the feather, the radius, the centre across and down, in turn
        for index, span in ((3, 0.35), (2, 0.06), (0, 0.01), (1, 0.01)):
            cost = partial(_coordinate, partial(_error_of, score, round_=round_), params, index)
            params[index] = _golden(cost, params[index] - span, params[index] + span, 6)[0]
        params[2] = min(max(params[2], 0.05), 1.0)
    error, outside = score(tuple(params), round_)
    if not math.isfinite(error):
        return None
    cx, cy, rho, log_sigma = params
    vignette = Vignette(
        centre=(cx, cy),
        round=round_,
        gains=_step(rho, outside),
        feather=round(math.exp(log_sigma) * reference / long_side, 3),
        reference=reference,
    )
    return vignette, rho


def _error_of(
    score: Callable[[tuple[float, ...], bool], tuple[float, float]],
    params: tuple[float, ...],
    round_: bool,
) -> float:
    return score(params, round_)[0]


def _polish(x: Array, y: Array, stage: str, shape: Vignette, rho: float) -> tuple[Vignette, float]:
    """The feathered ellipse's centre, feather, radius and gain outside refined on the pair
    in linear levels, whatever the table is: after the table (y = g * T(x)), pixels of one
    original colour must agree in y / g; before it (y = T(g * x)), pixels of one edited colour
    must agree in g * x. The log-luma regression that found ``shape`` bins colours coarsely
    and leaves out dark pixels, where a vignette's corners are: ImageMagick's ``-vignette``
    came out up to 8 px off centre, and the table then made up for it on the pair alone."""
    height, width = y.shape[:2]
    unclipped = (x.max(axis=2) < 254.5) & (y.max(axis=2) < 254.5)
    pick = unclipped & _thinned(unclipped, _POLISH_PIXELS)
    xs, ys = x[pick].astype(np.float64), y[pick].astype(np.float64)
    agreement = _Agreement(ys if stage == "before" else xs)
    long_side = max(width, height)
    reference = shape.reference or long_side

    def make(params: tuple[float, ...]) -> Vignette:
        cx, cy, log_sigma, radius, outside = params
        return shape.model_copy(
            update={
                "centre": (cx, cy),
                "gains": _step(min(max(radius, 0.05), 1.0), max(outside, 0.0)),
                "feather": round(math.exp(log_sigma) * reference / long_side, 3),
            }
        )

    def disagreement(params: tuple[float, ...]) -> float:
        gain = make(params).gain_map(width, height)[pick].astype(np.float64)[:, None]
        return agreement.spread(xs * gain if stage == "before" else ys / np.maximum(gain, 0.02))

    params = [
        shape.centre[0],
        shape.centre[1],
        math.log(max(shape.feather, 1e-3) * long_side / reference),
        rho,
        max(shape.gains[-1], 0.0),
    ]
    for _ in range(_POLISH_SWEEPS):
        for index, span in enumerate(_POLISH_SPANS):
            cost = partial(_coordinate, disagreement, params, index)
            params[index] = _golden(cost, params[index] - span, params[index] + span, 8)[0]
    low, high = _NEAR_MIDDLE
    params[0], params[1] = min(max(params[0], low), high), min(max(params[1], low), high)
    params[3] = min(max(params[3], 0.05), 1.0)
    return make(tuple(params)), params[3]


class _Agreement:
    """How far pixels that share a colour bin (``_POLISH_BIN`` levels) disagree in some
    values: the sum of squares about each bin's means, per pixel in a shared bin."""

    def __init__(self, colours: Array) -> None:
        bins = colours.astype(np.int64) // _POLISH_BIN
        side = 256 // _POLISH_BIN
        key = (bins[:, 0] * side + bins[:, 1]) * side + bins[:, 2]
        _, self.group = np.unique(key, return_inverse=True)
        self.counts = np.bincount(self.group)
        # pixels in bins of two or more (a colour seen once says nothing)
        self.shared = max(int((self.counts[self.group] >= 2).sum()), 1)

    def spread(self, values: Array) -> float:
        total = 0.0
        for c in range(values.shape[1]):
            sums = np.bincount(self.group, values[:, c], len(self.counts))
            squares = np.bincount(self.group, values[:, c] ** 2, len(self.counts))
            total += float((squares - sums * sums / self.counts)[self.counts >= 2].sum())
        return total / self.shared


def _coordinate(
    score: Callable[[tuple[float, ...]], float],
    params: list[float],
    index: int,
    value: float,
) -> float:
    """The error with ``params[index]`` set to ``value``."""
    trial = list(params)
    trial[index] = value
    return score(tuple(trial))


def _step(rho: float, outside: float) -> tuple[float, ...]:
    """A profile of 1 inside radius ``rho`` and ``outside`` beyond it, on the finest knots
    (the step falls between two knots, where linear interpolation puts it)."""
    knots = np.linspace(0.0, 1.0, _STEP_KNOTS)
    inside = np.clip((rho - knots) * (_STEP_KNOTS - 1) + 0.5, 0.0, 1.0)
    return tuple(float(v) for v in outside + (1.0 - outside) * inside)


class _FixedEffects:
    """Least squares of values on a profile's basis up to one constant per group.

    Only groups of two or more values say anything (a colour seen once could be anything);
    they are kept, sorted by group, so that one ``reduceat`` takes every group's mean of
    every column at once."""

    def __init__(self, groups: Array, values: Array) -> None:
        _, group, counts = np.unique(groups, return_inverse=True, return_counts=True)
        shared = counts[group] >= 2  # a colour seen once says nothing
        self.index = np.flatnonzero(shared)[np.argsort(group[shared], kind="stable")]
        ordered = group[self.index]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.sizes = np.diff(np.r_[self.starts, len(ordered)])
        self.target = self.demeaned(values)

    def demeaned(self, values: Array) -> Array:
        """``values`` (one per pixel, or a column per basis function) at the kept pixels,
        sorted by group, less their group's mean."""
        kept = values[self.index]
        if len(kept) == 0:
            return np.asarray(kept, dtype=np.float64)
        sums = np.add.reduceat(kept, self.starts, axis=0)
        means = sums / (self.sizes if kept.ndim == 1 else self.sizes[:, None])
        return np.asarray(kept - np.repeat(means, self.sizes, axis=0))

    def profile(self, radius: Array) -> tuple[Array, float]:
        """Log gains at the profile's knots (0 at the centre), smooth, and the mean squared
        error left."""
        k = _PROFILE_KNOTS
        if len(self.target) < 64:
            return np.zeros(k), math.inf
        position = np.clip(radius, 0.0, 1.0) * (k - 1)
        lower = np.minimum(np.floor(position).astype(np.int64), k - 2)
        frac = position - lower
        hats = np.zeros((len(radius), k))
        rows = np.arange(len(radius))
        hats[rows, lower] = 1.0 - frac
        hats[rows, lower + 1] += frac
        design = self.demeaned(hats)[:, 1:]
        second = np.diff(np.eye(k), 2, axis=0)[:, 1:]
        weight = float(len(self.target))
        system = design.T @ design + _PROFILE_SMOOTHNESS * weight * second.T @ second
        solution = np.linalg.solve(system + 1e-9 * weight * np.eye(k - 1), design.T @ self.target)
        error = float(((self.target - design @ solution) ** 2).mean())
        return np.concatenate([[0.0], solution]), error

    def two_levels(self, inside: Array, sign: float) -> tuple[float, float]:
        """The gain outside (relative to 1 inside) of a map that is ``inside`` (1) or outside
        (0) or in between, the values being ``sign * log(gain)`` up to one constant per group:
        Gauss-Newton; (mean squared error left, the gain outside)."""
        if len(self.target) < 64:
            return math.inf, 1.0
        outside = 0.5
        for _ in range(_GAUSS_NEWTON):
            gain = np.maximum(inside + outside * (1.0 - inside), 1e-4)
            both = self.demeaned(np.stack([np.log(gain), (1.0 - inside) / gain], axis=1))
            left, slope = self.target - sign * both[:, 0], sign * both[:, 1]
            outside = max(outside + float(slope @ left) / max(float(slope @ slope), 1e-12), 0.0)
        gain = np.maximum(inside + outside * (1.0 - inside), 1e-4)
        left = self.target - sign * self.demeaned(np.log(gain))
        return float((left * left).mean()), outside


def _colour_bins(rgb: Array) -> Array:
    """A group index per pixel: its colour's bin in a 32x32x32 histogram."""
    q = rgb.astype(np.int64) // 8
    return (q[:, 0] * 32 + q[:, 1]) * 32 + q[:, 2]


def _radius(vignette: Vignette, width: int, height: int) -> Array:
    """The vignette's radius (0 at the centre, 1 at the farthest corner) at every pixel."""
    probe = Vignette(
        centre=vignette.centre,
        round=vignette.round,
        gains=tuple(np.linspace(0.0, 1.0, _PROFILE_KNOTS)),
    )
    return probe.gain_map(width, height).astype(np.float64)


# ---------------------------------------------------------------------------- grain


def fit_grain(residual: Array, predicted: Array, reference: int) -> Grain | None:
    """Film grain measured in what the rest of the look leaves unexplained (at full
    resolution, on an image whose long side is ``reference``), or None when that residual
    does not look like grain (too weak, or smooth from pixel to pixel)."""
    valid = (predicted.min(axis=2) > 2.0) & (predicted.max(axis=2) < 253.0)
    if valid.sum() < 256:
        return None
    centred = residual - _local_mean(residual)
    noise = centred[valid]
    keep = _WINDOW_AREA / (_WINDOW_AREA - 1.0)  # the local mean removes 1/area of white noise
    strength = float(noise.std()) * math.sqrt(keep)
    if strength < _MIN_GRAIN:
        return None
    lag = _lag_correlation(centred)
    if lag > _GRAIN_LAG_CORRELATION or _at_edges(centred, predicted, valid) > _GRAIN_AT_EDGES:
        return None
    size = math.sqrt(-1.0 / (4.0 * math.log(lag))) if lag > 0.05 else 0.0
    channel_corr = np.corrcoef(noise.T)
    shared = float(np.clip((channel_corr.sum() - 3.0) / 6.0, 0.0, 1.0))
    luma = (predicted @ LUMA)[valid] / 255.0
    knots = np.linspace(0.0, 1.0, _GRAIN_KNOTS)
    position = np.clip(np.rint(luma * (_GRAIN_KNOTS - 1)).astype(np.int64), 0, _GRAIN_KNOTS - 1)
    variance = (noise * noise).mean(axis=1) * keep
    counts = np.bincount(position, minlength=_GRAIN_KNOTS)
    sums = np.bincount(position, variance, _GRAIN_KNOTS)
    seen = counts >= 32
    levels = np.sqrt(np.interp(knots, knots[seen], sums[seen] / counts[seen]))
    return Grain(
        strength=tuple(round(float(v), 3) for v in levels),
        size=round(size, 3),
        colour=round(1.0 - shared, 3),
        reference=reference,
    )


def _at_edges(centred: Array, predicted: Array, valid: Array) -> float:
    """How much more of the residual sits where the picture is busy than where it is flat:
    about 1 for grain (it is everywhere), several times more for what a look misses at edges
    (a sharpening done another way, colour conversions of another tool)."""
    luma = (predicted @ LUMA)[:, :, None]
    busy = np.abs(luma - _local_mean(luma, 1))[:, :, 0][valid]
    energy = (centred * centred).mean(axis=2)[valid]
    order = np.argsort(busy)
    quarter = len(order) // 4
    flat = float(energy[order[: 2 * quarter]].mean())
    return float(energy[order[-quarter:]].mean()) / max(flat, 1e-9)


def _local_mean(values: Array, radius: int = _GRAIN_WINDOW) -> Array:
    """(2 radius + 1)^2 box mean with edges replicated, per channel (summed-area table)."""
    side = 2 * radius + 1
    padded = np.pad(values, ((radius + 1, radius), (radius + 1, radius), (0, 0)), mode="edge")
    summed = padded.cumsum(axis=0).cumsum(axis=1)
    height, width = values.shape[:2]
    total = (
        summed[side : side + height, side : side + width]
        - summed[:height, side : side + width]
        - summed[side : side + height, :width]
        + summed[:height, :width]
    )
    return np.asarray(total / (side * side))


def _lag_correlation(values: Array) -> float:
    """Correlation of horizontally neighbouring values, all channels together."""
    a, b = values[:, :-1].ravel(), values[:, 1:].ravel()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0
