"""Image bytes for tests: real small images, and headers of huge ones (nothing to decode)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png_header(width: int, height: int, *, mode: int = 0) -> bytes:
    """A complete, well-formed PNG whose header says ``width`` x ``height`` (colour type
    ``mode``: 0 grey, 2 RGB) and whose pixel data is empty: headers checks pass, no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (64, 48), fmt: str = "JPEG") -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    return encoded(image, fmt)


def animated(fmt: str, frames: int = 3) -> bytes:
    images = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(frames)]
    return encoded(images[0], fmt, save_all=True, append_images=images[1:], duration=100)
