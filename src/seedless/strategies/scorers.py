"""Scorers: how close a candidate image is to what was approved, as a number in [0, 1].

A scorer is any callable ``scorer(candidate, source) -> float | Score`` taking PIL images
(``source`` is the image the candidate was edited from, ``None`` for generated images), or
simply ``scorer(candidate)``. Higher is better. The built-in ones work in pure numpy on small
copies of the images (64 px for colour, up to 256 px for structure), so scoring a candidate
takes milliseconds:

:class:`MatchEffect`
    How closely the candidate's change from its source matches the approved change from the
    original to the approved image, in CIELAB (ΔE), with a penalty for structural drift. When
    the source is another photo, the approved change is transferred to it first: a smooth
    colour mapping (affine in RGB, with per-channel curves when the pair needs them) is
    fitted on the approved pair and applied to the source, or an explicit effect (an
    :class:`~seedless.Adjust` or a fitted LUT) is applied when one is given.
:class:`MatchAdjust`
    The same, with the expected change given as an :class:`~seedless.Adjust` (no pair needed).

When the approved edit also changed content (a pasted object, a new sky), the pixels no
colour mapping explains are left out of the fit, and as large a share of each candidate's
worst pixels is left out of its colour comparison, so added content neither skews the
predicted look nor sinks every candidate.

Both report ``details``: ``effect_error`` (the mismatch of the change relative to the size of
the approved change: 0 is a perfect match, 1 is as far off as not editing at all),
``delta_e`` (mean ΔE between candidate and prediction), ``change_delta_e`` (size of the
expected change), ``trimmed`` (share of pixels left out for changed content), ``structure``
and ``expected_structure`` (gradient correlation with the source, of the candidate and of
the approved edit), and ``drift`` (how much more structure the candidate lost than the
approved edit did). The score is
``exp(-2 * effect_error) * exp(-structure_weight * drift)``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from PIL import Image, ImageOps

from ..images import decode
from ..models import ImageInput, ImageLike

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ColourTransfer",
    "MatchAdjust",
    "MatchEffect",
    "Score",
    "Scorer",
    "ScorerLike",
    "call_scorer",
    "delta_e",
    "fit_colour_transfer",
    "gradient_correlation",
    "pixel_delta_e",
    "scorer_name",
    "ssim",
    "to_rgb",
]

#: Long side, in pixels, of the copies colour is compared on (small: robust to detail/shifts).
COLOUR_SIZE = 64
#: Largest long side, in pixels, of the copies structure is compared on.
STRUCTURE_SIZE = 256
#: Share of changed pixels below which an approved edit counts as a pure colour change.
_CONTENT_FLOOR = 0.02
#: Smallest expected change (mean ΔE) an error is measured against: about 2 just-noticeable
#: differences, so a near-identity approved edit does not turn noise into large errors.
MIN_CHANGE_DELTA_E = 2.0

if TYPE_CHECKING:
    Array: TypeAlias = np.ndarray[Any, np.dtype[np.float64]]
    Mask: TypeAlias = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class Score:
    """A scorer's verdict: ``value`` (higher is better; built-in scorers give 0..1) and why."""

    value: float
    details: Mapping[str, float] = field(default_factory=dict)

    def __float__(self) -> float:
        return self.value


class Scorer(Protocol):
    """``scorer(candidate, source) -> Score | float``; ``source`` is None for generated images."""

    def __call__(self, candidate: Image.Image, source: Image.Image | None, /) -> Score | float: ...


#: What best-of-N accepts as a scorer: a :class:`Scorer`, or a one-argument ``fn(candidate)``.
ScorerLike: TypeAlias = Scorer | Callable[[Image.Image], Score | float]


# ------------------------------------------------------------------------------ pixel helpers


def to_rgb(image: ImageLike | Image.Image) -> Image.Image:
    """Decode anything seedless accepts as an image into an upright RGB PIL image."""
    if not isinstance(image, Image.Image):
        source = ImageInput.of(image)
        image = decode(source.data, name=source.name)
    if image.getexif().get(0x0112, 1) not in (None, 1):  # an EXIF orientation to apply
        image = ImageOps.exif_transpose(image)
    return image.convert("RGB") if image.mode != "RGB" else image


def _size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _array(image: Image.Image, size: tuple[int, int]) -> Array:
    """RGB values in 0..1 at exactly ``size`` (area averaging when shrinking)."""
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    if image.size != size:
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64) / 255.0


def _srgb_to_lab(rgb: Array) -> Array:
    """sRGB in 0..1 (any shape ending in 3) to CIELAB under D65."""
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [[0.4124564, 0.3575761, 0.1804375],
         [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    eps = 216 / 24389
    f = np.where(xyz > eps, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    lab: Array = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def pixel_delta_e(a: Array, b: Array) -> Array:
    """CIE76 ΔE of every pixel of two RGB arrays (0..1) of the same shape, flattened."""
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    lab = (_srgb_to_lab(a) - _srgb_to_lab(b)).reshape(-1, 3)
    return np.asarray(np.sqrt((lab**2).sum(axis=1)), dtype=np.float64)


def delta_e(a: Array, b: Array) -> float:
    """Mean CIE76 ΔE between two RGB arrays (0..1) of the same shape (2.3 ≈ just noticeable)."""
    return float(pixel_delta_e(a, b).mean())


def _luma(rgb: Array) -> Array:
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    return np.asarray(rgb @ np.array([0.299, 0.587, 0.114]), dtype=np.float64)


def gradient_correlation(a: Array, b: Array) -> float:
    """Pearson correlation of the luma gradient fields of two RGB arrays of the same shape.

    1.0 means the same edges in the same places (a global tone change keeps it near 1.0);
    moved, added or removed content lowers it.
    """
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    fields = []
    for rgb in (a, b):
        luma = _luma(rgb)
        gx = np.diff(luma, axis=1)[:-1, :] if luma.shape[0] > 1 else np.diff(luma, axis=1)
        gy = np.diff(luma, axis=0)[:, :-1] if luma.shape[1] > 1 else np.diff(luma, axis=0)
        fields.append(np.concatenate([gx.ravel(), gy.ravel()]))
    x, y = fields[0] - fields[0].mean(), fields[1] - fields[1].mean()
    denominator = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    if denominator < 1e-12:
        return 1.0 if float(np.abs(x - y).max(initial=0.0)) < 1e-9 else 0.0
    return float((x * y).sum() / denominator)


def _box_mean(values: Array, radius: int) -> Array:
    """Mean over a (2r+1)^2 window, edges handled by shrinking the window (integral image)."""
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    height, width = values.shape
    padded = np.zeros((height + 1, width + 1))
    padded[1:, 1:] = values.cumsum(0).cumsum(1)
    ys, xs = np.arange(height), np.arange(width)
    y0, y1 = np.clip(ys - radius, 0, height), np.clip(ys + radius + 1, 0, height)
    x0, x1 = np.clip(xs - radius, 0, width), np.clip(xs + radius + 1, 0, width)
    total = padded[y1][:, x1] - padded[y0][:, x1] - padded[y1][:, x0] + padded[y0][:, x0]
    area = np.outer(y1 - y0, x1 - x0)
    return np.asarray(total / area, dtype=np.float64)


def ssim(a: Array, b: Array, *, radius: int = 3) -> float:
    """Mean structural similarity (SSIM, 7x7 box windows) of the luma of two RGB arrays."""
    x, y = _luma(a) * 255.0, _luma(b) * 255.0
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _box_mean(x, radius), _box_mean(y, radius)
    vx = _box_mean(x * x, radius) - mx * mx
    vy = _box_mean(y * y, radius) - my * my
    cov = _box_mean(x * y, radius) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


# ------------------------------------------------------------------------------ colour transfer


#: Colour-transfer families, simplest first: the number of terms per output channel.
_FAMILIES = {"affine": 4, "quadratic": 7, "cubic": 10}


def _features(rgb: Array, family: str) -> Array:
    """Features of RGB pixels: 1, r, g, b, then per-channel powers (never cross terms).

    Cross terms (r·g ...) fit one photo's colours well and extrapolate wildly to another
    photo's; per-channel powers stay tame, because each channel of a photo usually spans
    most of its range even when the colours do not.
    """
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    pixels = rgb.reshape(-1, 3)
    columns = [np.ones(len(pixels)), pixels[:, 0], pixels[:, 1], pixels[:, 2]]
    for power in range(2, (_FAMILIES[family] - 1) // 3 + 1):
        columns += [pixels[:, channel] ** power for channel in range(3)]
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class ColourTransfer:
    """A smooth colour mapping fitted on an approved pair: ``family`` and its coefficients."""

    family: str
    coefficients: Array = field(repr=False)
    residual_delta_e: float = 0.0
    """Mean ΔE of the fit over the pixels it explains."""
    content_fraction: float = 0.0
    """Share of the pair's pixels no colour mapping explains (changed content)."""

    def apply(self, rgb: Array) -> Array:
        """Map an RGB array (0..1); the result is clipped to 0..1."""
        import numpy as np  # lazy: numpy, kept out of `import seedless`

        out = np.clip(_features(rgb, self.family) @ self.coefficients, 0.0, 1.0)
        return np.asarray(out.reshape(rgb.shape), dtype=np.float64)


def _solve(before: Array, after: Array, family: str, ridge: float, keep: Mask) -> Array:
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    x = _features(before, family)[keep]
    y = after.reshape(-1, 3)[keep]
    penalty = np.eye(x.shape[1]) * ridge * len(x)
    penalty[0, 0] = 0.0
    return np.asarray(np.linalg.solve(x.T @ x + penalty, x.T @ y), dtype=np.float64)


def _choose(before: Array, after: Array, keep: Mask, ridge: float) -> ColourTransfer:
    """The simplest family whose error (on ``keep``) is within 0.25 ΔE or 25% of the best."""
    fits = []
    for family in _FAMILIES:
        transfer = ColourTransfer(family, _solve(before, after, family, ridge, keep))
        error = float(pixel_delta_e(transfer.apply(before), after)[keep].mean())
        fits.append(ColourTransfer(family, transfer.coefficients, error))
    best = min(fit.residual_delta_e for fit in fits)
    for fit in fits:
        if fit.residual_delta_e <= best + max(0.25, 0.25 * best):
            return fit
    return fits[-1]  # pragma: no cover - the best always qualifies


def fit_colour_transfer(before: Array, after: Array, *, ridge: float = 1e-5) -> ColourTransfer:
    """Fit a smooth colour mapping taking ``before`` to ``after``, robust to changed content.

    Least squares over three families (affine, then per-channel quadratic and cubic curves);
    the simplest one that explains the pair about as well as the best is kept: affine maps
    capture brightness, linear contrast, saturation and colour balance and transfer well
    between photos, curves (gamma) need the powers. Pixels no mapping explains (ΔE above
    ``max(6, 3 x median)``: pasted objects, changed content) are left out and the fit
    repeated; their share is reported as ``content_fraction``.
    """
    import numpy as np  # lazy: numpy, kept out of `import seedless`

    count = before.shape[0] * before.shape[1]
    keep = np.ones(count, dtype=bool)
    transfer = _choose(before, after, keep, ridge)
    for _ in range(3):
        errors = pixel_delta_e(transfer.apply(before), after)
        limit = max(6.0, 3.0 * float(np.median(errors)))
        update = errors <= limit
        if update.mean() < 0.5:  # never fit on fewer than half of the pixels
            update = errors <= float(np.median(errors))
        if np.array_equal(update, keep):
            break
        keep = update
        transfer = _choose(before, after, keep, ridge)
    return ColourTransfer(
        transfer.family,
        transfer.coefficients,
        transfer.residual_delta_e,
        content_fraction=1.0 - float(keep.mean()),
    )


# ------------------------------------------------------------------------------ scorers


class MatchEffect:
    """Score how closely a candidate's change from its source matches an approved change.

    Args:
        original: the image before the approved edit (a path, bytes, PIL image or result).
        approved: the approved result of editing ``original``.
        effect: optional exact effect (``Adjust``, a fitted LUT: anything with ``apply``) to
            predict the expected change with, instead of fitting one on the pair.
        structure_weight: how hard structural drift is penalised (0 turns it off).

    Called as ``scorer(candidate, source)``; ``source`` defaults to ``original``.
    """

    def __init__(
        self,
        original: ImageLike | Image.Image | None = None,
        approved: ImageLike | Image.Image | None = None,
        *,
        effect: Any = None,
        structure_weight: float = 5.0,
    ) -> None:
        if (original is None) != (approved is None):
            raise ValueError("give both original and approved, or neither")
        if original is None and effect is None:
            raise ValueError("MatchEffect needs an approved pair (original, approved) or an effect")
        self.effect = effect
        self.structure_weight = structure_weight
        self._original: Image.Image | None = None
        self._approved: Image.Image | None = None
        self._transfer: ColourTransfer | None = None
        self._expected_structure: dict[tuple[int, int], float] = {}
        self._last: tuple[Image.Image, tuple[int, int], Array, Array] | None = None
        if original is not None and approved is not None:
            self._original = to_rgb(original)
            self._approved = to_rgb(approved)
            size = _size(self._original.size, COLOUR_SIZE)
            before = _array(self._original, size)
            after = _array(self._approved, size)
            self._colour_size = size
            self._approved_small = after
            self._original_small = before
            if effect is None:
                self._transfer = fit_colour_transfer(before, after)

    def __repr__(self) -> str:
        what = "pair" if self._original is not None else type(self.effect).__name__
        return f"{type(self).__name__}({what}, structure_weight={self.structure_weight})"

    # -- prediction

    def _predict(self, source: Image.Image) -> tuple[tuple[int, int], Array, Array]:
        """(colour size, source array, predicted array) for ``source``; cached per source."""
        import numpy as np  # lazy: numpy, kept out of `import seedless`

        last = self._last  # read once: scorers run in worker threads
        if last is not None and last[0] is source:
            return last[1], last[2], last[3]
        size = _size(source.size, COLOUR_SIZE)
        src = _array(source, size)
        if (
            self._original is not None
            and size == self._colour_size
            and np.array_equal(src, self._original_small)
        ):
            predicted = self._approved_small  # the source is the original: the truth is known
        elif self.effect is not None:
            small = source.resize(size, Image.Resampling.BOX) if source.size != size else source
            predicted = _array(to_rgb(self.effect.apply(small)), size)
        else:
            assert self._transfer is not None
            predicted = self._transfer.apply(src)
        self._last = (source, size, src, predicted)
        return size, src, predicted

    def _expected(self, source: Image.Image, size: tuple[int, int]) -> float:
        """Gradient correlation the approved edit itself keeps with its input, at ``size``."""
        if self._original is not None and self._approved is not None:
            key = size
            if key not in self._expected_structure:
                osize = _size(self._original.size, max(size))
                self._expected_structure[key] = gradient_correlation(
                    _array(self._approved, osize), _array(self._original, osize)
                )
            return self._expected_structure[key]
        small = source.resize(size, Image.Resampling.BOX) if source.size != size else source
        predicted = _array(to_rgb(self.effect.apply(small)), size)
        return gradient_correlation(predicted, _array(source, size))

    def _trim(self, source: Image.Image, size: tuple[int, int], src: Array) -> float:
        """Share of worst pixels to leave out: the content the approved edit changed."""
        import numpy as np  # lazy: numpy, kept out of `import seedless`

        if self._transfer is None or self._transfer.content_fraction <= _CONTENT_FLOOR:
            return 0.0
        if size == self._colour_size and np.array_equal(src, self._original_small):
            return 0.0  # the prediction is the approved image itself, content included
        return min(0.5, 1.25 * self._transfer.content_fraction)

    # -- scoring

    def __call__(self, candidate: Image.Image, source: Image.Image | None = None) -> Score:
        import numpy as np  # lazy: numpy, kept out of `import seedless`

        candidate = to_rgb(candidate)
        if source is None:
            if self._original is None:
                raise ValueError(f"{self!r} needs the source image of the candidate")
            source = self._original
        else:
            source = to_rgb(source)
        size, src, predicted = self._predict(source)
        cand = _array(candidate, size)
        errors = pixel_delta_e(cand, predicted)
        trim = self._trim(source, size, src)
        if trim > 0.0:  # the approved edit changed content: leave out as many worst pixels
            errors = np.sort(errors)[: max(1, round(len(errors) * (1.0 - trim)))]
        distance = float(errors.mean())
        change = delta_e(predicted, src)
        error = distance / max(change, MIN_CHANGE_DELTA_E)

        long_side = min(STRUCTURE_SIZE, max(candidate.size), max(source.size))
        ssize = _size(source.size, long_side)
        structure = gradient_correlation(_array(candidate, ssize), _array(source, ssize))
        expected = self._expected(source, ssize)
        drift = max(0.0, expected - structure)

        effect_score = math.exp(-2.0 * error)
        structure_score = math.exp(-self.structure_weight * drift)
        return Score(
            effect_score * structure_score,
            {
                "effect_error": error,
                "delta_e": distance,
                "change_delta_e": change,
                "trimmed": trim,
                "effect_score": effect_score,
                "structure": structure,
                "expected_structure": expected,
                "drift": drift,
                "structure_score": structure_score,
            },
        )


class MatchAdjust(MatchEffect):
    """Score how closely a candidate's change from its source matches an explicit ``Adjust``.

    The expected result is ``adjust.apply(source)`` (on a small copy); the rest is
    :class:`MatchEffect`. Works with any effect that has ``apply`` (a fitted LUT too).
    """

    def __init__(self, adjust: Any, *, structure_weight: float = 5.0) -> None:
        super().__init__(effect=adjust, structure_weight=structure_weight)

    def __repr__(self) -> str:
        return f"MatchAdjust({self.effect!r})"


# ------------------------------------------------------------------------------ calling scorers


def _arity(scorer: Callable[..., Any]) -> int:
    """How many positional arguments ``scorer`` takes (2 when it cannot be told)."""
    try:
        signature = inspect.signature(scorer)
    except (TypeError, ValueError):
        return 2
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return 2
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return min(count, 2) or 2


def call_scorer(scorer: ScorerLike, candidate: Image.Image, source: Image.Image | None) -> Score:
    """Call a scorer of either shape and normalise its answer to a :class:`Score`."""
    fn: Callable[..., Any] = scorer
    answer = fn(candidate) if _arity(fn) == 1 else fn(candidate, source)
    if isinstance(answer, Score):
        return answer
    try:
        value = float(answer)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"scorer {scorer_name(scorer)} returned {type(answer).__name__}; a scorer returns a "
            "number (higher is better) or a seedless.strategies.Score"
        ) from exc
    if math.isnan(value):
        raise ValueError(f"scorer {scorer_name(scorer)} returned NaN")
    return Score(value)


def scorer_name(scorer: object) -> str:
    """A short readable name for a scorer, for recipes and reports."""
    if isinstance(scorer, MatchEffect):
        return type(scorer).__name__
    name = getattr(scorer, "__qualname__", None) or type(scorer).__qualname__
    return str(name)
