"""Fit one global colour/tone transform (a 3D LUT) to an approved before/after pair.

:func:`fit_effect` turns a pair of images (the original, and the edit someone approved) into
a :class:`FittedEffect`: a 3D lookup table that :meth:`FittedEffect.apply` runs exactly and
fast at any resolution with Pillow's ``ImageFilter.Color3DLUT``, so the same edit can be
repeated, bit for bit, on every other photo. The fit is honest about itself: its
:class:`FitReport` says how well the table explains the pair and whether the edit was a
global colour/tone edit at all (a vignette, a blur, a relight or a changed object is not).

How the table is fitted (details and measured numbers in ``docs/fitting.md``):

1. Pair the pixels. EXIF orientation is applied to both images; if the sizes differ the
   larger is resampled (Lanczos) to the smaller, after a centre crop when the aspect ratios
   differ by more than 2%. Pixels are grouped by their exact 8-bit input colour.
2. A parametric model, fitted jointly by Gauss-Newton least squares: three smooth per-channel
   tone curves ``f`` (65 knots) followed by a hue-symmetric saturation operator
   ``S(c) = c + sum_i b_i (c - pivot_i(c))`` whose pivots are luma, mean, max and min (so
   ``ImageEnhance.Color``-, HSL- and HSV-style saturation are all members). Outputs clipped at
   0 or 255 count as censored (only "at least/at most"), and dense colours are down-weighted,
   so a photo full of one colour does not decide the model alone. This model is what the
   table falls back to for colours the pair lacks.
3. A residual 3D lattice on top of the parametric model, fitted to the pair's pixels with
   trilinear weights, a second-difference smoothness penalty and a pull towards zero where
   the pair has no pixels (a regularised linear system solved by preconditioned conjugate
   gradients, in numpy).
4. The table is ``clip(parametric + residual, 0, 1)`` at the lattice points, stored as
   16-bit values; the report comes from running that exact table over the original.

The verdict (``report.is_global``) looks at what the table cannot explain (the residual):
a smooth spatial gain/offset field fitted to it (vignettes, relighting, gradients), its
largest block average (objects added or repainted), its correlation with a band-pass of the
image (blur, sharpening) and the overall PSNR. Noise, JPEG artefacts and resampling cancel
out of the first two and do not correlate strongly with edges, so a global edit delivered as
a JPEG or at another size is still called global.
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
from PIL import Image, ImageFilter, ImageOps
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import images as _images
from .cube import identity_table, read_cube, write_cube

__all__ = ["FitReport", "FittedEffect", "ImageSource", "fit_effect"]

#: What :func:`fit_effect` accepts for an image: a PIL image, encoded bytes, or a path.
ImageSource: TypeAlias = "Image.Image | _images.ImageSource"

Array: TypeAlias = "np.ndarray"

# ITU-R 601-2 luma, as Pillow's convert("L") uses (and Adjust's saturation).
_LUMA = np.array([0.299, 0.587, 0.114])

# -- fitting constants (tuned on bench/data/fit, see docs/fitting.md) ---------------------
_KNOTS = 65  # knots of each tone curve, every 255/64 levels (every other one a LUT node)
# Second-difference penalty on the tone curves: 30 per level^3 of knot spacing, so the
# curve's stiffness does not depend on the number of knots.
_CURVE_SMOOTHNESS = 30.0 / (255.0 / (_KNOTS - 1)) ** 3
_SATURATION_RIDGE = 1e-3  # pull of the saturation coefficients towards "unchanged"
_BALANCE_POWER = 0.5  # dense colours weigh count**(1 - power): 0.5 = square root
_GAUSS_NEWTON_STEPS = 12
_GN_TOLERANCE = 2e-4  # stop when no fitted output moves by more than this (0.05 levels)
_GRID_SMOOTHNESS = 1.0  # second-difference penalty on the residual lattice
_GRID_PULL = 0.01  # pull of the residual towards zero (wins where the pair has no pixels)
_CG_TOLERANCE = 1e-4
_CG_MAX_STEPS = 500
_MAX_FIT_PIXELS = 2_000_000  # larger pairs are decimated (every k-th pixel) for the fit
_MAX_PARAMETRIC_COLOURS = 150_000  # above this, the parametric fit sees 2-level colour bins
_MAX_PATTERN_PIXELS = 400_000  # the spatial tests run on at most this many pixels
_EDGE_WINDOW = 1024  # full-resolution window for the blur/sharpen test on decimated pairs
_ASPECT_TOLERANCE = 0.02
_GREY_TOLERANCE = 1.5 / 255.0  # a LUT whose greys stay this close to grey keeps L images L

# -- verdict thresholds (tuned on bench/data/fit, also re-encoded as JPEG q70/q85 and
# resampled; see docs/fitting.md) ----------------------------------------------------------
_MIN_GLOBAL_PSNR = 25.0  # below this the colour transform explains too little of the pair
_MAX_UNEVEN = 0.025  # smooth spatial field (vignette, relight), relative to mean level + 16
_MAX_PATCH = 0.39  # largest block-mean residual relative to the block's level + 16 (objects)
_BLUR_GAIN, _BLUR_CORRELATION = 0.5, 0.3  # residual along a band-pass of the image
_SHARPEN_GAIN, _SHARPEN_CORRELATION = -0.07, -0.2

_COVERAGE_BINS = 16  # coverage: fraction of a 16x16x16 colour histogram the original fills


# ================================================================================== report


class FitReport(BaseModel):
    """How well a fitted LUT explains the pair it came from, and whether the edit was global."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    psnr_db: float = Field(
        description="PSNR of the fitted LUT applied to the original, "
        "against the edited image (dB; higher is better, 99 = exact)"
    )
    rmse: float = Field(description="root-mean-square error of that fit, in 8-bit levels")
    coverage: float = Field(
        ge=0.0,
        le=1.0,
        description="fraction of a 16x16x16 RGB histogram the original's pixels occupy",
    )
    is_global: bool = Field(description="true for a global colour/tone edit")
    reason: str = Field(description="why is_global is what it is, in words")
    uneven: float = Field(
        description="smooth spatial pattern in what the LUT leaves unexplained (vignette, "
        "relighting): its RMS relative to the mean level; global edits stay near 0"
    )
    patch: float = Field(
        description="largest block-averaged unexplained difference, relative to the block's "
        "level: large when part of the picture changed (objects)"
    )
    edge_gain: float = Field(
        description="residual per unit of image band-pass: > 0 blurred, < 0 sharpened"
    )
    edge_correlation: float = Field(description="correlation of the residual with edges")
    pixels: int = Field(ge=0, description="pixel pairs the fit used")
    width: int = Field(ge=0, description="width at which the pair was compared")
    height: int = Field(ge=0, description="height at which the pair was compared")
    notes: tuple[str, ...] = Field((), description="resampling, cropping and other remarks")


# ================================================================================== effect


class FittedEffect(BaseModel):
    """A global colour/tone edit as a 3D LUT: exact, fast, portable (``.cube``).

    The table is stored as base64 of little-endian uint16 (value / 65535), ``size**3`` RGB
    triples with red changing fastest, then green, then blue (the ``.cube`` order).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["lut"] = "lut"
    size: int = Field(33, ge=2, le=65, description="lattice points per axis")
    table: str = Field(
        repr=False, description="base64 of uint16 LE, [b][g][r][rgb] order, value/65535"
    )
    title: str = ""
    report: FitReport | None = Field(
        None, description="how the fit went; None for a LUT loaded from a file"
    )

    @field_validator("table")
    @classmethod
    def _check_table(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ValueError(f"table is not valid base64: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check_length(self) -> FittedEffect:
        expected = self.size**3 * 3 * 2
        actual = len(base64.b64decode(self.table))
        if actual != expected:
            raise ValueError(f"table holds {actual} bytes; a {self.size}^3 LUT needs {expected}")
        return self

    # ------------------------------------------------------------- construction

    @classmethod
    def from_table(
        cls, table: Array, *, title: str = "", report: FitReport | None = None
    ) -> FittedEffect:
        """Build from a float table of shape (N, N, N, 3) indexed [b][g][r], values 0..1."""
        array = np.asarray(table, dtype=np.float64)
        if array.ndim != 4 or array.shape[3] != 3 or len(set(array.shape[:3])) != 1:
            raise ValueError(f"a 3D LUT table has shape (N, N, N, 3), not {array.shape}")
        size = array.shape[0]
        if not 2 <= size <= 65:
            array = _resample_table(array, min(max(size, 2), 65))
            size = array.shape[0]
        quantised = np.rint(np.clip(np.nan_to_num(array), 0.0, 1.0) * 65535.0).astype("<u2")
        encoded = base64.b64encode(quantised.tobytes()).decode("ascii")
        return cls(size=size, table=encoded, title=title, report=report)

    @classmethod
    def identity(cls, size: int = 33) -> FittedEffect:
        """The LUT that changes nothing."""
        return cls.from_table(identity_table(size))

    @classmethod
    def load_cube(cls, path: str | os.PathLike[str]) -> FittedEffect:
        """Read an Adobe ``.cube`` 3D LUT (from Resolve, Premiere, ffmpeg, ...).

        A domain other than 0..1 is resampled onto 0..1 (inputs outside the file's domain are
        clamped to it, as the specification says), and so is a lattice larger than 65 points,
        Pillow's limit. Output values are clipped to 0..1. ``report`` is None.
        """
        table, domain_min, domain_max, title = read_cube(path)
        if domain_min != (0.0, 0.0, 0.0) or domain_max != (1.0, 1.0, 1.0):
            table = _rebase_domain(table, np.array(domain_min), np.array(domain_max))
        return cls.from_table(table, title=title)

    # ------------------------------------------------------------- queries

    @cached_property
    def lut(self) -> Array:
        """The table as float64 (N, N, N, 3), indexed [b][g][r], values 0..1."""
        raw = np.frombuffer(base64.b64decode(self.table), dtype="<u2")
        return raw.astype(np.float64).reshape(self.size, self.size, self.size, 3) / 65535.0

    @cached_property
    def is_identity(self) -> bool:
        """True when the table changes no colour by more than an eighth of an 8-bit level."""
        return bool(np.abs(self.lut - identity_table(self.size)).max() <= 0.125 / 255.0)

    @cached_property
    def _filter(self) -> ImageFilter.Color3DLUT:
        return ImageFilter.Color3DLUT(self.size, self.lut.astype(np.float32))

    @cached_property
    def _keeps_grey(self) -> bool:
        grey = np.arange(self.size)
        nodes = self.lut[grey, grey, grey]
        return bool((nodes.max(axis=1) - nodes.min(axis=1)).max() <= _GREY_TOLERANCE)

    # ------------------------------------------------------------- pixels

    def apply(self, image: ImageSource) -> Image.Image:
        """Return the edited image (same size; same mode, like Adjust). Deterministic.

        ``image`` is a PIL image, or a path, bytes or binary file (decoded and turned upright).

        Alpha is split off and put back untouched. Greyscale (L, LA) images stay greyscale
        when the LUT keeps greys grey (within 1.5 levels), and become RGB(A) when it tints them.
        """
        image = _images.editable(_images.load_image(image))
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        colour = image.convert(image.mode[:-1]) if alpha is not None else image
        if self.is_identity:
            out = colour.copy()
        elif colour.mode == "L":
            out = colour.convert("RGB").filter(self._filter)
            if self._keeps_grey:
                out = out.convert("L")
        else:
            out = colour.filter(self._filter)
        if alpha is not None:
            out.putalpha(alpha)
        return out

    def save_cube(self, path: str | os.PathLike[str]) -> Path:
        """Write the LUT as an Adobe ``.cube`` 1.0 file (6 decimals; exact round trip)."""
        return write_cube(path, self.lut, title=self.title or "seedless fitted look")

    # ------------------------------------------------------------- words

    def describe(self) -> str:
        """The measured edit in numbers, in the words of ``Adjust.describe()``."""
        return _describe(self.lut)


# ================================================================================== fitting


def fit_effect(
    original: ImageSource,
    edited: ImageSource,
    *,
    size: int = 33,
    title: str = "",
    max_pixels: int = _MAX_FIT_PIXELS,
) -> FittedEffect:
    """Fit the global colour/tone transform that turns ``original`` into ``edited``.

    Both may be PIL images, encoded bytes or paths; they need not be the same size. ``size``
    is the LUT lattice (2..65; 33 is the usual ``.cube`` size). Pairs above ``max_pixels``
    are decimated for the fit. The result's ``report`` says how well the LUT explains the
    pair and whether the edit was global; it is returned either way.
    """
    if not 2 <= size <= 65:
        raise ValueError(f"size must be 2..65 (Pillow's Color3DLUT limit), not {size}")
    before = _open(original, "original")
    after = _open(edited, "edited")
    pair = _pair(before, after)
    x, y, mask = pair.x, pair.y, pair.mask
    notes = list(pair.notes)

    step = max(1, math.ceil(math.sqrt(x.shape[0] * x.shape[1] / max_pixels)))
    xs, ys_img = x[::step, ::step], y[::step, ::step]
    ms = mask[::step, ::step] if mask is not None else None
    if step > 1:
        notes.append(f"fitted on one pixel in {step} along each axis ({xs.shape[1]}x{xs.shape[0]})")

    flat_x = xs.reshape(-1, 3)
    flat_y = ys_img.reshape(-1, 3)
    if ms is not None:
        flat_x, flat_y = flat_x[ms.ravel()], flat_y[ms.ravel()]
    if len(flat_x) < 16:
        from ..errors import InvalidImageError

        raise InvalidImageError("the pair has fewer than 16 usable pixels; nothing to fit")

    colours, counts, targets = _aggregate(flat_x, flat_y)
    model = _fit_parametric(*_coarsen(colours, counts, targets))
    base = np.clip(model(_lattice(size)), 0.0, 1.0)
    residual = _fit_residual(colours, counts, targets, base)
    effect = FittedEffect.from_table(np.clip(base + residual, 0.0, 1.0), title=title)

    report = _report(effect, xs, ys_img, ms, x, y, step, colours, counts, notes)
    return effect.model_copy(update={"report": report})


# ---------------------------------------------------------------------------- pairing


@dataclass(frozen=True)
class _Pair:
    x: Array  # uint8 (H, W, 3), the original
    y: Array  # uint8 (H, W, 3), the edit, same size
    mask: Array | None  # bool (H, W): pixels opaque in both, or None when neither has alpha
    notes: tuple[str, ...]


def _open(source: ImageSource, name: str) -> Image.Image:
    """The original or edited image, upright, under the one rule of editable modes."""
    from ..errors import InvalidImageError

    try:
        image = _images.editable(_images.load_image(source))
    except OSError as exc:
        raise InvalidImageError(f"cannot read the {name} image: {exc}") from exc
    except InvalidImageError as exc:
        raise InvalidImageError(f"the {name} image: {exc}") from exc
    return ImageOps.exif_transpose(image) if isinstance(source, Image.Image) else image


def _split(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode in ("P", "PA", "1"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA", "La", "RGBa") else None
    return image.convert("RGB"), alpha


def _pair(before: Image.Image, after: Image.Image) -> _Pair:
    notes: list[str] = []
    x_img, x_alpha = _split(before)
    y_img, y_alpha = _split(after)
    (xw, xh), (yw, yh) = x_img.size, y_img.size
    if (xw, xh) != (yw, yh):
        aspect_x, aspect_y = xw / xh, yw / yh
        if abs(aspect_x / aspect_y - 1.0) > _ASPECT_TOLERANCE:
            if aspect_x > aspect_y:
                box = _centre_box(xw, xh, aspect_y)
                x_img = x_img.crop(box)
                x_alpha = x_alpha.crop(box) if x_alpha is not None else None
                notes.append(
                    f"aspect ratios differ ({xw}x{xh} vs {yw}x{yh}): the original was "
                    f"centre-cropped to {x_img.width}x{x_img.height}"
                )
            else:
                box = _centre_box(yw, yh, aspect_x)
                y_img = y_img.crop(box)
                y_alpha = y_alpha.crop(box) if y_alpha is not None else None
                notes.append(
                    f"aspect ratios differ ({xw}x{xh} vs {yw}x{yh}): the edit was "
                    f"centre-cropped to {y_img.width}x{y_img.height}"
                )
        target = (min(x_img.width, y_img.width), min(x_img.height, y_img.height))
        for label, img in (("original", x_img), ("edit", y_img)):
            if img.size != target:
                notes.append(
                    f"the {label} was resampled from {img.width}x{img.height} to "
                    f"{target[0]}x{target[1]} (Lanczos) to pair the pixels"
                )
        lanczos = Image.Resampling.LANCZOS
        if y_img.width > x_img.width and y_img.height > x_img.height:
            # The edit was upscaled (by the backend) and will be scaled back down here: that
            # round trip softens it. Give the original the same round trip, so softening is
            # not mistaken for a blur.
            x_img = x_img.resize(y_img.size, Image.Resampling.BICUBIC)
            notes.append("the original went through the same upscale and downscale, to match")
        x_img = x_img.resize(target, lanczos) if x_img.size != target else x_img
        y_img = y_img.resize(target, lanczos) if y_img.size != target else y_img
        if x_alpha is not None and x_alpha.size != target:
            x_alpha = x_alpha.resize(target, lanczos)
        if y_alpha is not None and y_alpha.size != target:
            y_alpha = y_alpha.resize(target, lanczos)
    mask = None
    for alpha in (x_alpha, y_alpha):
        if alpha is not None:
            opaque = np.asarray(alpha) >= 128
            mask = opaque if mask is None else mask & opaque
    if mask is not None:
        notes.append(f"{int((~mask).sum())} transparent pixels were left out")
    return _Pair(np.asarray(x_img), np.asarray(y_img), mask, tuple(notes))


def _centre_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred box of ``aspect`` (width / height) inside width x height."""
    if width / height > aspect:
        new_w = max(1, round(height * aspect))
        left = (width - new_w) // 2
        return (left, 0, left + new_w, height)
    new_h = max(1, round(width / aspect))
    top = (height - new_h) // 2
    return (0, top, width, top + new_h)


def _aggregate(x8: Array, y8: Array) -> tuple[Array, Array, Array]:
    """Group pixel pairs by exact input colour: (colours 0..1, counts, mean outputs 0..1)."""
    key = (x8[:, 0].astype(np.int64) << 16) | (x8[:, 1].astype(np.int64) << 8) | x8[:, 2]
    unique, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    y = y8.astype(np.float64) / 255.0
    sums = np.stack([np.bincount(inverse, y[:, c], len(unique)) for c in range(3)], axis=1)
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    return colours.astype(np.float64) / 255.0, counts.astype(np.float64), sums / counts[:, None]


def _coarsen(colours: Array, counts: Array, targets: Array) -> tuple[Array, Array, Array]:
    """Merge colours into 2-level bins (mean input, mean output) when there are very many.

    The parametric model has 199 unknowns; a few hundred thousand distinct colours tell it
    no more than their 2-level averages do, and cost time (12 MP photos).
    """
    if len(colours) <= _MAX_PARAMETRIC_COLOURS:
        return colours, counts, targets
    q = np.minimum((colours * 128).astype(np.int64), 127)
    key = (q[:, 0] << 14) | (q[:, 1] << 7) | q[:, 2]
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, counts, len(unique))

    def mean(values: Array) -> Array:
        return (
            np.stack(
                [np.bincount(inverse, counts * values[:, c], len(unique)) for c in range(3)], axis=1
            )
            / total[:, None]
        )

    return mean(colours), total, mean(targets)


def _lattice(size: int) -> Array:
    """The lattice's input colours, (N, N, N, 3) indexed [b][g][r]."""
    return identity_table(size)


# ---------------------------------------------------------------------------- parametric


@dataclass(frozen=True)
class _Parametric:
    """Per-channel tone curves (3, K knots) then hue-symmetric saturation, coefficients b."""

    curves: Array
    coefficients: Array

    def __call__(self, rgb: Array) -> Array:
        shape = rgb.shape
        flat = np.clip(rgb.reshape(-1, 3), 0.0, 1.0)
        knots = np.linspace(0.0, 1.0, _KNOTS)
        toned = np.stack([np.interp(flat[:, c], knots, self.curves[c]) for c in range(3)], axis=1)
        out = toned + _spread(toned) @ self.coefficients
        return np.asarray(out.reshape(shape))


def _spread(colours: Array) -> Array:
    """colour - pivot for the pivots luma, mean, max and min: (m, 3, 4)."""
    pivots = np.stack(
        [colours @ _LUMA, colours.mean(axis=1), colours.max(axis=1), colours.min(axis=1)],
        axis=1,
    )
    return np.asarray(colours[:, :, None] - pivots[:, None, :])


def _solve_spd(matrix: Array, rhs: Array) -> Array:
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


_OUTER_121 = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0])


def _fit_parametric(colours: Array, counts: Array, targets: Array) -> _Parametric:
    """Joint Gauss-Newton fit of the tone curves and the saturation coefficients.

    Unknowns: the three curves at K knots (each input value reads two knots, linearly) and
    the four saturation coefficients b. Each step solves the regularised normal equations
    of the linearised model exactly (a (3K + 4) square system).
    """
    k = _KNOTS
    position = np.clip(colours, 0.0, 1.0) * (k - 1)
    lower = np.minimum(np.floor(position).astype(np.int64), k - 2)  # (m, 3) knot index
    frac = position - lower
    # Interpolation weights onto the two knots around each value: (m, 3) each.
    w_lo, w_hi = 1.0 - frac, frac
    # Balance: each pixel weighs 1 / sqrt(pixels in its 16^3 histogram bin), so a photo
    # dominated by one colour still lets its other colours speak.
    coarse = np.minimum((colours * 16).astype(np.int64), 15)
    bins = (coarse[:, 0] << 8) | (coarse[:, 1] << 4) | coarse[:, 2]
    density = np.bincount(bins, counts, 4096)[bins]
    weights = counts / density**_BALANCE_POWER
    weights *= 256 * 8.0 / weights.sum()
    low = targets <= 0.5 / 255.0
    high = targets >= 254.5 / 255.0
    clipped = low | high
    any_clipped = np.asarray(clipped.any(axis=1))

    n = 3 * k + 4
    penalty = np.zeros((n, n))
    smooth = _CURVE_SMOOTHNESS * _second_difference_normal(k)
    for j in range(3):
        penalty[j * k : (j + 1) * k, j * k : (j + 1) * k] = smooth
    penalty[3 * k :, 3 * k :] = _SATURATION_RIDGE * weights.sum() * np.eye(4)
    penalty += 1e-9 * np.eye(n)
    # The penalty pulls towards "unchanged" (identity curves, no saturation change), so what
    # the pair cannot tell (a curve's slope when a channel has one level) stays unchanged.
    prior = np.concatenate([np.tile(np.linspace(0.0, 1.0, k), 3), np.zeros(4)])

    def scatter(values: Array, j: int) -> Array:
        """Sum per-pixel values of channel j onto its K knots (linear weights)."""
        return np.asarray(
            np.bincount(lower[:, j], values * w_lo[:, j], k)
            + np.bincount(lower[:, j] + 1, values * w_hi[:, j], k)
        )

    def pairs(values: Array, j: int, jj: int) -> Array:
        """Sum per-pixel values onto (knot of channel j, knot of channel jj) pairs: (K, K)."""
        out = np.zeros(k * k)
        for da, wa in ((0, w_lo[:, j]), (1, w_hi[:, j])):
            for db, wb in ((0, w_lo[:, jj]), (1, w_hi[:, jj])):
                index = (lower[:, j] + da) * k + lower[:, jj] + db
                out += np.bincount(index, values * wa * wb, k * k)
        return out.reshape(k, k)

    curves = np.tile(np.linspace(0.0, 1.0, k), (3, 1))
    coeffs = np.zeros(4)
    rows = np.arange(len(colours))
    previous: Array | None = None
    for _ in range(_GAUSS_NEWTON_STEPS):
        toned = np.stack(
            [
                w_lo[:, j] * curves[j, lower[:, j]] + w_hi[:, j] * curves[j, lower[:, j] + 1]
                for j in range(3)
            ],
            axis=1,
        )
        spread = _spread(toned)  # d out / d coefficients, (m, 3, 4)
        predicted = toned + spread @ coeffs
        if previous is not None and np.abs(predicted - previous).max() < _GN_TOLERANCE:
            break
        previous = predicted
        residual = targets - predicted
        # Censoring: an output at 0 (255) only says "at most 0 (at least 255)". The other
        # channels of such a pixel were likely bent by the editor's gamut handling: trust
        # them less.
        active = np.ones_like(targets)
        active[low & (predicted <= 0.0)] = 0.0
        active[high & (predicted >= 1.0)] = 0.0
        trust = np.where(clipped | ~any_clipped[:, None], 1.0, 0.1) * active
        w = weights[:, None] * trust  # (m, 3)
        # d out_c / d toned_j = s [c == j] - v_j, with s = 1 + sum b and v = sum_i b_i
        # d pivot_i / d toned (luma weights, 1/3, one-hot at the max, one-hot at the min).
        s = 1.0 + float(coeffs.sum())
        v = np.broadcast_to(coeffs[0] * _LUMA + coeffs[1] / 3.0, toned.shape).copy()
        v[rows, toned.argmax(axis=1)] += coeffs[2]
        v[rows, toned.argmin(axis=1)] += coeffs[3]
        w_sum = w.sum(axis=1)
        hessian = np.zeros((n, n))
        for j in range(3):
            block = slice(j * k, (j + 1) * k)
            diag = s * s * w[:, j] - 2.0 * s * v[:, j] * w[:, j] + w_sum * v[:, j] ** 2
            hessian[block, block] += pairs(diag, j, j)
            for jj in range(j + 1, 3):
                other = slice(jj * k, (jj + 1) * k)
                gram = -s * (v[:, jj] * w[:, j] + v[:, j] * w[:, jj]) + w_sum * v[:, j] * v[:, jj]
                cross_block = pairs(gram, j, jj)
                hessian[block, other] = cross_block
                hessian[other, block] = cross_block.T
        w_spread = spread * w[:, :, None]  # (m, 3, 4)
        spread_sum = w_spread.sum(axis=1)  # sum_c w_c spread_ci, (m, 4)
        for j in range(3):
            block = slice(j * k, (j + 1) * k)
            cross = s * w_spread[:, j, :] - v[:, j, None] * spread_sum  # (m, 4)
            for i in range(4):
                column = scatter(cross[:, i], j)
                hessian[block, 3 * k + i] = column
                hessian[3 * k + i, block] = column
        hessian[3 * k :, 3 * k :] = w_spread.reshape(-1, 4).T @ spread.reshape(-1, 4)
        w_res = w * residual
        res_sum = w_res.sum(axis=1)
        gradient = np.zeros(n)
        for j in range(3):
            gradient[j * k : (j + 1) * k] = scatter(s * w_res[:, j] - v[:, j] * res_sum, j)
        gradient[3 * k :] = w_res.reshape(-1) @ spread.reshape(-1, 4)
        params = np.concatenate([curves.ravel(), coeffs])
        params = params + _solve_spd(hessian + penalty, gradient - penalty @ (params - prior))
        curves = params[: 3 * k].reshape(3, k)
        coeffs = params[3 * k :]
    return _Parametric(curves, coeffs)


# ---------------------------------------------------------------------------- residual


def _corners() -> list[tuple[int, int, int]]:
    """The 8 corners of a lattice cell as (db, dg, dr) offsets."""
    return [(a >> 2 & 1, a >> 1 & 1, a & 1) for a in range(8)]


def _fit_residual(colours: Array, counts: Array, targets: Array, base: Array) -> Array:
    """Smooth residual lattice (N, N, N, 3) so that base + residual fits the pixels.

    Minimises sum_pixels |trilinear(base + R)(x) - y|^2 * w + smoothness + pull * |R|^2 with
    w = (cells / pixels) * count, by Jacobi-preconditioned conjugate gradients.
    """
    n = base.shape[0]
    cells = n - 1
    scaled = np.clip(colours, 0.0, 1.0) * cells
    lower = np.minimum(np.floor(scaled).astype(np.int64), cells - 1)
    frac = scaled - lower
    cell = (lower[:, 2] * cells + lower[:, 1]) * cells + lower[:, 0]  # [b][g][r]
    occupied, inverse = np.unique(cell, return_inverse=True)
    weight = counts * (cells**3 / counts.sum())
    corner_w = np.stack(
        [
            (frac[:, 2] if db else 1 - frac[:, 2])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 0] if dr else 1 - frac[:, 0])
            for db, dg, dr in _corners()
        ],
        axis=1,
    )  # (m, 8)
    ob, og, orr = occupied // (cells * cells), (occupied // cells) % cells, occupied % cells
    node_of = np.stack(
        [((ob + db) * n + og + dg) * n + orr + dr for db, dg, dr in _corners()], axis=1
    )  # (cells occupied, 8) flat node index
    pixel_nodes = node_of[inverse]  # (m, 8)
    flat_base = base.reshape(-1, 3)
    residual = targets - np.einsum("ma,mac->mc", corner_w, flat_base[pixel_nodes])

    k = len(occupied)
    gram = np.zeros((k, 8, 8))
    for a in range(8):
        for b in range(a, 8):
            g = np.bincount(inverse, weight * corner_w[:, a] * corner_w[:, b], k)
            gram[:, a, b] = g
            gram[:, b, a] = g
    flat_nodes = node_of.ravel()
    total = n**3
    weighted = (weight[:, None] * corner_w)[:, :, None] * residual[:, None, :]  # (m, 8, 3)
    rhs = np.stack(
        [np.bincount(pixel_nodes.ravel(), weighted[:, :, c].ravel(), total) for c in range(3)],
        axis=1,
    ).reshape(n, n, n, 3)

    def operator(field: Array) -> Array:
        out = _GRID_PULL * field + _GRID_SMOOTHNESS * _second_difference_3d(field)
        gathered = gram @ field.reshape(-1, 3)[node_of]  # (k, 8, 3)
        flat = out.reshape(-1, 3)
        for c in range(3):
            flat[:, c] += np.bincount(flat_nodes, gathered[:, :, c].ravel(), total)
        return out

    diagonal = np.full(total, _GRID_PULL + 6.0 * _GRID_SMOOTHNESS)
    diagonal += np.bincount(flat_nodes, np.einsum("kaa->ka", gram).ravel(), total)
    inv_diag = (1.0 / diagonal).reshape(n, n, n, 1)

    field = np.zeros((n, n, n, 3))
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


# ---------------------------------------------------------------------------- report


def _report(
    effect: FittedEffect,
    xs: Array,
    ys: Array,
    mask: Array | None,
    x_full: Array,
    y_full: Array,
    step: int,
    colours: Array,
    counts: Array,
    notes: list[str],
) -> FitReport:
    fitted = np.asarray(effect.apply(Image.fromarray(xs)), dtype=np.float64)
    target = ys.astype(np.float64)
    residual = target - fitted  # in 8-bit levels
    valid = mask if mask is not None else np.ones(residual.shape[:2], dtype=bool)
    sq = (residual**2).mean(axis=2)[valid]
    rmse = float(np.sqrt(sq.mean())) if sq.size else 0.0
    psnr = 99.0 if rmse < 255.0 * 10 ** (-99.0 / 20.0) else 20.0 * math.log10(255.0 / rmse)

    thin = max(1, math.ceil(math.sqrt(valid.size / _MAX_PATTERN_PIXELS)))
    sub = (slice(None, None, thin), slice(None, None, thin))
    field = _field(residual[sub], fitted[sub], valid[sub])
    patch = _patch(residual[sub], fitted[sub], valid[sub])
    if step > 1:  # blur/sharpening lives at the pixel scale: test it at full resolution
        window = _centre_window(x_full.shape[0], x_full.shape[1], _EDGE_WINDOW)
        wx, wy = x_full[window], y_full[window]
        w_fitted = np.asarray(effect.apply(Image.fromarray(wx)), dtype=np.float64)
        edge_gain, edge_corr = _edges(wy.astype(np.float64) - w_fitted, w_fitted)
    else:
        edge_gain, edge_corr = _edges(residual, fitted)

    is_global, reason = _verdict(psnr, field, patch, edge_gain, edge_corr)
    return FitReport(
        psnr_db=round(psnr, 3),
        rmse=round(rmse, 4),
        coverage=round(_coverage(colours), 4),
        is_global=is_global,
        reason=reason,
        uneven=round(field.relative, 4),
        patch=round(patch.relative, 4),
        edge_gain=round(edge_gain, 4),
        edge_correlation=round(edge_corr, 4),
        pixels=int(counts.sum()),
        width=int(x_full.shape[1]),
        height=int(x_full.shape[0]),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Field:
    relative: float  # RMS of the smooth field / (mean level + 16)
    pattern: str  # in words, e.g. "darker towards the corners than at the centre by 30 levels"


def _field(residual: Array, fitted: Array, valid: Array) -> _Field:
    """The smooth (quadratic in x, y) gain and offset field that best explains the residual.

    residual_c(x, y) ~ g(x, y) * fitted_c + 255 * a(x, y), g and a quadratic polynomials.
    Vignettes and relighting are such fields; noise, JPEG artefacts and a LUT's small misfits
    average out over the whole image.
    """
    height, width = residual.shape[:2]
    rows, cols = np.nonzero(valid)
    if len(rows) < 16:
        return _Field(0.0, "")
    u = (cols + 0.5) / width * 2.0 - 1.0
    v = (rows + 0.5) / height * 2.0 - 1.0
    basis = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)  # (n, 6)
    level = fitted[rows, cols]  # (n, 3), 8-bit levels
    res = residual[rows, cols]
    s1, s2 = level.sum(axis=1), (level * level).sum(axis=1)
    normal = np.zeros((12, 12))
    normal[:6, :6] = basis.T @ (basis * s2[:, None])
    normal[:6, 6:] = 255.0 * basis.T @ (basis * s1[:, None])
    normal[6:, :6] = normal[:6, 6:].T
    normal[6:, 6:] = 3.0 * 255.0**2 * basis.T @ basis
    rhs = np.concatenate([basis.T @ (res * level).sum(axis=1), 255.0 * basis.T @ res.sum(axis=1)])
    scale = np.sqrt(np.maximum(np.diag(normal), 1e-12))
    theta = (
        np.linalg.solve(normal / np.outer(scale, scale) + 1e-9 * np.eye(12), rhs / scale) / scale
    )
    gain, offset = basis @ theta[:6], basis @ theta[6:] * 255.0
    pred = gain[:, None] * level + offset[:, None]
    pred -= pred.mean(axis=0)
    mean_level = float(level.mean())
    relative = float(np.sqrt((pred * pred).mean())) / (mean_level + 16.0)

    def at(x: float, y: float) -> float:
        b = np.array([1.0, x, y, x * x, x * y, y * y])
        return float(b @ theta[:6] * mean_level + b @ theta[6:] * 255.0)

    centre = at(0.0, 0.0)
    corners = float(np.mean([at(x, y) for x in (-1.0, 1.0) for y in (-1.0, 1.0)]))
    left, right, top, bottom = at(-1.0, 0.0), at(1.0, 0.0), at(0.0, -1.0), at(0.0, 1.0)
    candidates = [
        (corners - centre, "towards the corners than at the centre"),
        (left - right, "on the left than on the right"),
        (top - bottom, "at the top than at the bottom"),
    ]
    size, where = max(candidates, key=lambda c: abs(c[0]))
    way = "brighter" if size > 0 else "darker"
    return _Field(relative, f"{way} {where} by about {abs(size):.0f} levels")


@dataclass(frozen=True)
class _Patch:
    relative: float  # largest block residual / (block level + 16)
    levels: float  # that block's residual on its strongest channel (signed, 8-bit levels)
    where: str  # "top left", "centre" ...
    share: float  # fraction of blocks over the threshold


def _patch(residual: Array, fitted: Array, valid: Array) -> _Patch:
    """Localised error: residual averaged over blocks (noise cancels), relative to level."""
    height, width = residual.shape[:2]
    block = max(4, min(height, width) // 12)
    rows, cols = height // block, width // block
    if rows == 0 or cols == 0:
        return _Patch(0.0, 0.0, "", 0.0)
    h, w = rows * block, cols * block

    def blocks(a: Array) -> Array:
        return np.asarray(a[:h, :w].reshape(rows, block, cols, block, -1).sum(axis=(1, 3)))

    weight = blocks(valid[:, :, None].astype(np.float64))[:, :, 0]
    res = blocks(residual * valid[:, :, None])
    lum = blocks((fitted @ _LUMA)[:, :, None] * valid[:, :, None])[:, :, 0]
    usable = weight >= 0.5 * block * block
    if not usable.any():
        return _Patch(0.0, 0.0, "", 0.0)
    mean_res = res / np.maximum(weight, 1.0)[:, :, None]
    mean_lum = lum / np.maximum(weight, 1.0)
    relative = np.abs(mean_res).max(axis=2) / (mean_lum + 16.0)
    relative[~usable] = 0.0
    i, j = np.unravel_index(int(np.argmax(relative)), relative.shape)
    strongest = mean_res[i, j]
    channel = int(np.argmax(np.abs(strongest)))
    vertical = ("top", "middle", "bottom")[min(2, 3 * int(i) // rows)]
    horizontal = ("left", "centre", "right")[min(2, 3 * int(j) // cols)]
    if (vertical, horizontal) == ("middle", "centre"):
        where = "centre"
    elif vertical == "middle":
        where = horizontal
    elif horizontal == "centre":
        where = vertical
    else:
        where = f"{vertical} {horizontal}"
    share = float((relative > _MAX_PATCH).sum() / usable.sum())
    return _Patch(float(relative[i, j]), float(strongest[channel]), where, share)


def _box_blur(a: Array, radius: int) -> Array:
    """Separable box blur with edge replication, on (H, W, C) float arrays."""
    out = a
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        padded = np.pad(out, pad, mode="edge")
        summed = np.cumsum(padded, axis=axis)
        size = out.shape[axis]
        upper = np.take(summed, np.arange(2 * radius + 1, 2 * radius + 1 + size), axis=axis)
        lower = np.take(summed, np.arange(0, size), axis=axis)
        out = (upper - lower) / (2 * radius + 1)
    return out


def _edges(residual: Array, fitted: Array) -> tuple[float, float]:
    """How much of the residual is a band-pass of the image: (gain, correlation).

    A blurred edit leaves residual = blur(image) - image (gain > 0); a sharpened one the
    opposite (gain < 0). A colour transform's residual has no reason to follow edges.
    """
    luma = fitted @ _LUMA
    smooth = _box_blur(_box_blur(luma[:, :, None], 1), 1)[:, :, 0]
    band = smooth - luma
    res = residual @ _LUMA
    band -= band.mean()
    res = res - res.mean()
    energy = float((band * band).sum())
    res_energy = float((res * res).sum())
    if energy <= 1e-9 or res_energy <= 1e-9:
        return 0.0, 0.0
    dot = float((band * res).sum())
    return dot / energy, dot / math.sqrt(energy * res_energy)


def _centre_window(height: int, width: int, side: int) -> tuple[slice, slice]:
    top = max(0, (height - side) // 2)
    left = max(0, (width - side) // 2)
    return slice(top, top + side), slice(left, left + side)


def _verdict(
    psnr: float, field: _Field, patch: _Patch, edge_gain: float, edge_corr: float
) -> tuple[bool, str]:
    """Global or not, and why, from the measurements."""
    reasons: list[str] = []
    if edge_gain > _BLUR_GAIN and edge_corr > _BLUR_CORRELATION:
        reasons.append(
            f"what the LUT cannot explain follows the image's edges (correlation "
            f"{edge_corr:+.2f}): the edit blurs or softens the image, which no colour "
            "transform does"
        )
    if edge_gain < _SHARPEN_GAIN and edge_corr < _SHARPEN_CORRELATION:
        reasons.append(
            f"what the LUT cannot explain follows the image's edges (correlation "
            f"{edge_corr:+.2f}): the edit sharpens the image, which no colour transform does"
        )
    if field.relative > _MAX_UNEVEN:
        reasons.append(
            f"the edit is spatially uneven: beyond the colour transform, the result is "
            f"{field.pattern} (a vignette, relighting or gradient)"
        )
    if patch.relative > _MAX_PATCH:
        way = "brighter" if patch.levels > 0 else "darker"
        reasons.append(
            f"part of the picture changed: around the {patch.where or 'image'} the edit is "
            f"{abs(patch.levels):.0f} levels {way} than the colour transform predicts "
            "(an object added, removed or repainted)"
        )
    if psnr < _MIN_GLOBAL_PSNR:
        reasons.append(
            f"a colour transform explains the pair poorly (fit PSNR {psnr:.1f} dB, "
            f"under {_MIN_GLOBAL_PSNR:.0f} dB)"
        )
    if reasons:
        return False, "not a global colour/tone edit: " + "; ".join(reasons) + "."
    return True, (
        f"a global colour/tone edit: the LUT reproduces the pair at {psnr:.1f} dB PSNR and "
        "what it leaves unexplained has no spatial pattern and does not follow edges."
    )


def _coverage(colours: Array) -> float:
    """Fraction of a 16^3 RGB histogram occupied by the original's colours."""
    bins = _COVERAGE_BINS
    q = np.minimum((colours * bins).astype(np.int64), bins - 1)
    occupied = np.unique((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2])
    return float(len(occupied) / bins**3)


# ================================================================================== table maths


def _lookup(table: Array, rgb: Array) -> Array:
    """Trilinear lookup of colours (m, 3) in 0..1 in a table (N, N, N, 3) indexed [b][g][r]."""
    n = table.shape[0]
    scaled = np.clip(rgb, 0.0, 1.0) * (n - 1)
    lower = np.minimum(np.floor(scaled).astype(np.int64), n - 2)
    frac = scaled - lower
    out = np.zeros((len(rgb), 3))
    for db, dg, dr in _corners():
        w = (
            (frac[:, 2] if db else 1 - frac[:, 2])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 0] if dr else 1 - frac[:, 0])
        )
        out += w[:, None] * table[lower[:, 2] + db, lower[:, 1] + dg, lower[:, 0] + dr]
    return out


def _resample_table(table: Array, size: int) -> Array:
    """The same LUT on a size^3 lattice (trilinear)."""
    nodes = identity_table(size).reshape(-1, 3)
    return _lookup(table, nodes).reshape(size, size, size, 3)


def _rebase_domain(table: Array, low: Array, high: Array) -> Array:
    """Re-express a LUT whose input domain is [low, high] on the 0..1 domain (size kept)."""
    size = min(table.shape[0], 65)
    nodes = identity_table(size).reshape(-1, 3)
    inside = (np.clip(nodes, low, high) - low) / (high - low)
    return _lookup(table, inside).reshape(size, size, size, 3)


# ================================================================================== describe


def _describe(table: Array) -> str:
    """Brightness, contrast, saturation, midtones, colour balance and end points, measured."""
    ramp = np.linspace(0.0, 1.0, 257)
    grey_out = _lookup(table, np.repeat(ramp[:, None], 3, axis=1))  # (257, 3)
    tone = grey_out @ _LUMA

    parts: list[str] = []
    brightness = float(tone.sum() / ramp.sum())
    parts.append(_factor("brightness", brightness))

    mid = (ramp >= 0.2) & (ramp <= 0.8)
    slope = float(np.polyfit(ramp[mid], tone[mid], 1)[0])
    contrast = slope / brightness if brightness > 1e-6 else 1.0
    parts.append(_factor("contrast", contrast))

    parts.append(_factor("colour saturation", _saturation(table, ramp, tone)))

    span = tone[-1] - tone[0]
    if span > 0.05:
        middle = float(np.clip((tone[128] - tone[0]) / span, 1e-3, 1 - 1e-3))
        gamma = math.log(0.5) / math.log(middle)
    else:
        gamma = 1.0
    if abs(gamma - 1.0) < 0.03:
        parts.append("midtones (gamma) unchanged")
    else:
        way = "lifted" if gamma > 1 else "deepened"
        parts.append(f"midtones {way} with a gamma of {gamma:.2f}")

    parts.append(_balance(grey_out, ramp))
    ends = _end_points(grey_out)
    if ends:
        parts.append(ends)
    return ", ".join(parts) + ". Keep composition, content and framing exactly as they are."


def _factor(name: str, factor: float) -> str:
    if round(factor * 100) == 100:
        return f"{name} unchanged"
    return f"{name} at {factor * 100:.0f}% of the original"


def _saturation(table: Array, ramp: Array, tone: Array) -> float:
    """Chroma gain on a palette of mid-light colours, relative to the tone curve's slope."""
    hues = np.arange(12) * (2 * math.pi / 12)
    ratios: list[float] = []
    for lightness in (0.35, 0.5, 0.65):
        for chroma in (0.1, 0.2):
            base = np.stack(
                [np.cos(hues), np.cos(hues - 2 * math.pi / 3), np.cos(hues + 2 * math.pi / 3)],
                axis=1,
            )
            colour = lightness + chroma * (base - (base @ _LUMA)[:, None])
            if colour.min() < 0.0 or colour.max() > 1.0:
                continue
            luma = colour @ _LUMA
            grey = np.repeat(luma[:, None], 3, axis=1)
            out_c, out_g = _lookup(table, colour), _lookup(table, grey)
            step = 0.05
            slope = (np.interp(luma + step, ramp, tone) - np.interp(luma - step, ramp, tone)) / (
                2 * step
            )
            keep = slope > 0.05
            if not keep.any():
                continue
            gain = np.linalg.norm(out_c - out_g, axis=1) / np.linalg.norm(colour - grey, axis=1)
            ratios.extend((gain[keep] / slope[keep]).tolist())
    return float(np.median(ratios)) if ratios else 1.0


def _balance(grey_out: Array, ramp: Array) -> str:
    """Colour balance on the grey ramp: each channel against the mean of the three."""
    usable = (ramp >= 0.05) & (ramp <= 0.95)
    channels = grey_out[usable]
    mean = channels.mean(axis=1, keepdims=True)
    shift = (channels - mean).sum(axis=0) / max(float(mean.sum()), 1e-6) * 100.0  # % r, g, b
    red, green, blue = (float(v) for v in shift)
    parts = []
    if round(red - blue) != 0 and abs(red - blue) >= 1.0:
        way = "warmer" if red > blue else "cooler"
        parts.append(f"{way} (red {red:+.0f}%, blue {blue:+.0f}%)")
    if abs(green) >= 1.0:
        way = "towards magenta" if green < 0 else "towards green"
        parts.append(f"{way} (green {green:+.0f}%)")
    balance = "colour balance unchanged" if not parts else "colour balance " + " and ".join(parts)
    extra = [
        _cast(grey_out[(ramp >= low) & (ramp <= high)], name, shift / 100.0)
        for name, low, high in (("shadows", 0.05, 0.25), ("highlights", 0.75, 0.95))
    ]
    return ", ".join([balance, *(cast for cast in extra if cast)])


def _cast(channels: Array, name: str, overall: Array) -> str:
    """A tint of one tonal range (8-bit levels) that differs from the overall balance.

    Mentioned when some channel is 3 levels or more away from what the overall balance
    (``overall``: fractional shift per channel) predicts for this range: split toning.
    """
    mean = channels.mean(axis=1, keepdims=True)
    offset = (channels - mean).mean(axis=0) * 255.0
    expected = overall * float(mean.mean()) * 255.0
    if np.abs(offset - expected).max() < 3.0:
        return ""
    names = ("red", "green", "blue")
    strongest = int(np.argmax(np.abs(offset)))
    if offset[strongest] > 0:
        colour = names[strongest]
    else:
        colour = {"red": "cyan", "green": "magenta", "blue": "yellow"}[names[strongest]]
    detail = ", ".join(f"{names[c]} {offset[c]:+.0f}" for c in range(3))
    return f"{name} tinted {colour} ({detail} levels)"


def _end_points(grey_out: Array) -> str:
    """Black and white points, when the edit moves them by 3 levels or more."""
    black = np.rint(grey_out[0] * 255.0).astype(int)
    white = np.rint(grey_out[-1] * 255.0).astype(int)
    parts = []
    if black.max() >= 3:
        parts.append("black lifted to {}/{}/{} (of 255)".format(*black))
    if white.min() <= 252:
        parts.append("white lowered to {}/{}/{} (of 255)".format(*white))
    return ", ".join(parts)
