"""The ``seedless_emulator`` pytest fixture: a started :class:`~seedless.testing.Emulator`.

Enable it in a project's root ``conftest.py`` with
``pytest_plugins = ["seedless.testing.pytest_plugin"]``, then::

    def test_my_code(seedless_emulator):
        client = seedless_emulator.client()
        ...

Each test gets its own emulator on fresh ephemeral ports, stopped (threads joined) after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._emulator import Emulator

__all__ = ["seedless_emulator"]


@pytest.fixture
def seedless_emulator() -> Iterator[Emulator]:
    """A running loopback emulator of the Gemini API, Vertex AI and an OpenAI images API."""
    with Emulator() as emulator:
        yield emulator
