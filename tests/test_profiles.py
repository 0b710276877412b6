"""Host profiles: which matrix rows an endpoint serves, and how each Flux host is spoken to.

The OpenAI-style Flux hosts are built-in endpoints with rows of their own (``together``,
``deepinfra``, ``relay``); an endpoint's ``profile`` names whose rows it serves besides its
own. Everything here is planned without I/O (``client.prepare``): the bodies are what each
host's published definition says (tests/definitions; the wire check runs on them too).
"""

from __future__ import annotations

import base64
import io
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless import Endpoint
from seedless.client import edit_request, generate_request
from seedless.config import default_endpoints, merge_endpoints
from seedless.errors import ConfigurationError, UnsupportedCapabilityError
from seedless.providers.openai import api_root
from wirecheck import check_planned


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a connection was opened while planning")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def _client(environ: dict[str, str] | None = None, *endpoints: Endpoint) -> Any:
    return seedless.AsyncClient(endpoints=endpoints, environ=environ or {})


# ------------------------------------------------------------------------- whose rows


@pytest.mark.parametrize(
    ("environ", "served"),
    [
        ({}, ("openai",)),
        ({"OPENAI_BASE_URL": "https://api.openai.com/v1"}, ("openai",)),
        ({"OPENAI_BASE_URL": "https://relay.example/v1"}, ("openai", "relay")),
    ],
)
def test_the_default_openai_endpoint_serves_flux_only_through_a_relay(
    environ: dict[str, str], served: tuple[str, ...]
) -> None:
    assert default_endpoints(environ)["openai"].row_providers() == served


def test_built_in_hosts_read_their_own_variables() -> None:
    endpoints = default_endpoints(
        {
            "TOGETHER_API_KEY": "tg-key-1234567890",
            "DEEPINFRA_TOKEN": "di-key-1234567890",
            "SEEDLESS_RELAY_URL": "https://relay.example",
            "SEEDLESS_RELAY_API_KEY": "rl-key-1234567890",
        }
    )
    together, deepinfra, relay = (endpoints[n] for n in ("together", "deepinfra", "relay"))
    assert together.base_url == "https://api.together.ai/v1" and together.key()
    assert together.row_providers() == ("together",)
    assert deepinfra.base_url == "https://api.deepinfra.com/v1/openai" and deepinfra.key()
    assert relay.base_url == "https://relay.example" and relay.row_providers() == (
        "relay",
        "openai",
    )
    assert api_root(deepinfra.base_url) == "https://api.deepinfra.com/v1/openai"


def test_a_profile_is_inherited_and_can_be_named() -> None:
    mine = Endpoint(name="together", protocol="openai", base_url="https://proxy.example/v1")
    merged = merge_endpoints(default_endpoints({}), [mine])
    assert merged["together"].row_providers() == ("together",)  # kept from the built-in
    own = Endpoint(name="gateway", protocol="openai", base_url="https://g.example", profile="relay")
    assert own.row_providers() == ("gateway", "relay")


def test_flux_on_openai_itself_is_refused_naming_the_profiles(no_network: None) -> None:
    client = _client()
    with pytest.raises(ConfigurationError) as info:
        client.prepare(generate_request("a fox", model="openai:flux-dev", seed=1))
    message = str(info.value)
    for key in ("together:flux-dev", "deepinfra:flux-dev", "relay:flux-dev"):
        assert key in message
    assert "Endpoint(name='myhost', protocol='openai', base_url=..., profile='relay')" in message
    relayed = _client({"OPENAI_BASE_URL": "https://relay.example/v1"})
    wire = relayed.prepare(generate_request("a fox", model="openai:flux-dev", seed=1)).calls[0]
    assert wire.wire.json["model"] == "flux-dev" and wire.wire.json["seed"] == 1


def test_the_relay_needs_a_url(no_network: None) -> None:
    with pytest.raises(ConfigurationError, match="SEEDLESS_RELAY_URL"):
        _client().prepare(generate_request("a fox", model="relay:flux-dev"))


def test_a_users_partial_row_for_a_moved_model_says_where_it_went() -> None:
    with pytest.raises(ConfigurationError) as info:
        seedless.register_model({"provider": "openai", "id": "flux-dev", "prices": {"*": 1.0}})
    assert "relay:flux-dev" in str(info.value) and "together:flux-dev" in str(info.value)


# ------------------------------------------------------------------- each host's spelling


def test_together_gets_togethers_spellings(no_network: None) -> None:
    """A Flux request on the Together profile: its model id, base64, width/height in multiples
    of 8, steps and guidance_scale, no webp (Together's OpenAPI description)."""
    client = _client()
    request = generate_request(
        "a fox", model="together:flux-dev", seed=5, aspect_ratio="16:9",
        options={"steps": 28, "guidance": 3.5},
    )  # fmt: skip
    wire = client.prepare(request).calls[0].wire
    assert wire.url == "https://api.together.ai/v1/images/generations"
    assert wire.json == {
        "model": "black-forest-labs/FLUX.1-dev",
        "prompt": "a fox",
        "n": 1,
        "width": 1368,
        "height": 768,
        "response_format": "base64",
        "seed": 5,
        "steps": 28,
        "guidance_scale": 3.5,
    }
    assert check_planned(wire) == []
    with pytest.raises(UnsupportedCapabilityError, match="image/jpeg, image/png"):
        client.prepare(
            generate_request("x", model="together:flux-dev", output_mime_type="image/webp")
        )
    with pytest.raises(UnsupportedCapabilityError, match=r"base64 \| url"):
        client.prepare(
            generate_request(
                "x", model="together:flux-dev", options={"response_format": "b64_json"}
            )
        )


def test_an_edit_on_together_is_a_generation_carrying_its_input(no_network: None) -> None:
    client = _client()
    png = _png()
    kontext = (
        client.prepare(
            edit_request([png], "make it darker", model="together:flux-kontext-pro", seed=2)
        )
        .calls[0]
        .wire
    )
    assert (kontext.path, kontext.form) == ("/v1/images/generations", None)
    assert kontext.json["image_url"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert kontext.json["model"] == "black-forest-labs/FLUX.1-kontext-pro"
    assert check_planned(kontext) == []
    flux2 = (
        client.prepare(
            edit_request([png, _png((8, 8))], "blend", model="together:flux-2-pro", seed=2)
        )
        .calls[0]
        .wire
    )
    assert [url[:22] for url in flux2.json["reference_images"]] == ["data:image/png;base64,"] * 2
    assert "image_url" not in flux2.json and check_planned(flux2) == []
    with pytest.raises(UnsupportedCapabilityError, match="at most 1 input image"):
        client.prepare(edit_request([png, png], "x", model="together:flux-kontext-pro"))


def test_deepinfra_takes_openais_shape_and_no_seed(no_network: None) -> None:
    client = _client()
    wire = (
        client.prepare(
            generate_request("a fox", model="deepinfra:flux-schnell", size="1K", aspect_ratio="3:2")
        )
        .calls[0]
        .wire
    )
    assert wire.url == "https://api.deepinfra.com/v1/openai/images/generations"
    assert wire.json == {
        "model": "black-forest-labs/FLUX-1-schnell",
        "prompt": "a fox",
        "n": 1,
        "size": "1248x832",
        "response_format": "b64_json",
    }
    assert check_planned(wire) == []
    with pytest.raises(UnsupportedCapabilityError) as info:
        client.prepare(generate_request("a fox", model="deepinfra:flux-schnell", seed=1))
    assert info.value.alternatives[:2] == ["relay:flux-schnell", "together:flux-schnell"]


def test_the_relay_keeps_the_openai_style_flux_fields(no_network: None) -> None:
    client = _client({"SEEDLESS_RELAY_URL": "https://relay.example"})
    wire = (
        client.prepare(
            generate_request(
                "a fox", model="relay:flux-dev", seed=3, size="1K", aspect_ratio="16:9"
            )
        )
        .calls[0]
        .wire
    )
    assert wire.url == "https://relay.example/v1/images/generations"
    assert (wire.json["width"], wire.json["height"]) == (1376, 768)  # BFL's multiples of 32
    assert wire.json["response_format"] == "b64_json" and check_planned(wire) == []
    with pytest.raises(UnsupportedCapabilityError, match="multiples of 32"):
        client.prepare(generate_request("a fox", model="relay:flux-dev", size="1000x700"))
    edit = client.prepare(edit_request([_png()], "darker", model="relay:flux-kontext-pro"))
    assert edit.calls[0].wire.path == "/v1/images/edits"  # only the relay takes multipart edits


def test_models_check_reads_a_hosts_own_ids_back() -> None:
    """`seedless models check` on Together: the rows' wire ids stand for the matrix ids."""
    from datetime import date

    from seedless.drift import check

    together = default_endpoints({})["together"]
    served = ["black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell", "meta/llama"]
    drift = check(seedless.capabilities(), together, served, today=date(2026, 11, 25))
    assert "flux-dev" not in drift.missing and "flux-schnell" not in drift.missing
    assert "flux-2-pro" in drift.missing  # a Together row the listing lacks
    assert not any(m.startswith("black-forest-labs/") for m in drift.unknown)


async def test_listing_the_relay_without_a_url_says_so(no_network: None) -> None:
    from seedless.drift import list_models

    with pytest.raises(ConfigurationError, match="SEEDLESS_RELAY_URL"):
        await list_models(default_endpoints({})["relay"])
    with pytest.raises(ConfigurationError, match="TOGETHER_API_KEY"):
        await list_models(default_endpoints({})["together"])
