"""``Adjust``: an exact, bit-identical colour/tone edit, and the same edit as a quantified prompt.

One specification drives both paths: :meth:`Adjust.apply` edits pixels exactly with Pillow,
and :meth:`Adjust.describe` renders the identical edit as numbers for an AI backend
("brightness at 85% of the original, ...").

Semantics follow Pillow's ``ImageEnhance`` for brightness, contrast, saturation and sharpness
(a factor of 1.0 leaves the image unchanged), applied in a fixed order:

1. tone, per channel: brightness, contrast, gamma, warmth and tint, fused into ONE lookup
   table and applied in one pass (``Image.point``), clipping between steps exactly as a chain
   of ``ImageEnhance`` calls would;
2. saturation: one pass of a 3x3 colour matrix (``Image.convert`` with a matrix), the same
   luma mix ``ImageEnhance.Color`` blends with (above a factor of 2, ``ImageEnhance.Color``
   itself, as the matrix would drift further than 1 level);
3. sharpness: ``ImageEnhance.Sharpness``'s maths, equal to it to the level, in numpy strips
   (twice as fast as Pillow's 3x3 filter);
4. vignette, then film grain (seeded, so deterministic).

Alpha is split off before and put back after, untouched.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Iterable
from typing import Literal

from PIL import Image, ImageChops, ImageEnhance
from pydantic import BaseModel, ConfigDict, Field

from ..images import ImageSource, editable, load_image

__all__ = ["Adjust"]

# Gain per unit of warmth/tint: warmth=1.0 multiplies red by 1.25 and blue by 0.75.
_BALANCE_GAIN = 0.25
# Standard deviation, in 8-bit levels, of the grain at opacity 1.0.
_GRAIN_SIGMA = 32.0
# ITU-R 601-2 luma, as Pillow's convert("L") uses.
_LUMA = (0.299, 0.587, 0.114)


class Adjust(BaseModel):
    """An exact global edit. Every field defaults to "unchanged"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["adjust"] = "adjust"
    brightness: float = Field(
        default=1.0, ge=0.0, le=8.0, description="factor, ImageEnhance.Brightness"
    )
    contrast: float = Field(
        default=1.0, ge=0.0, le=8.0, description="factor, ImageEnhance.Contrast"
    )
    saturation: float = Field(default=1.0, ge=0.0, le=8.0, description="factor, ImageEnhance.Color")
    sharpness: float = Field(
        default=1.0, ge=0.0, le=8.0, description="factor, ImageEnhance.Sharpness"
    )
    gamma: float = Field(
        default=1.0, gt=0.0, le=8.0, description=">1 lifts midtones, <1 deepens them"
    )
    warmth: float = Field(default=0.0, ge=-1.0, le=1.0, description="+ warmer (red up, blue down)")
    tint: float = Field(default=0.0, ge=-1.0, le=1.0, description="+ magenta (green down), - green")
    grain: float = Field(default=0.0, ge=0.0, le=1.0, description="film grain opacity")
    grain_seed: int = Field(default=0, ge=0, description="seed of the grain pattern")
    vignette: float = Field(default=0.0, ge=0.0, le=1.0, description="corner darkening strength")

    # ---------------------------------------------------------------- queries

    @property
    def is_identity(self) -> bool:
        return self == Adjust(grain_seed=self.grain_seed)

    @property
    def _needs_colour(self) -> bool:
        # Saturation is not here: it leaves greys grey (ImageEnhance.Color keeps L as L).
        return self.warmth != 0.0 or self.tint != 0.0

    @property
    def _tone_is_identity(self) -> bool:
        return (
            self.brightness == 1.0
            and self.contrast == 1.0
            and self.gamma == 1.0
            and self.warmth == 0.0
            and self.tint == 0.0
        )

    # ---------------------------------------------------------------- pixels

    def apply(self, image: Image.Image | ImageSource) -> Image.Image:
        """Return the edited image (same size and mode). Deterministic: same input, same bytes.

        ``image`` is a PIL image, or a path, bytes or binary file, decoded and turned upright
        (:func:`seedless.images.load_image`). Palette images become RGB(A); modes other than
        RGB(A) and greyscale are refused (:func:`seedless.images.editable`, naming the file).
        """
        image = editable(load_image(image))
        if image.mode == "LA" and self._needs_colour:
            image = image.convert("RGBA")
        elif image.mode == "L" and self._needs_colour:
            image = image.convert("RGB")
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        colour = image.convert(image.mode[:-1]) if alpha is not None else image

        colour = self._apply_tone(colour)
        if self.saturation != 1.0 and colour.mode == "RGB":
            colour = _saturate(colour, self.saturation)
        if self.sharpness != 1.0:
            colour = _sharpen(colour, self.sharpness)
        if self.vignette > 0.0:
            colour = _vignette(colour, self.vignette)
        if self.grain > 0.0:
            colour = _grain(colour, self.grain, self.grain_seed)

        if alpha is not None:
            colour = colour.copy()
            colour.putalpha(alpha)
        if colour is image:
            colour = image.copy()
        return colour

    def _apply_tone(self, image: Image.Image) -> Image.Image:
        # Plain Python on 256-entry tables: numpy (and its BLAS threads) stays unloaded, so a
        # `seedless apply` process can still fork its workers (see seedless._parallel).
        if self._tone_is_identity:
            return image
        bright = _blend_values(0, self.brightness, range(256))
        mean = 0
        if self.contrast != 1.0:
            mean = _mean_luma_after(image, bright)
        gains = (
            (
                1.0 + _BALANCE_GAIN * self.warmth,
                1.0 - _BALANCE_GAIN * self.tint,
                1.0 - _BALANCE_GAIN * self.warmth,
            )
            if image.mode == "RGB"
            else (1.0,)
        )
        levels = bright
        if self.contrast != 1.0:
            levels = _blend_values(mean, self.contrast, levels)
        if self.gamma != 1.0:
            exponent = 1.0 / self.gamma
            levels = [_clip8(round(255.0 * (v / 255.0) ** exponent)) for v in levels]
        luts: list[int] = []
        for gain in gains:
            luts += levels if gain == 1.0 else [_clip8(round(v * gain)) for v in levels]
        return image.point(luts)

    # ---------------------------------------------------------------- words

    def describe(self) -> str:
        """The edit as a quantified instruction for an AI backend, every setting named."""
        parts = [
            _factor("brightness", self.brightness),
            _factor("contrast", self.contrast),
            _factor("colour saturation", self.saturation),
            _factor("sharpness", self.sharpness),
        ]
        if self.gamma == 1.0:
            parts.append("midtones (gamma) unchanged")
        else:
            way = "lifted" if self.gamma > 1 else "deepened"
            parts.append(f"midtones {way} with a gamma of {_number(self.gamma, 2)}")
        parts.append(_balance(self.warmth, self.tint))
        parts.append(
            "no film grain"
            if self.grain == 0
            else f"monochrome film grain at {_number(self.grain * 100)}% opacity "
            f"(noise of about {_number(self.grain * _GRAIN_SIGMA)} levels out of 255)"
        )
        parts.append(
            "no vignette"
            if self.vignette == 0
            else f"a vignette darkening the corners by {_number(self.vignette * 100)}%"
        )
        return ", ".join(parts) + ". Keep composition, content and framing exactly as they are."

    def to_cli_args(self) -> list[str]:
        """The ``seedless apply`` flags that reproduce this edit."""
        defaults = Adjust()
        args: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name != "kind" and value != getattr(defaults, name):
                args += [f"--{name.replace('_', '-')}", str(value)]
        return args


def _clip8(value: int) -> int:
    return 0 if value < 0 else 255 if value > 255 else value


def _blend_values(base: int, factor: float, values: Iterable[int]) -> list[int]:
    """Pillow's Image.blend on 8-bit values: float32 maths, clip to 0..255, truncate.

    ``array("f")`` rounds each step to float32 as Pillow's C code does; a product of a float32
    and an 8-bit integer, and a sum of it with an integer, are exact in a Python float, so
    rounding them once gives exactly the float32 result.
    """
    f32 = array("f", [factor])[0]
    products = array("f", [f32 * (v - base) for v in values])
    sums = array("f", [base + p for p in products])
    return [0 if v <= 0.0 else 255 if v >= 255.0 else int(v) for v in sums]


def _mean_luma_after(image: Image.Image, lut: list[int]) -> int:
    """The rounded mean luma ImageEnhance.Contrast would measure after ``lut`` (brightness).

    Contrast measures the mean of ``convert("L")``, whose lumas are rounded pixel by pixel:
    that mean cannot be had from the channels' own histograms (it can be a level away from
    their weighted mean). So an RGB image is converted, after ``lut`` when it is not the
    identity, and its L histogram taken; an L image's histogram is remapped through ``lut``.
    """
    if image.mode == "RGB":
        if lut != _IDENTITY_LEVELS:
            image = image.point(lut * 3)
        histogram = image.convert("L").histogram()
        lut = _IDENTITY_LEVELS
    else:
        histogram = image.histogram()
    pixels = max(sum(histogram), 1)
    mean = math.fsum(map(operator.mul, histogram, lut)) / pixels
    return int(mean + 0.5)


_IDENTITY_LEVELS = list(range(256))


#: Largest saturation factor done with the one-pass matrix. ImageEnhance.Color blends with
#: a grey rounded to the level, the matrix with the exact luma: the factor magnifies that
#: half level (|1 - factor| / 2), so above 2 the matrix could be 2 or more levels off.
_MATRIX_SATURATION_MAX = 2.0


def _saturate(image: Image.Image, factor: float) -> Image.Image:
    """``ImageEnhance.Color(image).enhance(factor)`` within 1 level: one matrix pass up to
    :data:`_MATRIX_SATURATION_MAX`, ImageEnhance.Color itself (exact, slower) above it."""
    if factor <= _MATRIX_SATURATION_MAX:
        return image.convert("RGB", _saturation_matrix(factor))
    return ImageEnhance.Color(image).enhance(factor)


def _saturation_matrix(factor: float) -> tuple[float, ...]:
    """out = L + f * (c - L) for each channel, as a 3x4 matrix for Image.convert."""
    rest = 1.0 - factor
    rows: list[float] = []
    for channel in range(3):
        row = [rest * weight for weight in _LUMA]
        row[channel] += factor
        # Image.convert rounds (adds 0.5); Image.blend truncates: -0.5 makes the two agree.
        rows += [*row, -0.5]
    return tuple(rows)


#: Rows per strip in :func:`_sharpen`: small enough for a strip's temporaries to stay in a
#: core's cache (about 1 MB at 1536 pixels a row), large enough to keep numpy's per-call cost low.
_SHARPEN_ROWS = 32


def _sharpen(image: Image.Image, factor: float) -> Image.Image:
    """``ImageEnhance.Sharpness(image).enhance(factor)``, equal to the level, twice as fast.

    Sharpness blends the image with Pillow's ``SMOOTH`` filter (kernel 1 1 1 / 1 5 1 / 1 1 1
    over 13, rounded; border pixels kept) in float32: ``smooth + factor * (pixel - smooth)``,
    clipped and truncated. Here the smoothing is integer box sums, and ``(sum + 6) // 13`` is
    its exact rounding (a sum over 13 is never half-way); the blend repeats Pillow's float32
    steps. The work goes strip by strip so that the temporaries stay in the cache: Pillow's
    3x3 filter costs ~18 ns a pixel on RGB here, this ~10 (docs/adjust.md).
    """
    if image.width < 3 or image.height < 3:
        return ImageEnhance.Sharpness(image).enhance(factor)
    import numpy as np  # lazy: numpy stays out of import seedless

    pixels = np.asarray(image)
    height = pixels.shape[0]
    out = np.empty_like(pixels)
    out[0], out[-1] = pixels[0], pixels[-1]
    out[:, 0], out[:, -1] = pixels[:, 0], pixels[:, -1]
    f32 = np.float32(factor)
    for top in range(1, height - 1, _SHARPEN_ROWS):
        bottom = min(top + _SHARPEN_ROWS, height - 1)
        strip = pixels[top - 1 : bottom + 1].astype(np.int16)
        rows = strip[:, :-2] + strip[:, 1:-1]
        rows += strip[:, 2:]
        sums = rows[:-2] + rows[1:-1]
        sums += rows[2:]
        centre = strip[1:-1, 1:-1]
        sums += 4 * centre + 6
        smooth = (sums.astype(np.int32) * 5042 >> 16).astype(np.float32)  # (sum + 6) // 13
        blend = centre.astype(np.float32)
        blend -= smooth
        blend *= f32
        blend += smooth
        np.clip(blend, 0.0, 255.0, out=blend)
        out[top:bottom, 1:-1] = blend  # float32 to uint8 truncates, as Pillow's cast does
    return Image.fromarray(out)  # "RGB" or "L", as the input


def _vignette(image: Image.Image, strength: float) -> Image.Image:
    """Darken towards the corners: a radial mask, 1.0 at the centre, 1-strength at the corners."""
    import numpy as np  # lazy: numpy stays out of import seedless

    gradient = Image.radial_gradient("L").resize(image.size, Image.Resampling.BILINEAR)
    # radial_gradient is 0 at the centre and 255 at distance 128 of a 256 box; corners ~181.
    levels = np.arange(256, dtype=np.float64) / 181.0
    mask_lut = np.clip(np.rint(255.0 * (1.0 - strength * np.minimum(levels, 1.0) ** 2)), 0, 255)
    mask = gradient.point([int(v) for v in mask_lut])
    if image.mode == "L":
        return ImageChops.multiply(image, mask)
    return ImageChops.multiply(image, Image.merge("RGB", (mask, mask, mask)))


def _grain(image: Image.Image, opacity: float, seed: int) -> Image.Image:
    """Add seeded monochrome gaussian grain; the same seed and size give the same pattern."""
    import numpy as np  # lazy: numpy stays out of import seedless

    rng = np.random.Generator(np.random.PCG64(seed))
    noise = rng.standard_normal((image.height, image.width), dtype=np.float32)
    noise *= np.float32(opacity * _GRAIN_SIGMA)
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 3:
        noise = noise[:, :, None]
    out = np.clip(np.rint(pixels + noise), 0, 255).astype(np.uint8)
    return Image.fromarray(out)


def _factor(name: str, factor: float) -> str:
    if factor == 1.0:
        return f"{name} unchanged"
    return f"{name} at {_number(factor * 100)}% of the original"


def _number(value: float, decimals: int = 0) -> str:
    """``value`` with at least ``decimals`` decimals and as many more as it has (2.5, not 2;
    100.4, not 100), float noise aside: a prompt must not round a change away."""
    for places in range(decimals, 16):
        text = f"{value:.{places}f}"
        if abs(float(text) - value) <= 1e-12 * max(abs(value), 1.0):
            return text
    return repr(value)


def _balance(warmth: float, tint: float) -> str:
    if warmth == 0 and tint == 0:
        return "colour balance unchanged"
    parts = []
    if warmth:
        pct = abs(warmth) * _BALANCE_GAIN * 100
        way = "warmer" if warmth > 0 else "cooler"
        red, blue = ("+", "-") if warmth > 0 else ("-", "+")
        parts.append(f"{way} (red {red}{_number(pct)}%, blue {blue}{_number(pct)}%)")
    if tint:
        pct = abs(tint) * _BALANCE_GAIN * 100
        way = "towards magenta (green -" if tint > 0 else "towards green (green +"
        parts.append(f"{way}{_number(pct)}%)")
    return "colour balance " + " and ".join(parts)
