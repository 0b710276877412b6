"""Fixtures for the provider tests: the emulator, seedless clients wired to it, small pictures."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless.providers import imagen
from seedless.retry import RetryPolicy
from seedless.testing import Emulator

TODAY = date(2026, 11, 25)
#: Fast retries for tests: same semantics as the default policy, milliseconds instead of seconds
#: (polls of asynchronous services too).
FAST_RETRY = RetryPolicy(
    max_attempts=4, initial=0.01, max_backoff=0.05, total_timeout=10, poll_interval=0.01
)

ClientFactory = Callable[..., seedless.AsyncClient]


@pytest.fixture
def emu(seedless_emulator: Emulator) -> Emulator:
    """The running emulator (the plugin's ``seedless_emulator`` fixture under a short name)."""
    return seedless_emulator


@pytest.fixture(autouse=True)
def _imagen_notice_already_shown() -> Iterator[None]:
    """The once-per-process Imagen notice counts as shown, except where a test resets it."""
    imagen._reset_warning_for_tests(shown=True)
    yield
    imagen._reset_warning_for_tests(shown=True)


@pytest.fixture
async def make_client(emu: Emulator) -> AsyncIterator[ClientFactory]:
    """Build AsyncClients wired to the emulator (fast retries, pinned date); closed after."""
    made: list[seedless.AsyncClient] = []

    def factory(**kwargs: Any) -> seedless.AsyncClient:
        kwargs.setdefault("endpoints", emu.endpoints())
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("clock", lambda: TODAY)
        client = seedless.AsyncClient(**kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> seedless.AsyncClient:
    """An AsyncClient wired to the emulator."""
    return make_client()


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    """A small PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def pictures() -> tuple[bytes, bytes, bytes]:
    """A source photo and an approved before/after pair (three distinct PNGs)."""
    return picture((200, 120, 80)), picture((90, 160, 210)), picture((40, 80, 110))
