"""Apply 1D and 3D lookup tables to colours and 8-bit images, the way OpenColorIO does.

A transform here is what a ``.cube`` file describes (:class:`Stages`): an optional 1D table
(on its own, or as a *shaper* before the 3D table) and an optional 3D table, each with an
input domain. For an input colour ``x`` (0..1 for 8-bit pixels), as OpenColorIO's
``FileTransform`` applies an Adobe or Resolve ``.cube`` file:

1. 1D table, domain ``lo1..hi1``: ``y = (x - lo1) / (hi1 - lo1)`` per channel, its position in
   the table ``y * (M - 1)`` clamped to the table, linear interpolation;
2. 3D table, domain ``lo3..hi3``: the same scaling of each channel (of the 1D output, when
   there is a shaper), positions clamped to the lattice, then ``trilinear`` (the 8 corners of
   the cell) or ``tetrahedral`` (the 4 corners of the cell's tetrahedron that holds the
   point, along the diagonal from its lowest to its highest corner) interpolation.

No value is clipped before the end: tables keep values below 0 and above 1, and only the
final colour is clamped to 0..1 and rounded to 8 bits (``floor(255 v + 0.5)``, as
OpenColorIO's float-to-8-bit conversion does).

On 8-bit images everything before the 3D interpolation is per channel, so it is computed
once for the 256 levels of each channel; the 3D interpolation runs once per distinct colour
and the result is kept in a per-thread table of every 24-bit colour (filled as new colours
come, 64 MB at most), so a photo costs a gather per pixel plus the interpolation of its new
colours. A trilinear 3D table that Pillow's ``Color3DLUT`` can hold (no shaper, domain 0..1,
at most 65 points, values within ±2) runs on Pillow instead, which is how fitted looks
(``FittedEffect``) are applied: the same table gives the same bytes either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from PIL import Image, ImageFilter

from ..errors import InvalidImageError

__all__ = [
    "INTERPOLATIONS",
    "ImageKernel",
    "Interpolation",
    "Stages",
    "apply_in_mode",
    "evaluate",
    "to_8bit",
]

Interpolation: TypeAlias = Literal["trilinear", "tetrahedral"]
#: The interpolations a 3D table can be applied with.
INTERPOLATIONS: tuple[Interpolation, ...] = ("trilinear", "tetrahedral")

Array: TypeAlias = "np.ndarray"

_PILLOW_MAX_SIZE = 65  # Color3DLUT's largest lattice
_PILLOW_MAX_VALUE = 2.0  # Color3DLUT stores values as int16 of value * 255 * 64: about ±2.008
_STRIP_PIXELS = 1 << 20  # pixels per strip of an image (a few MB of temporaries)
_CHUNK = 1 << 16  # colours interpolated at a time
_KNOWN = np.uint32(0xFF000000)  # the fourth byte of a cached colour: never 0 once filled


@dataclass(frozen=True, eq=False)
class Stages:
    """A 1D table (or shaper), then a 3D table, each with its input domain (see module doc).

    ``lut1d`` is (M, 3) and ``lut3d`` (N, N, N, 3) indexed [b][g][r], or None; domains are
    arrays of 3 floats (per channel).
    """

    lut1d: Array | None
    lut1d_min: Array
    lut1d_max: Array
    lut3d: Array | None
    lut3d_min: Array
    lut3d_max: Array

    def fits_pillow(self) -> bool:
        """True when Pillow's ``Color3DLUT`` can run the 3D table exactly (trilinear only)."""
        table = self.lut3d
        return (
            table is not None
            and self.lut1d is None
            and table.shape[0] <= _PILLOW_MAX_SIZE
            and bool((self.lut3d_min == 0.0).all() and (self.lut3d_max == 1.0).all())
            and bool(np.abs(table).max() < _PILLOW_MAX_VALUE)
        )


# ---------------------------------------------------------------------------- colours


def evaluate(stages: Stages, interpolation: Interpolation, rgb: Array) -> Array:
    """The transform of ``rgb`` (float colours, shape (m, 3)), unclipped float64 (m, 3).

    8-bit pixels ``v`` give exactly what :class:`ImageKernel` writes for them when evaluated
    at ``v / 255`` and passed through :func:`to_8bit`.
    """
    x = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    if stages.lut1d is not None:
        x = _curve(stages.lut1d, stages.lut1d_min, stages.lut1d_max, x)
    if stages.lut3d is None:
        return x
    n = stages.lut3d.shape[0]
    lower, frac = _positions(n, stages.lut3d_min, stages.lut3d_max, x)
    base = lower @ np.array([1, n, n * n])  # red fastest, then green, then blue
    flat = _flat(stages.lut3d)
    out = np.empty_like(x)
    for start in range(0, len(x), _CHUNK):
        part = slice(start, start + _CHUNK)
        fr, fg, fb = frac[part].T
        out[part] = _interpolate(flat, n, base[part], fr, fg, fb, interpolation)
    return out


def to_8bit(values: Array) -> Array:
    """Float colours to uint8 as OpenColorIO converts them: clamp to 0..1, ``floor(255 v + .5)``."""
    levels: Array = np.floor(np.clip(values, 0.0, 1.0) * 255.0 + 0.5)
    return levels.astype(np.uint8)


def _curve(table: Array, low: Array, high: Array, x: Array) -> Array:
    """1D table, per channel, linear interpolation, inputs clamped to the domain."""
    m = table.shape[0]
    lower, frac = _positions(m, low, high, x)
    values = table.astype(np.float64)
    out = np.empty_like(x)
    for c in range(3):
        below = values[lower[:, c], c]
        above = values[lower[:, c] + 1, c]
        out[:, c] = below + frac[:, c] * (above - below)
    return out


def _positions(n: int, low: Array, high: Array, x: Array) -> tuple[Array, Array]:
    """Each value's place on an n-point axis over low..high: (lower index, fraction), clamped.

    The lower index stops at n - 2, so the top of the axis is (n - 2, 1.0): the same value.
    """
    scaled = (x - low) / (high - low) * (n - 1)
    position = np.clip(np.nan_to_num(scaled), 0.0, n - 1)
    lower = np.minimum(np.floor(position), n - 2).astype(np.int64)
    return lower, position - lower


def _flat(table: Array) -> Array:
    """The 3D table as rows (n^3, 3); float64 when that stays small (faster to gather)."""
    flat = table.reshape(-1, 3)
    return flat.astype(np.float64) if flat.shape[0] <= _PILLOW_MAX_SIZE**3 else flat


def _interpolate(
    flat: Array, n: int, base: Array, fr: Array, fg: Array, fb: Array, how: Interpolation
) -> Array:
    """Interpolate table rows ``flat`` (n^3, 3) in the cells whose lowest corner is row
    ``base`` (m,), at fractions ``fr``, ``fg``, ``fb`` (m,) along red, green and blue."""
    if how == "trilinear":
        r, g, b = fr[:, None], fg[:, None], fb[:, None]
        c = [_rows(flat, base + offset) for offset in (0, 1, n, n + 1)]
        far = base + n * n
        d = [_rows(flat, far + offset) for offset in (0, 1, n, n + 1)]
        near = _lerp(_lerp(c[0], c[1], r), _lerp(c[2], c[3], r), g)
        back = _lerp(_lerp(d[0], d[1], r), _lerp(d[2], d[3], r), g)
        return _lerp(near, back, b)
    # Tetrahedral: from the lowest corner to the highest, one axis at a time, largest
    # fraction first: out = c000 + f1 (cA - c000) + f2 (cB - cA) + f3 (c111 - cB).
    high = np.maximum(np.maximum(fr, fg), fb)
    low = np.minimum(np.minimum(fr, fg), fb)
    middle = np.maximum(np.minimum(fr, fg), np.minimum(np.maximum(fr, fg), fb))
    r_over_g, r_over_b, g_over_b = fr > fg, fr > fb, fg > fb
    # Ties go to the later channel when choosing the largest and to the earlier when choosing
    # the smallest, so the two are never the same channel (tied fractions give one value).
    first = np.where(r_over_g & r_over_b, 1, np.where(~r_over_g & g_over_b, n, n * n))
    last = np.where(~r_over_g & ~r_over_b, 1, np.where(r_over_g & ~g_over_b, n, n * n))
    diagonal = 1 + n + n * n
    corner = _rows(flat, base)
    a = _rows(flat, base + first)
    b = _rows(flat, base + (diagonal - last))
    top = _rows(flat, base + diagonal)
    out: Array = corner + high[:, None] * (a - corner)
    out += middle[:, None] * (b - a)
    out += low[:, None] * (top - b)
    return out


def _rows(flat: Array, index: Array) -> Array:
    rows: Array = flat[index]
    return rows if rows.dtype == np.float64 else rows.astype(np.float64)


def _lerp(a: Array, b: Array, t: Array) -> Array:
    return a + t * (b - a)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- images


def apply_in_mode(
    image: Image.Image,
    rgb: Callable[[Image.Image], Image.Image],
    keeps_grey: Callable[[], bool],
) -> Image.Image:
    """Run a colour transform of RGB images (``rgb``) on an image of any mode it suits.

    P, PA and 1 images are converted first; alpha is split off and put back untouched;
    greyscale (L, LA) images stay greyscale when ``keeps_grey()``, else become RGB(A).
    Other modes (CMYK, 16-bit, float) raise InvalidImageError.
    """
    if image.mode in ("P", "PA", "1"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        raise InvalidImageError(f"cannot edit images in mode {image.mode}; convert to RGB first")
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    colour = image.convert(image.mode[:-1]) if alpha is not None else image
    out = rgb(colour.convert("RGB") if colour.mode == "L" else colour)
    if colour.mode == "L" and keeps_grey():
        out = out.convert("L")
    if alpha is not None:
        out.putalpha(alpha)
    return out


class ImageKernel:
    """A transform compiled for 8-bit RGB images: ``kernel(image) -> image``, deterministic.

    Picklable (its caches are left behind); safe to share between threads (each thread
    keeps its own colour cache).
    """

    def __init__(self, stages: Stages, interpolation: Interpolation) -> None:
        self.stages = stages
        self.interpolation = interpolation
        self._local = threading.local()
        self._run: Callable[[Image.Image], Image.Image] = self._compile()

    def __getstate__(self) -> dict[str, object]:
        return {"stages": self.stages, "interpolation": self.interpolation}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["stages"], state["interpolation"])  # type: ignore[misc]

    def __call__(self, image: Image.Image) -> Image.Image:
        """The transformed copy of an RGB image."""
        return self._run(image)

    @property
    def path(self) -> str:
        """How images are processed: "curves", "pillow" or "colour table" (for benchmarks)."""
        return getattr(self._run, "__name__", "").lstrip("_").replace("_", " ")

    def _compile(self) -> Callable[[Image.Image], Image.Image]:
        stages = self.stages
        if stages.lut3d is None:
            ramp = np.repeat((np.arange(256) / 255.0)[:, None], 3, axis=1)
            levels = to_8bit(evaluate(stages, self.interpolation, ramp))
            table = levels.T.reshape(-1).tolist()  # 256 reds, 256 greens, 256 blues

            def _curves(image: Image.Image) -> Image.Image:
                return image.point(table)

            return _curves
        if self.interpolation == "trilinear" and stages.fits_pillow():
            size = stages.lut3d.shape[0]
            # On a 1/65535 grid, as FittedEffect stores its tables: a fitted look exported as
            # .cube (6 decimals) and read back gives Pillow the very same numbers.
            snapped = np.rint(stages.lut3d.astype(np.float64) * 65535.0) / 65535.0
            lut = ImageFilter.Color3DLUT(size, snapped.astype(np.float32))

            def _pillow(image: Image.Image) -> Image.Image:
                return image.filter(lut)

            return _pillow
        return self._colour_table

    # -- the colour table: every 24-bit colour's result, filled as colours are met ----------

    def _axes(self) -> tuple[Array, Array, Array]:
        """Per 8-bit level of each channel: its part of the cell's row (the lower lattice index
        times the channel's stride), (256, 3) int64; its fraction, (256, 3) float64; and the
        table rows."""
        axes: tuple[Array, Array, Array] | None = self.__dict__.get("_axes_cache")
        if axes is None:
            stages = self.stages
            assert stages.lut3d is not None
            x = np.repeat((np.arange(256) / 255.0)[:, None], 3, axis=1)
            if stages.lut1d is not None:
                x = _curve(stages.lut1d, stages.lut1d_min, stages.lut1d_max, x)
            n = stages.lut3d.shape[0]
            lower, frac = _positions(n, stages.lut3d_min, stages.lut3d_max, x)
            axes = (lower * np.array([1, n, n * n]), frac, _flat(stages.lut3d))
            self.__dict__["_axes_cache"] = axes
        return axes

    def _results(self, keys: Array) -> Array:
        """Packed RGBX results (X = 0xFF) for 24-bit colours ``keys`` (r | g << 8 | b << 16)."""
        offsets, fractions, flat = self._axes()
        r, g, b = keys & 255, (keys >> 8) & 255, keys >> 16
        base = offsets[r, 0] + offsets[g, 1] + offsets[b, 2]
        fr, fg, fb = fractions[r, 0], fractions[g, 1], fractions[b, 2]
        assert self.stages.lut3d is not None
        n = self.stages.lut3d.shape[0]
        out = to_8bit(_interpolate(flat, n, base, fr, fg, fb, self.interpolation))
        packed = out.astype(np.uint32)
        return packed[:, 0] | (packed[:, 1] << 8) | (packed[:, 2] << 16) | _KNOWN  # type: ignore[no-any-return]

    def _colour_table(self, image: Image.Image) -> Image.Image:
        cache = getattr(self._local, "table", None)
        if cache is None:
            cache = self._local.table = np.zeros(1 << 24, dtype=np.uint32)  # pages on demand
        width, height = image.size
        out = Image.new("RGB", image.size)
        rows = max(1, _STRIP_PIXELS // max(1, width))
        for top in range(0, height, rows):
            strip = image.crop((0, top, width, min(height, top + rows)))
            keys = np.frombuffer(strip.tobytes("raw", "RGBX"), dtype=np.uint32) & 0xFFFFFF
            found = cache[keys]
            missing = keys[found == 0]
            if len(missing):
                self._fill(cache, missing)
                found = cache[keys]
            done = Image.frombuffer("RGB", strip.size, found, "raw", "RGBX", 0, 1)
            out.paste(done, (0, top))
        return out

    def _fill(self, cache: Array, missing: Array) -> None:
        """Work out the colours ``missing`` (repeats allowed) and keep them in ``cache``.

        Each distinct colour once: every position writes its own mark (below _KNOWN) into the
        cache, and the positions whose mark stayed are one per colour (cheaper than sorting).
        """
        marks = np.arange(1, len(missing) + 1, dtype=np.uint32)
        cache[missing] = marks
        new = missing[cache[missing] == marks]
        for start in range(0, len(new), _CHUNK):
            part = new[start : start + _CHUNK]
            cache[part] = self._results(part)
