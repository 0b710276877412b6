"""Remote edits check every input before anything is uploaded: each bad input is refused as
InvalidImageError naming the file, and the emulated services see no request at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from _imagebytes import animated, photo, png_header
from seedless import InvalidImageError
from seedless.testing import Emulator

BAD: dict[str, Callable[[Path], None]] = {
    "empty.jpg": lambda path: path.write_bytes(b""),
    "cut.jpg": lambda path: path.write_bytes(photo((640, 480))[:-400]),
    "notes.jpg": lambda path: path.write_text("dear diary"),
    "bomb.png": lambda path: path.write_bytes(png_header(50_000, 50_000)),
    "moving.gif": lambda path: path.write_bytes(animated("GIF")),
    "still.gif": lambda path: Image.new("RGB", (16, 16)).save(path, format="GIF"),
    "scan.tif": lambda path: Image.new("RGB", (16, 16)).save(path, format="TIFF"),
    "paint.bmp": lambda path: Image.new("RGB", (16, 16)).save(path, format="BMP"),
}


@pytest.mark.parametrize("model", ["gemini:gemini-3-pro-image", "openai:gpt-image-2"])
@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_input_is_refused_by_name_before_any_upload(
    seedless_emulator: Emulator, tmp_path: Path, model: str, name: str
) -> None:
    path = tmp_path / name
    BAD[name](path)
    with seedless_emulator.client() as client, pytest.raises(InvalidImageError) as caught:
        client.edit(path, "make it moody", model=model)
    assert repr(name) in str(caught.value)
    assert seedless_emulator.requests == []  # nothing was sent


def test_formats_a_model_takes_go_through(seedless_emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "fine.webp"
    path.write_bytes(photo(fmt="WEBP"))
    with seedless_emulator.client() as client:
        assert client.edit(path, "make it moody", model="gemini:gemini-3-pro-image").image
