"""The Imagen provider (Vertex AI) through the real google-genai SDK against the emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

import seedless
from seedless.capabilities import capabilities
from seedless.client import derive_seed
from seedless.config import Endpoint
from seedless.errors import (
    ConfigurationError,
    ContentBlockedError,
    ModelRetiredError,
    NoImageError,
    ProviderError,
    RequestError,
    SeedlessDeprecationWarning,
    UnsupportedCapabilityError,
)
from seedless.models import GenerateRequest
from seedless.providers import imagen
from seedless.providers.vertex import VertexProvider
from seedless.testing import RAI_FILTERED_REASON, Emulator

IMAGEN4 = "vertex:imagen-4.0-generate-001"
ClientFactory = Callable[..., seedless.AsyncClient]


@pytest.fixture
def client(make_client: ClientFactory) -> seedless.AsyncClient:
    """Imagen is shut down: these tests reach it the way remaining projects do."""
    return make_client(allow_retired=True)


def parameters(emu: Emulator, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = emu.vertex.requests[index].body
    return dict(body["parameters"])


async def test_same_seed_same_bytes_other_seed_other_bytes(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    first = await client.generate("a red kite over dunes", model=IMAGEN4, seed=1234)
    again = await client.generate("a red kite over dunes", model=IMAGEN4, seed=1234)
    other = await client.generate("a red kite over dunes", model=IMAGEN4, seed=1235)

    assert first.image.data == again.image.data
    assert first.image.sha256 == again.image.sha256
    assert other.image.data != first.image.data
    assert (first.image.seed, other.image.seed) == (1234, 1235)


async def test_body_carries_seed_and_add_watermark_false(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate("a cat", model=IMAGEN4, seed=42)

    [request] = emu.vertex.requests
    assert request.path == (
        "/v1beta1/projects/test-project/locations/us-central1/publishers/google/models/"
        "imagen-4.0-generate-001:predict"
    )
    assert request.headers["authorization"] == "Bearer [secure]"
    assert request.body == {
        "instances": [{"prompt": "a cat"}],
        "parameters": {
            "sampleCount": 1,
            "seed": 42,
            "includeRaiReason": True,
            "addWatermark": False,
            "enhancePrompt": False,
        },
    }
    image = out.image
    assert image.sent == {
        "add_watermark": False,
        "enhance_prompt": False,
        "include_rai_reason": True,
    }
    assert (image.seed, image.seed_mode) == (42, "seeded")
    assert image.cost_usd == pytest.approx(0.04)


async def test_explicit_watermark_off_is_not_recorded_as_our_choice(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate(
        "a cat", model=IMAGEN4, seed=42, add_watermark=False, options={"enhance_prompt": False}
    )
    assert parameters(emu)["addWatermark"] is False
    assert parameters(emu)["enhancePrompt"] is False
    assert out.image.sent == {"include_rai_reason": True}


async def test_seed_with_prompt_rewriting_on_is_refused_before_the_wire(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    # Vertex rewrites the prompt with an LLM first (on by default for the Imagen generate
    # models), so the seed no longer gives the same image.
    with pytest.raises(UnsupportedCapabilityError) as caught:
        await client.generate("a cat", model=IMAGEN4, seed=42, options={"enhance_prompt": True})
    assert caught.value.capability == "enhance_prompt"
    assert emu.vertex.requests == []
    await client.generate("a cat", model=IMAGEN4, options={"enhance_prompt": True})
    assert parameters(emu)["enhancePrompt"] is True  # without a seed it is the caller's call


async def test_seed_with_watermark_on_is_refused_before_the_wire(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    with pytest.raises(UnsupportedCapabilityError) as caught:
        await client.generate("a cat", model=IMAGEN4, seed=42, add_watermark=True)
    assert caught.value.capability == "watermark"
    assert emu.vertex.requests == []


@pytest.mark.parametrize("seed", [0, -5, 2**31])
async def test_seed_out_of_range_is_refused_before_the_wire(
    client: seedless.AsyncClient, emu: Emulator, seed: int
) -> None:
    with pytest.raises(UnsupportedCapabilityError, match="1 to 2147483647") as caught:
        await client.generate("a cat", model=IMAGEN4, seed=seed)
    assert caught.value.capability == "seed"
    assert emu.vertex.requests == []


async def test_n6_splits_into_two_calls_with_recorded_seeds(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate("six kites", model=IMAGEN4, n=6, seed=77)

    seed_range = capabilities().resolve(IMAGEN4).seed_range
    derived = derive_seed(77, 1, seed_range)
    calls = sorted((parameters(emu, i)["seed"], parameters(emu, i)["sampleCount"]) for i in (0, 1))
    assert calls == sorted([(77, 4), (derived, 2)])
    assert [image.seed for image in out] == [77] * 4 + [derived] * 2
    assert len({image.sha256 for image in out}) == 6
    assert all(image.sent["add_watermark"] is False for image in out)
    assert out.cost_usd == pytest.approx(6 * 0.04)


async def test_rai_filtered_answer_raises_content_blocked(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.vertex.block_next()
    with pytest.raises(ContentBlockedError) as caught:
        await client.generate("something filtered", model=IMAGEN4, seed=3)
    assert caught.value.reason == RAI_FILTERED_REASON
    assert caught.value.provider == "vertex" and not caught.value.retryable
    assert len(emu.vertex.requests) == 1


async def test_empty_answer_raises_no_image(client: seedless.AsyncClient, emu: Emulator) -> None:
    emu.vertex.no_image_next()
    with pytest.raises(NoImageError):
        await client.generate("a cat", model=IMAGEN4)
    assert len(emu.vertex.requests) == 1


async def test_503_then_success_is_retried(client: seedless.AsyncClient, emu: Emulator) -> None:
    emu.vertex.fail_next(503)
    out = await client.generate("a cat", model=IMAGEN4, seed=9)
    assert len(out) == 1 and len(emu.vertex.requests) == 2
    assert emu.vertex.requests[0].raw == emu.vertex.requests[1].raw


async def test_replaying_a_recipe_sends_a_byte_identical_body(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    first = await client.generate(
        "a lighthouse, long exposure",
        model=IMAGEN4,
        seed=2024,
        aspect_ratio="16:9",
        size="2K",
        output_mime_type="image/jpeg",
        options={"guidance_scale": 7.5, "enhance_prompt": False},
    )
    recipe = {k: v for k, v in first.image.request.items() if k != "operation"}
    replay = await client.run(GenerateRequest.model_validate(recipe))

    original, replayed = emu.vertex.requests
    assert replayed.raw == original.raw
    assert replay.image.data == first.image.data
    assert original.body["parameters"]["sampleImageSize"] == "2K"
    assert original.body["parameters"]["outputOptions"] == {"mimeType": "image/jpeg"}
    assert first.image.mime_type == "image/jpeg"


async def test_one_size_model_gets_no_sample_image_size(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    await client.generate("a cat", model="vertex:imagen-3.0-generate-002", size="1K", seed=5)
    assert "sampleImageSize" not in parameters(emu)


async def test_retired_model_refused_unless_allowed(
    make_client: ClientFactory, emu: Emulator
) -> None:
    with pytest.raises(ModelRetiredError) as caught:
        await make_client().generate("a cat", model=IMAGEN4, seed=1)
    assert caught.value.successor is not None
    assert emu.vertex.requests == []


async def test_deprecation_warning_is_surfaced_once(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    imagen._reset_warning_for_tests(shown=False)
    with pytest.warns(SeedlessDeprecationWarning, match="generate_images") as record:
        await client.generate("a cat", model=IMAGEN4, seed=1)
        await client.generate("a dog", model=IMAGEN4, seed=2)
    notices = [w for w in record if issubclass(w.category, SeedlessDeprecationWarning)]
    assert len(notices) == 1
    assert "once per process" in str(notices[0].message)
    assert len(emu.vertex.requests) == 2


async def test_options_are_checked_before_the_wire(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    with pytest.raises(RequestError, match="'steps'") as unknown:
        await client.generate("a cat", model=IMAGEN4, options={"steps": 30})
    assert "person_generation" in str(unknown.value)
    with pytest.raises(RequestError, match="ALLOW_ADULT"):
        await client.generate("a cat", model=IMAGEN4, options={"person_generation": "kids"})
    with pytest.raises(UnsupportedCapabilityError) as negative:
        await client.generate("a cat", model=IMAGEN4, negative_prompt="blur")
    assert negative.value.capability == "negative_prompt"
    assert emu.vertex.requests == []


async def test_person_and_safety_options_reach_the_wire(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    options = {"person_generation": "allow_adult", "safety_filter_level": "block_only_high"}
    # The emulator may refuse Vertex's upper-case enum spellings; the wire is what is tested.
    with contextlib.suppress(ProviderError):
        await client.generate("a crowd", model=IMAGEN4, options=options)
    sent = parameters(emu)
    assert (sent["personGeneration"], sent["safetySetting"]) == ("ALLOW_ADULT", "BLOCK_ONLY_HIGH")


async def test_vertex_credentials_are_looked_up_lazily(
    make_client: ClientFactory, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    calls: list[object] = []

    def no_adc(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise DefaultCredentialsError("no ADC in this test")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth, "default", no_adc)
    for name in (
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_VERTEX_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    endpoint = Endpoint(name="vertex", protocol="vertex", location="us-central1")
    client = make_client(endpoints=[endpoint], allow_retired=True)
    provider = client.provider("vertex")
    assert isinstance(provider, VertexProvider) and calls == []  # nothing looked up yet

    with pytest.raises(ConfigurationError, match="application-default login"):
        await client.generate("a cat", model=IMAGEN4, seed=1)
    assert len(calls) == 1 and emu.vertex.requests == []


def test_plan_is_the_predict_body_without_io(emu: Emulator) -> None:
    spec = capabilities().resolve(IMAGEN4)
    provider = VertexProvider(emu.endpoints()[1])
    wire = provider.plan(GenerateRequest(prompt="a cat", model=IMAGEN4, seed=8, n=3), spec)

    assert (wire.shape, wire.method) == ("predict", "POST")
    assert wire.path.endswith("/publishers/google/models/imagen-4.0-generate-001:predict")
    assert wire.json == {
        "instances": [{"prompt": "a cat"}],
        "parameters": {
            "sampleCount": 3,
            "seed": 8,
            "addWatermark": False,  # the matrix's seed_requires_off watermark rule
            "enhancePrompt": False,  # the matrix's seed_requires_off options
            "includeRaiReason": True,
        },
    }
    assert wire.chosen == {
        "add_watermark": False,
        "enhance_prompt": False,
        "include_rai_reason": True,
    }
    assert wire.headers["Authorization"] == "Bearer [secure]"
    assert emu.vertex.requests == []
