"""The ``bfl`` provider (Black Forest Labs' own API), end to end through the loopback emulator.

The emulator runs BFL's API on one loopback server and its result host on another, so the
real httpx path submits, polls under the client's retry policy and downloads from a second
origin. A few narrow cases (polling URLs on other hosts, regions) use ``httpx.MockTransport``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

import seedless
from seedless import Endpoint, RetryPolicy
from seedless.capabilities import capabilities
from seedless.client import edit_request, generate_request
from seedless.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentBlockedError,
    ModelNotFoundError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    UnsupportedCapabilityError,
)
from seedless.errors import TimeoutError as SeedlessTimeoutError
from seedless.providers.bfl import REGIONS, BFLProvider, bfl_root
from seedless.testing import Emulator

ClientFactory = Callable[..., seedless.AsyncClient]


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


SOURCE, REFERENCE = _png((200, 120, 80)), _png((90, 160, 210))


def _bfl_requests(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.bfl.requests]


# ------------------------------------------------------------------------- the must-shows


async def test_a_generation_polls_twice_and_downloads_from_another_host_without_the_key(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate("a red fox", model="bfl:flux-2-pro", seed=7, aspect_ratio="16:9")
    assert _bfl_requests(emu) == [
        ("POST", "/v1/flux-2-pro"),
        ("GET", "/v1/get_result"),  # Pending
        ("GET", "/v1/get_result"),  # Ready
    ]
    submit = emu.bfl.requests[0]
    assert submit.headers["x-key"] == "[secure]"  # the key went to the API ...
    assert submit.body == {"prompt": "a red fox", "width": 1360, "height": 768, "seed": 7}
    (download,) = emu.bfl.delivery.requests
    assert emu.bfl.delivery.port != emu.bfl.port  # ... the image came from another origin
    assert download.path.startswith("/results/") and "x-key" not in download.headers
    assert emu.bfl.api_key.encode() not in download.raw
    assert out.image.mime_type == "image/jpeg" and out.image.seed == 7
    assert out.image.usage["task_id"] == submit_task(emu) and out.image.usage["seed"] == 7
    assert out.image.usage["cost_credits"] == 3.0 and out.image.cost_usd == pytest.approx(0.03)
    assert out.image.sent == {"width": 1360, "height": 768}


def submit_task(emu: Emulator) -> str:
    (task,) = emu.bfl.tasks
    return task


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("bfl:flux-2-pro", {}),
        ("bfl:flux-dev", {"steps": 20, "guidance": 3.5}),
        ("bfl:flux-kontext-pro", {}),
        ("bfl:flux-2-flex", {"steps": 30}),
    ],
)
async def test_the_same_seed_twice_gives_identical_bytes(
    client: seedless.AsyncClient, model: str, options: dict[str, Any]
) -> None:
    async def run(seed: int) -> seedless.ImageResult:
        out = await client.generate(
            "a lighthouse at dusk", model=model, seed=seed, output_mime_type="image/png",
            options=options,
        )  # fmt: skip
        return out.image

    first, second, other = await run(1234), await run(1234), await run(1235)
    assert first.data == second.data and first.sha256 == second.sha256
    assert other.sha256 != first.sha256


async def test_without_a_seed_bfl_draws_one_and_it_is_recorded_for_replay(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.generate("a lighthouse", model="bfl:flux-2-pro")
    assert "seed" not in emu.bfl.requests[0].body
    seed = out.image.seed
    ready = emu.bfl.answers[-1].json
    assert seed is not None and seed == out.image.usage["seed"] == ready["result"]["seed"]
    assert out.image.seed_mode == "seeded"
    replay = await client.generate("a lighthouse", model="bfl:flux-2-pro", seed=seed)
    assert replay.image.sha256 == out.image.sha256  # the seed reported is the seed used


@pytest.mark.parametrize(
    ("prompt_stage", "status"), [(False, "Content Moderated"), (True, "Request Moderated")]
)
async def test_a_moderated_answer_raises_content_blocked(
    client: seedless.AsyncClient, emu: Emulator, prompt_stage: bool, status: str
) -> None:
    emu.bfl.block_next(prompt=prompt_stage)
    with pytest.raises(ContentBlockedError) as info:
        await client.generate("something", model="bfl:flux-kontext-pro", seed=3)
    assert info.value.reason == status and not info.value.retryable
    assert status in str(info.value) and "safety_tolerance" in str(info.value)
    assert [m for m, _ in _bfl_requests(emu)].count("POST") == 1  # never resubmitted
    assert emu.bfl.delivery.requests == []


# ------------------------------------------------------------------------- polling


async def test_pending_polls_follow_the_retry_policys_interval(
    make_client: ClientFactory, emu: Emulator
) -> None:
    emu.bfl.pending_polls = 3
    events: list[str] = []
    client = make_client(
        retry=RetryPolicy(poll_interval=0.01, poll_timeout=5),
        listeners=[lambda e: events.append(e.kind)],
    )
    await client.generate("x", model="bfl:flux-2-klein-4b", seed=1)
    assert _bfl_requests(emu).count(("GET", "/v1/get_result")) == 4
    assert events == ["start", "done"]  # polls are not retries


async def test_a_task_that_never_ends_times_out_under_poll_timeout(
    make_client: ClientFactory, emu: Emulator
) -> None:
    emu.bfl.pending_polls = 10_000
    client = make_client(retry=RetryPolicy(poll_interval=0.02, poll_timeout=0.1))
    with pytest.raises(SeedlessTimeoutError, match="poll_timeout"):
        await client.generate("x", model="bfl:flux-2-klein-4b", seed=1)
    assert _bfl_requests(emu).count(("POST", "/v1/flux-2-klein-4b")) == 1


async def test_a_failed_poll_is_retried_and_the_task_never_resubmitted(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.bfl.fail_poll_next(503, times=2)
    out = await client.generate("x", model="bfl:flux-2-pro", seed=5)
    assert out.image.data
    assert _bfl_requests(emu).count(("POST", "/v1/flux-2-pro")) == 1
    assert _bfl_requests(emu).count(("GET", "/v1/get_result")) == 4  # 2 failed, Pending, Ready


async def test_a_task_that_fails_is_not_resubmitted(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.bfl.no_image_next("the GPU caught fire")
    with pytest.raises(ProviderError, match="could not generate the image") as info:
        await client.generate("x", model="bfl:flux-2-pro", seed=5)
    assert type(info.value) is ProviderError and not info.value.retryable
    assert "the GPU caught fire" in str(info.value)
    assert _bfl_requests(emu).count(("POST", "/v1/flux-2-pro")) == 1


async def test_an_expired_result_link_is_not_retried(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.bfl.delivery.result_ttl = 0  # links expire at once
    with pytest.raises(ProviderError, match="expire") as info:
        await client.generate("x", model="bfl:flux-2-pro", seed=5)
    assert info.value.status == 403 and not info.value.retryable
    assert len(emu.bfl.delivery.requests) == 1


async def test_a_task_the_service_does_not_know(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    spec = capabilities().get("bfl:flux-2-pro")
    assert spec is not None
    provider = client.provider("bfl")
    submitted = provider.plan(generate_request("x", model="bfl:flux-2-pro", seed=1), spec)
    poll = provider._poll_wire(submitted, "no-such-task", None, {})  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match="Task not found") as info:
        await provider.send(poll, spec)
    assert not info.value.retryable
    assert _bfl_requests(emu) == [("GET", "/v1/get_result")]


# ------------------------------------------------------------------------- planning


async def test_prompt_upsampling_is_off_by_default_and_refused_with_a_seed(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    prepared = client.prepare(generate_request("x", model="bfl:flux-2-flex", seed=9))
    assert prepared.calls[0].wire.json["prompt_upsampling"] is False  # BFL's default is true
    assert prepared.calls[0].wire.chosen["prompt_upsampling"] is False
    with pytest.raises(UnsupportedCapabilityError, match="prompt_upsampling"):
        client.prepare(
            generate_request("x", model="bfl:flux-dev", seed=9, options={"prompt_upsampling": True})
        )
    unseeded = client.prepare(
        generate_request("x", model="bfl:flux-dev", options={"prompt_upsampling": True})
    )
    assert unseeded.calls[0].wire.json["prompt_upsampling"] is True
    no_field = client.prepare(generate_request("x", model="bfl:flux-2-pro", seed=9))
    assert "prompt_upsampling" not in no_field.calls[0].wire.json  # not in Flux2Inputs
    assert emu.bfl.requests == []  # planning sent nothing


async def test_sizes_follow_each_models_rule_before_any_io(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    def body(**kwargs: Any) -> Any:
        return client.prepare(generate_request("x", **kwargs)).calls[0].wire.json

    plain = {"prompt": "x", "width": 1024, "height": 1024, "prompt_upsampling": False}
    assert body(model="bfl:flux-dev") == plain
    dev = body(model="bfl:flux-dev", aspect_ratio="21:9")
    assert dev["width"] % 32 == dev["height"] % 32 == 0 and dev["width"] <= 1440
    assert body(model="bfl:flux-2-max", size="2K")["width"] == 2048
    assert body(model="bfl:flux-kontext-pro", aspect_ratio="3:4")["aspect_ratio"] == "3:4"
    assert "width" not in body(model="bfl:flux-pro-1.1-ultra", aspect_ratio="9:21")
    for model, size, why in [
        ("bfl:flux-dev", "1000x1000", "multiples of 32"),
        ("bfl:flux-dev", "1536x1024", "at most 1440"),
        ("bfl:flux-2-pro", "2560x2560", "4,194,304 pixels"),
        ("bfl:flux-2-pro", "1000x1000", "multiples of 16"),
    ]:
        with pytest.raises(UnsupportedCapabilityError, match=why):
            body(model=model, size=size)
    with pytest.raises(UnsupportedCapabilityError, match="aspect ratio '7:1'"):
        body(model="bfl:flux-kontext-max", aspect_ratio="7:1")
    assert emu.bfl.requests == []


async def test_edits_send_input_images_in_order(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.edit(
        [SOURCE, REFERENCE], "put the cat from image 2 in image 1", model="bfl:flux-2-pro",
        seed=11,
    )  # fmt: skip
    assert out.image.data
    body = emu.bfl.requests[0].body
    assert base64.b64decode(body["input_image"]) == SOURCE
    assert base64.b64decode(body["input_image_2"]) == REFERENCE
    assert "width" not in body  # an edit follows its input image unless told otherwise
    kontext = client.prepare(
        edit_request([SOURCE], "make it darker", model="bfl:flux-kontext-pro", seed=1)
    )
    assert set(kontext.calls[0].wire.body()) >= {"prompt", "input_image", "seed"}
    with pytest.raises(UnsupportedCapabilityError, match="at most 4 input image"):
        client.prepare(edit_request([SOURCE] * 5, "x", model="bfl:flux-2-klein-9b"))


async def test_an_edit_described_by_an_effect_travels_as_words(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    out = await client.edit(
        SOURCE, model="bfl:flux-kontext-pro", effect=seedless.Adjust(brightness=0.8), seed=2
    )
    assert "prompt_from_effect" in out.image.sent
    assert emu.bfl.requests[0].body["prompt"] == out.image.sent["prompt_from_effect"]


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "error", "attempts"),
    [
        (402, QuotaExceededError, 1),
        (403, AuthenticationError, 1),
        (429, RateLimitError, 4),
        (503, seedless.ServerError, 4),
    ],
)
async def test_submission_errors_map_onto_the_error_tree(
    client: seedless.AsyncClient, emu: Emulator, status: int, error: type, attempts: int
) -> None:
    emu.bfl.fail_next(status, times=4, retry_after=0.01 if status == 429 else None)
    with pytest.raises(error) as info:
        await client.generate("x", model="bfl:flux-2-pro", seed=1)
    assert info.value.status == status
    assert len(emu.bfl.requests) == attempts
    if status == 429:
        assert "24" in str(info.value)


async def test_a_refused_body_names_the_field(client: seedless.AsyncClient, emu: Emulator) -> None:
    spec = capabilities().get("bfl:flux-dev")
    assert spec is not None
    provider = client.provider("bfl")
    wire = provider.plan(generate_request("x", model="bfl:flux-dev", seed=1), spec)
    broken = type(wire)(**{**wire.__dict__, "json": {**wire.json, "width": 1000}})
    with pytest.raises(ProviderError, match="width: Input should be a multiple of 32") as info:
        await provider.send(broken, spec)
    assert info.value.status == 422 and not info.value.retryable


async def test_an_unknown_model_is_not_found(client: seedless.AsyncClient, emu: Emulator) -> None:
    seedless.register_model(
        {"provider": "bfl", "id": "flux-9-imaginary", "operations": ["generate"], "wire": "bfl",
         "seed": "seeded"}
    )  # fmt: skip
    with pytest.raises(ModelNotFoundError, match="404"):
        await client.generate("x", model="bfl:flux-9-imaginary", seed=1)


async def test_a_missing_key_says_how_to_set_one(make_client: ClientFactory, emu: Emulator) -> None:
    endpoints = [e for e in emu.endpoints() if e.name != "bfl"]
    endpoints.append(Endpoint(name="bfl", protocol="bfl", base_url=emu.bfl.url))
    client = make_client(endpoints=endpoints)
    with pytest.raises(ConfigurationError, match="BFL_API_KEY"):
        await client.generate("x", model="bfl:flux-2-pro", seed=1)
    assert emu.bfl.requests == []


async def test_the_key_never_shows(client: seedless.AsyncClient, emu: Emulator) -> None:
    prepared = client.prepare(generate_request("x", model="bfl:flux-2-pro", seed=1))
    shown = str(prepared) + repr(client.provider("bfl")) + repr(client.endpoints["bfl"])
    emu.bfl.fail_next(401, message=f"bad key {emu.bfl.api_key}")
    with pytest.raises(AuthenticationError) as info:
        await client.generate("x", model="bfl:flux-2-pro", seed=1)
    assert emu.bfl.api_key not in shown + str(info.value)


# ------------------------------------------------------------------------- regions, trust


def test_regions_and_base_urls() -> None:
    def root(**kwargs: Any) -> str:
        return bfl_root(Endpoint(name="bfl", protocol="bfl", **kwargs))

    assert root() == REGIONS["global"] == "https://api.bfl.ai"
    assert root(location="eu") == "https://api.eu.bfl.ai"
    assert root(location="US") == "https://api.us.bfl.ai"
    assert root(base_url="https://relay.example/bfl/v1/") == "https://relay.example/bfl"
    with pytest.raises(ConfigurationError, match="no region 'mars'"):
        root(location="mars")
    env = seedless.Client(environ={"BFL_API_KEY": "k-123456", "SEEDLESS_BFL_URL": "http://x:1"})
    assert env.endpoints["bfl"].base_url == "http://x:1" and env.endpoints["bfl"].api_key


_EU2 = "https://api.eu2.bfl.ai/v1/get_result?id=T1"
_BASE_POLL = "https://api.bfl.ai/v1/get_result"


@pytest.mark.parametrize(
    ("polling_url", "polled", "keyed"),
    [
        (
            "https://api.eu2.bfl.ai/v1/get_result?id=T1",
            "https://api.eu2.bfl.ai/v1/get_result",
            True,
        ),
        ("https://evil.example/v1/get_result?id=T1", "https://api.bfl.ai/v1/get_result", True),
        ("http://api.eu2.bfl.ai/v1/get_result?id=T1", "https://api.bfl.ai/v1/get_result", True),
        (None, "https://api.bfl.ai/v1/get_result", True),
    ],
)
async def test_the_key_only_goes_to_the_apis_own_site(
    polling_url: str | None, polled: str, keyed: bool
) -> None:
    seen: list[httpx.Request] = []
    png = _png((1, 2, 3))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            answer = {"id": "T1", **({"polling_url": polling_url} if polling_url else {})}
            return httpx.Response(200, json=answer)
        if request.url.path == "/v1/get_result":
            sample = "https://delivery-eu1.bfl.ai/results/T1/sample.png?sig=abc"
            ready = {"id": "T1", "status": "Ready", "result": {"sample": sample, "seed": 4}}
            return httpx.Response(200, json=ready)
        return httpx.Response(200, content=png, headers={"content-type": "image/png"})

    endpoint = Endpoint(name="bfl", protocol="bfl", api_key=SecretStr("bfl-key-123456"))
    provider = BFLProvider(endpoint, transport=httpx.MockTransport(handler))
    spec = capabilities().get("bfl:flux-2-pro")
    assert spec is not None
    reply = await provider.call(generate_request("x", model="bfl:flux-2-pro", seed=4), spec)
    assert reply.follow is not None and reply.images == []
    done = await provider.send(reply.follow, spec)
    await provider.aclose()
    assert done.images[0].data == png and done.usage["seed"] == 4
    _, poll, download = seen
    assert str(poll.url).split("?")[0] == polled and poll.url.params["id"] == "T1"
    assert ("x-key" in poll.headers) is keyed
    assert "x-key" not in download.headers and download.url.host == "delivery-eu1.bfl.ai"
