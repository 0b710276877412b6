"""Image I/O done safely: decode with a pixel cap, encode keeping metadata, atomic saves, grids.

Every image that enters seedless is decoded here, so one place refuses decompression bombs
and unreadable files (:class:`~seedless.errors.InvalidImageError`), and every image written
by seedless goes through :func:`atomic_write` (temp file, fsync, rename): a crash never
leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, JpegImagePlugin, PngImagePlugin

from .errors import InvalidImageError

__all__ = [
    "MAX_PIXELS",
    "TEMP_FILE",
    "atomic_write",
    "decode",
    "encode",
    "extension_for",
    "remove_temp_files",
    "sniff_mime",
    "thumbnail_png",
    "write_atomic",
]

# Files we write get the permissions a plain open() would give them (mkstemp makes them 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)

#: Largest image seedless decodes (about 180 megapixels: a 16K x 11K panorama).
MAX_PIXELS = 180_000_000

_FORMAT_TO_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}
_MIME_TO_FORMAT = {mime: fmt for fmt, mime in _FORMAT_TO_MIME.items()}
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
}


def sniff_mime(data: bytes) -> str:
    """The MIME type from the file's magic bytes (PNG, JPEG, WebP, GIF, TIFF, BMP)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[:2] == b"BM":
        return "image/bmp"
    return "application/octet-stream"


def extension_for(mime: str) -> str:
    return _EXTENSIONS.get(mime, ".bin")


def mime_for_suffix(path: str | os.PathLike[str]) -> str | None:
    """The MIME type a file name's extension names (``.jpeg`` and ``.tiff`` too), or None."""
    suffix = Path(path).suffix.lower()
    suffix = {".jpeg": ".jpg", ".tiff": ".tif"}.get(suffix, suffix)
    return next((mime for mime, ext in _EXTENSIONS.items() if suffix == ext), None)


def mime_for_path(path: str | os.PathLike[str]) -> str:
    """The MIME type implied by a file name's extension (defaults to PNG)."""
    return mime_for_suffix(path) or "image/png"


def decode(data: bytes, *, max_pixels: int = MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Decode image bytes fully, refusing bombs and unreadable data with InvalidImageError."""
    label = f" {name!r}" if name else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidImageError(
                    f"image{label} is {width}x{height} = {width * height:,} pixels, over the "
                    f"limit of {max_pixels:,}; refusing it as a possible decompression bomb"
                )
            image.load()
    except InvalidImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"image{label} refused as a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"image{label} cannot be read: {exc}") from exc
    return image


def encode(
    image: Image.Image,
    mime: str | None = None,
    *,
    like: Image.Image | None = None,
    quality: int = 95,
) -> tuple[bytes, str]:
    """Encode ``image``, keeping EXIF (orientation included), ICC profile and alpha of ``like``,
    and its XMP, PNG text chunks and JPEG comment where the output format can carry them.

    A JPEG ``like`` source lends its quantisation tables and chroma subsampling, so an edited
    JPEG keeps its original quality. Output is deterministic for the same pixels and settings.
    """
    source = like if like is not None else image
    if mime is None:
        mime = _FORMAT_TO_MIME.get(source.format or "", "image/png")
    fmt = _MIME_TO_FORMAT.get(mime)
    if fmt is None:
        raise InvalidImageError(f"cannot encode {mime}; use image/png or image/jpeg")
    params: dict[str, Any] = {}
    exif = source.info.get("exif")
    if exif:
        params["exif"] = exif
    out = image
    if fmt == "JPEG" and out.mode not in ("RGB", "L", "CMYK"):
        out = out.convert("RGB")
    icc = source.info.get("icc_profile")
    if icc:
        # None (not just leaving it out) stops Pillow from taking the image's own copy.
        params["icc_profile"] = icc if _icc_fits(icc, out.mode) else None
    xmp = source.info.get("xmp")
    if fmt == "JPEG":
        if isinstance(source, JpegImagePlugin.JpegImageFile) and source.quantization:
            params["qtables"] = source.quantization
            params["subsampling"] = JpegImagePlugin.get_sampling(source)
        else:
            params["quality"] = quality
        # Pillow would take the comment from the edited image's info, which an effect may drop.
        comment = source.info.get("comment")
        if comment and len(comment) <= _JPEG_MARKER_BYTES:
            params["comment"] = comment
        if xmp and len(xmp) <= _JPEG_MARKER_BYTES - 29:  # one APP1 marker, after its namespace
            params["xmp"] = xmp
    elif fmt == "PNG":
        params["compress_level"] = 6
        # tEXt, zTXt and iTXt (language and translated keyword kept); XMP is an iTXt chunk.
        text = source.text if isinstance(source, PngImagePlugin.PngImageFile) else {}
        if text or xmp:
            pnginfo = PngImagePlugin.PngInfo()
            for key, value in text.items():
                pnginfo.add_text(key, value)
            if xmp and _PNG_XMP not in text:
                pnginfo.add_itxt(_PNG_XMP, xmp)
            params["pnginfo"] = pnginfo
    elif fmt == "WEBP":
        params["quality"] = quality
        if xmp:
            params["xmp"] = xmp
    buffer = io.BytesIO()
    out.save(buffer, format=fmt, **params)
    return buffer.getvalue(), mime


# The payload one JPEG marker holds, and the PNG text keyword XMP is stored under.
_JPEG_MARKER_BYTES = 65533
_PNG_XMP = "XML:com.adobe.xmp"

# An ICC profile's colour space (header bytes 16-19) for the image modes that can carry one.
_ICC_SPACES = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB ", "CMYK": b"CMYK"}


def _icc_fits(icc: bytes, mode: str) -> bool:
    """Whether a profile describes pixels of ``mode``: a greyscale photo made RGB by an edit
    must not carry its GRAY profile (PNG forbids it, JPEG readers reject it)."""
    space = _ICC_SPACES.get(mode)
    return space is None or len(icc) < 20 or icc[16:20] == space


#: The names :func:`write_atomic` gives its temp files: ``.NAME.XXXXXXXX.tmp``.
TEMP_FILE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_temp_files(path: str | os.PathLike[str]) -> int:
    """Remove the temp files :func:`write_atomic` left for ``path`` (its writer was killed
    mid-write); return how many. Other files are never touched."""
    folder, name = os.path.split(os.fspath(path))
    pattern = re.compile(r"^\." + re.escape(name) + r"\.[a-z0-9_]{8}\.tmp$")
    removed = 0
    with contextlib.suppress(OSError), os.scandir(folder or ".") as entries:
        for entry in entries:
            if pattern.match(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, rename, and fsync
    the folder, so a crash leaves the old file or the new one, never half of one.

    Works on plain strings: pathlib interns every file name it parses, which a batch writing
    thousands of new names would feel. The temp file is ``.NAME.XXXXXXXX.tmp``.
    """
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """:func:`write_atomic` for any path; returns it as a Path."""
    write_atomic(os.fspath(path), data)
    return Path(path)


def thumbnail_png(
    images: Sequence[Image.Image],
    *,
    labels: Sequence[str] | None = None,
    cell: int = 256,
    columns: int = 4,
) -> bytes:
    """A PNG grid of thumbnails with optional labels (for notebooks and contact sheets)."""
    count = max(len(images), 1)
    cols = min(columns, count)
    rows = (count + cols - 1) // cols
    label_h = 18 if labels else 0
    sheet = Image.new("RGB", (cols * cell, rows * (cell + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        thumb = image.convert("RGB")
        thumb.thumbnail((cell, cell))
        x, y = (i % cols) * cell, (i // cols) * (cell + label_h)
        sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        if labels and i < len(labels):
            draw.text((x + 4, y + cell + 2), labels[i], fill="black")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
