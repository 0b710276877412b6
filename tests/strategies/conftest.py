"""Fixtures for the strategy tests: fake model rows and clients, the approved pair."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from strategy_helpers import TARGET, TODAY, Truth, brighten, small_photo

import seedless
from seedless import FunctionProvider


@pytest.fixture
def fake_rows() -> None:
    """Register fake:nano (no seed, 14 references) and fake:seeded (seeded) in the matrix."""
    seedless.register_model(
        {"provider": "fake", "id": "nano", "operations": ["generate", "edit"], "seed": "none",
         "max_reference_images": 14, "prices": {"*": 0.04}}
    )  # fmt: skip
    seedless.register_model(
        {"provider": "fake", "id": "seeded", "operations": ["generate", "edit"],
         "seed": "seeded", "seed_range": [0, 2**31 - 1], "max_reference_images": 1,
         "prices": {"*": 0.03}}
    )  # fmt: skip


@pytest.fixture
def truth() -> Truth:
    return Truth()


@pytest.fixture
def make_client(fake_rows: None, truth: Truth) -> Iterator[Callable[..., seedless.Client]]:
    """``make_client(handler=truth)``: a sync Client with the fake provider; closed after."""
    clients: list[seedless.Client] = []

    def make(handler: Any = None, **kwargs: Any) -> seedless.Client:
        provider = FunctionProvider(handler or truth)
        client = seedless.Client(providers={"fake": provider}, clock=lambda: TODAY, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def pair() -> tuple[bytes, bytes]:
    """(original, approved): the coffee photo and the same photo at TARGET brightness."""
    original = small_photo("coffee.jpg")
    return original, brighten(original, TARGET)
