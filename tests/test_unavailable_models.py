"""Models no one can call (the matrix's ``unavailable`` fact): refused before anything else."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

import seedless
from seedless.capabilities import check_available
from seedless.client import generate_request
from seedless.errors import UnsupportedCapabilityError
from seedless.matrix_doc import render_markdown

TODAY = date(2026, 11, 25)


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every attempt to open a connection is recorded and refused."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"a socket was opened to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


@pytest.mark.parametrize("name", ["midjourney", "mj", "midjourney:midjourney"])
def test_midjourney_is_refused_with_its_reason_and_seeded_alternatives(
    name: str, no_sockets: list[Any]
) -> None:
    with seedless.Client(clock=lambda: TODAY) as client:
        with pytest.raises(UnsupportedCapabilityError) as info:
            client.generate("a lighthouse at dusk", model=name, seed=7)
        assert not client.aio._providers  # no provider was even created
    error = info.value
    assert error.model == "midjourney:midjourney" and error.capability == "api"
    assert "no public API" in str(error) and "Community Guidelines" in str(error)
    assert error.alternatives, "the refusal names models to use instead"
    matrix = seedless.capabilities()
    for key in error.alternatives:
        row = matrix.get(key)
        assert row is not None and row.seed == "seeded" and row.unavailable is None
        assert "generate" in row.operations
    assert "Seeded models that can generate instead: " in str(error)
    assert no_sockets == []


def test_refused_without_any_endpoint_configured(no_sockets: list[Any]) -> None:
    client = seedless.AsyncClient(clock=lambda: TODAY)
    assert "midjourney" not in client.endpoints
    with pytest.raises(UnsupportedCapabilityError, match="no public API"):
        client.prepare(generate_request("x", model="midjourney"))


def test_the_fact_is_general_not_a_special_case(no_sockets: list[Any]) -> None:
    seedless.register_model(
        {"provider": "relay", "id": "flux-dev", "unavailable": "this relay withdrew it"}
    )
    with (
        seedless.Client(clock=lambda: TODAY) as client,
        pytest.raises(UnsupportedCapabilityError, match="this relay withdrew it"),
    ):
        client.generate("x", model="relay:flux-dev", seed=1)
    matrix = seedless.capabilities()
    spec = matrix.get("relay:flux-pro-1.1")
    assert spec is not None
    check_available(spec, matrix)  # rows without the fact pass
    alternatives = matrix.alternatives(spec, capability="seed", operation="generate")
    assert "relay:flux-dev" not in alternatives and "midjourney:midjourney" not in alternatives


def test_listings_show_the_row_as_unavailable() -> None:
    matrix = seedless.capabilities()
    table = matrix.table(today=TODAY)
    line = next(line for line in table.splitlines() if line.startswith("midjourney:midjourney"))
    assert "unavailable" in line
    page = render_markdown(matrix)
    assert "| `midjourney:midjourney` |" in page and "unavailable (no API)" in page
    assert "**Unavailable:** Midjourney has no public API" in page
    assert "docs.midjourney.com" in page
