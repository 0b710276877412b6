"""Scorers: how close a candidate image is to what was approved, as a number in [0, 1].

A scorer is any callable ``scorer(candidate, source) -> float | Score`` taking PIL images
(``source`` is the image the candidate was edited from, ``None`` for generated images), or
simply ``scorer(candidate)``. Higher is better. The built-in ones work in pure numpy on small
copies of the images (64 px for colour, up to 256 px for structure), so scoring a candidate
takes milliseconds; their pixel maths lives in :mod:`._pixels`, imported on first use:

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
    from ._pixels import (
        Array,
        ColourTransfer,
        delta_e,
        fit_colour_transfer,
        gradient_correlation,
        pixel_delta_e,
        ssim,
    )

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
#: The pixel maths that moved to :mod:`._pixels` (numpy), still importable from here.
_PIXEL_NAMES = (
    "ColourTransfer",
    "delta_e",
    "fit_colour_transfer",
    "gradient_correlation",
    "pixel_delta_e",
    "ssim",
)


def __getattr__(name: str) -> Any:
    if name in _PIXEL_NAMES:
        from . import _pixels  # lazy: numpy, kept out of `import seedless`

        return getattr(_pixels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
            from . import _pixels as px  # lazy: numpy, kept out of `import seedless`

            self._original = to_rgb(original)
            self._approved = to_rgb(approved)
            size = px.scaled_size(self._original.size, COLOUR_SIZE)
            before = px.rgb_array(self._original, size)
            after = px.rgb_array(self._approved, size)
            self._colour_size = size
            self._approved_small = after
            self._original_small = before
            if effect is None:
                self._transfer = px.fit_colour_transfer(before, after)

    def __repr__(self) -> str:
        what = "pair" if self._original is not None else type(self.effect).__name__
        return f"{type(self).__name__}({what}, structure_weight={self.structure_weight})"

    # -- prediction

    def _predict(self, source: Image.Image) -> tuple[tuple[int, int], Array, Array]:
        """(colour size, source array, predicted array) for ``source``; cached per source."""
        from . import _pixels as px  # lazy: numpy, kept out of `import seedless`

        last = self._last  # read once: scorers run in worker threads
        if last is not None and last[0] is source:
            return last[1], last[2], last[3]
        size = px.scaled_size(source.size, COLOUR_SIZE)
        src = px.rgb_array(source, size)
        if (
            self._original is not None
            and size == self._colour_size
            and px.same(src, self._original_small)
        ):
            predicted = self._approved_small  # the source is the original: the truth is known
        elif self.effect is not None:
            small = source.resize(size, Image.Resampling.BOX) if source.size != size else source
            predicted = px.rgb_array(to_rgb(self.effect.apply(small)), size)
        else:
            assert self._transfer is not None
            predicted = self._transfer.apply(src)
        self._last = (source, size, src, predicted)
        return size, src, predicted

    def _expected(self, source: Image.Image, size: tuple[int, int]) -> float:
        """Gradient correlation the approved edit itself keeps with its input, at ``size``."""
        from . import _pixels as px  # lazy: numpy, kept out of `import seedless`

        if self._original is not None and self._approved is not None:
            key = size
            if key not in self._expected_structure:
                osize = px.scaled_size(self._original.size, max(size))
                self._expected_structure[key] = px.gradient_correlation(
                    px.rgb_array(self._approved, osize), px.rgb_array(self._original, osize)
                )
            return self._expected_structure[key]
        small = source.resize(size, Image.Resampling.BOX) if source.size != size else source
        predicted = px.rgb_array(to_rgb(self.effect.apply(small)), size)
        return px.gradient_correlation(predicted, px.rgb_array(source, size))

    def _trim(self, source: Image.Image, size: tuple[int, int], src: Array) -> float:
        """Share of worst pixels to leave out: the content the approved edit changed."""
        from . import _pixels as px  # lazy: numpy, kept out of `import seedless`

        if self._transfer is None or self._transfer.content_fraction <= _CONTENT_FLOOR:
            return 0.0
        if size == self._colour_size and px.same(src, self._original_small):
            return 0.0  # the prediction is the approved image itself, content included
        return min(0.5, 1.25 * self._transfer.content_fraction)

    # -- scoring

    def __call__(self, candidate: Image.Image, source: Image.Image | None = None) -> Score:
        from . import _pixels as px  # lazy: numpy, kept out of `import seedless`

        candidate = to_rgb(candidate)
        if source is None:
            if self._original is None:
                raise ValueError(f"{self!r} needs the source image of the candidate")
            source = self._original
        else:
            source = to_rgb(source)
        size, src, predicted = self._predict(source)
        cand = px.rgb_array(candidate, size)
        errors = px.pixel_delta_e(cand, predicted)
        trim = self._trim(source, size, src)
        if trim > 0.0:  # the approved edit changed content: leave out as many worst pixels
            errors = px.smallest(errors, 1.0 - trim)
        distance = float(errors.mean())
        change = px.delta_e(predicted, src)
        error = distance / max(change, MIN_CHANGE_DELTA_E)

        long_side = min(STRUCTURE_SIZE, max(candidate.size), max(source.size))
        ssize = px.scaled_size(source.size, long_side)
        structure = px.gradient_correlation(
            px.rgb_array(candidate, ssize), px.rgb_array(source, ssize)
        )
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
