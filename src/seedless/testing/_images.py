"""The emulators' pictures: synthesis, size classes, edit transforms, encoding and decoding.

Generated images are real, small pictures (a gradient and a few shapes) whose colours come
from the prompt and whose layout comes from a random generator. A seeded model draws from a
generator keyed by (model, prompt, seed, parameters), so the same request gives the same
bytes; an unseeded one draws from fresh entropy. Sizes are scaled down from the requested
size class, but the aspect ratio holds.

An edit applies an :data:`EditTransform` to the input picture: ``fn(image, instruction, rng)``.
The default, :func:`darken`, lowers brightness by a factor drawn around
:data:`DARKEN_TARGET`, so best-of-N strategies have a known truth to score against.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import math
import os
import random
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

__all__ = [
    "DARKEN_JITTER",
    "DARKEN_TARGET",
    "SIZE_CLASSES",
    "EditTransform",
    "darken",
    "decode",
    "encode",
    "fit",
    "fresh_rng",
    "long_side_for",
    "parse_ratio",
    "ratio_size",
    "render",
    "seeded_rng",
]

#: ``fn(image, instruction, rng) -> image``: how an emulated model edits a picture.
EditTransform = Callable[[Image.Image, str, random.Random], Image.Image]

#: Long side in pixels of the pictures served for each Gemini/Imagen size class.
SIZE_CLASSES: dict[str, int] = {"512": 64, "1K": 128, "2K": 192, "4K": 256}
#: The brightness factor :func:`darken` aims at, and the half-width of its uniform jitter.
DARKEN_TARGET = 0.75
DARKEN_JITTER = 0.1

_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/webp": "WEBP"}
_MAX_INPUT_PIXELS = 50_000_000


def seeded_rng(*parts: Any) -> random.Random:
    """A generator keyed by ``parts`` (anything JSON-serialisable): same parts, same draws."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return random.Random(int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:16], "big"))


def fresh_rng() -> random.Random:
    """A generator seeded from the operating system's entropy: a different draw every call."""
    return random.Random(int.from_bytes(os.urandom(16), "big"))


def parse_ratio(text: str) -> tuple[int, int] | None:
    """``"16:9"`` -> ``(16, 9)``; None for anything that is not two positive integers."""
    left, sep, right = text.partition(":")
    if not sep or not left.isdigit() or not right.isdigit():
        return None
    width, height = int(left), int(right)
    if width <= 0 or height <= 0 or width > 100 or height > 100:
        return None
    return width, height


def ratio_size(ratio: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The pixel size with ``long_side`` on the longer edge and the ratio kept (rounded)."""
    width, height = ratio
    if width >= height:
        return long_side, max(1, round(long_side * height / width))
    return max(1, round(long_side * width / height)), long_side


def long_side_for(width: int, height: int) -> int:
    """The served long side for a requested pixel size (the size class of its long edge)."""
    longest = max(width, height)
    if longest <= 512:
        return SIZE_CLASSES["512"]
    if longest <= 1024:
        return SIZE_CLASSES["1K"]
    if longest <= 2048:
        return SIZE_CLASSES["2K"]
    return SIZE_CLASSES["4K"]


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def render(prompt: str, rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A picture for ``prompt``: hues from the prompt, gradient and shapes from ``rng``."""
    width, height = size
    base_hue = hashlib.sha256(prompt.encode()).digest()[0] / 255
    hue = base_hue + rng.uniform(-0.06, 0.06)
    light = np.array(_rgb(hue, 0.45 + 0.3 * rng.random(), 0.85 + 0.15 * rng.random()), float)
    dark = np.array(
        _rgb(hue + 0.25 + 0.25 * rng.random(), 0.6 + 0.3 * rng.random(), 0.2 + 0.3 * rng.random()),
        float,
    )
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    span = float(ramp.max() - ramp.min()) or 1.0
    ramp = (ramp - ramp.min()) / span
    pixels = light * (1.0 - ramp)[..., None] + dark * ramp[..., None]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    longest = max(width, height)
    for _ in range(rng.randint(3, 7)):
        cx, cy = rng.random() * width, rng.random() * height
        radius = (0.08 + 0.2 * rng.random()) * longest
        colour = _rgb(
            hue + rng.choice((0.33, 0.5, 0.66)) + rng.uniform(-0.05, 0.05),
            0.5 + 0.5 * rng.random(),
            0.35 + 0.65 * rng.random(),
        )
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        kind = rng.randrange(3)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            turn = rng.uniform(0.0, 2.0 * math.pi)
            corners = [
                (cx + radius * math.cos(turn + k * 2.094), cy + radius * math.sin(turn + k * 2.094))
                for k in range(3)
            ]
            draw.polygon(corners, fill=colour)
    return image


def encode(image: Image.Image, mime_type: str = "image/png", quality: int = 90) -> bytes:
    """The bytes of ``image`` as PNG, JPEG or WebP (``mime_type``); PNG is deterministic."""
    fmt = _FORMATS.get(mime_type.lower())
    if fmt is None:
        raise ValueError(f"unsupported output type {mime_type!r}")
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, format="PNG")
    else:
        image.convert("RGB").save(buffer, format=fmt, quality=max(1, min(100, quality)))
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """An RGB picture from untrusted bytes, upright per EXIF; ValueError if unreadable."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > _MAX_INPUT_PIXELS:
            raise ValueError(f"image of {image.width}x{image.height} pixels is too large")
        image.draft("RGB", (512, 512))
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGB")
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, bomb errors...)
        raise ValueError(f"unreadable image: {exc}") from exc


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled and centre-cropped to exactly ``size``."""
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)


def darken(image: Image.Image, instruction: str, rng: random.Random) -> Image.Image:
    """The default edit: brightness times ``DARKEN_TARGET ± DARKEN_JITTER`` (uniform, via rng).

    ``instruction`` is ignored. Seeded models pass a generator keyed by (instruction, seed,
    input), so their edits repeat; unseeded ones pass fresh entropy, so each call differs.
    """
    del instruction
    factor = DARKEN_TARGET + rng.uniform(-DARKEN_JITTER, DARKEN_JITTER)
    return ImageEnhance.Brightness(image).enhance(max(0.0, factor))
