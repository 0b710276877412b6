"""Shared fixtures: a pinned date, a clean matrix registry and warning state, sample photos."""

from __future__ import annotations

import functools
import signal
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from seedless import _registry
from seedless._validate import _reset_warnings_for_tests
from seedless.capabilities import _reset_registry_for_tests
from seedless.errors import RequestError

pytest_plugins = ["seedless.testing.pytest_plugin", "wirecheck.plugin"]

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "examples" / "photos"
TODAY = date(2026, 11, 25)
#: Variables a developer's machine may set that would point SDKs at real services.
_ENVIRONMENT = (
    "GOOGLE_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL", "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_API_VERSION", "SEEDLESS_FORGE_URL", "SEEDLESS_FORGE_AUTH",
    "SEEDLESS_COMFYUI_URL", "SEEDLESS_COMFYUI_AUTH",
    "GOOGLE_GENAI_API_VERSION", "BFL_API_KEY", "SEEDLESS_BFL_URL", "STABILITY_API_KEY",
    "SEEDLESS_STABILITY_URL",
)  # fmt: skip


# A shell without job control starts a background command (`pytest &`, `bash .ci/run &`) with
# Ctrl-C ignored, and every process it starts inherits that: the tests that send SIGINT to a
# child to check Ctrl-C handling then saw it ignored and the child run to its end. Give the
# suite Python's own handler back, so its children start with the default one.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_matrix(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No user models.toml leaks in; registered rows and once-per-process warnings reset."""
    monkeypatch.delenv("SEEDLESS_MODELS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("SEEDLESS_HOME", str(tmp_path_factory.mktemp("home")))  # calls ledger
    for name in (
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_VERTEX_BASE_URL",
        "SEEDLESS_FORGE_URL",
        "SEEDLESS_FORGE_AUTH",
        "SEEDLESS_COMFYUI_URL",
        "SEEDLESS_COMFYUI_AUTH",
        "BFL_API_KEY",
        "SEEDLESS_BFL_URL",
        "STABILITY_API_KEY",
        "SEEDLESS_STABILITY_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    _reset_registry_for_tests()
    _reset_warnings_for_tests()
    yield
    _reset_registry_for_tests()
    _reset_warnings_for_tests()


def _provider_classes() -> list[type]:
    """Every registered provider that is a class with a two-phase ``send``."""
    classes = []
    for protocol in _registry.known_protocols():
        factory = _registry.load_factory(protocol)
        if isinstance(factory, type) and callable(getattr(factory, "send", None)):
            classes.append(factory)
    return classes


_PROVIDER_CLASSES = _provider_classes()


@pytest.fixture(autouse=True)
def _refusals_come_from_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider refuses a request in ``send``: every refusal belongs to ``plan``, which
    ``prepare()`` runs before anything is reserved or sent (see tests/test_refusals.py)."""
    for cls in _PROVIDER_CLASSES:
        send = cls.send

        @functools.wraps(send)
        async def guarded(self: Any, wire: Any, spec: Any, *, _send: Any = send) -> Any:
            try:
                return await _send(self, wire, spec)
            except RequestError as exc:
                pytest.fail(f"{type(self).__name__}.send raised a refusal, not plan(): {exc!r}")

        monkeypatch.setattr(cls, "send", guarded)


@pytest.fixture
def today() -> date:
    return TODAY


@pytest.fixture
def photos() -> list[Path]:
    files = sorted(p for p in PHOTOS.iterdir() if p.suffix in (".jpg", ".png"))
    assert files, "examples/photos is empty"
    return files
