"""The OpenAI-style images provider, end to end through the loopback emulator.

Most tests drive ``seedless.AsyncClient`` against :mod:`seedless.testing`'s emulator, so the
real httpx path runs. What the emulator cannot do (image URLs on another origin, oversize
downloads, redirects to ``file://``) is served by ``_Origin``, a tiny ``http.server`` on
127.0.0.1 defined below; a few narrow cases use ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from seedless import Adjust, AsyncClient, Endpoint, RetryPolicy
from seedless.capabilities import capabilities
from seedless.client import CallEvent, edit_request, generate_request
from seedless.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentBlockedError,
    ModelNotFoundError,
    ModelRetiredError,
    NoImageError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    RequestError,
    ServerError,
    UnsupportedCapabilityError,
)
from seedless.errors import TimeoutError as SeedlessTimeoutError
from seedless.providers.openai import DEFAULT_BASE_URL, OpenAIProvider, api_root
from seedless.retry import parse_retry_after
from seedless.testing import MASK, Emulator, FilePart

TODAY = date(2026, 11, 25)
KEY = "sk-seedless-test-0123456789abcdef"


def _png(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 120, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def _client(*endpoints: Endpoint, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", RetryPolicy(initial=0.01))
    kwargs.setdefault("environ", {})
    return AsyncClient(endpoints=endpoints, clock=lambda: TODAY, **kwargs)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(openai_api_key=KEY) as emulator:
        yield emulator


def _endpoint(emu: Emulator, **kwargs: Any) -> Endpoint:
    kwargs.setdefault("name", "openai")
    kwargs.setdefault("base_url", emu.openai.url)
    kwargs.setdefault("api_key", SecretStr(emu.openai.api_key))
    return Endpoint(protocol="openai", **kwargs)


def _spec(model: str) -> Any:
    """The row as an ``openai`` endpoint pointing at a relay serves it (Flux: the relay's)."""
    return capabilities().resolve(model, profiles={"openai": ("openai", "relay")})


# ------------------------------------------------------------------ a tiny second origin


Route = Callable[[BaseHTTPRequestHandler], None]


class _Origin:
    """An HTTP server on 127.0.0.1 with scripted routes; records every request's headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # bodies may end at connection close

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                origin.seen.append((self.command, self.path, headers))
                route = origin.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]

    def headers_for(self, path: str) -> dict[str, str]:
        return next(headers for _, p, headers in self.seen if p == path)


@pytest.fixture
def origins() -> Iterator[tuple[_Origin, _Origin]]:
    """Two origins: a fake relay API and a separate file host."""
    pair = (_Origin(), _Origin())
    for origin in pair:
        origin.thread.start()
    yield pair
    for origin in pair:
        origin.server.shutdown()
        origin.server.server_close()


def _reply(status: int, body: bytes, content_type: str, **headers: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def _json(payload: Any, status: int = 200) -> Route:
    return _reply(status, json.dumps(payload).encode(), "application/json")


def _redirect(location: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def _relay_endpoint(api: _Origin, **kwargs: Any) -> Endpoint:
    return Endpoint(
        name="relay",
        protocol="openai",
        base_url=api.url,
        api_key=SecretStr(KEY),
        headers={"X-Relay-Token": "relay-header-value"},
        **kwargs,
    )


def _answer_with_url(api: _Origin, url: str) -> None:
    api.routes["/v1/images/generations"] = _json({"created": 1, "data": [{"url": url}]})


# ======================================================================= the list


async def test_flux_dev_seed_replays_and_goes_on_the_wire(emu: Emulator) -> None:
    async with _client(_endpoint(emu)) as client:
        first = await client.generate("a red fox", model="openai:flux-dev", seed=7)
        again = await client.generate("a red fox", model="openai:flux-dev", seed=7)
        other = await client.generate("a red fox", model="openai:flux-dev", seed=8)
    assert first.image.data == again.image.data
    assert other.image.data != first.image.data
    assert first.image.seed == 7 and first.image.seed_mode == "seeded"
    assert first.image.mime_type == "image/png"
    assert [r.body["seed"] for r in emu.openai.requests] == [7, 7, 8]
    recorded = emu.openai.requests[0]
    assert (recorded.method, recorded.path) == ("POST", "/v1/images/generations")
    assert recorded.headers["authorization"] == f"Bearer {MASK}"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.body == {
        "model": "flux-dev",
        "prompt": "a red fox",
        "n": 1,
        "response_format": "b64_json",
        "seed": 7,
    }
    assert first.image.sent == {"response_format": "b64_json"}


async def test_url_answer_is_downloaded(emu: Emulator) -> None:
    async with _client(_endpoint(emu)) as client:
        by_url = await client.generate(
            "a red fox", model="openai:flux-dev", seed=3, options={"response_format": "url"}
        )
        inline = await client.generate("a red fox", model="openai:flux-dev", seed=3)
    assert by_url.image.data == inline.image.data
    api, download = emu.openai.requests[:2]
    assert api.body["response_format"] == "url"
    assert download.method == "GET" and download.path.startswith("/files/")
    assert by_url.image.sent["response_format"] == "url"


async def test_url_on_another_origin_gets_no_credentials(
    origins: tuple[_Origin, _Origin],
) -> None:
    api, files = origins
    files.routes["/hop"] = _redirect("/image.png")  # relative redirect, same file host
    files.routes["/image.png"] = _reply(200, PNG, "image/png")
    answer = json.dumps({"created": 1, "data": [{"url": files.url + "/hop"}]}).encode()
    cookie = {"Set_Cookie": "session=relay-session; Path=/"}  # same host, another port
    api.routes["/v1/images/generations"] = _reply(200, answer, "application/json", **cookie)
    async with _client(_relay_endpoint(api)) as client:
        out = await client.generate("a fox", model="relay:flux-dev", seed=1)
        await client.generate("a fox", model="relay:flux-dev", seed=1)
    assert out.image.data == PNG and out.image.provider == "relay"
    assert "cookie" not in api.seen[-1][2]
    sent_to_api = api.headers_for("/v1/images/generations")
    assert sent_to_api["authorization"] == f"Bearer {KEY}"
    assert sent_to_api["x-relay-token"] == "relay-header-value"
    assert files.paths() == ["/hop", "/image.png"] * 2
    for _, _, headers in files.seen:
        assert not {"authorization", "x-relay-token", "cookie"} & set(headers)
        assert KEY not in json.dumps(headers)


async def test_redirect_from_the_api_origin_drops_credentials_at_the_new_origin(
    origins: tuple[_Origin, _Origin],
) -> None:
    api, files = origins
    api.routes["/files/abc"] = _redirect(files.url + "/image.png")
    files.routes["/image.png"] = _reply(200, PNG, "image/png")
    _answer_with_url(api, api.url + "/files/abc")
    async with _client(_relay_endpoint(api)) as client:
        out = await client.generate("a fox", model="relay:flux-dev", seed=1)
    assert out.image.data == PNG
    assert api.headers_for("/files/abc")["authorization"] == f"Bearer {KEY}"  # same origin
    assert "authorization" not in files.headers_for("/image.png")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_oversize_download_is_refused(
    origins: tuple[_Origin, _Origin], declared: bool
) -> None:
    api, files = origins
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * 5000

    def streamed(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.end_headers()  # no Content-Length: the body ends when the connection closes
        for start in range(0, len(big), 1000):
            handler.wfile.write(big[start : start + 1000])

    files.routes["/big.png"] = _reply(200, big, "image/png") if declared else streamed
    _answer_with_url(api, files.url + "/big.png")
    endpoint = _relay_endpoint(api)
    provider = OpenAIProvider(endpoint, max_download_bytes=4096)
    async with _client(endpoint, providers={"relay": provider}) as client:
        with pytest.raises(ProviderError) as info:
            await client.generate("a fox", model="relay:flux-dev", seed=1)
    assert type(info.value) is ProviderError and not info.value.retryable
    assert "capped at 4,096 bytes" in str(info.value)
    assert api.paths() == ["/v1/images/generations"]  # refused once, not retried


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/image.png", "gopher://x/1"]
)
async def test_redirect_to_a_non_http_scheme_is_refused(
    origins: tuple[_Origin, _Origin], location: str
) -> None:
    api, files = origins
    files.routes["/image.png"] = _redirect(location)
    _answer_with_url(api, files.url + "/image.png")
    async with _client(_relay_endpoint(api)) as client:
        with pytest.raises(ProviderError) as info:
            await client.generate("a fox", model="relay:flux-dev", seed=1)
    assert type(info.value) is ProviderError and not info.value.retryable
    assert f"a {location.split(':')[0]}: URL" in str(info.value)
    assert files.paths() == ["/image.png"]


async def test_non_http_url_in_the_answer_and_redirect_loops_are_refused(
    origins: tuple[_Origin, _Origin],
) -> None:
    api, files = origins
    _answer_with_url(api, "file:///etc/passwd")
    async with _client(_relay_endpoint(api)) as client:
        with pytest.raises(ProviderError, match="a file: URL"):
            await client.generate("a fox", model="relay:flux-dev", seed=1)
        files.routes["/loop"] = _redirect("/loop")
        _answer_with_url(api, files.url + "/loop")
        with pytest.raises(ProviderError, match="more than 3 times"):
            await client.generate("a fox", model="relay:flux-dev", seed=1)
    assert files.paths() == ["/loop"] * 4


async def test_download_failures(origins: tuple[_Origin, _Origin]) -> None:
    api, files = origins
    files.routes["/page"] = _reply(200, b"<html>expired</html>", "text/html")
    files.routes["/gone"] = _reply(403, b"AccessDenied", "text/plain")
    files.routes["/slow"] = lambda handler: time.sleep(0.6)
    endpoint = _relay_endpoint(api)
    provider = OpenAIProvider(endpoint, download_timeout=0.2)
    once = RetryPolicy(max_attempts=1)
    async with _client(endpoint, providers={"relay": provider}, retry=once) as client:
        _answer_with_url(api, files.url + "/page")
        with pytest.raises(NoImageError, match="not a recognisable image"):
            await client.generate("a fox", model="relay:flux-dev", seed=1)
        _answer_with_url(api, files.url + "/gone")
        with pytest.raises(ProviderError, match="HTTP 403") as info:
            await client.generate("a fox", model="relay:flux-dev", seed=1)
        assert info.value.status == 403 and not info.value.retryable
        _answer_with_url(api, files.url + "/slow")
        with pytest.raises(SeedlessTimeoutError, match=r"longer than 0\.2s"):
            await client.generate("a fox", model="relay:flux-dev", seed=1)


async def test_dall_e_3_with_a_seed_is_refused_with_nothing_on_the_wire(emu: Emulator) -> None:
    async with _client(_endpoint(emu)) as client:
        with pytest.raises(ModelRetiredError) as retired:
            await client.generate("a fox", model="openai:dall-e-3", seed=7)
        assert retired.value.successor == "openai:gpt-image-2"
        for model in ("openai:dall-e-3", "openai:gpt-image-1"):
            with pytest.raises(UnsupportedCapabilityError) as info:
                await client.generate("a fox", model=model, seed=7, allow_retired=True)
            assert info.value.capability == "seed" and info.value.model == model
            assert "relay:flux-dev" in info.value.alternatives
        with pytest.raises(UnsupportedCapabilityError):
            await client.generate("a fox", model="openai:gpt-image-2", seed=7)
        with pytest.raises(UnsupportedCapabilityError):
            await client.generate("a fox", model="openai:flux-3-image", seed=7)
    assert emu.openai.requests == []


async def test_dall_e_3_without_a_seed_reaches_a_relay_that_still_serves_it(
    emu: Emulator,
) -> None:
    async with _client(_endpoint(emu, allow_retired=True)) as client:
        out = await client.generate("a fox", model="openai:dall-e-3", aspect_ratio="16:9")
    assert emu.openai.requests[0].body["size"] == "1792x1024"
    assert out.image.text == "A detailed illustration of a fox"  # revised_prompt
    assert out.image.sent == {"size": "1792x1024", "response_format": "b64_json"}


async def test_kontext_edit_sends_multipart_with_the_image(emu: Emulator) -> None:
    async with _client(_endpoint(emu)) as client:
        first = await client.edit(PNG, "make it darker", model="openai:flux-kontext-pro", seed=5)
        again = await client.edit(PNG, "make it darker", model="openai:flux-kontext-pro", seed=5)
    assert first.image.data == again.image.data
    recorded = emu.openai.requests[0]
    assert (recorded.method, recorded.path) == ("POST", "/v1/images/edits")
    assert recorded.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert recorded.body is None and recorded.form is not None
    form = dict(recorded.form)  # a copy: the wire check reads the recorded one after the test
    image = form.pop("image")
    assert isinstance(image, FilePart)
    assert (image.content_type, image.data) == ("image/png", PNG)
    assert form == {
        "model": "flux-kontext-pro",
        "prompt": "make it darker",
        "n": "1",
        "response_format": "b64_json",
        "seed": "5",
    }
    source = Image.open(io.BytesIO(PNG)).convert("L").getpixel((5, 5))
    edited = first.image.to_pil().convert("L").getpixel((5, 5))
    assert isinstance(source, int) and isinstance(edited, int)
    assert edited < source  # the emulator darkens


async def test_edit_with_references_sends_every_image(emu: Emulator) -> None:
    second = _png(colour=(10, 20, 30))
    async with _client(_endpoint(emu)) as client:
        await client.edit([PNG, second], "match the second", model="openai:flux-2-pro", seed=1)
    form = emu.openai.requests[0].form
    assert form is not None
    assert [part.data for part in form["image[]"]] == [PNG, second]


async def test_429_with_retry_after_is_retried(emu: Emulator) -> None:
    emu.openai.fail_next(429, retry_after=0.05)
    events: list[CallEvent] = []
    async with _client(_endpoint(emu), listeners=[events.append]) as client:
        out = await client.generate("a fox", model="openai:flux-dev", seed=7)
    assert out.image.mime_type == "image/png"
    assert len(emu.openai.requests) == 2
    (retry,) = [e for e in events if e.kind == "retry"]
    assert isinstance(retry.error, RateLimitError)
    assert retry.error.status == 429 and retry.error.retry_after == 0.05
    assert retry.delay == 0.05  # Retry-After honoured, not the backoff


async def test_dropped_and_truncated_answers_are_retried(emu: Emulator) -> None:
    emu.openai.drop_next()
    emu.openai.truncate_next()
    emu.openai.fail_next(503)
    events: list[CallEvent] = []
    async with _client(_endpoint(emu), listeners=[events.append]) as client:
        await client.generate("a fox", model="openai:flux-dev", seed=7)
    errors = [e.error for e in events if e.kind == "retry"]
    assert [type(e) for e in errors] == [ServerError, ServerError, ServerError]
    assert len(emu.openai.requests) == 4


async def test_two_endpoint_profiles_in_one_client() -> None:
    """Two OpenAI-style endpoints in one client, each with its key, headers, prices and its
    host's spellings: a relay, and a host of the user's own that follows Together's."""
    with Emulator(openai_api_key=KEY) as first, Emulator(together_api_key=KEY[::-1]) as second:
        openai = _endpoint(first)
        myhost = Endpoint(
            name="myhost",
            protocol="openai",
            base_url=second.together.origin,  # no /v1: added
            api_key=SecretStr(KEY[::-1]),
            headers={"X-Relay": "myhost"},
            profile="together",
            extra_fields={"output_format": "png"},
            prices={"flux-dev": 0.0125},
        )
        async with _client(openai, myhost) as client:
            a = await client.generate(
                "a fox", model="openai:flux-dev", seed=7, options={"guidance": 3.5}
            )
            b = await client.generate(
                "a fox", model="myhost:flux-dev", seed=7, options={"guidance": 3.5}
            )
            providers = [client.provider("openai"), client.provider("myhost")]
            assert providers[0] is not providers[1]
        for provider in providers:
            assert isinstance(provider, OpenAIProvider) and provider._session._client is None
    (one,) = first.openai.requests
    (two,) = second.together.requests
    assert one.path == two.path == "/v1/images/generations"
    assert one.body["model"] == "flux-dev" and one.body["response_format"] == "b64_json"
    assert two.body["model"] == "black-forest-labs/FLUX.1-dev"
    assert two.body["response_format"] == "base64" and two.body["output_format"] == "png"
    assert one.body["guidance_scale"] == two.body["guidance_scale"] == 3.5
    assert two.headers["x-relay"] == "myhost" and "x-relay" not in one.headers
    assert (a.image.provider, b.image.provider) == ("openai", "myhost")
    assert (a.image.cost_usd, b.image.cost_usd) == (0.02, 0.0125)
    assert a.image.mime_type == b.image.mime_type == "image/png"


def test_sync_client_through_the_emulator(emu: Emulator) -> None:
    with emu.client(retry=RetryPolicy(initial=0.01), clock=lambda: TODAY) as client:
        out = client.generate("a fox", model="openai:flux-schnell", seed=2, size="512x512")
    assert out.image.sent == {"width": 512, "height": 512, "response_format": "b64_json"}
    assert emu.openai.requests[0].body["width"] == 512


# ================================================================== keys and configuration


async def test_key_and_base_url_from_the_environment(emu: Emulator) -> None:
    environ = {"OPENAI_API_KEY": emu.openai.api_key, "OPENAI_BASE_URL": emu.openai.url}
    async with _client(environ=environ) as client:
        out = await client.generate("a fox", model="openai:flux-dev", seed=1)
    assert out.image.provider == "openai" and len(emu.openai.requests) == 1


async def test_missing_key_is_a_configuration_error_before_any_request(emu: Emulator) -> None:
    async with _client(environ={"OPENAI_BASE_URL": emu.openai.url}) as client:
        with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    assert emu.openai.requests == []


async def test_auth_error_never_shows_the_key(emu: Emulator) -> None:
    wrong = "sk-wrong-key-9876543210fedcba"
    async with _client(_endpoint(emu, api_key=SecretStr(wrong))) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    assert info.value.status == 401 and not info.value.retryable
    assert "Incorrect API key" in str(info.value)
    for text in (str(info.value), repr(info.value), repr(info.value.__cause__)):
        assert wrong not in text and KEY not in text
    assert len(emu.openai.requests) == 1  # not retried


async def test_server_error_echoing_the_key_is_redacted(emu: Emulator) -> None:
    emu.openai.fail_next(500, times=4, message=f"upstream refused key {KEY} (Bearer {KEY})")
    emu.openai.fail_next(401, message=f"key {KEY} revoked")
    async with _client(_endpoint(emu)) as client:
        with pytest.raises(ServerError) as info:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
        assert info.value.status == 500 and "upstream refused key" in str(info.value)
        with pytest.raises(AuthenticationError) as auth:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    for exc in (info.value, auth.value):
        assert KEY not in str(exc) and KEY not in repr(exc) and "[secure]" in str(exc)
    assert len(emu.openai.requests) == 5


async def test_a_relay_key_in_a_header_of_its_own_is_kept_secret(emu: Emulator) -> None:
    subscription = "apim-subscription-0123456789"  # Azure API Management's header, say
    headers = {"Ocp-Apim-Subscription-Key": subscription, "X-Relay-Token": "relay-token-98765"}
    emu.openai.fail_next(400, message=f"subscription {subscription} / relay-token-98765 refused")
    async with _client(_endpoint(emu, headers=headers)) as client:
        with pytest.raises(ProviderError) as info:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    assert subscription not in str(info.value) and "relay-token-98765" not in str(info.value)
    [recorded] = emu.openai.requests
    assert recorded.headers["ocp-apim-subscription-key"] == "[secure]"
    assert recorded.headers["x-relay-token"] == "[secure]"


async def test_credentials_in_the_base_url_stay_out_of_errors(emu: Emulator) -> None:
    base = emu.openai.origin.replace("http://", "http://bob:url-password-4321@") + "/api"
    async with _client(_endpoint(emu, base_url=base)) as client:
        with pytest.raises(ProviderError) as wrong:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
        assert "url-password-4321" not in repr(client.provider("openai"))
    assert wrong.value.status == 404 and "base_url" in str(wrong.value)
    assert "bob:[secure]@" in str(wrong.value) and "url-password-4321" not in str(wrong.value)


async def test_a_query_in_the_base_url_stays_at_the_end_and_out_of_sight(emu: Emulator) -> None:
    base = emu.openai.url + "?api-version=2&token=relay-token-13579"
    endpoint = _endpoint(emu, base_url=base)
    async with _client(endpoint) as client:
        result = await client.generate("a fox", model="openai:flux-dev", seed=1)
    [recorded] = emu.openai.requests
    assert recorded.path == "/v1/images/generations"
    assert recorded.query == {"api-version": "2", "token": MASK}
    built = OpenAIProvider(endpoint).plan(
        generate_request("a fox", model="flux-dev"), _spec("openai:flux-dev")
    )
    assert built.url.startswith(emu.openai.url + "/images/generations?api-version=2&token=")
    for text in (built.url, json.dumps(result.image.sent), repr(endpoint)):
        assert "relay-token-13579" not in text


# ================================================================== errors from the service


async def test_safety_blocks_map_to_content_blocked(emu: Emulator) -> None:
    emu.openai.block_next()
    emu.openai.block_next()
    async with _client(_endpoint(emu)) as client:
        with pytest.raises(ContentBlockedError) as flux:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
        with pytest.raises(ContentBlockedError) as gpt:
            await client.generate("a fox", model="openai:gpt-image-2")
    assert (flux.value.reason, flux.value.status) == ("content_policy_violation", 400)
    assert (gpt.value.reason, gpt.value.status) == ("moderation_blocked", 400)
    assert not flux.value.retryable and len(emu.openai.requests) == 2


async def test_model_not_found_and_wrong_base_url(emu: Emulator) -> None:
    emu.openai.retired.add("flux-2-pro")
    async with _client(_endpoint(emu)) as client:
        with pytest.raises(ModelNotFoundError) as missing:
            await client.generate("a fox", model="openai:flux-2-pro", seed=1)
    assert missing.value.status == 404 and missing.value.successors
    assert "does not exist" in str(missing.value)
    async with _client(_endpoint(emu, base_url=emu.openai.origin + "/api")) as client:
        with pytest.raises(ProviderError) as wrong:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    assert type(wrong.value) is ProviderError and wrong.value.status == 404
    assert "base_url" in str(wrong.value)


async def test_no_image_answer(emu: Emulator) -> None:
    emu.openai.no_image_next()
    async with _client(_endpoint(emu)) as client:
        with pytest.raises(NoImageError):
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    assert len(emu.openai.requests) == 1


async def test_slow_answer_times_out(emu: Emulator) -> None:
    emu.openai.slow_next(2.0)
    endpoint = _endpoint(emu, timeout=0.2)
    async with _client(endpoint, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(SeedlessTimeoutError) as info:
            await client.generate("a fox", model="openai:flux-dev", seed=1)
    # httpx's read timeout or the attempt's deadline (the same 0.2 s), whichever fires first
    cause = info.value.__cause__
    assert info.value.retryable
    assert isinstance(cause, (httpx.TimeoutException, asyncio.TimeoutError))


async def test_gpt_image_2_answers_usage_and_takes_no_response_format(emu: Emulator) -> None:
    async with _client(_endpoint(emu)) as client:
        out = await client.generate(
            "a fox", model="openai:gpt-image-2", aspect_ratio="16:9", size="2K", n=2,
            output_mime_type="image/webp", options={"quality": "low"},
        )  # fmt: skip
    (recorded,) = emu.openai.requests
    assert recorded.body == {
        "model": "gpt-image-2",
        "prompt": "a fox",
        "n": 2,
        "size": "2736x1536",
        "output_format": "webp",
        "quality": "low",
    }
    assert len(out) == 2 and out.image.mime_type == "image/webp"
    assert out.image.usage["output_tokens"] == 2112
    assert out.image.sent == {"size": "2736x1536"}


async def test_refusals_before_the_wire(emu: Emulator) -> None:
    async with _client(_endpoint(emu)) as client:
        with pytest.raises(RequestError, match="'guidance_scale'") as info:
            await client.generate("a fox", model="openai:flux-dev", options={"guidance_scale": 3})
        assert "'guidance'" in str(info.value) and "'steps'" in str(info.value)
        with pytest.raises(RequestError, match="always answers base64"):
            await client.generate(
                "a fox", model="openai:gpt-image-2", options={"response_format": "url"}
            )
        with pytest.raises(UnsupportedCapabilityError, match="multiples of 16") as size:
            await client.generate("a fox", model="openai:gpt-image-2", size="1000x1000")
        assert size.value.capability == "size"
        with pytest.raises(UnsupportedCapabilityError, match="at most 3840"):
            await client.generate("a fox", model="openai:gpt-image-2", size="4096x1024")
        with pytest.raises(RequestError, match="size class"):
            await client.generate("a fox", model="openai:flux-dev", size="8K")
        with pytest.raises(RequestError, match="prompt"):
            await client.edit(PNG, model="openai:flux-kontext-pro")
    assert emu.openai.requests == []


async def test_an_effect_without_a_prompt_is_sent_in_words(emu: Emulator) -> None:
    effect = Adjust(brightness=0.85)
    async with _client(_endpoint(emu)) as client:
        out = await client.edit(PNG, model="openai:flux-kontext-pro", effect=effect, seed=2)
    form = emu.openai.requests[0].form
    assert form is not None and form["prompt"] == effect.describe()
    assert out.image.sent["prompt_from_effect"] == effect.describe()


# ======================================================================= plan (no I/O)


def _provider(**kwargs: Any) -> OpenAIProvider:
    kwargs.setdefault("base_url", "https://relay.example/v1")
    return OpenAIProvider(Endpoint(name="openai", protocol="openai", **kwargs))


@pytest.mark.parametrize(
    ("model", "aspect_ratio", "size", "expected"),
    [
        # BFL's FLUX.1 [dev]: multiples of 32, 256..1440 (a relay passes sizes on unchanged)
        ("flux-dev", "16:9", None, {"width": 1376, "height": 768}),
        ("flux-dev", "9:16", "2K", {"width": 800, "height": 1440}),
        ("flux-dev", None, "1K", {"width": 1024, "height": 1024}),
        ("flux-dev", None, "1024x736", {"width": 1024, "height": 736}),
        ("flux-schnell", "16:9", None, {"width": 1360, "height": 768}),  # no published rule
        ("flux-2-pro", "3:2", "512", {"width": 624, "height": 416}),
        ("dall-e-3", None, None, {"size": "1024x1024"}),
        ("dall-e-3", "9:16", None, {"size": "1024x1792"}),
        ("dall-e-3", "1:1", None, {"size": "1024x1024"}),
        ("gpt-image-1.5", "3:2", None, {"size": "1536x1024"}),
        ("gpt-image-1.5", None, "auto", {"size": "auto"}),
        ("gpt-image-2", "1:1", "4K", {"size": "2880x2880"}),
        ("gpt-image-2", "16:9", "4K", {"size": "3840x2160"}),
        ("gpt-image-2", "21:9", "1K", {"size": "1568x672"}),
        ("gpt-image-2", "21:9", "512", {"size": "1248x544"}),
        ("gpt-image-2", None, "1536x864", {"size": "1536x864"}),
        ("flux-3-image", "21:9", None, {"size": "1568x672"}),
    ],
)
def test_size_mapping(
    model: str, aspect_ratio: str | None, size: str | None, expected: dict[str, Any]
) -> None:
    request = generate_request("x", model=model, aspect_ratio=aspect_ratio, size=size)
    built = _provider().plan(request, _spec(f"openai:{model}"))
    assert built.json is not None
    shown = {k: built.json[k] for k in ("size", "width", "height") if k in built.json}
    assert shown == expected
    assert {k: v for k, v in built.chosen.items() if k != "response_format"} == expected


def test_plan_is_pure_and_holds_no_key() -> None:
    provider = _provider(
        api_key=SecretStr(KEY),
        field_names={"steps": "num_inference_steps", "aspect_ratio": "aspect_ratio"},
        extra_fields={"output_format": "jpeg", "response_format": "base64", "model": "nope"},
    )
    request = generate_request(
        "x", model="flux-dev", seed=3, aspect_ratio="4:3", options={"steps": 20}
    )
    built = provider.plan(request, _spec("openai:flux-dev"))
    assert (built.method, built.path) == ("POST", "/v1/images/generations")
    assert built.url == "https://relay.example/v1/images/generations"
    assert built.json == {
        "output_format": "jpeg",
        "response_format": "base64",  # the endpoint's value wins over seedless's default
        "model": "flux-dev",  # ... but never over the request's own fields
        "prompt": "x",
        "n": 1,
        "aspect_ratio": "4:3",  # the host takes the ratio itself: no pixel size derived
        "seed": 3,
        "num_inference_steps": 20,
    }
    assert KEY not in str(built) and KEY not in repr(built)


def test_an_endpoint_can_drop_width_and_height_for_size() -> None:
    provider = _provider(field_names={"width": "", "height": "", "steps": "step"})
    request = generate_request("x", model="flux-schnell", size="1K", options={"steps": 4})
    built = provider.plan(request, _spec("openai:flux-schnell"))
    assert built.json is not None
    assert built.json["size"] == "1024x1024" and built.json["step"] == 4
    assert not {"width", "height", "steps"} & set(built.json)


@pytest.mark.parametrize(
    ("dropped", "asked"),
    [
        ("seed", {"seed": 3}),
        ("negative_prompt", {"negative_prompt": "blur"}),
        ("output_format", {"output_mime_type": "image/jpeg"}),
    ],
)
def test_an_endpoint_that_drops_a_field_refuses_a_request_that_needs_it(
    dropped: str, asked: dict[str, Any]
) -> None:
    provider = _provider(field_names={dropped: ""})
    spec = _spec("openai:flux-dev")
    built = provider.plan(generate_request("x", model="flux-dev"), spec)
    assert built.json is not None and dropped not in built.json
    with pytest.raises(UnsupportedCapabilityError) as info:
        provider.plan(generate_request("x", model="flux-dev", **asked), spec)
    assert f"{dropped!r}: ''" in str(info.value) and info.value.model == "openai:flux-dev"


def test_plan_edit_is_multipart() -> None:
    request = edit_request([PNG, _png(colour=(1, 2, 3))], "blend", model="flux-2-flex", seed=4)
    built = _provider(base_url="http://localhost:8080").plan(request, _spec("openai:flux-2-flex"))
    assert built.url == "http://localhost:8080/v1/images/edits"
    assert built.json is None and built.files
    assert [(part.name, part.filename, part.content_type) for part in built.files] == [
        ("image[]", "image0.png", "image/png"),
        ("image[]", "image1.png", "image/png"),
    ]
    assert built.form == {
        "model": "flux-2-flex",
        "prompt": "blend",
        "n": "1",
        "response_format": "b64_json",
        "seed": "4",
    }


@pytest.mark.parametrize(
    ("base", "root"),
    [
        (None, DEFAULT_BASE_URL),  # the provider's default, never contacted by tests
        ("https://relay.example", "https://relay.example/v1"),
        ("https://relay.example/", "https://relay.example/v1"),
        ("https://relay.example/v1/", "https://relay.example/v1"),
        ("https://gw.example/openai/v1", "https://gw.example/openai/v1"),
        ("https://gw.example/api", "https://gw.example/api/v1"),
        ("https://gw.example/v2beta", "https://gw.example/v2beta"),
        ("https://gw.example/?api-version=2", "https://gw.example/v1?api-version=2"),
        ("https://gw.example/v1/?key=k", "https://gw.example/v1?key=k"),
    ],
)
def test_api_root(base: str | None, root: str) -> None:
    assert api_root(base) == root


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": later}, now=now) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "-1"}) is None
    assert parse_retry_after({}) is None


# ============================================================ narrow cases (MockTransport)


async def _call_with(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    endpoint = Endpoint(name="openai", protocol="openai", api_key=SecretStr(KEY))
    provider = OpenAIProvider(endpoint, transport=httpx.MockTransport(handler))
    try:
        return await provider.call(
            generate_request("x", model="openai:flux-dev"), _spec("openai:flux-dev")
        )
    finally:
        await provider.aclose()


async def test_a_billing_stop_is_not_retried_like_a_rate_limit() -> None:
    def no_quota(request: httpx.Request) -> httpx.Response:
        error = {
            "message": "You exceeded your current quota, please check your plan and billing "
            "details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
        return httpx.Response(429, json={"error": error})

    with pytest.raises(RateLimitError) as info:
        await _call_with(no_quota)
    assert isinstance(info.value, QuotaExceededError) and not info.value.retryable
    assert info.value.status == 429 and "billing" in str(info.value)


async def test_error_in_a_200_body_and_should_retry_header() -> None:
    def blocked(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": {"message": "no", "code": "content_filter"}})

    with pytest.raises(ContentBlockedError) as info:
        await _call_with(blocked)
    assert info.value.reason == "content_filter"

    def overloaded(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"x-should-retry": "false"}, text="<html>busy</html>")

    with pytest.raises(ServerError) as busy:
        await _call_with(overloaded)
    assert not busy.value.retryable and "<html>busy</html>" in str(busy.value)


async def test_malformed_answers() -> None:
    def bad_base64(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"b64_json": "***"}]})

    with pytest.raises(ServerError, match="not valid base64"):
        await _call_with(bad_base64)

    def not_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='{"data": [{"b64_json": "iVBO')

    with pytest.raises(ServerError, match="not JSON"):
        await _call_with(not_json)

    def data_url(request: httpx.Request) -> httpx.Response:
        encoded = base64.b64encode(PNG).decode()
        return httpx.Response(200, json={"data": [{"url": f"data:image/png;base64,{encoded}"}]})

    reply = await _call_with(data_url)
    assert reply.images[0].data == PNG


async def test_one_pooled_client_closed_by_aclose(emu: Emulator) -> None:
    provider = OpenAIProvider(_endpoint(emu))
    spec = _spec("openai:flux-dev")
    await provider.call(generate_request("x", model="openai:flux-dev", seed=1), spec)
    pooled = provider._session._client
    await provider.call(generate_request("y", model="openai:flux-dev", seed=1), spec)
    assert pooled is not None and provider._session._client is pooled
    await provider.aclose()
    assert pooled.is_closed and provider._session._client is None


async def test_endpoint_model_ids_send_the_hosts_own_name(emu: Emulator) -> None:
    host_id = "my-relay/flux-schnell"
    emu.openai.add_model(host_id)
    relay = _endpoint(emu, name="myrelay", model_ids={"flux-schnell": host_id})
    async with _client(relay) as client:
        out = await client.generate("a fox", model="myrelay:flux-schnell", seed=3)
    (sent,) = emu.openai.requests
    assert sent.body["model"] == host_id
    assert out.image.model == "flux-schnell" and out.image.sent["model"] == host_id
    assert out.image.request["model"] == "myrelay:flux-schnell"
