"""Decompression bombs near and past the cap (180 MP), in many threads at once: the same
answer every time, Pillow's process-wide threshold and the warnings filters left alone."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

import seedless
from _imagebytes import png_header
from seedless.errors import InvalidImageError
from seedless.images import MAX_PIXELS, decode, inspect

GFX100 = (11648, 8736)  # a 100-megapixel medium-format frame
NEAR = (15000, 11300)  # 169.5 MP: over Pillow's own threshold, under seedless's
PAST = (20000, 10000)  # 200 MP


def _verdict(data: bytes) -> str:
    try:
        inspect(data)
    except InvalidImageError as exc:
        return "bomb" if "decompression bomb" in str(exc) else f"other: {exc}"
    return "ok"


def test_the_cap_is_the_documented_180_megapixels() -> None:
    assert MAX_PIXELS == 180_000_000
    assert _verdict(png_header(*GFX100)) == "ok"
    assert _verdict(png_header(*NEAR)) == "ok"
    assert _verdict(png_header(*PAST)) == "bomb"
    with pytest.raises(InvalidImageError, match=r"'big\.png' is 20000x10000"):
        decode(png_header(*PAST), name="big.png")


def test_the_same_answer_in_every_thread_without_touching_process_state() -> None:
    pillow_limit = Image.MAX_IMAGE_PIXELS
    filters = list(warnings.filters)
    cases = [png_header(*NEAR), png_header(*PAST), png_header(*GFX100)] * 40
    with warnings.catch_warnings(record=True) as caught:  # this thread only runs the pool
        warnings.simplefilter("always")
        with ThreadPoolExecutor(8) as pool:
            verdicts = list(pool.map(_verdict, cases))
    assert verdicts == ["ok", "bomb", "ok"] * 40
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert pillow_limit == Image.MAX_IMAGE_PIXELS and warnings.filters == filters


@pytest.mark.slow
def test_a_100_megapixel_photo_is_edited_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "gfx100.png"
    Image.new("L", GFX100, 100).save(path, compress_level=1)
    with seedless.Client() as client:
        out = client.edit(path, effect=seedless.Adjust(brightness=1.1))
    edited = decode(out.image.data)  # Pillow's own open would warn (89.5 MP threshold)
    assert edited.size == GFX100 and edited.getpixel((5, 5)) == 110
