"""The ``stability`` provider (Stability AI's Stable Image API), end to end through the emulator."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

import seedless
from seedless import Endpoint
from seedless.capabilities import capabilities
from seedless.client import edit_request, generate_request
from seedless.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentBlockedError,
    ProviderError,
    RateLimitError,
    UnsupportedCapabilityError,
)
from seedless.providers.stability import StabilityProvider, service_of
from seedless.testing import Emulator, FilePart

ClientFactory = Callable[..., seedless.AsyncClient]


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


SOURCE = _png((200, 120, 80))


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("stability:stable-image-ultra", {"style_preset": "cinematic"}),
        ("stability:stable-image-core", {}),
        ("stability:sd3.5-large", {"cfg_scale": 5}),
        ("stability:sd3.5-large-turbo", {}),
        ("stability:sd3.5-medium", {}),
    ],
)
async def test_the_same_seed_twice_gives_identical_bytes(
    client: seedless.AsyncClient, emu: Emulator, model: str, options: dict[str, Any]
) -> None:
    async def run(seed: int) -> seedless.ImageResult:
        out = await client.generate(
            "a lighthouse at dusk", model=model, seed=seed, aspect_ratio="16:9",
            negative_prompt="fog", options=options,
        )  # fmt: skip
        return out.image

    first, second, other = await run(4242), await run(4242), await run(4243)
    assert first.data == second.data and first.sha256 == second.sha256
    assert other.sha256 != first.sha256
    assert first.usage == {"finish_reason": "SUCCESS", "seed": 4242}
    sent = emu.stability.requests[0]
    service, model_field = service_of(model.partition(":")[2])
    assert sent.path == f"/v2beta/stable-image/generate/{service}"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["authorization"] == "Bearer [secure]"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.form is not None and sent.form["seed"] == "4242"
    assert sent.form.get("model") == model_field


async def test_without_a_seed_stability_picks_one_and_it_is_recorded_for_replay(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate("x", model="stability:stable-image-core")
    seed = out.image.seed
    assert seed is not None and 1 <= seed <= 4294967294 and out.image.usage["seed"] == seed
    assert out.image.seed_mode == "seeded"
    assert "seed" not in (emu.stability.requests[0].form or {})
    again = await client.generate("x", model="stability:stable-image-core")
    assert again.image.sha256 != out.image.sha256  # another seed picked
    replay = await client.generate("x", model="stability:stable-image-core", seed=seed)
    assert replay.image.sha256 == out.image.sha256  # the seed reported is the seed used
    assert emu.stability.requests[-1].form is not None
    assert emu.stability.requests[-1].form["seed"] == str(seed)


async def test_refusals_before_any_io(client: seedless.AsyncClient, emu: Emulator) -> None:
    cases: list[tuple[Any, str]] = [
        (generate_request("x", model="stability:sd3.5-large", seed=0), "seeds from 1"),
        (generate_request("x", model="stability:sd3.5-large", seed=2**32), "4294967294"),
        (generate_request("x", model="stability:sd3.5-medium", aspect_ratio="4:3"), "'4:3'"),
        (edit_request([SOURCE], "darker", model="stability:sd3.5-large"), "strength"),
        (
            edit_request(
                [SOURCE],
                "x",
                model="stability:sd3.5-large",
                aspect_ratio="1:1",
                options={"strength": 0.5},
            ),
            "text-to-image only",
        ),
        (edit_request([SOURCE], "x", model="stability:stable-image-core"), "cannot edit"),
        (
            generate_request(
                "x", model="stability:stable-image-ultra", options={"style_preset": "watercolour"}
            ),
            "style_preset",
        ),
        (
            generate_request("x", model="stability:stable-image-ultra", options={"strength": 1}),
            "edit requests only",
        ),
    ]
    for request, why in cases:
        with pytest.raises(UnsupportedCapabilityError, match=why):
            client.prepare(request)
    assert emu.stability.requests == []


async def test_an_edit_sends_the_image_and_strength(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.edit(
        SOURCE, "make it moodier", model="stability:sd3.5-large", seed=8,
        options={"strength": 0.35},
    )  # fmt: skip
    assert out.image.data
    form = emu.stability.requests[0].form or {}
    assert form["mode"] == "image-to-image" and form["strength"] == "0.35"
    image = form["image"]
    assert isinstance(image, FilePart) and image.data == SOURCE
    assert image.content_type == "image/png" and image.filename == "image.png"
    ultra = client.prepare(
        edit_request(
            [SOURCE], "x", model="stability:stable-image-ultra", seed=1, options={"strength": 0.2}
        ),
    )
    assert "mode" not in (ultra.calls[0].wire.form or {})


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("script", "reason"),
    [({}, "content_moderation"), ({"reason": "CONTENT_FILTERED"}, "CONTENT_FILTERED")],
)
async def test_moderation_raises_content_blocked(
    client: seedless.AsyncClient, emu: Emulator, script: dict[str, Any], reason: str
) -> None:
    emu.stability.block_next(**script)
    with pytest.raises(ContentBlockedError) as info:
        await client.generate("x", model="stability:stable-image-ultra", seed=3)
    assert info.value.reason == reason and not info.value.retryable
    assert len(emu.stability.requests) == 1
    if reason == "CONTENT_FILTERED":
        assert "blurred" in str(info.value) and "billed" in str(info.value)


@pytest.mark.parametrize(
    ("status", "name", "error", "attempts", "match"),
    [
        (413, None, ProviderError, 1, "larger than 10 MiB"),
        (422, "public_figure", ContentBlockedError, 1, "public_figure"),
        (422, None, ProviderError, 1, "English is the only supported language"),
        (401, None, AuthenticationError, 1, "401"),
        (429, None, RateLimitError, 4, "150 requests in 10"),
        (500, None, seedless.ServerError, 4, "500"),
    ],
)
async def test_error_answers_map_onto_the_error_tree(
    client: seedless.AsyncClient,
    emu: Emulator,
    status: int,
    name: str | None,
    error: type,
    attempts: int,
    match: str,
) -> None:
    message = "Our system detected the likeness of a public figure." if name else None
    emu.stability.fail_next(
        status, times=4, retry_after=0.01 if status == 429 else None, message=message
    )
    if name:  # a 422 the service names, as its definition's examples do
        original = emu.stability.error

        def named(code: int, text: str | None = None, **extra: Any) -> Any:
            return original(code, text, name=name, **extra)

        emu.stability.error = named  # type: ignore[method-assign]
    with pytest.raises(error, match=match) as info:
        await client.generate("x", model="stability:sd3.5-medium", seed=1)
    assert type(info.value) is error and info.value.status == status
    assert len(emu.stability.requests) == attempts


async def test_a_429_without_retry_after_waits_the_documented_minute() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, json={"id": "x", "name": "rate_limit_exceeded", "errors": ["slow down"]}
        )

    endpoint = Endpoint(name="stability", protocol="stability", api_key=SecretStr("sk-12345678"))
    provider = StabilityProvider(endpoint, transport=httpx.MockTransport(handler))
    spec = capabilities().get("stability:stable-image-core")
    assert spec is not None
    with pytest.raises(RateLimitError) as info:
        await provider.call(generate_request("x", model="stability:stable-image-core"), spec)
    await provider.aclose()
    assert info.value.retry_after == 60.0 and info.value.retryable


async def test_a_missing_key_says_how_to_set_one(make_client: ClientFactory, emu: Emulator) -> None:
    endpoints = [e for e in emu.endpoints() if e.name != "stability"]
    endpoints.append(Endpoint(name="stability", protocol="stability", base_url=emu.stability.url))
    client = make_client(endpoints=endpoints)
    with pytest.raises(ConfigurationError, match="STABILITY_API_KEY"):
        await client.generate("x", model="stability:sd3.5-large", seed=1)
    assert emu.stability.requests == []


async def test_the_emulator_enforces_the_published_rate(emu: Emulator) -> None:
    emu.stability.rate_limit = True
    headers = {"authorization": f"Bearer {emu.stability.api_key}", "accept": "application/json"}
    url = f"{emu.stability.url}/v2beta/stable-image/generate/core"
    async with httpx.AsyncClient() as http:
        statuses = [
            (await http.post(url, headers=headers, files={"prompt": (None, "x")})).status_code
            for _ in range(151)
        ]
    assert statuses[:150] == [200] * 150 and statuses[150] == 429
