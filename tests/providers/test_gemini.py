"""The Gemini provider through the real google-genai SDK against seedless.testing's emulator."""

from __future__ import annotations

import base64
import builtins
import email.utils
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import seedless
from seedless.capabilities import capabilities
from seedless.client import CallEvent
from seedless.config import Endpoint
from seedless.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentBlockedError,
    ModelNotFoundError,
    NoImageError,
    ProviderError,
    RateLimitError,
    RequestError,
    ServerError,
    TimeoutError,
    UnsupportedCapabilityError,
)
from seedless.models import EditRequest, GenerateRequest, ImageInput
from seedless.providers._genai import parse_retry_after, split_api_version, translate_error
from seedless.providers.gemini import GeminiProvider, read_response
from seedless.retry import RetryPolicy
from seedless.testing import Emulator

PRO = "gemini:gemini-3-pro-image"
TODAY = date(2026, 11, 25)
ClientFactory = Callable[..., seedless.AsyncClient]


def replace(endpoints: list[Endpoint], name: str, **update: Any) -> list[Endpoint]:
    """The emulator's endpoints with fields of endpoint ``name`` changed."""
    return [ep.model_copy(update=update) if ep.name == name else ep for ep in endpoints]


async def test_text_to_image_at_4k_and_16_9(client: seedless.AsyncClient, emu: Emulator) -> None:
    out = await client.generate("a lighthouse at dusk", model=PRO, size="4K", aspect_ratio="16:9")

    [request] = emu.gemini.requests
    assert request.path == "/v1/models/gemini-3-pro-image:generateContent"
    assert request.headers["x-goog-api-key"] == "[secure]"
    assert request.body == {
        "contents": [{"parts": [{"text": "a lighthouse at dusk"}], "role": "user"}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"},
        },
    }
    image = out.image
    assert (image.provider, image.model, image.mime_type) == (
        "gemini",
        "gemini-3-pro-image",
        "image/png",
    )
    assert image.to_pil().size[0] > image.to_pil().size[1]  # 16:9 came back
    assert image.cost_usd == pytest.approx(0.24)  # the matrix's 4K price
    assert image.usage["candidates_token_count"] == 2520
    assert image.usage["total_token_count"] == image.usage["prompt_token_count"] + 2520
    assert image.sent == {"response_modalities": ["IMAGE"]}
    assert image.seed is None and image.seed_mode is None
    assert image.request["size"] == "4K" and image.request_hash


async def test_edit_sends_source_and_approved_pair_in_order(
    client: seedless.AsyncClient, emu: Emulator, pictures: tuple[bytes, bytes, bytes]
) -> None:
    source, before, after = pictures
    out = await client.edit(
        [source, before, after],
        "Apply the change from image 2 to image 3 to image 1.",
        model="gemini:gemini-nano-banana-2.1",
    )

    [request] = emu.gemini.requests
    [content] = request.body["contents"]
    text, *images = content["parts"]
    assert text == {"text": "Apply the change from image 2 to image 3 to image 1."}
    # google-genai 3.6.1 serialises the Blob by field name (mime_type); the API takes both.
    blobs = [part["inlineData"] for part in images]
    assert [b.get("mimeType", b.get("mime_type")) for b in blobs] == ["image/png"] * 3
    assert [base64.urlsafe_b64decode(blob["data"]) for blob in blobs] == [
        source,
        before,
        after,
    ]
    assert out.image.request["images"][0]["sha256"] == ImageInput.of(source).sha256
    assert out.image.cost_usd == pytest.approx(0.0336)


async def test_n3_fans_out_into_concurrent_single_image_calls(
    make_client: ClientFactory, emu: Emulator
) -> None:
    emu.gemini.latency = 0.25
    client = make_client()
    out = await client.generate("three takes on a teapot", model=PRO, n=3)

    assert len(out) == 3 and len({image.sha256 for image in out}) == 3
    assert len(emu.gemini.requests) == 3
    assert all("candidateCount" not in r.body["generationConfig"] for r in emu.gemini.requests)
    assert emu.gemini.peak_concurrency == 3  # three calls at once, not one after another

    emu.gemini.reset()
    serial = make_client(max_concurrency=1)
    await serial.generate("three takes on a teapot", model=PRO, n=3)
    assert emu.gemini.peak_concurrency == 1  # bounded by the client's concurrency


async def test_seed_is_refused_with_nothing_on_the_wire(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    with pytest.raises(UnsupportedCapabilityError) as caught:
        await client.generate("a cat", model=PRO, seed=42)

    assert caught.value.capability == "seed"
    assert "best_effort" in str(caught.value)
    assert emu.gemini.requests == []


async def test_seed_is_sent_under_the_best_effort_policy(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate("a cat", model=PRO, seed=42, seed_policy="best_effort")

    assert emu.gemini.requests[0].body["generationConfig"]["seed"] == 42
    assert (out.image.seed, out.image.seed_mode) == (42, "best_effort")


@pytest.mark.parametrize(
    "reason", ["IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT"]
)
async def test_blocked_image_raises_content_blocked(
    client: seedless.AsyncClient, emu: Emulator, reason: str
) -> None:
    emu.gemini.block_next(reason)
    with pytest.raises(ContentBlockedError) as caught:
        await client.generate("something it will not draw", model=PRO)

    assert caught.value.reason == reason
    assert caught.value.provider == "gemini" and not caught.value.retryable
    assert len(emu.gemini.requests) == 1  # a safety block is never retried


async def test_blocked_prompt_raises_content_blocked(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.gemini.block_next("PROHIBITED_CONTENT", prompt=True)
    with pytest.raises(ContentBlockedError, match="blocked the prompt") as caught:
        await client.generate("something it will not read", model=PRO)
    assert caught.value.reason == "PROHIBITED_CONTENT"


async def test_answer_without_image_raises_no_image_with_the_text(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.gemini.no_image_next(text="I can describe a cat, but not draw one today.")
    with pytest.raises(NoImageError) as caught:
        await client.generate("a cat", model=PRO)

    assert caught.value.text == "I can describe a cat, but not draw one today."
    assert "not draw one today" in str(caught.value)
    assert len(emu.gemini.requests) == 1


async def test_two_429s_then_success_honours_retry_after(
    make_client: ClientFactory, emu: Emulator
) -> None:
    events: list[CallEvent] = []
    client = make_client(listeners=[events.append])
    emu.gemini.fail_next(429, times=2, retry_after=0.2)
    started = time.perf_counter()
    out = await client.generate("a cat", model=PRO)

    assert len(out) == 1 and len(emu.gemini.requests) == 3
    assert time.perf_counter() - started >= 0.4  # 0.2 s twice, not the 10 ms backoff
    retries = [event for event in events if event.kind == "retry"]
    assert [event.delay for event in retries] == [0.2, 0.2]
    assert all(isinstance(event.error, RateLimitError) for event in retries)
    assert all(event.error.status == 429 for event in retries)  # type: ignore[union-attr]


async def test_rate_limit_error_keeps_status_and_retry_after(
    make_client: ClientFactory, emu: Emulator
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=1))
    emu.gemini.fail_next(429, retry_after=3)
    with pytest.raises(RateLimitError) as caught:
        await client.generate("a cat", model=PRO)
    assert (caught.value.status, caught.value.retry_after) == (429, 3.0)
    assert "quota" in str(caught.value)


async def test_relay_base_url_is_used(make_client: ClientFactory, emu: Emulator) -> None:
    relay = Endpoint(
        name="myrelay",
        protocol="gemini",
        api_key=SecretStr(emu.gemini.api_key),
        base_url=emu.gemini.url + "/v1beta",  # relays often serve the v1beta surface
        prices={"gemini-3-pro-image": 0.05},
    )
    client = make_client(endpoints=[relay])
    out = await client.generate("a cat", model="myrelay:gemini-3-pro-image")

    [request] = emu.gemini.requests
    assert request.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert request.headers["x-goog-api-key"] == "[secure]"
    assert out.image.provider == "myrelay" and out.image.cost_usd == pytest.approx(0.05)


async def test_no_key_in_any_error_text(make_client: ClientFactory, emu: Emulator) -> None:
    key = "AIza" + "Sy-seedless-DISTINCTIVE-key-0123456789"  # shaped like a key, built here
    emu.gemini.api_key = key
    client = make_client(
        endpoints=replace(emu.endpoints(), "gemini", api_key=SecretStr(key)),
        retry=RetryPolicy(max_attempts=1),
    )
    # a careless relay echoes the key back in its error message
    emu.gemini.fail_next(403, message=f"API key {key} is not allowed to use this model.")
    with pytest.raises(AuthenticationError) as forbidden:
        await client.generate("a cat", model=PRO)
    emu.gemini.api_key = "another-key"
    with pytest.raises(AuthenticationError) as invalid:  # 400 API_KEY_INVALID
        await client.generate("a cat", model=PRO)

    assert (forbidden.value.status, invalid.value.status) == (403, 400)
    for error in (forbidden.value, invalid.value):
        for text in (str(error), repr(error), str(error.__cause__), repr(error.__cause__)):
            assert key not in text
    assert "[secure]" in str(forbidden.value)
    provider = client.provider("gemini")
    assert key not in repr(provider) and key not in repr(client.endpoints["gemini"])


async def test_missing_key_is_a_configuration_error_before_the_wire(
    make_client: ClientFactory, emu: Emulator
) -> None:
    client = make_client(endpoints=replace(emu.endpoints(), "gemini", api_key=None))
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        await client.generate("a cat", model=PRO)
    assert emu.gemini.requests == []


@pytest.mark.parametrize(
    ("status", "error", "attempts"),
    [
        (401, AuthenticationError, 1),
        (403, AuthenticationError, 1),
        (400, ProviderError, 1),
        (404, ModelNotFoundError, 1),
        (409, ProviderError, 2),
        (500, ServerError, 2),
        (503, ServerError, 2),
    ],
)
async def test_http_errors_map_onto_the_hierarchy(
    make_client: ClientFactory,
    emu: Emulator,
    status: int,
    error: type[ProviderError],
    attempts: int,
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2, initial=0.01))
    emu.gemini.fail_next(status, times=2)
    with pytest.raises(error) as caught:
        await client.generate("a cat", model=PRO)
    assert type(caught.value) is error
    assert caught.value.status == status and caught.value.provider == "gemini"
    assert len(emu.gemini.requests) == attempts  # 4xx are never retried, 5xx are


async def test_transport_faults_are_retryable_server_and_timeout_errors(
    make_client: ClientFactory, emu: Emulator
) -> None:
    endpoints = replace(emu.endpoints(), "gemini", timeout=0.3)
    client = make_client(endpoints=endpoints, retry=RetryPolicy(max_attempts=1))
    emu.gemini.drop_next()
    with pytest.raises(ServerError) as dropped:
        await client.generate("a cat", model=PRO)
    emu.gemini.truncate_next()
    with pytest.raises(ServerError) as truncated:
        await client.generate("a cat", model=PRO)
    emu.gemini.slow_next(1.5)
    with pytest.raises(TimeoutError) as slow:
        await client.generate("a cat", model=PRO)
    assert dropped.value.retryable and truncated.value.retryable and slow.value.retryable

    retrying = make_client(endpoints=endpoints)
    emu.gemini.drop_next()
    out = await retrying.generate("a cat", model=PRO)  # a dropped connection is retried
    assert len(out) == 1


async def test_gemini_on_vertex_uses_vertex_mode(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate(
        "a cat",
        model="vertex:gemini-3-pro-image",
        output_mime_type="image/jpeg",
        options={"person_generation": "ALLOW_ADULT", "response_modalities": ["TEXT", "IMAGE"]},
    )

    [request] = emu.vertex.requests
    assert request.path == (
        "/v1beta1/projects/test-project/locations/us-central1/publishers/google/models/"
        "gemini-3-pro-image:generateContent"
    )
    assert request.headers["authorization"] == "Bearer [secure]"
    assert request.body["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {
            "personGeneration": "ALLOW_ADULT",
            "imageOutputOptions": {"mimeType": "image/jpeg"},
        },
    }
    assert out.image.mime_type == "image/jpeg" and out.image.provider == "vertex"
    assert out.image.text == "Here is the image."  # the model's commentary is kept
    assert out.image.sent == {}  # the caller chose the modalities


async def test_options_are_checked_before_the_wire(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    with pytest.raises(RequestError, match="'steps'") as unknown:
        await client.generate("a cat", model=PRO, options={"steps": 30})
    assert "thinking_level" in str(unknown.value)  # names what it accepts
    with pytest.raises(RequestError, match="Models that can: vertex:gemini-3-pro-image"):
        await client.generate("a cat", model=PRO, options={"person_generation": "ALLOW_ALL"})
    with pytest.raises(UnsupportedCapabilityError) as mime:
        await client.generate("a cat", model=PRO, output_mime_type="image/jpeg")
    assert mime.value.capability == "output_mime_type"
    with pytest.raises(RequestError, match="thinking_level"):
        await client.generate("a cat", model=PRO, options={"thinking_level": "EXTREME"})
    assert emu.gemini.requests == []

    await client.generate("a cat", model=PRO, options={"thinking_level": "low", "temperature": 0.5})
    config = emu.gemini.requests[-1].body["generationConfig"]
    assert config["temperature"] == 0.5 and "thinkingConfig" in config


async def test_matrix_refusals_touch_nothing(
    client: seedless.AsyncClient, emu: Emulator, pictures: tuple[bytes, bytes, bytes]
) -> None:
    with pytest.raises(UnsupportedCapabilityError) as size:
        await client.generate("a cat", model="gemini:gemini-3.1-flash-lite-image", size="4K")
    assert size.value.capability == "size"
    with pytest.raises(UnsupportedCapabilityError) as refs:
        await client.edit([pictures[0]] * 15, "darker", model=PRO)
    assert refs.value.capability == "reference_images"
    assert emu.gemini.requests == []


async def test_one_size_model_gets_no_image_size_field(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    await client.generate("a cat", model="gemini:gemini-3.1-flash-lite-image", size="1K")
    assert "imageConfig" not in emu.gemini.requests[0].body["generationConfig"]


def test_plan_is_the_rest_body_without_io(emu: Emulator) -> None:
    spec = capabilities().resolve(PRO)
    provider = GeminiProvider(emu.endpoints()[0])
    request = EditRequest(
        images=(ImageInput(data=b"\x89PNG-ish", mime_type="image/png"),),
        prompt="darker",
        model=PRO,
        aspect_ratio="1:1",
    )
    wire = provider.plan(request, spec)

    assert (wire.shape, wire.method) == ("generate_content", "POST")
    assert wire.path == "/v1/models/gemini-3-pro-image:generateContent"
    assert wire.headers["x-goog-api-key"] == "[secure]"
    assert wire.body() == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "darker"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORy1pc2g="}},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "1:1"},
        },
    }
    assert "<8 bytes, base64 on the wire>" in str(wire)  # printed, the image is not dumped
    assert emu.gemini.requests == []


def test_thought_parts_are_skipped_and_text_is_kept() -> None:
    from google.genai import types

    spec = capabilities().resolve(PRO)
    response = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                finish_reason="STOP",
                content=types.Content(
                    role="model",
                    parts=[
                        types.Part(text="planning the composition", thought=True),
                        types.Part(
                            inline_data=types.Blob(mime_type="image/png", data=b"draft"),
                            thought=True,
                        ),
                        types.Part(text="Here it is."),
                        types.Part(inline_data=types.Blob(mime_type="image/png", data=b"final")),
                    ],
                ),
            )
        ],
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=5, candidates_token_count=1120, thoughts_token_count=40
        ),
    )
    reply = read_response(response, spec, provider="gemini")
    assert [image.data for image in reply.images] == [b"final"]
    assert reply.text == "Here it is."
    assert reply.usage == {
        "prompt_token_count": 5,
        "candidates_token_count": 1120,
        "thoughts_token_count": 40,
    }


async def test_generate_request_objects_run_too(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    request = GenerateRequest(prompt="a cat", model="nano-banana-pro", aspect_ratio="3:2")
    out = await client.run(request)
    assert out.image.model_key == PRO
    assert emu.gemini.requests[0].body["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2"}


async def test_sync_client_works_inside_a_running_event_loop(emu: Emulator) -> None:
    # A notebook cell runs inside an event loop; the sync client must still work there.
    with seedless.Client(endpoints=emu.endpoints(), clock=lambda: TODAY) as client:
        out = client.generate("a cat", model=PRO)
    assert len(out) == 1 and len(emu.gemini.requests) == 1


def test_import_seedless_does_not_import_google_genai() -> None:
    code = (
        "import sys, seedless, seedless.providers.gemini, seedless.providers.vertex; "
        "bad = [m for m in sys.modules if m.startswith(('google.genai', 'google.auth'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_google_genai_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import google

    monkeypatch.setitem(sys.modules, "google.genai", None)
    monkeypatch.delattr(google, "genai", raising=False)
    endpoint = Endpoint(name="gemini", protocol="gemini", api_key=SecretStr("k" * 10))
    with pytest.raises(ConfigurationError, match=r'pip install "seedless\[gemini\]"'):
        GeminiProvider(endpoint)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (builtins.TimeoutError("read timed out"), TimeoutError),  # aiohttp / asyncio timeouts
        (ConnectionResetError("reset by peer"), ServerError),
        (httpx.RemoteProtocolError("peer closed connection"), ServerError),
        (httpx.ConnectTimeout("connect timed out"), TimeoutError),
        (ValueError("person_generation is Vertex only"), RequestError),
    ],
)
def test_transport_and_sdk_exceptions_translate(raised: BaseException, expected: type) -> None:
    error = translate_error(raised, provider="gemini", model=PRO)
    assert type(error) is expected


def test_google_auth_failures_translate() -> None:
    from google.auth import exceptions

    refresh = exceptions.RefreshError("invalid_grant: token ya29.a0SECRET-token expired")  # type: ignore[no-untyped-call]
    error = translate_error(refresh, provider="vertex", model="vertex:gemini-3-pro-image")
    assert isinstance(error, AuthenticationError) and "ya29.a0SECRET" not in str(error)
    missing = exceptions.DefaultCredentialsError("no ADC")  # type: ignore[no-untyped-call]
    error = translate_error(missing, provider="vertex", model="vertex:gemini-3-pro-image")
    assert isinstance(error, ConfigurationError)


def test_retry_after_sources() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert parse_retry_after(httpx.Headers({"retry-after": "7"})) == 7.0
    soon = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30))
    assert 25 < (parse_retry_after(httpx.Headers({"retry-after": soon})) or 0) <= 30
    details = {
        "error": {
            "code": 429,
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    assert parse_retry_after(httpx.Headers({}), details) == 12.0
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://relay.example/v1beta", ("https://relay.example/", "v1beta")),
        ("https://relay.example/api/v1/", ("https://relay.example/api/", "v1")),
        ("http://127.0.0.1:8080", ("http://127.0.0.1:8080", None)),
        ("https://relay.example/gemini", ("https://relay.example/gemini", None)),
        (None, (None, None)),
    ],
)
def test_an_api_version_ending_the_base_url_is_split_off(
    url: str | None, expected: tuple[str | None, str | None]
) -> None:
    assert split_api_version(url) == expected
