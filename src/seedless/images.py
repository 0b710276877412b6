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
import stat
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Union

from PIL import Image, ImageDraw, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from .errors import InvalidImageError, redact

__all__ = [
    "EDITABLE_MODES",
    "FILE_MODE",
    "MAX_PIXELS",
    "READABLE",
    "TEMP_FILE",
    "ImageInfo",
    "ImageSource",
    "atomic_write",
    "check_editable",
    "decode",
    "editable",
    "encode",
    "extension_for",
    "fsync_folder",
    "fsync_path",
    "inspect",
    "load_image",
    "printable",
    "read_source",
    "remove_temp_files",
    "sniff_mime",
    "thumbnail_png",
    "write_atomic",
]

# Files we write get the permissions a plain open() would give them (mkstemp makes them 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)

#: Largest image seedless decodes: 180 megapixels (a 16K x 11K panorama; a 100 MP
#: medium-format frame passes). Pillow's own threshold (``Image.MAX_IMAGE_PIXELS``, 89.5 MP)
#: is not used: it is process-wide, and its warning would be a matter of filters.
MAX_PIXELS = 180_000_000

#: The formats seedless reads (Pillow plugin names), in the order it tries them.
READABLE = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")

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


def _what(name: str | None) -> str:
    return f"image {name!r}" if name else "the image"


def printable(name: str) -> str:
    """A file name as text that can be printed and sent anywhere: bytes that are not UTF-8 (a
    name made on another system) become U+FFFD, as ``ls`` shows them as ``?``."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that did not come from the file system
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _plugins() -> None:
    """Register the format plugins of :data:`READABLE` (importing a plugin registers it)."""
    Image.preinit()  # JPEG, PNG, GIF, BMP
    from PIL import (  # lazy: TIFF and WebP plugins, kept out of `import seedless`
        TiffImagePlugin,  # noqa: F401
        WebPImagePlugin,  # noqa: F401
    )


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"))


def _looks_like(data: bytes) -> str:
    """What bytes that are no image seem to hold, in a few words, for a message."""
    for magic, kind in _MAGIC:
        if data.startswith(magic[: len(data)]) or data.startswith(magic):
            return f"{len(data)} byte(s) of a {kind} file cut short"
    if data[4:8] == b"ftyp":
        return f"an ISO media file (brand {data[8:12].decode('latin-1')!r}: HEIC, AVIF or video)"
    if data.startswith(b"%PDF"):
        return "a PDF document"
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown data starting {head[:8].hex(' ')}"
    return "text (HTML)" if "<html" in text.lower() else "text"


def _open(data: bytes, name: str | None) -> ImageFile.ImageFile:
    """Parse the header of one of :data:`READABLE` (nothing decoded yet) without Pillow's
    process-wide bomb threshold (``Image.MAX_IMAGE_PIXELS``) or warnings filters: each caller
    checks its own cap, the same way in every thread."""
    if not data:
        raise InvalidImageError(f"{_what(name)} is empty (0 bytes)")
    _plugins()
    prefix = data[:16]
    for fmt in READABLE:
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept is not None else True
        if not verdict or isinstance(verdict, str):
            continue
        try:
            return factory(io.BytesIO(data), name or "")
        except Image.DecompressionBombError as exc:  # WebP checks while it parses
            raise InvalidImageError(
                f"{_what(name)} refused as a decompression bomb: {exc}"
            ) from exc
        except (SyntaxError, OSError, ValueError, TypeError, IndexError, EOFError,
                struct.error) as exc:  # fmt: skip
            raise InvalidImageError(f"{_what(name)} cannot be read as {fmt}: {exc}") from exc
    raise InvalidImageError(
        f"{_what(name)} cannot be read: it is not a JPEG, PNG, WebP, GIF, TIFF or BMP image but "
        f"{_looks_like(data)}"
    )


def _check(image: ImageFile.ImageFile, name: str | None, max_pixels: int) -> None:
    """Refuse, from the header alone, images over ``max_pixels`` and animations."""
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidImageError(
            f"{_what(name)} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}; refusing it as a possible decompression bomb"
        )
    # An MPO (a camera's JPEG with a preview or a second view) is a photo: its first frame
    # is the picture. Other images with frames are animations (GIF, WebP, APNG) or pages.
    frames = 1 if image.format == "MPO" else getattr(image, "n_frames", 1)
    if frames > 1:
        raise InvalidImageError(
            f"{_what(name)} has {frames} frames ({image.format} animation or pages); seedless "
            "edits still images and will not keep one frame and drop the rest silently. Save "
            "the frame you want as its own file (Pillow: image.seek(i); image.copy())"
        )


def decode(data: bytes, *, max_pixels: int = MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Decode image bytes fully, refusing bombs (over ``max_pixels``), animations and
    unreadable or truncated data with InvalidImageError naming ``name``.

    Thread-safe: the cap is checked here, from the header, and Pillow's process-wide
    threshold and the warnings filters are neither used nor changed.
    """
    image = _open(data, name)
    _check(image, name, max_pixels)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{_what(name)} refused as a decompression bomb: {exc}") from exc
    except (SyntaxError, OSError, ValueError, TypeError, IndexError, EOFError,
            struct.error) as exc:  # fmt: skip
        raise InvalidImageError(f"{_what(name)} cannot be read: {exc}") from exc
    return image


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`inspect` read from an image's header."""

    mime: str
    width: int
    height: int
    mode: str


def inspect(data: bytes, *, name: str | None = None, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Check image bytes without decoding their pixels: a format seedless reads, within the
    pixel cap, a still image, and complete (a JPEG's scan ends in its EOI marker, a PNG's
    chunks are all there with their checksums, a WebP holds the size its header gives).

    This is what every input goes through before it is sent anywhere (about a millisecond
    for a 24-megapixel photo); a local edit decodes it fully afterwards anyway.
    """
    image = _open(data, name)
    _check(image, name, max_pixels)
    fmt = image.format or ""
    complete = True
    if fmt == "JPEG" and image.fp is not None:  # the parser stops after the start of scan
        complete = data.rfind(b"\xff\xd9") >= image.fp.tell()
    elif fmt == "WEBP":
        complete = int.from_bytes(data[4:8], "little") + 8 <= len(data)
    elif fmt == "PNG":
        try:
            image.verify()
        except (SyntaxError, OSError, ValueError, struct.error, EOFError) as exc:
            raise InvalidImageError(f"{_what(name)} is truncated or damaged: {exc}") from exc
    if not complete:
        raise InvalidImageError(f"{_what(name)} is truncated: its {fmt} data ends early")
    return ImageInfo(_FORMAT_TO_MIME.get(fmt, "image/png"), image.width, image.height, image.mode)


#: The image modes seedless's effects edit (palette and 1-bit images become RGB(A) first).
EDITABLE_MODES = ("RGB", "RGBA", "L", "LA")


def editable(image: Image.Image, *, name: str | None = None) -> Image.Image:
    """The one rule for what an exact effect edits, shared by applying and fitting: RGB, RGBA
    and greyscale (L, LA) as they are; palette (P, PA) and 1-bit images as RGB(A); any other
    mode (CMYK, 16-bit or float greyscale I;16 / I / F, YCbCr, LAB ...) refused, naming the file.
    """
    if image.mode in ("P", "PA", "1"):
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    check_editable(image.mode, name=name or getattr(image, "filename", None) or None)
    return image


def check_editable(mode: str, *, name: str | None = None) -> None:
    """Refuse (InvalidImageError naming the file) an image mode :func:`editable` refuses: the
    same rule from a header (:attr:`ImageInfo.mode`), before anything is decoded."""
    if mode in EDITABLE_MODES or mode in ("P", "PA", "1"):
        return
    raise InvalidImageError(
        f"cannot edit {_what(name)}: its pixels are in mode {mode}, and seedless edits "
        "RGB, RGBA, greyscale (L, LA) and palette images; convert it first "
        "(Pillow: image.convert('RGB'))"
    )


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
        params.update(_jpeg_params(source, quality, xmp))
    elif fmt == "PNG":
        params.update(_png_params(source, xmp))
    elif fmt == "WEBP":
        params["quality"] = quality
        if xmp:
            params["xmp"] = xmp
    buffer = io.BytesIO()
    out.save(buffer, format=fmt, **params)
    return buffer.getvalue(), mime


def _jpeg_params(source: Image.Image, quality: int, xmp: bytes | None) -> dict[str, Any]:
    """JPEG settings: a JPEG source's quantisation tables and subsampling (else
    ``quality``), its comment and XMP where one marker holds them."""
    params: dict[str, Any] = {}
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
    return params


def _png_params(source: Image.Image, xmp: bytes | None) -> dict[str, Any]:
    """PNG settings: the source's text chunks and XMP."""
    params: dict[str, Any] = {"compress_level": 6}
    # tEXt, zTXt and iTXt (language and translated keyword kept); XMP is an iTXt chunk.
    text = source.text if isinstance(source, PngImagePlugin.PngImageFile) else {}
    if text or xmp:
        pnginfo = PngImagePlugin.PngInfo()
        for key, value in text.items():
            pnginfo.add_text(key, value)
        if xmp and _PNG_XMP not in text:
            pnginfo.add_itxt(_PNG_XMP, xmp)
        params["pnginfo"] = pnginfo
    return params


#: What :func:`read_source` takes: a path, bytes, or a binary file open for reading (BytesIO).
ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]

_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://|data:)")


def read_source(source: ImageSource) -> tuple[bytes, str | None]:
    """The one input coercion: the bytes of an image given as a path, bytes, or a binary file
    open for reading (an open file, BytesIO), and its file name (printable) for messages.

    A URL is refused (seedless does not download inputs), and so is anything at a path that
    is not a regular file (a folder, a FIFO that would block forever, a device), with
    InvalidImageError; a missing or unreadable file raises the OSError that names it.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if _URL.match(path):
            raise InvalidImageError(
                f"{redact(path)[:200]!r} is a URL, and seedless reads images from files, bytes "
                "or open binary files, never from the network: download it first (for example "
                "httpx.get(url).content) and pass the bytes"
            )
        return _read_file(path), printable(os.path.basename(path)) or None
    read = getattr(source, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, str):
            raise TypeError("the file is open in text mode; open images with open(path, 'rb')")
        name = getattr(source, "name", None)
        label = printable(os.path.basename(name)) if isinstance(name, str) else None
        return bytes(data), label or None
    raise TypeError(
        f"cannot use {type(source).__name__} as an image: give a path, bytes, a binary file "
        "open for reading (or BytesIO), or a PIL image"
    )


_NOT_FILES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def _read_file(path: str) -> bytes:
    """A regular file's bytes. Opened without blocking, so a FIFO is refused, not waited on."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _NOT_FILES if test(mode)), "not a regular file")
            raise InvalidImageError(f"{path!r} is {kind}, not an image file")
        handle = open(fd, "rb")  # noqa: SIM115 - closed below, and it closes the descriptor
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return handle.read()


def load_image(source: ImageSource | Image.Image) -> Image.Image:
    """A PIL image as it is, or one decoded from a path, bytes or a binary file (see
    :func:`read_source` and :func:`decode`) and turned upright by its EXIF orientation."""
    if isinstance(source, Image.Image):
        return source
    data, name = read_source(source)
    image = editable(decode(data, name=name), name=name)
    return ImageOps.exif_transpose(image)


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
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(folder)


#: The permissions of files seedless writes: what a plain open() would give them.
FILE_MODE = 0o666 & ~_UMASK


def fsync_path(path: str) -> None:
    """Flush a written file's bytes to the disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (best effort; not on Windows)."""
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
