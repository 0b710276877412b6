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


_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def test_encode_keeps_png_text_jpeg_comment_and_xmp() -> None:
    from PIL import PngImagePlugin

    from seedless import Adjust
    from seedless.images import encode

    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "A title")
    info.add_itxt("Author", "Zoë", lang="fr", tkey="Auteur")
    info.add_text("Comment", "long " * 100, zip=True)
    info.add_itxt("XML:com.adobe.xmp", _XMP)
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (90, 80, 70, 200)).save(buffer, format="PNG", pnginfo=info)
    png = decode(buffer.getvalue())
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 80, 70)).save(buffer, format="JPEG", comment=b"hi", xmp=_XMP)
    jpeg = decode(buffer.getvalue())
    edit = Adjust(brightness=1.1)

    def reopen(source: Image.Image, mime: str | None = None) -> Image.Image:
        data, _ = encode(edit.apply(source), mime, like=source)
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    kept = reopen(png)
    assert kept.text == png.text  # type: ignore[attr-defined]
    assert (kept.text["Author"].lang, kept.text["Author"].tkey) == ("fr", "Auteur")  # type: ignore[attr-defined]
    assert reopen(jpeg).info["comment"] == b"hi" and reopen(jpeg).info["xmp"] == _XMP
    # Across formats, what the output format can carry: XMP everywhere, text only in PNG.
    assert reopen(png, "image/jpeg").info["xmp"] == _XMP
    assert reopen(png, "image/webp").info["xmp"] == _XMP
    assert reopen(jpeg, "image/png").info["xmp"] == _XMP
    # An effect that returns a fresh image (its info empty) does not lose the comment.
    data, _ = encode(Image.new("RGB", (8, 8)), "image/jpeg", like=jpeg)
    assert Image.open(io.BytesIO(data)).info.get("comment") == b"hi"
