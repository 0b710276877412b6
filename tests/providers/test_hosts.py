"""Flux on Together and DeepInfra, end to end: seedless, httpx, and their emulators.

Each host's emulator takes exactly its published definition's fields (the wire check also runs
on every exchange here), so a request in another host's spelling fails as it would there.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from PIL import Image

from seedless import Client, RetryPolicy
from seedless.errors import ProviderError, UnsupportedCapabilityError
from seedless.testing import Emulator

TODAY = date(2026, 11, 25)


def _png(colour: tuple[int, int, int] = (200, 150, 90), size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[Client]:
    with emu.client(retry=RetryPolicy(max_attempts=1), clock=lambda: TODAY) as seedless_client:
        yield seedless_client


def test_together_generation_in_togethers_spelling(emu: Emulator, client: Client) -> None:
    first = client.generate(
        "a lighthouse", model="together:flux-dev", seed=11, aspect_ratio="3:2",
        options={"steps": 20, "guidance": 4.0},
    )  # fmt: skip
    again = client.generate(
        "a lighthouse", model="together:flux-dev", seed=11, aspect_ratio="3:2",
        options={"steps": 20, "guidance": 4.0},
    )  # fmt: skip
    assert first.image.data == again.image.data  # seeded: the same picture
    sent = emu.together.requests[0]
    assert sent.path == "/v1/images/generations"
    assert sent.body == {
        "model": "black-forest-labs/FLUX.1-dev",
        "prompt": "a lighthouse",
        "n": 1,
        "width": 1256,
        "height": 840,
        "response_format": "base64",
        "seed": 11,
        "steps": 20,
        "guidance_scale": 4.0,
    }
    answer = emu.together.answers[0].json
    assert answer["object"] == "list" and answer["data"][0]["type"] == "b64_json"
    assert first.image.mime_type == "image/jpeg"  # Together's default output format
    assert first.image.model == "flux-dev" and first.image.sent["model"] == sent.body["model"]


def test_together_url_answers_and_png(emu: Emulator, client: Client) -> None:
    out = client.generate(
        "a fox", model="together:flux-schnell", seed=1, output_mime_type="image/png",
        options={"response_format": "url"},
    )  # fmt: skip
    assert out.image.mime_type == "image/png"
    item = emu.together.answers[0].json["data"][0]
    assert item["type"] == "url" and item["url"].startswith(emu.together.origin + "/files/")


def test_a_kontext_edit_on_together_is_a_generation_with_image_url(
    emu: Emulator, client: Client
) -> None:
    source = _png()
    first = client.edit(source, "make it darker", model="together:flux-kontext-pro", seed=5)
    again = client.edit(source, "make it darker", model="together:flux-kontext-pro", seed=5)
    assert first.image.data == again.image.data
    sent = emu.together.requests[0]
    assert sent.path == "/v1/images/generations" and sent.form is None
    assert sent.body["image_url"] == "data:image/png;base64," + base64.b64encode(source).decode()
    before = Image.open(io.BytesIO(source)).convert("L").getpixel((4, 4))
    after = first.image.to_pil().convert("L").getpixel((4, 4))
    assert isinstance(before, int) and isinstance(after, int) and after < before


def test_a_flux_2_edit_on_together_sends_reference_images(emu: Emulator, client: Client) -> None:
    client.edit(
        [_png(), _png((10, 20, 30))], "blend", model="together:flux-2-flex", seed=2,
        options={"steps": 30, "guidance": 5},
    )  # fmt: skip
    body = emu.together.requests[0].body
    assert len(body["reference_images"]) == 2 and "image_url" not in body
    assert body["model"] == "black-forest-labs/FLUX.2-flex"


def test_deepinfra_in_openais_shape_and_without_a_seed(emu: Emulator, client: Client) -> None:
    out = client.generate("a fox", model="deepinfra:flux-schnell", size="1K", aspect_ratio="1:1")
    sent = emu.deepinfra.requests[0]
    assert sent.path == "/v1/openai/images/generations"
    assert sent.body == {
        "model": "black-forest-labs/FLUX-1-schnell",
        "prompt": "a fox",
        "n": 1,
        "size": "1024x1024",
        "response_format": "b64_json",
    }
    assert out.image.mime_type == "image/jpeg"
    with pytest.raises(UnsupportedCapabilityError) as info:
        client.generate("a fox", model="deepinfra:flux-schnell", seed=1)
    assert info.value.alternatives[:2] == ["relay:flux-schnell", "together:flux-schnell"]
    assert len(emu.deepinfra.requests) == 1  # refused before anything was sent


def test_a_field_in_another_hosts_spelling_is_refused_by_the_host(
    emu: Emulator, client: Client
) -> None:
    """An endpoint that renames a field away from Together's definition gets Together's 400."""
    from seedless import Endpoint

    wrong = Endpoint(
        name="together", protocol="openai", base_url=emu.together.url,
        api_key=emu.together.api_key, field_names={"guidance": "guidance"},  # type: ignore[arg-type]
    )  # fmt: skip
    with (
        Client(endpoints=[wrong], retry=RetryPolicy(max_attempts=1), clock=lambda: TODAY) as c,
        pytest.raises(ProviderError, match="'guidance'") as info,
    ):
        c.generate("a fox", model="together:flux-dev", options={"guidance": 3})
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("response_format", "b64_json", "invalid_value"),
        ("output_format", "webp", "invalid_value"),
        ("size", "1024x1024", "unknown_parameter"),
        ("guidance", 3.5, "unknown_parameter"),
        ("n", 5, "invalid_value"),
        ("image_url", "https://example.com/cat.png", "invalid_value"),
    ],
)
def test_the_together_emulator_takes_togethers_definition(
    emu: Emulator, field: str, value: object, code: str
) -> None:
    body = {"model": "black-forest-labs/FLUX.1-schnell", "prompt": "x", field: value}
    answer = httpx.post(
        f"{emu.together.url}/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {emu.together.api_key}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["param"] == field


def test_the_hosts_have_no_edits_endpoint_or_listing(emu: Emulator) -> None:
    headers = {"Authorization": f"Bearer {emu.together.api_key}"}
    assert httpx.post(f"{emu.together.url}/images/edits", headers=headers).status_code == 404
    assert httpx.get(f"{emu.together.url}/models", headers=headers).status_code == 404
    deepinfra = {"Authorization": f"Bearer {emu.deepinfra.api_key}"}
    seeded = httpx.post(
        f"{emu.deepinfra.url}/images/generations",
        json={"model": "black-forest-labs/FLUX-1-dev", "prompt": "x", "seed": 3},
        headers=deepinfra,
    )
    assert seeded.status_code == 400 and seeded.json()["error"]["param"] == "seed"
