"""ImageResult.save writes the format its file name says: converted, or refused with the
right extension named, never JPEG bytes under a .png name."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from seedless import ImageResult, InvalidImageError


def result_of(image: Image.Image, fmt: str, mime: str) -> ImageResult:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, exif=Image.Exif() if fmt == "JPEG" else None)
    data = buffer.getvalue()
    return ImageResult(
        data=data, mime_type=mime, provider="local", model="pillow", request_hash="r",
        sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip


def format_of(path: Path) -> str | None:
    with Image.open(path) as image:
        return image.format


def test_jpeg_bytes_saved_as_png_are_converted(tmp_path: Path) -> None:
    jpeg = result_of(Image.new("RGB", (16, 12), (200, 90, 40)), "JPEG", "image/jpeg")
    png = jpeg.save(tmp_path / "x.png")
    assert format_of(png) == "PNG"
    with Image.open(png) as converted:
        assert converted.size == (16, 12) and converted.getpixel((3, 3))[0] > 150
    same = jpeg.save(tmp_path / "x.JPEG")  # its own format: the bytes as they came
    assert same.read_bytes() == jpeg.data


def test_transparency_is_not_dropped_into_a_jpeg(tmp_path: Path) -> None:
    png = result_of(Image.new("RGBA", (8, 8), (10, 20, 30, 100)), "PNG", "image/png")
    with pytest.raises(InvalidImageError, match=r"transparency.*save it as y\.png"):
        png.save(tmp_path / "y.jpg")
    assert not (tmp_path / "y.jpg").exists()
    assert format_of(png.save(tmp_path / "y.webp")) == "WEBP"


def test_a_name_without_an_image_extension_is_refused_with_the_right_one(
    tmp_path: Path,
) -> None:
    jpeg = result_of(Image.new("RGB", (8, 8)), "JPEG", "image/jpeg")
    with pytest.raises(ValueError, match=r"save it as out\.jpg"):
        jpeg.save(tmp_path / "out")
    folder = jpeg.save(tmp_path)  # a folder: a name from the hash, the bytes as they came
    assert folder.parent == tmp_path and folder.suffix == ".jpg"
