"""The spatial parts of a fitted look: vignette, blur or sharpening, film grain.

Each part is a frozen pydantic model (told apart by ``part``) that applies exactly and
deterministically to 8-bit RGB images, at any size: positions are fractions of the frame, and
pixel sizes (a blur radius, the grain's size) were measured on an image whose long side was
``reference`` pixels and scale with the long side of the image they are applied to.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._table import LUMA, Array


class Vignette(BaseModel):
    """A radial gain: ``gains[k]`` at radius ``k / (len(gains) - 1)``, linear in between,
    optionally feathered.

    The radius is 0 at ``centre`` and 1 at the frame's farthest corner from it; with
    ``round`` false it follows the frame's aspect ratio (an ellipse), with ``round`` true it
    is measured in pixels (a circle). A ``feather`` blurs that gain map with a Gaussian whose
    size is in pixels, not a fraction of the frame (edges replicated), as editors that draw
    an ellipse and blur it do (ImageMagick's ``-vignette``): on a frame of another shape the
    falloff keeps its width in pixels. Like every pixel size in a look, ``feather`` was
    measured on an image whose long side was ``reference`` pixels and scales with the long
    side of the image it is applied to.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: Literal["vignette"] = "vignette"
    centre: tuple[float, float] = Field((0.5, 0.5), description="x, y as fractions of the frame")
    round: bool = Field(False, description="circular in pixels, not following the frame")
    gains: tuple[float, ...] = Field(min_length=2, max_length=65)
    feather: float = Field(0.0, ge=0.0, le=5000.0, description="Gaussian sigma, px at reference")
    reference: int | None = Field(
        None, gt=0, description="long side (px) of the image it was fitted on (with a feather)"
    )

    @model_validator(mode="after")
    def _feather_has_a_reference(self) -> Vignette:
        if self.feather > 0.0 and self.reference is None:
            raise ValueError("a feathered vignette needs the reference long side it was fitted at")
        return self

    def gain_map(self, width: int, height: int) -> Array:
        """The gain at every pixel, float32 (height, width)."""
        gains = profile_map(self.centre, self.round, self.gains, width, height)
        if self.feather > 0.0 and self.reference is not None:
            gains = feather(gains, self.feather * max(width, height) / self.reference)
        return gains

    def apply(self, image: Image.Image) -> Image.Image:
        rgb = np.asarray(image, dtype=np.float32)
        out = rgb * self.gain_map(image.width, image.height)[:, :, None]
        return _to_image(out)

    def describe(self) -> str:
        corner = 1.0 - self.gains[-1]
        way = "darker" if corner >= 0 else "brighter"
        inner = next(
            (k / (len(self.gains) - 1) for k, g in enumerate(self.gains) if abs(1 - g) > 0.02),
            1.0,
        )
        shape = "circular" if self.round else "following the frame"
        where = (
            "centred"
            if max(abs(self.centre[0] - 0.5), abs(self.centre[1] - 0.5)) < 0.03
            else f"centred at {self.centre[0]:.0%} across, {self.centre[1]:.0%} down"
        )
        soft = (
            f", feathered by a {self.feather:.0f} px blur at {self.reference} px"
            if self.feather > 0.0
            else ""
        )
        return (
            f"a vignette ({shape}, {where}{soft}): corners {abs(corner):.0%} {way}, falling "
            f"off from {inner:.0%} of the way to the corners"
        )


class Detail(BaseModel):
    """Blur or sharpening: ``image + amount * (image - blur(image, radius))``.

    ``amount`` -1 is a plain blur, between -1 and 0 a partial one, above 0 an unsharp mask.
    The blur is a Gaussian of standard deviation ``radius`` (Pillow's ``GaussianBlur``; with
    ``amount`` above 0 Pillow's ``UnsharpMask`` with ``percent = 100 * amount``) or, with
    ``kernel`` "exponential", the exponential kernel of a one-pass recursive filter (weights
    ``nu ** abs(offset)`` along each axis, of the same standard deviation: ffmpeg's
    ``gblur`` and other fast IIR blurs). With ``luma`` the change is made to the luma only
    (BT.601's Y, as video filters sharpen the Y plane of YUV) and added to every channel
    alike, so colour edges keep their colour fringes as they were.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: Literal["detail"] = "detail"
    radius: float = Field(gt=0.0, le=100.0, description="standard deviation, px at reference")
    amount: float = Field(ge=-1.0, le=20.0)
    reference: int = Field(gt=0, description="long side (px) of the image it was fitted on")
    luma: bool = Field(False, description="on the luma only (BT.601 Y), not on R, G, B")
    kernel: Literal["gaussian", "sampled", "exponential"] = "gaussian"

    def apply(self, image: Image.Image) -> Image.Image:
        return self.finish(image, self.blurred(image))

    def blurred(self, image: Image.Image) -> Image.Image | Array | None:
        """The blurred image this part starts from: a PIL image (Pillow's Gaussian on R, G
        and B), float32 (H, W, 3) values (the other kernels, or for the luma only), or None
        for Pillow's unsharp mask, which blurs and sharpens in one pass. It depends on the
        image and :attr:`blur_key` only, so a search over amounts can keep it."""
        sigma = self.radius * max(image.size) / self.reference
        if not self.luma and self.kernel == "gaussian":
            return None if self.amount >= 0.0 else image.filter(ImageFilter.GaussianBlur(sigma))
        if self.kernel == "gaussian":
            return np.asarray(image.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)
        rgb = np.asarray(image, dtype=np.float32)
        return _sampled(rgb, sigma) if self.kernel == "sampled" else _exponential(rgb, sigma)

    @property
    def blur_key(self) -> tuple[float, str, bool, bool]:
        """What :meth:`blurred` depends on besides the image: the radius and kernel, and for
        Pillow's Gaussian whether it runs on the luma and whether it sharpens."""
        pillow = self.kernel == "gaussian"
        return (self.radius, self.kernel, pillow and self.luma, pillow and self.amount >= 0.0)

    def finish(self, image: Image.Image, blurred: Image.Image | Array | None) -> Image.Image:
        """The part's output from ``image`` and its :meth:`blurred` copy."""
        if blurred is None:
            sigma = self.radius * max(image.size) / self.reference
            return image.filter(ImageFilter.UnsharpMask(sigma, round(self.amount * 100), 0))
        if isinstance(blurred, Image.Image):
            if self.amount <= -1.0:
                return blurred.copy()
            return Image.blend(blurred, image, 1.0 + self.amount)
        rgb = np.asarray(image, dtype=np.float32)
        change = (rgb - blurred) * np.float32(self.amount)
        if self.luma:
            change = (change @ LUMA.astype(np.float32))[:, :, None]
        return _to_image(rgb + change)

    def describe(self) -> str:
        size = f"radius {self.radius:.1f} px at {self.reference} px"
        where = (", exponential kernel" if self.kernel == "exponential" else "") + (
            ", on the luma only" if self.luma else ""
        )
        name = "blur" if self.kernel == "exponential" else "Gaussian blur"
        if self.amount <= -0.995:
            return f"a {name} ({size}{where})"
        if self.amount < 0:
            return f"a partial {name} ({-self.amount:.0%} of one, {size}{where})"
        return f"sharpening (unsharp mask, amount {self.amount:.2f}, {size}{where})"


class Grain(BaseModel):
    """Film grain: seeded Gaussian noise, ``strength[k]`` levels (standard deviation) at luma
    ``k / (len(strength) - 1)``, blurred to ``size`` px, shared by the channels as ``colour``
    says (0: the same in every channel, 1: independent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: Literal["grain"] = "grain"
    strength: tuple[float, ...] = Field(min_length=1, max_length=17)
    size: float = Field(0.0, ge=0.0, le=20.0, description="Gaussian sigma, px at reference")
    colour: float = Field(1.0, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0)
    reference: int = Field(gt=0, description="long side (px) of the image it was fitted on")

    def noise(self, width: int, height: int) -> Array:
        """The grain pattern, float32 (height, width, 3), unit variance per channel."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        shared = rng.standard_normal((height, width, 1), dtype=np.float32)
        own = rng.standard_normal((height, width, 3), dtype=np.float32)
        mix = math.sqrt(self.colour)
        field = own * mix + shared * math.sqrt(1.0 - self.colour)
        sigma = self.size * max(width, height) / self.reference
        if sigma >= 0.2:
            field = _gaussian(field, sigma)
        return field

    def apply(self, image: Image.Image) -> Image.Image:
        rgb = np.asarray(image, dtype=np.float32)
        luma = rgb @ LUMA.astype(np.float32) / 255.0
        knots = np.linspace(0.0, 1.0, len(self.strength), dtype=np.float32)
        amplitude = np.interp(luma, knots, np.asarray(self.strength, dtype=np.float32))
        noise = self.noise(image.width, image.height)
        return _to_image(rgb + noise * amplitude[:, :, None].astype(np.float32))

    def describe(self) -> str:
        mean = sum(self.strength) / len(self.strength)
        kind = "colour" if self.colour > 0.5 else "monochrome"
        return f"{kind} film grain (about {mean:.1f} levels, size {self.size:.1f} px)"


Part = Annotated[Vignette | Detail | Grain, Field(discriminator="part")]


def apply_parts(parts: tuple[Vignette | Detail | Grain, ...], image: Image.Image) -> Image.Image:
    """Run parts in order on an RGB image."""
    for part in parts:
        image = part.apply(image)
    return image


def profile_map(
    centre: tuple[float, float], round_: bool, gains: tuple[float, ...], width: int, height: int
) -> Array:
    """A radial profile (``gains`` at evenly spaced radii, see :class:`Vignette`) at every
    pixel, float32 (height, width)."""
    cx, cy = centre[0] * width, centre[1] * height
    sx, sy = (1.0, 1.0) if round_ else (1.0 / width, 1.0 / height)
    far_x = max(cx, width - cx) * sx
    far_y = max(cy, height - cy) * sy
    reach = math.hypot(far_x, far_y) or 1.0
    x = ((np.arange(width, dtype=np.float32) + 0.5 - cx) * sx / reach) ** 2
    y = ((np.arange(height, dtype=np.float32) + 0.5 - cy) * sy / reach) ** 2
    radius = np.sqrt(y[:, None] + x[None, :])
    knots = np.linspace(0.0, 1.0, len(gains), dtype=np.float32)
    return np.interp(radius, knots, np.asarray(gains, dtype=np.float32)).astype(np.float32)


_FEATHER_CELLS = 4.0  # a feather is computed on cells of about sigma / 4 pixels


def feather(values: Array, sigma: float) -> Array:
    """A smooth map (height, width) blurred by a Gaussian of ``sigma`` pixels, edges
    replicated, float32.

    The map is averaged over cells of about sigma/4 pixels, blurred there (what the cells and
    the bilinear return to pixels add to the blur is taken off its width) and brought back by
    bilinear interpolation between cell centres: the cost hardly depends on ``sigma`` or the
    image size, and a smooth gain loses nothing that shows.
    """
    height, width = values.shape
    cell = max(1, int(sigma / _FEATHER_CELLS))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.pad(values, ((0, rows * cell - height), (0, cols * cell - width)), mode="edge")
    spread = sigma / cell
    if cell > 1:  # cell averages and bilinear interpolation blur by about a quarter cell^2
        spread = math.sqrt(max(spread * spread - 0.25, 0.0))
    reach = max(1, math.ceil(3.0 * spread))
    grid = _replicated(padded, values, cell, reach + 1)
    taps = _gaussian_taps(max(spread, 1e-6), reach)
    taps /= taps.sum()
    across = sum(t * grid[:, i : i + cols + 2] for i, t in enumerate(taps))
    blurred = sum(t * across[i : i + rows + 2] for i, t in enumerate(taps))
    small = np.asarray(blurred, dtype=np.float32)  # with one cell of the outside around it
    if cell == 1:
        return small[1:-1, 1:-1]
    image = Image.fromarray(small, "F").resize(
        ((cols + 2) * cell, (rows + 2) * cell), Image.Resampling.BILINEAR
    )
    return np.asarray(image, dtype=np.float32)[cell : cell + height, cell : cell + width]


def _replicated(padded: Array, values: Array, cell: int, pad: int) -> Array:
    """Cell means of ``padded`` (a multiple of ``cell`` on each side) with ``pad`` cells
    around them that replicate the edge pixels of ``values`` outwards, float64."""
    height, width = values.shape
    rows, cols = padded.shape[0] // cell, padded.shape[1] // cell
    grid = np.empty((rows + 2 * pad, cols + 2 * pad))
    inner = (slice(pad, pad + rows), slice(pad, pad + cols))
    grid[inner] = padded.reshape(rows, cell, cols, cell).mean(axis=(1, 3), dtype=np.float64)
    grid[:pad, inner[1]] = padded[0].reshape(cols, cell).mean(axis=1)
    grid[pad + rows :, inner[1]] = padded[height - 1].reshape(cols, cell).mean(axis=1)
    grid[inner[0], :pad] = padded[:, 0].reshape(rows, cell).mean(axis=1)[:, None]
    grid[inner[0], pad + cols :] = padded[:, width - 1].reshape(rows, cell).mean(axis=1)[:, None]
    grid[:pad, :pad], grid[:pad, pad + cols :] = values[0, 0], values[0, -1]
    grid[pad + rows :, :pad], grid[pad + rows :, pad + cols :] = values[-1, 0], values[-1, -1]
    return grid


_EXPONENTIAL_TAIL = 1e-4  # the exponential kernel is cut where its weight falls below this
_SAMPLED_REACH = 4.0  # the sampled Gaussian is cut this many deviations out
_DIRECT_TAPS = 31  # longer kernels are convolved by FFT


def _exponential(rgb: Array, sigma: float) -> Array:
    """(H, W, 3) float32 blurred along each axis by the normalised kernel ``nu ** abs(n)``
    whose standard deviation is ``sigma`` (a causal and an anti-causal first-order recursive
    filter, as one pass of ffmpeg's ``gblur``), edges replicated."""
    variance = max(sigma * sigma, 1e-6)  # 2 nu / (1 - nu)^2 = sigma^2
    nu = (1.0 + variance - math.sqrt(1.0 + 2.0 * variance)) / variance
    reach = max(1, math.ceil(math.log(_EXPONENTIAL_TAIL) / math.log(max(nu, 1e-6))))
    taps = nu ** np.abs(np.arange(-reach, reach + 1, dtype=np.float64))
    return _separable(rgb, (taps / taps.sum()).astype(np.float32))


def _sampled(rgb: Array, sigma: float) -> Array:
    """(H, W, 3) float32 blurred along each axis by the sampled Gaussian, cut at
    :data:`_SAMPLED_REACH` deviations and normalised (ImageMagick's ``-blur`` and
    ``-unsharp``), edges replicated, in float (no 8-bit rounding between the passes)."""
    reach = max(1, math.ceil(_SAMPLED_REACH * sigma))
    taps = _gaussian_taps(max(sigma, 1e-3), reach)
    return _separable(rgb, (taps / taps.sum()).astype(np.float32))


def _gaussian_taps(sigma: float, reach: int) -> Array:
    """The Gaussian of deviation ``sigma`` sampled at -reach..reach, not normalised."""
    return np.exp(-0.5 * (np.arange(-reach, reach + 1, dtype=np.float64) / sigma) ** 2)


def _to_image(values: Array) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(values), 0.0, 255.0).astype(np.uint8), "RGB")


def _gaussian(field: Array, sigma: float) -> Array:
    """Separable Gaussian blur of (H, W, C) float32 white noise, edges replicated; each 1D
    kernel has unit energy (not unit sum), so the noise keeps unit variance."""
    radius = max(1, math.ceil(3.0 * sigma))
    taps = _gaussian_taps(sigma, radius)
    return _separable(field, (taps / math.sqrt(float((taps * taps).sum()))).astype(np.float32))


def _separable(values: Array, taps: Array) -> Array:
    """(H, W, C) float32 convolved along each axis with the odd-length ``taps``, edges
    replicated: tap by tap for short kernels, by FFT (per channel, to bound the memory) for
    long ones, whose cost would otherwise grow with the kernel (a 12 MP photo through a
    251-tap kernel: 35 s tap by tap, 2.5–4.5 s by FFT on a 2-core machine)."""
    reach = len(taps) // 2
    out = values
    for axis in (0, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (reach, reach)
        padded = np.pad(out, pad, mode="edge")
        size = out.shape[axis]
        if len(taps) > _DIRECT_TAPS:
            out = _by_fft(padded, taps, axis, size)
            continue
        total = np.zeros_like(out)
        for i, tap in enumerate(taps):
            index = [slice(None)] * 3
            index[axis] = slice(i, i + size)
            total += tap * padded[tuple(index)]
        out = total
    return out


def _by_fft(padded: Array, taps: Array, axis: int, size: int) -> Array:
    """The ``size`` valid samples of ``padded`` convolved with ``taps`` along ``axis``."""
    length = _fast_length(padded.shape[axis])
    spectrum = np.fft.rfft(taps[::-1].astype(np.float32), length)
    spectrum = spectrum.reshape((-1, 1) if axis == 0 else (1, -1))
    start = len(taps) - 1
    valid = [slice(None), slice(None)]
    valid[axis] = slice(start, start + size)
    shape = list(padded.shape)
    shape[axis] = size
    out = np.empty(shape, dtype=np.float32)
    for c in range(padded.shape[2]):
        plane = np.fft.rfft(padded[:, :, c], length, axis=axis) * spectrum
        out[:, :, c] = np.fft.irfft(plane, length, axis=axis)[tuple(valid)]
    return out


def _fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c at least ``n`` (FFT lengths of small primes are fast)."""
    best = 1 << (n - 1).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            two = three
            while two < n:
                two *= 2
            best = min(best, two)
            three *= 3
        five *= 5
    return best
