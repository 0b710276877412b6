"""Make the pictures of docs/reproducing.md from the real photos in examples/photos.

Run from the repository root (no keys, no network: remote models are the loopback emulator
or a FunctionProvider whose truth is known)::

    PYTHONPATH=src python docs/img/make.py

Every picture is a small PNG (under 150 KB), and the script is deterministic except for
the Gemini column of verify.png: the emulated no-seed model draws a fresh picture each run.
"""

from __future__ import annotations

import asyncio
import io
import random
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

import seedless
from seedless import FunctionProvider, ProviderReply, RawImage
from seedless.strategies import MatchEffect, anchored_request, best_of, contact_sheet
from seedless.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "examples" / "photos"
OUT = Path(__file__).resolve().parent
TODAY = date(2026, 11, 25)
LIMIT = 150_000
LOOK = seedless.Adjust(brightness=0.82, contrast=1.15, saturation=0.8, warmth=0.25)


def photo(name: str, long_side: int = 360) -> Image.Image:
    with Image.open(PHOTOS / name) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return upright


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def content_edit(image: Image.Image) -> Image.Image:
    """The look, plus a coffee cup pasted in: an edit that changes content."""
    edited = LOOK.apply(image)
    with Image.open(PHOTOS / "coffee_cutout.png") as cutout:
        cup = cutout.convert("RGBA")
    cup.thumbnail((image.width // 3, image.height // 3), Image.Resampling.LANCZOS)
    edited.paste(cup, (image.width - cup.width - 12, image.height - cup.height - 8), cup)
    return edited


def strip(
    images: list[Image.Image], labels: list[str], *, cell: int = 220, title: str | None = None
) -> Image.Image:
    """Images side by side, each with a label under it."""
    font = ImageFont.load_default(size=14)
    pad, label_h = 8, 24
    top = 26 if title else 0
    height = max(round(i.height * cell / i.width) if i.width >= i.height else cell for i in images)
    sheet = Image.new(
        "RGB", (pad + len(images) * (cell + pad), top + pad + height + label_h + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 6), title, fill="black", font=font)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        thumb = image.copy()
        thumb.thumbnail((cell, height), Image.Resampling.LANCZOS)
        x = pad + index * (cell + pad)
        sheet.paste(
            thumb, (x + (cell - thumb.width) // 2, top + pad + (height - thumb.height) // 2)
        )
        draw.text((x + 2, top + pad + height + 4), label, fill=(60, 60, 60), font=font)
    return sheet


def save(image: Image.Image, name: str) -> None:
    data = png_bytes(image)
    if len(data) > LIMIT:  # photos compress poorly as PNG: fall back to a 256-colour palette
        buffer = io.BytesIO()
        image.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(
            buffer, format="PNG", optimize=True
        )
        data = buffer.getvalue()
    assert len(data) <= LIMIT, f"{name} is {len(data)} bytes"
    (OUT / name).write_bytes(data)
    print(f"{name}: {image.size[0]}x{image.size[1]}, {len(data) // 1024} KB")


def exact_path() -> None:
    """Path 1: a global look, fitted from the approved pair and replayed exactly."""
    from seedless.effects.fit import fit_effect

    original = photo("coffee.jpg")
    approved = LOOK.apply(original)
    save(strip([original, approved], ["original", "approved (a global look)"]), "pair-global.png")
    fitted = fit_effect(original, approved)
    report = fitted.report
    assert report is not None and report.is_global, report
    others = [photo(n) for n in ("cat.jpg", "rocket.jpg", "astronaut.jpg")]
    save(
        strip(
            [*others, *(fitted.apply(o) for o in others)],
            [
                "cat",
                "rocket",
                "astronaut",
                "cat, replayed",
                "rocket, replayed",
                "astronaut, replayed",
            ],
            cell=150,
            title=f"fitted LUT, replayed locally: {report.psnr_db:.1f} dB on the pair, $0",
        ),
        "local-replay.png",
    )


def anchored_path() -> None:
    """Path 3: the request an anchored edit sends, and a best-of-N contact sheet."""
    original = photo("rocket.jpg")
    approved = content_edit(original)
    source = photo("astronaut.jpg")
    save(
        strip([original, approved], ["original", "approved (content changed)"]), "pair-content.png"
    )
    save(
        strip(
            [source, original, approved],
            ["image 1: the photo to edit", "image 2: before", "image 3: after"],
            cell=180,
        ),
        "anchored-request.png",
    )
    rng = random.Random(7)

    def model(request: Any, spec: Any) -> ProviderReply:
        """A stand-in for a no-seed model: the look at a random strength, and a cup."""
        image = Image.open(io.BytesIO(request.images[0].data)).convert("RGB")
        strength = rng.uniform(0.3, 1.6)
        look = LOOK.model_copy(
            update={
                "brightness": 1 - (1 - LOOK.brightness) * strength,
                "contrast": 1 + (LOOK.contrast - 1) * strength,
                "saturation": 1 - (1 - LOOK.saturation) * strength,
                "warmth": min(1.0, LOOK.warmth * strength),
            }
        )
        edited = look.apply(image)
        with Image.open(PHOTOS / "coffee_cutout.png") as cutout:
            cup = cutout.convert("RGBA")
        cup.thumbnail((image.width // 3, image.height // 3))
        edited.paste(cup, (image.width - cup.width - 12, image.height - cup.height - 8), cup)
        return ProviderReply(images=[RawImage(png_bytes(edited), "image/png")])

    seedless.register_model(
        {"provider": "demo", "id": "no-seed", "operations": ["edit"], "seed": "none",
         "max_reference_images": 14, "prices": {"*": 0.04}}
    )  # fmt: skip
    with seedless.Client(
        providers={"demo": FunctionProvider(model)}, clock=lambda: TODAY
    ) as client:
        request = anchored_request(
            png_bytes(source), original=png_bytes(original), approved=png_bytes(approved),
            model="demo:no-seed", instruction="the same moody look, and add the coffee cup",
        )  # fmt: skip
        ranked = client._run(
            best_of(client.aio, request, n=6, scorer=MatchEffect(original, approved))
        )
    sheet = contact_sheet(
        ranked, references={"source": source, "approved": approved}, columns=4, cell=150
    )
    save(sheet.image, "best-of-sheet.png")


def verify_picture() -> None:
    """Path 5: three runs of a seeded model with a seed, three runs of a no-seed model."""

    async def runs() -> tuple[list[Image.Image], list[Image.Image]]:
        with Emulator() as emu:
            async with seedless.AsyncClient(endpoints=emu.endpoints(), clock=lambda: TODAY) as c:
                seeded = seedless.client.generate_request(
                    "a red kite", model="openai:flux-dev", seed=5
                )
                loose = seedless.client.generate_request(
                    "a red kite", model="gemini:gemini-3-pro-image"
                )
                a = await asyncio.gather(*(c.run(seeded) for _ in range(3)))
                b = await asyncio.gather(*(c.run(loose) for _ in range(3)))
        return [g.image.to_pil() for g in a], [g.image.to_pil() for g in b]

    seeded, loose = asyncio.run(runs())
    labels = ["flux-dev, seed 5"] * 3 + ["gemini-3-pro-image"] * 3
    save(
        strip([*seeded, *loose], labels, cell=120, title="the same request, three times each"),
        "verify.png",
    )


def main() -> None:
    exact_path()
    anchored_path()
    verify_picture()


if __name__ == "__main__":
    main()
