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
