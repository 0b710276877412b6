"""The one input coercion (``seedless.images.read_source`` / ``ImageInput.of``) and the checks
every input passes before it is sent or edited: each entry point takes the same things and
refuses the same things, naming the file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

import seedless
from _imagebytes import animated, encoded, photo, png_header
from seedless import Adjust, EditRequest, ImageInput, InvalidImageError
from seedless.images import inspect, read_source

BRIGHTER = Adjust(brightness=1.2)


@pytest.fixture
def jpeg_file(tmp_path: Path) -> Path:
    path = tmp_path / "shot.jpg"
    path.write_bytes(photo())
    return path


def test_every_entry_point_takes_a_path_bytes_a_binary_file_bytesio_and_pil(
    jpeg_file: Path,
) -> None:
    data = jpeg_file.read_bytes()
    expected = BRIGHTER.apply(Image.open(jpeg_file)).tobytes()
    with open(jpeg_file, "rb") as handle:
        sources = [jpeg_file, str(jpeg_file), data, bytearray(data), handle, io.BytesIO(data)]
        for source in sources:
            if hasattr(source, "seek"):
                source.seek(0)
            assert BRIGHTER.apply(source).tobytes() == expected, type(source)
            if hasattr(source, "seek"):
                source.seek(0)
            assert ImageInput.of(source).data == data, type(source)
    assert ImageInput.of(jpeg_file).name == "shot.jpg"
    with open(jpeg_file, "rb") as handle:
        assert ImageInput.of(handle).name == "shot.jpg"
    assert ImageInput.of(Image.open(jpeg_file)).mime_type == "image/png"
    fitted = seedless.fit_effect(jpeg_file, BRIGHTER.apply(jpeg_file))
    assert fitted.apply(data).size == fitted.apply(jpeg_file).size == (64, 48)
    with seedless.Client() as client, open(jpeg_file, "rb") as handle:
        out = client.edit(handle, effect=BRIGHTER)
    assert out.image.to_pil().size == (64, 48)


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.jpg", "http://x/y.png?sig=abc123def", "s3://b/k.jpg"]
)
def test_a_url_is_refused_clearly_not_taken_for_a_path(url: str) -> None:
    for entry in (ImageInput.of, BRIGHTER.apply, read_source):
        with pytest.raises(InvalidImageError, match=r"is a URL.*download it first"):
            entry(url)  # type: ignore[operator]
    with pytest.raises(InvalidImageError) as caught:
        ImageInput.of("http://x/y.png?sig=abc123def")
    assert "abc123def" not in str(caught.value)


def test_a_non_image_file_is_named_never_shown_as_a_bytesio(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("shopping list: eggs, milk\n")
    for entry in (ImageInput.of, BRIGHTER.apply):
        with pytest.raises(InvalidImageError, match=r"'notes\.jpg'.*not a JPEG.*but text") as e:
            entry(text)  # type: ignore[operator]
        assert "BytesIO" not in str(e.value)
    with pytest.raises(InvalidImageError, match=r"the original image.*'notes\.jpg'"):
        seedless.fit_effect(text, text)
    with pytest.raises(InvalidImageError, match=r"not a JPEG.*but text"):
        ImageInput.of(b"just some text")


def test_text_mode_files_and_other_objects_get_a_type_error(jpeg_file: Path) -> None:
    with open(jpeg_file, encoding="latin-1") as handle, pytest.raises(TypeError, match="'rb'"):
        ImageInput.of(handle)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot use int as an image"):
        ImageInput.of(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: b"", "is empty"),
        (lambda: photo((640, 480))[:-300], "truncated"),
        (lambda: photo((640, 480), fmt="PNG")[:-30], "truncated|damaged"),
        (lambda: photo((300, 200), fmt="WEBP")[:-40], "cannot be read|truncated"),
        (lambda: b"<html><body>Not found</body></html>", "but text"),
        (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
        (lambda: png_header(20_000, 10_000), "200,000,000 pixels.*decompression bomb"),
        (lambda: animated("GIF"), "3 frames"),
        (lambda: animated("WEBP"), "3 frames"),
        (lambda: animated("PNG"), "3 frames"),
    ],
    ids=["empty", "jpeg-cut", "png-cut", "webp-cut", "html", "heic", "bomb", "gif", "webp", "apng"],
)
def test_inputs_are_checked_before_they_go_anywhere(
    tmp_path: Path, make: object, match: str
) -> None:
    path = tmp_path / "input.jpg"
    path.write_bytes(make())  # type: ignore[operator]
    with pytest.raises(InvalidImageError, match=match) as caught:
        ImageInput.of(path)
    assert "'input.jpg'" in str(caught.value)
    with pytest.raises(InvalidImageError, match=match):
        EditRequest(images=[str(path)], prompt="x", model="openai:flux-kontext-pro")


def test_a_truncated_jpeg_with_an_embedded_thumbnail_is_still_caught() -> None:
    main = encoded(Image.linear_gradient("L").resize((320, 240)).convert("RGB"), "JPEG")
    thumb = encoded(Image.new("RGB", (16, 16), "red"), "JPEG")  # its own EOI, early on
    segment = b"\xff\xe2" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    data = main[:2] + segment + main[2:]
    assert inspect(data).width == 320
    with pytest.raises(InvalidImageError, match="truncated"):
        inspect(data[:-200])


def test_folders_fifos_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    with pytest.raises(InvalidImageError, match="is a folder"):
        ImageInput.of(folder)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "x.jpg"
        os.mkfifo(fifo)
        with pytest.raises(InvalidImageError, match="FIFO"):
            ImageInput.of(fifo)  # would block forever on a plain open()
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        ImageInput.of(tmp_path / "missing.jpg")


def test_non_utf8_file_names_become_printable_names(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"  # Latin-1, not UTF-8
    with open(raw, "wb") as handle:
        handle.write(photo())
    path = os.fsdecode(raw)
    image = ImageInput.of(path)
    assert image.name == "caf\ufffd.jpg"
    image.name.encode("utf-8")  # sendable (a multipart file name, a ledger row, a log line)
    assert BRIGHTER.apply(path).size == (64, 48)


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "F", "I"])
def test_one_mode_rule_for_applying_and_fitting_naming_the_file(tmp_path: Path, mode: str) -> None:
    image = Image.new("RGB", (32, 32), (120, 90, 60)).convert(mode)
    path = tmp_path / f"odd-{mode.replace(';', '')}.tif"
    image.save(path)
    name = repr(path.name)
    with pytest.raises(InvalidImageError, match=f"{name}.*mode {mode}"):
        BRIGHTER.apply(path)
    with pytest.raises(InvalidImageError, match=f"{name}.*mode {mode}"):
        seedless.fit_effect(path, path)
    with seedless.Client() as client, pytest.raises(InvalidImageError, match=name):
        client.edit(path, effect=BRIGHTER)
