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
at most 65 points, values within ±2) has its new colours interpolated by Pillow (a line of
those colours through ``Color3DLUT``), which is how fitted looks (``FittedEffect``) are
applied: the same table gives the same bytes as Pillow applied to the whole image.
"""

from __future__ import annotations

import functools
import mmap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from PIL import Image, ImageFilter
from PIL import _imaging as pillow_core

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
_STRIP_PIXELS = 1 << 18  # pixels looked up at a time (a strip's words and keys stay cached)
_WHOLE_TABLE_PIXELS = 1 << 20  # an image this big touches most pages of a new colour table
_CHUNK = 1 << 13  # colours interpolated at a time (their temporaries stay in the CPU's cache)
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
        out[part] = _interpolate(flat, n, base[part], fr, fg, fb, interpolation).T
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
    """The 3D table as channel rows (3, n^3), row i red changing fastest; float64 when that
    stays small (faster to gather)."""
    columns = np.ascontiguousarray(table.reshape(-1, 3).T)
    return columns.astype(np.float64) if columns.shape[1] <= _PILLOW_MAX_SIZE**3 else columns


def _interpolate(
    flat: Array, n: int, base: Array, fr: Array, fg: Array, fb: Array, how: Interpolation
) -> Array:
    """Interpolate the table ``flat`` (3, n^3: :func:`_flat`) in the cells whose lowest
    corner is entry ``base`` (m,), at fractions ``fr``, ``fg``, ``fb`` (m,) along red, green
    and blue: (3, m), a row per channel."""
    if how == "trilinear":
        c = [_rows(flat, base + offset) for offset in (0, 1, n, n + 1)]
        far = base + n * n
        d = [_rows(flat, far + offset) for offset in (0, 1, n, n + 1)]
        near = _lerp(_lerp(c[0], c[1], fr), _lerp(c[2], c[3], fr), fg)
        back = _lerp(_lerp(d[0], d[1], fr), _lerp(d[2], d[3], fr), fg)
        return _lerp(near, back, fb)
    # Tetrahedral: from the lowest corner to the highest, one axis at a time, largest
    # fraction first: out = c000 + f1 (cA - c000) + f2 (cB - cA) + f3 (c111 - cB).
    most, least = np.maximum(fr, fg), np.minimum(fr, fg)
    high, low = np.maximum(most, fb), np.minimum(least, fb)
    middle = np.maximum(least, np.minimum(most, fb))
    order = (fr > fg).view(np.uint8) | ((fr > fb).view(np.uint8) << 1)
    order |= (fg > fb).view(np.uint8) << 2
    steps = _tetrahedra(n)
    corner = _rows(flat, base)
    a = _rows(flat, base + steps[0][order])
    b = _rows(flat, base + steps[1][order])
    top = _rows(flat, base + (1 + n + n * n))
    # In place, the same operations as corner + high (a - corner) + middle (b - a) +
    # low (top - b), added left to right (IEEE sums and products commute exactly).
    top -= b
    b -= a
    a -= corner
    a *= high
    a += corner
    b *= middle
    a += b
    top *= low
    a += top
    return a


@functools.cache
def _tetrahedra(n: int) -> tuple[Array, Array]:
    """For each order of the fractions (bit 0: red > green, 1: red > blue, 2: green > blue),
    the offsets of the tetrahedron's second and third corners from the cell's lowest one.

    The second corner is one step along the largest fraction's axis, the third one step short
    of the highest corner along the smallest's. Ties go to the later channel when choosing
    the largest and to the earlier when choosing the smallest, so the two are never the same
    channel (tied fractions give one value).
    """
    second, third = np.empty(8, dtype=np.intp), np.empty(8, dtype=np.intp)
    for order in range(8):
        r_over_g, r_over_b, g_over_b = bool(order & 1), bool(order & 2), bool(order & 4)
        first = 1 if r_over_g and r_over_b else n if not r_over_g and g_over_b else n * n
        last = 1 if not r_over_g and not r_over_b else n if r_over_g and not g_over_b else n * n
        second[order], third[order] = first, 1 + n + n * n - last
    return second, third


def _rows(flat: Array, index: Array) -> Array:
    """The table's entries ``index`` (m,), (3, m) float64."""
    rows: Array = np.take(flat, index, axis=1)
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
        """How images are processed, for benchmarks: "curves", "colour table" (interpolated
        here) or "colour table, pillow" (new colours interpolated by Pillow's Color3DLUT)."""
        if self._run != self._colour_table:
            return "curves"
        return "colour table, pillow" if self._pillow is not None else "colour table"

    def _compile(self) -> Callable[[Image.Image], Image.Image]:
        stages = self.stages
        self._pillow: ImageFilter.Color3DLUT | None = None
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
            self._pillow = ImageFilter.Color3DLUT(size, snapped.astype(np.float32))
        return self._colour_table

    # -- the colour table: every 24-bit colour's result, filled as colours are met ----------

    def _colour_table(self, image: Image.Image) -> Image.Image:
        """Look every pixel up in this thread's colour table, working out colours not in it.

        A strip of rows at a time: its pixels as 32-bit words (R, G, B, pad), masked to their
        24-bit colours, gathered from the table into the result words; then the colours no
        result was found for (many in a worker's first photo, few after) are worked out.
        The RGB image is made from the result words.
        """
        width, height = image.size
        if width * height == 0:
            return Image.new("RGB", image.size)
        cache, scratch, keys = self._buffers(max(_STRIP_PIXELS, width), width * height)
        found = np.empty(width * height, dtype=np.uint32)
        rows = max(1, _STRIP_PIXELS // width)
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            words = _strip_words(image, top, bottom, scratch)
            key = keys[: len(words)]
            np.bitwise_and(words, 0xFFFFFF, out=key)
            done = found[top * width : bottom * width]
            np.take(cache, key, out=done, mode="clip")  # keys are below 2**24: no check
            if done.min() < _KNOWN:
                self._fill(cache, key, done)
        return _rgb_image(found, image.size)

    def _buffers(self, strip: int, pixels: int) -> tuple[Array, Array, Array]:
        """This thread's colour table (made for an image of ``pixels``), and room for the
        words and keys of a ``strip`` of pixels."""
        local = self._local
        if getattr(local, "table", None) is None:
            local.table = _zeros(1 << 24, whole=pixels >= _WHOLE_TABLE_PIXELS)
        if getattr(local, "words", None) is None or len(local.words) < strip:
            local.words = np.empty(strip, dtype=np.uint32)
            local.keys = np.empty(strip, dtype=np.intp)
        return local.table, local.words, local.keys

    def _fill(self, cache: Array, keys: Array, found: Array) -> None:
        """Work out the colours ``keys`` whose ``found`` result is missing, keep them in
        ``cache`` and put them in ``found``.

        Each distinct colour once: every missing position writes its own mark (below _KNOWN)
        into the cache, and the positions whose mark stayed are one per colour (cheaper than
        sorting). Marks left by an interrupted fill read as missing, never as results.
        """
        at = np.flatnonzero(found < _KNOWN)
        missing = keys[at]
        marks = np.arange(1, len(missing) + 1, dtype=np.uint32)
        cache[missing] = marks
        new = missing[cache[missing] == marks]
        for start in range(0, len(new), _CHUNK):
            part = new[start : start + _CHUNK]
            cache[part] = self._results(part)
        found[at] = cache[missing]

    def _results(self, keys: Array) -> Array:
        """Packed RGBX results (X = 0xFF) for 24-bit colours ``keys`` (r | g << 8 | b << 16)."""
        if self._pillow is not None:  # exactly what Color3DLUT writes for these pixels
            words = keys.astype(np.uint32) | _KNOWN
            line = Image.frombuffer("RGBX", (len(words), 1), words, "raw", "RGBX", 0, 1)
            done = np.frombuffer(line.filter(self._pillow).tobytes(), dtype=np.uint32)
            return done | _KNOWN  # type: ignore[no-any-return]
        offsets, fractions, flat = self._axes()
        r, g, b = keys & 255, (keys >> 8) & 255, keys >> 16
        base = offsets[0][r] + offsets[1][g] + offsets[2][b]
        fr, fg, fb = fractions[0][r], fractions[1][g], fractions[2][b]
        assert self.stages.lut3d is not None
        n = self.stages.lut3d.shape[0]
        levels = to_8bit(_interpolate(flat, n, base, fr, fg, fb, self.interpolation))
        packed = levels.astype(np.uint32)
        return packed[0] | (packed[1] << 8) | (packed[2] << 16) | _KNOWN  # type: ignore[no-any-return]

    def _axes(self) -> tuple[Array, Array, Array]:
        """Per 8-bit level of each channel: its part of the cell's row (the lower lattice index
        times the channel's stride), (3, 256) int64; its fraction, (3, 256) float64; and the
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
            offsets = np.ascontiguousarray((lower * np.array([1, n, n * n])).T)
            axes = (offsets, np.ascontiguousarray(frac.T), _flat(stages.lut3d))
            self.__dict__["_axes_cache"] = axes
        return axes


def _zeros(count: int, *, whole: bool) -> Array:
    """``count`` uint32 zeros, in small memory pages, all of them given to the process at once
    when ``whole`` (else as they are touched).

    numpy asks for huge pages for large arrays, and pages are given as they are touched. A
    colour table is read and written all over, a few words per page, in each new worker:
    there, huge pages cost 90 to 180 ms of faults for the first 64 MB in a fresh process and
    small pages touched one by one (a read fault, then a write fault) cost more than the
    whole table mapped at once, about 25 ms; a photo of a few megapixels touches nearly
    every page anyway (measured: docs/decisions.md).
    """
    if not hasattr(mmap, "MAP_ANONYMOUS"):  # Windows
        return np.zeros(count, dtype=np.uint32)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    if whole:
        flags |= getattr(mmap, "MAP_POPULATE", 0)  # Linux
    return np.frombuffer(mmap.mmap(-1, 4 * count, flags=flags), dtype=np.uint32)


def _strip_words(image: Image.Image, top: int, bottom: int, room: Array) -> Array:
    """Rows ``top:bottom`` of an RGB image as 32-bit words R | G << 8 | B << 16 | pad << 24
    (in ``room`` when Pillow's own pixels can be copied there directly)."""
    width = image.width
    if image.mode == "RGB" and _pillow_layout():
        # Pillow keeps RGB pixels as these very words: one copy of the rows into ``room``
        # (the image pasted at -top into a strip-high image over ``room``: its rows clip).
        words = room[: (bottom - top) * width]
        target = Image.frombuffer("RGBX", (width, bottom - top), words, "raw", "RGBX", 0, 1)
        target.im.paste(image.im, (0, -top, width, image.height - top))
        return words
    raw = image.crop((0, top, width, bottom)).tobytes("raw", "RGBX")
    return np.frombuffer(raw, dtype=np.uint32)


def _rgb_image(words: Array, size: tuple[int, int]) -> Image.Image:
    """The RGB image whose pixels are ``words`` (as :func:`_strip_words` reads them)."""
    if _pillow_layout():
        return _mapped_rgb(words, size)
    return Image.frombytes("RGB", size, words, "raw", "RGBX")


def _mapped_rgb(words: Array, size: tuple[int, int]) -> Image.Image:
    """An RGB image over the words' own memory, no copy (it keeps them alive)."""
    return Image.Image()._new(pillow_core.map_buffer(words, size, "raw", 0, ("RGB", 0, 1)))


@functools.cache
def _pillow_layout() -> bool:
    """True when Pillow stores an RGB pixel as the 32-bit word R, G, B, pad, so that its
    images can be copied into and mapped over numpy words directly.

    Checked once on a probe, as the kernel uses it: the second row of a 3x2 image copied
    into one row of words, and words seen as an RGB image. Any change in Pillow's internals
    (or an error) means the portable path: ``crop``, ``tobytes`` and ``frombytes``.
    """
    try:
        probe = Image.frombytes("RGB", (3, 2), bytes(range(18)))
        words = np.zeros(3, dtype=np.uint32)
        room = Image.frombuffer("RGBX", (3, 1), words, "raw", "RGBX", 0, 1)
        room.im.paste(probe.im, (0, -1, 3, 1))
        expected = np.frombuffer(probe.tobytes("raw", "RGBX"), dtype=np.uint32)[3:]
        back = _mapped_rgb(words, (3, 1))
        return bool(
            np.array_equal(words & 0xFFFFFF, expected & 0xFFFFFF)
            and back.mode == "RGB"
            and back.tobytes() == probe.tobytes()[9:]
        )
    except Exception:  # Pillow's internals changed: the portable path (exact too)
        return False
