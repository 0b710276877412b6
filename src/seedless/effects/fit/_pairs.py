"""Pairing a before/after: open the images, match their sizes, group pixels by colour."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from ... import images as _images
from ...errors import InvalidImageError
from ._grouped import Colours, aggregate
from ._table import Array

#: What :func:`fit_effect` accepts for an image: a PIL image, or a path, bytes or binary file.
ImageSource: TypeAlias = "Image.Image | _images.ImageSource"

_ASPECT_TOLERANCE = 0.02
# A pair whose outputs of one input colour vary more than this (levels squared: JPEG
# compression, grain) and whose flattest half is at most _AT_EDGES times as noisy has its
# colours fitted on that half only (see Sample.colours). Measured: JPEG quality 90, 0.19-0.73;
# grain 0.89-1.01.
_NOISY = 2.0
_AT_EDGES = 0.8


@dataclass(frozen=True)
class Pair:
    x: Array  # uint8 (H, W, 3), the original
    y: Array  # uint8 (H, W, 3), the edit, same size
    mask: Array | None  # bool (H, W): pixels opaque in both, or None when neither has alpha
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    """One approved pair, paired: full resolution, and decimated for the colour fit."""

    x: Array  # uint8 (H, W, 3), the original
    y: Array  # uint8 (H, W, 3), the edit, same size
    mask: Array | None  # bool (H, W): pixels opaque in both, or None
    step: int  # the fit sees every step-th pixel along each axis
    notes: tuple[str, ...]

    @property
    def xs(self) -> Array:
        return self.x[:: self.step, :: self.step]

    @property
    def ys(self) -> Array:
        return self.y[:: self.step, :: self.step]

    @property
    def ms(self) -> Array | None:
        return self.mask[:: self.step, :: self.step] if self.mask is not None else None

    @property
    def long_side(self) -> int:
        return int(max(self.x.shape[:2]))

    def flat(self, xs: Array | None = None, ys: Array | None = None) -> tuple[Array, Array]:
        """The decimated pixel pairs (or the given replacements), opaque ones only: (m, 3)."""
        flat_x = (self.xs if xs is None else xs).reshape(-1, 3)
        flat_y = (self.ys if ys is None else ys).reshape(-1, 3)
        if self.ms is not None:
            keep = self.ms.ravel()
            flat_x, flat_y = flat_x[keep], flat_y[keep]
        return flat_x, flat_y

    @cached_property
    def flattest(self) -> Array:
        """The flattest half of the decimated pair, opaque pixels only: bool (h, w). Detail is
        the original's largest difference in any channel from a 2 px box blur of it: an edge
        in colour alone counts (JPEG subsamples colour)."""
        blurred = np.asarray(Image.fromarray(self.xs).filter(ImageFilter.BoxBlur(2)))
        detail = np.abs(self.xs.astype(np.float64) - blurred).max(axis=2)
        flat = detail <= np.median(detail)
        return np.asarray(flat & self.ms if self.ms is not None else flat)

    def colours(self, xs: Array | None = None, ys: Array | None = None) -> Colours:
        """The pixel pairs the colour fit sees, grouped by colour (see :meth:`flat`).

        A noisy pair (the outputs of one colour vary by more than :data:`_NOISY` levels²)
        whose noise lives at edges and in fine detail (its flattest half at most
        :data:`_AT_EDGES` times as noisy as the whole) is grouped on its flattest half only:
        JPEG's colour subsampling and blocks move colours at edges, not in flat areas. An
        edit of ImageMagick's ``-level`` approved as a JPEG (quality 90), fitted on one
        photo, reproduced the others at 35.2 dB on average and 20.4 at worst from every
        pixel, 44.0 and 31.8 from the flat half. Grain is as strong in flat areas (0.89-1.01
        times): such a pair keeps every pixel.
        """
        return self._for_colour(xs, ys)[0]

    def pixels(self, xs: Array | None = None, ys: Array | None = None) -> tuple[Array, Array]:
        """The pixel pairs :meth:`colours` groups, ungrouped: (m, 3) each."""
        return self._for_colour(xs, ys)[1]

    def _for_colour(
        self, xs: Array | None, ys: Array | None
    ) -> tuple[Colours, tuple[Array, Array]]:
        every = self.flat(xs, ys)
        grouped = aggregate(*every)
        if grouped.noise <= _NOISY:
            return grouped, every
        mask = self.flattest
        half = (self.xs if xs is None else xs)[mask], (self.ys if ys is None else ys)[mask]
        quieter = aggregate(*half)
        if quieter.noise <= _AT_EDGES * grouped.noise:
            return quieter, half
        return grouped, every


def prepare(original: ImageSource, edited: ImageSource, max_pixels: int) -> Sample:
    """Open and pair one approved pair; decimate it for the fit above ``max_pixels``."""
    pair = pair_images(open_image(original, "original"), open_image(edited, "edited"))
    height, width = pair.x.shape[:2]
    step = max(1, math.ceil(math.sqrt(height * width / max_pixels)))
    notes = list(pair.notes)
    if step > 1:
        small = pair.x[::step, ::step]
        notes.append(
            f"fitted on one pixel in {step} along each axis ({small.shape[1]}x{small.shape[0]})"
        )
    sample = Sample(pair.x, pair.y, pair.mask, step, tuple(notes))
    if len(sample.flat()[0]) < 16:
        raise InvalidImageError("the pair has fewer than 16 usable pixels; nothing to fit")
    return sample


def open_image(source: ImageSource, name: str) -> Image.Image:
    """The original or edited image, upright, under the one rule of editable modes."""
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


def pair_images(before: Image.Image, after: Image.Image) -> Pair:
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
    return Pair(np.asarray(x_img), np.asarray(y_img), mask, tuple(notes))


def _centre_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred box of ``aspect`` (width / height) inside width x height."""
    if width / height > aspect:
        new_w = max(1, round(height * aspect))
        left = (width - new_w) // 2
        return (left, 0, left + new_w, height)
    new_h = max(1, round(width / aspect))
    top = (height - new_h) // 2
    return (0, top, width, top + new_h)
