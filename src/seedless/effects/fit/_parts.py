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
from pydantic import BaseModel, ConfigDict, Field

from ._table import LUMA, Array


class Vignette(BaseModel):
    """A radial gain: ``gains[k]`` at radius ``k / (len(gains) - 1)``, linear in between.

    The radius is 0 at ``centre`` and 1 at the frame's farthest corner from it; with
    ``round`` false it follows the frame's aspect ratio (an ellipse), with ``round`` true it
    is measured in pixels (a circle).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: Literal["vignette"] = "vignette"
    centre: tuple[float, float] = Field((0.5, 0.5), description="x, y as fractions of the frame")
    round: bool = Field(False, description="circular in pixels, not following the frame")
    gains: tuple[float, ...] = Field(min_length=2, max_length=65)

    def gain_map(self, width: int, height: int) -> Array:
        """The gain at every pixel, float32 (height, width)."""
        cx, cy = self.centre[0] * width, self.centre[1] * height
        sx, sy = (1.0, 1.0) if self.round else (1.0 / width, 1.0 / height)
        far_x = max(cx, width - cx) * sx
        far_y = max(cy, height - cy) * sy
        reach = math.hypot(far_x, far_y) or 1.0
        x = ((np.arange(width, dtype=np.float32) + 0.5 - cx) * sx / reach) ** 2
        y = ((np.arange(height, dtype=np.float32) + 0.5 - cy) * sy / reach) ** 2
        radius = np.sqrt(y[:, None] + x[None, :])
        knots = np.linspace(0.0, 1.0, len(self.gains), dtype=np.float32)
        gains = np.asarray(self.gains, dtype=np.float32)
        return np.interp(radius, knots, gains).astype(np.float32)

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
        return (
            f"a vignette ({shape}, {where}): corners {abs(corner):.0%} {way}, falling off "
            f"from {inner:.0%} of the way to the corners"
        )


class Detail(BaseModel):
    """Blur or sharpening: ``image + amount * (image - gaussian(image, radius))``.

    ``amount`` -1 is a plain Gaussian blur, between -1 and 0 a partial one, above 0 an unsharp
    mask (Pillow's ``UnsharpMask`` with ``percent = 100 * amount``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: Literal["detail"] = "detail"
    radius: float = Field(gt=0.0, le=100.0, description="Gaussian sigma, px at reference")
    amount: float = Field(ge=-1.0, le=20.0)
    reference: int = Field(gt=0, description="long side (px) of the image it was fitted on")

    def apply(self, image: Image.Image) -> Image.Image:
        sigma = self.radius * max(image.size) / self.reference
        if self.amount >= 0.0:
            return image.filter(ImageFilter.UnsharpMask(sigma, round(self.amount * 100), 0))
        blurred = image.filter(ImageFilter.GaussianBlur(sigma))
        return blurred if self.amount <= -1.0 else Image.blend(blurred, image, 1.0 + self.amount)

    def describe(self) -> str:
        size = f"radius {self.radius:.1f} px at {self.reference} px"
        if self.amount <= -0.995:
            return f"a Gaussian blur ({size})"
        if self.amount < 0:
            return f"a partial Gaussian blur ({-self.amount:.0%} of one, {size})"
        return f"sharpening (unsharp mask, amount {self.amount:.2f}, {size})"


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


def _to_image(values: Array) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(values), 0.0, 255.0).astype(np.uint8), "RGB")


def _gaussian(field: Array, sigma: float) -> Array:
    """Separable Gaussian blur of (H, W, C) float32 white noise, edges replicated; each 1D
    kernel has unit energy (not unit sum), so the noise keeps unit variance."""
    radius = max(1, math.ceil(3.0 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / math.sqrt(float((taps * taps).sum()))).astype(np.float32)
    out = field
    for axis in (0, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        size = out.shape[axis]
        total = np.zeros_like(out)
        for i, tap in enumerate(taps):
            index = [slice(None)] * 3
            index[axis] = slice(i, i + size)
            total += tap * padded[tuple(index)]
        out = total
    return out
