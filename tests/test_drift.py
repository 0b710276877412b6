"""`seedless models check` against the emulator: one missing and one unknown model."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

import seedless
from seedless.cli import main
from seedless.drift import check, list_models
from seedless.testing import Emulator

TODAY = date(2026, 11, 25)
ACTIVE_GEMINI = [
    "gemini-nano-banana-2.1",
    "gemini-3-pro-image",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite-image",
]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Any:
    with Emulator() as emulator:
        gemini = emulator.gemini
        for model_id in list(gemini.models):
            if model_id not in ACTIVE_GEMINI:
                del gemini.models[model_id]
        gemini.retired.add(
            "gemini-3.1-flash-lite-image"
        )  # the matrix has it; the endpoint no longer
        gemini.add_model("gemini-4-image-preview", seeded=False)  # launched this morning
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        yield emulator


async def test_drift_reports_one_missing_and_one_unknown(emu: Any) -> None:
    endpoint = seedless.Endpoint(
        name="gemini", protocol="gemini", api_key=emu.gemini.api_key, base_url=emu.gemini.url
    )
    served = await list_models(endpoint)
    drift = check(seedless.capabilities(), endpoint, served, today=TODAY)
    assert drift.unknown == ["gemini-4-image-preview"]
    assert drift.missing == ["gemini-3.1-flash-lite-image"]
    listing = [r for r in emu.gemini.requests if r.method == "GET"]
    assert listing and listing[0].path.endswith("/models")


def test_cli_prints_the_drift(emu: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["models", "check", "--provider", "gemini", "--json", "--today", "2026-11-25"])
    report = json.loads(capsys.readouterr().out)[0]
    assert status == 1
    assert report["unknown"] == ["gemini-4-image-preview"]
    assert report["missing"] == ["gemini-3.1-flash-lite-image"]
    assert main(["models", "check", "--provider", "gemini", "--today", "2026-11-25"]) == 1
    text = capsys.readouterr().out
    assert "served but not in the matrix" in text and "gemini-4-image-preview" in text


def test_openai_listing_and_dates(emu: Any) -> None:
    async def run() -> Any:
        endpoint = seedless.Endpoint(
            name="openai", protocol="openai", api_key=emu.openai.api_key, base_url=emu.openai.url
        )
        return check(seedless.capabilities(), endpoint, await list_models(endpoint), today=TODAY)

    import asyncio

    drift = asyncio.run(run())
    assert "flux-dev" in drift.served
    assert any(item.startswith("dall-e-3: shutdown 2026-05-12") for item in drift.dated)


def test_vertex_checks_dates_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "check", "--provider", "vertex", "--today", "2026-11-25"]) == 1
    out = capsys.readouterr().out
    assert "imagen-4.0-generate-001: shutdown 2026-08-17 has passed" in out
    assert "listing unavailable" in out


def test_host_names_from_model_ids_count_as_served() -> None:
    endpoint = seedless.Endpoint(
        name="together",
        protocol="openai",
        model_ids={"flux-dev": "black-forest-labs/FLUX.1-dev"},
    )
    served = ["black-forest-labs/FLUX.1-dev", "flux-schnell"]
    drift = check(seedless.capabilities(), endpoint, served, today=TODAY)
    assert "flux-dev" not in drift.missing and "flux-schnell" not in drift.missing
    assert "black-forest-labs/FLUX.1-dev" not in drift.unknown


async def test_a_failed_listing_keeps_url_credentials_out_of_the_error(emu: Any) -> None:
    base = emu.openai.origin.replace("http://", "http://bob:url-password-2468@") + "/api"
    endpoint = seedless.Endpoint(
        name="openai", protocol="openai", api_key=emu.openai.api_key, base_url=base
    )
    with pytest.raises(seedless.ProviderError) as info:
        await list_models(endpoint)
    assert info.value.status == 404
    for text in (str(info.value), info.value.provider):
        assert "url-password-2468" not in text and "bob:[secure]@" in text
