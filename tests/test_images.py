"""Safe decoding, atomic writes and MIME sniffing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from seedless.errors import InvalidImageError
from seedless.images import atomic_write, decode, sniff_mime


def test_decompression_bomb_is_refused() -> None:
    buffer = io.BytesIO()
    Image.new("L", (4000, 3000)).save(buffer, format="PNG")
    with pytest.raises(InvalidImageError, match="decompression bomb"):
        decode(buffer.getvalue(), max_pixels=1_000_000)


def test_unreadable_and_truncated_data_is_refused(photos: list[Path]) -> None:
    with pytest.raises(InvalidImageError, match="cannot be read"):
        decode(b"not an image at all", name="x.jpg")
    data = photos[0].read_bytes()
    with pytest.raises(InvalidImageError):
        decode(data[: len(data) // 2])


def test_sniff_mime() -> None:
    assert sniff_mime(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_mime(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WEBP") == "image/webp"


def test_atomic_write_leaves_no_temp_and_normal_permissions(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "sub" / "a.bin", b"hello")
    assert target.read_bytes() == b"hello"
    assert [p.name for p in target.parent.iterdir()] == ["a.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_encode_drops_an_icc_profile_of_another_colour_space() -> None:
    from PIL import ImageCms

    from seedless import Adjust
    from seedless.images import encode

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey = srgb[:16] + b"GRAY" + srgb[20:]  # a greyscale profile, as far as its header says
    gray = Image.new("L", (8, 8), 100)
    gray.info["icc_profile"] = grey
    kept, _ = encode(Adjust(brightness=1.1).apply(gray), "image/png", like=gray)
    assert Image.open(io.BytesIO(kept)).info.get("icc_profile") == grey
    # Warmth turns the grey image into RGB: a GRAY profile on RGB pixels is invalid (PNG
    # forbids it, JPEG readers reject it), so it is left out rather than kept wrong.
    for mime in ("image/png", "image/jpeg"):
        data, _ = encode(Adjust(warmth=0.5).apply(gray), mime, like=gray)
        assert "icc_profile" not in Image.open(io.BytesIO(data)).info
    rgb = Image.new("RGB", (8, 8))
    rgb.info["icc_profile"] = srgb
    data, _ = encode(rgb.convert("L"), "image/png", like=rgb)
    assert "icc_profile" not in Image.open(io.BytesIO(data)).info
