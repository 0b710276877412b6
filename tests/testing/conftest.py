"""Fixtures for the emulator tests: the plugin's fixture, SDK clients pointed at it, pictures."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from seedless.testing import Emulator, static_credentials


@pytest.fixture
def emu(seedless_emulator: Emulator) -> Emulator:
    """The running emulator (the plugin's ``seedless_emulator`` fixture under a short name)."""
    return seedless_emulator


@pytest.fixture
def gemini(emu: Emulator) -> Iterator[Any]:
    """A real google-genai client in Gemini API mode, pointed at the emulator, retries off."""
    genai = pytest.importorskip("google.genai")
    types = genai.types
    client = genai.Client(
        api_key=emu.gemini.api_key,
        http_options=types.HttpOptions(
            base_url=emu.gemini.url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    yield client
    client.close()


@pytest.fixture
def vertex(emu: Emulator) -> Iterator[Any]:
    """A real google-genai client in Vertex mode with static test credentials, retries off."""
    genai = pytest.importorskip("google.genai")
    types = genai.types
    client = genai.Client(
        vertexai=True,
        project=emu.vertex.project,
        location=emu.vertex.location,
        credentials=static_credentials(emu.vertex.token),
        http_options=types.HttpOptions(
            base_url=emu.vertex.url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    yield client
    client.close()


def _png(
    size: tuple[int, int] = (300, 200), colour: tuple[int, int, int] = (200, 120, 60)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    """``make_png(size=(300, 200), colour=(200, 120, 60))``: a plain PNG picture."""
    return _png


@pytest.fixture
def open_image() -> Callable[[bytes], Image.Image]:
    """``open_image(data)``: decoded bytes, fully loaded."""
    return _open
