"""Helpers for the strategy tests: photos, a fake no-seed model with a known truth, a seeded one."""

from __future__ import annotations

import hashlib
import io
import random
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance, ImageOps

from seedless import ProviderReply, RawImage

TODAY = date(2026, 11, 25)
PHOTOS = Path(__file__).resolve().parents[2] / "examples" / "photos"

#: The brightness factor of the approved edit in these tests.
TARGET = 0.75


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def small_photo(name: str, long_side: int = 160) -> bytes:
    """A photo from examples/photos, upright, shrunk (fast tests), as PNG bytes."""
    with Image.open(PHOTOS / name) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((long_side, long_side))
    return png(upright)


def brighten(data: bytes, factor: float) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return png(ImageEnhance.Brightness(image.convert("RGB")).enhance(factor))


class Truth:
    """A fake no-seed model that edits the source by a random brightness factor it records."""

    def __init__(self, jitter: float = 0.15, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.jitter = jitter
        self.factors: dict[str, float] = {}  # output sha256 -> factor used
        self.prompts: list[str] = []

    def __call__(self, request: Any, spec: Any) -> ProviderReply:
        self.prompts.append(request.prompt or "")
        if request.operation == "generate":
            factor = self.rng.uniform(0.5, 1.0)
            out = png(Image.new("RGB", (64, 64), (int(200 * factor), 100, 50)))
        else:
            factor = TARGET + self.rng.uniform(-self.jitter, self.jitter)
            out = brighten(request.images[0].data, factor)
        self.factors[hashlib.sha256(out).hexdigest()] = factor
        return ProviderReply(images=[RawImage(out, "image/png")])


def seeded_handler(request: Any, spec: Any) -> ProviderReply:
    """A fake seeded model: output determined by (prompt, seed, source)."""
    source = request.images[0].sha256 if request.operation == "edit" else ""
    key = f"{request.prompt}|{request.seed}|{source}"
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    if request.operation == "edit":
        out = brighten(request.images[0].data, rng.uniform(0.6, 0.9))
    else:
        out = png(Image.new("RGB", (32, 32), tuple(rng.randrange(256) for _ in range(3))))
    return ProviderReply(images=[RawImage(out, "image/png")])
