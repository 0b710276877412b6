"""The matrix's batch facts: which models and endpoints have a provider batch engine, and the
batch price (half the list price, overridable per endpoint like prices)."""

from __future__ import annotations

import pytest

import seedless
from seedless import Endpoint


def client(*endpoints: Endpoint) -> seedless.AsyncClient:
    return seedless.AsyncClient(endpoints=endpoints, environ={})


def test_gemini_image_models_have_batch_mode_at_half_price() -> None:
    engine = client()
    spec = engine.resolve("gemini:gemini-3-pro-image")
    assert spec.batch is not None and spec.batch.engine == "gemini"
    assert engine.batch_engine(spec) == "gemini"
    assert engine.batch_price(spec, "4K") == pytest.approx(0.24 / 2)
    assert engine.batch_price(spec, None) == pytest.approx(0.134 / 2)  # the default size
    # the same model on Vertex: no batch engine seedless drives
    assert engine.batch_engine(engine.resolve("vertex:gemini-3-pro-image")) is None


def test_openai_batch_only_on_openai_itself_or_when_declared() -> None:
    own = client()
    spec = own.resolve("openai:gpt-image-2")
    assert own.batch_engine(spec) == "openai"  # no base URL: api.openai.com
    relay = client(Endpoint(name="openai", protocol="openai", base_url="https://relay.example"))
    assert relay.batch_engine(relay.resolve("openai:gpt-image-2")) is None
    declared = client(Endpoint(name="openai", protocol="openai", base_url="https://relay.example",
                               batch_engine=True))  # fmt: skip
    assert declared.batch_engine(declared.resolve("openai:gpt-image-2")) == "openai"
    assert relay.batch_engine(relay.resolve("openai:flux-dev")) is None  # Flux relays: none
    assert own.batch_engine(own.resolve("local:pillow")) is None
    off = client(Endpoint(name="gemini", protocol="gemini", batch_engine=False))
    assert off.batch_engine(off.resolve("gemini:gemini-3-pro-image")) is None


def test_batch_price_follows_list_price_overrides_and_its_own() -> None:
    listed = client(Endpoint(name="openai", protocol="openai", prices={"gpt-image-2": 0.05}))
    spec = listed.resolve("openai:gpt-image-2")
    assert listed.price(spec, None) == 0.05 and listed.batch_price(spec, None) == 0.025
    own = client(Endpoint(name="openai", protocol="openai", prices={"gpt-image-2": 0.05},
                          batch_prices={"gpt-image-2": 0.02}))  # fmt: skip
    assert own.batch_price(own.resolve("openai:gpt-image-2"), None) == 0.02
    assert client().batch_price(client().resolve("openai:gpt-image-2"), None) is None


def test_models_with_a_batch_engine_are_listed() -> None:
    found = client().batch_models()
    assert "gemini:gemini-3-pro-image" in found and "openai:gpt-image-2" in found
    assert not [m for m in found if m.startswith(("vertex:", "local:"))]
