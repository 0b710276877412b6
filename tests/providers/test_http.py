"""The plumbing the REST providers share (``providers/_http.py``, ``_hosted.py``, ``_sizes.py``),
tested narrowly with httpx.MockTransport: transport failures and their hints, capped reads,
JSON answers, error bodies, the key header of the hosted providers, and request sizes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import httpx
import pytest

from seedless import Endpoint
from seedless.capabilities import ModelSpec, SizeRule
from seedless.client import generate_request
from seedless.errors import (
    ConfigurationError,
    ProviderError,
    RequestError,
    ServerError,
    UnsupportedCapabilityError,
)
from seedless.errors import TimeoutError as SeedlessTimeoutError
from seedless.providers._hosted import HttpProvider, KeyHeader
from seedless.providers._http import HttpSession, error_text, fastapi_detail
from seedless.providers._sizes import pixel_size

ROOT = "http://api.test"


def _session(handler: httpx.MockTransport, **kwargs: object) -> HttpSession:
    return HttpSession(
        endpoint_name="svc", root=ROOT, timeout=5, owner="SvcProvider", transport=handler,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _failing(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


async def test_transport_failures_carry_the_sessions_hints() -> None:
    slow = _session(_failing(httpx.ReadTimeout("slow")), slow_hint="A busy GPU queue is slow.")
    with pytest.raises(SeedlessTimeoutError, match=r"within 5s \(ReadTimeout\)\. A busy GPU"):
        await slow.request("GET", ROOT + "/x", headers={}, provider="svc")
    down = _session(_failing(httpx.ConnectError("refused")), down_hint="Is the server running?")
    with pytest.raises(ServerError, match=r"connection to http://api.test failed .*running\?$"):
        await down.request("GET", ROOT + "/x", headers={}, provider="svc")
    hosted = _session(_failing(httpx.ConnectError("refused")))
    with pytest.raises(ServerError, match=r"\(ConnectError: refused\)\.$"):
        await hosted.request("GET", ROOT + "/x", headers={}, provider="svc")


async def test_request_leaves_the_status_to_the_caller_and_send_judges_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, json={"detail": "teapot"})

    session = _session(httpx.MockTransport(handler))
    answer = await session.request("POST", ROOT + "/x", headers={}, provider="svc", json_body={})
    assert answer.status_code == 418
    with pytest.raises(ProviderError, match="mapped: 418"):
        await session.send(
            "POST", ROOT + "/x", headers={}, provider="svc", json_body={},
            error=lambda r: ProviderError(f"mapped: {r.status_code}", provider="svc"),
        )  # fmt: skip


@pytest.mark.parametrize("declared", [True, False])
async def test_fetch_refuses_a_body_past_the_cap(declared: bool) -> None:
    body = b"x" * 300

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:150]
        yield body[150:]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["filename"] == "a.png"
        if declared:
            return httpx.Response(200, content=body)
        return httpx.Response(200, content=chunks())  # streamed, no Content-Length

    session = _session(httpx.MockTransport(handler), max_download_bytes=200)
    with pytest.raises(ProviderError, match=r"svc served more than 200 bytes for /view") as info:
        await session.fetch(
            ROOT + "/view", headers={}, provider="svc", params={"filename": "a.png"}, what="/view"
        )
    assert "SvcProvider(max_download_bytes=...)" in str(info.value)
    assert ("(300 bytes)" in str(info.value)) is declared


async def test_fetch_returns_the_body_and_status_unjudged() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(404, content=b"gone"))
    answer = await _session(transport).fetch(ROOT + "/view", headers={}, provider="svc", what="/v")
    assert (answer.status_code, answer.content) == (404, b"gone")


def test_json_answers_are_read_or_refused_as_truncated() -> None:
    session = _session(httpx.MockTransport(lambda r: httpx.Response(200)))
    assert session.json(httpx.Response(200, json=[1, 2]), "svc") == [1, 2]
    with pytest.raises(ServerError, match=r"not JSON \(truncated\?\)"):
        session.json(httpx.Response(200, content=b'{"a": '), "svc")
    with pytest.raises(ServerError, match="not an object"):
        session.json_object(httpx.Response(200, json=[1]), "svc")


def test_fastapi_detail_reads_text_and_validation_errors() -> None:
    assert fastapi_detail({"detail": "Not Found"}) == "Not Found"
    errors = [
        {"loc": ["body", "width"], "msg": "Input should be a valid integer"},
        {"loc": ["body"], "msg": "Field required"},
        {"loc": ["query", "id"]},
        "ignored",
    ]
    assert fastapi_detail({"detail": errors}) == (
        "width: Input should be a valid integer; Field required; query.id"
    )
    assert fastapi_detail({"detail": []}) == "the request was not valid"
    assert fastapi_detail({"error": "x"}) is None and fastapi_detail(None) is None
    assert error_text(httpx.Response(502, text=" bad \n gateway ")) == "bad gateway"
    assert error_text(httpx.Response(502)) == "Bad Gateway"


class _Keyed(HttpProvider):
    key_header: ClassVar[KeyHeader] = KeyHeader("x-key", "Token ", frozenset({"api-key"}))
    fixed_headers: ClassVar[dict[str, str]] = {"Accept": "application/json"}


def test_the_key_header_is_shown_masked_and_sent_only_when_not_given() -> None:
    provider = _Keyed(
        Endpoint(name="svc", protocol="openai", api_key="k-123456"), root=ROOT, timeout=5
    )
    assert provider._shown_headers() == {
        "User-Agent": provider._shown_headers()["User-Agent"],
        "Accept": "application/json",
        "x-key": "Token [secure]",
    }
    assert provider._credentials() == {"Accept": "application/json", "x-key": "Token k-123456"}
    own = Endpoint(
        name="relay", protocol="openai",
        headers={"API-Key": "mine-123456", "Accept": "image/*", "X-Relay": "on"},
    )  # fmt: skip
    relay = _Keyed(own, root=ROOT, timeout=5)
    shown = relay._shown_headers()
    assert shown["API-Key"] == "[secure]" and shown["X-Relay"] == "on" and "x-key" not in shown
    assert relay._credentials() == {"Accept": "image/*", "API-Key": "mine-123456", "X-Relay": "on"}
    assert "relay" in repr(relay) and "mine" not in repr(relay)


def test_a_missing_key_names_the_environment_variable_of_the_built_in_endpoint() -> None:
    """The variables come from the built-in endpoint table (seedless.config.DEFAULTS)."""
    cases = (
        ("openai", "openai", "Set OPENAI_API_KEY"),
        ("together", "openai", "Set TOGETHER_API_KEY"),
        ("bfl", "bfl", "Set BFL_API_KEY"),
        ("bfl", "openai", "Set an environment variable"),  # not the built-in bfl endpoint
        ("other", "openai", "Set an environment variable"),
    )
    for name, protocol, says in cases:
        endpoint = Endpoint(name=name, protocol=protocol)
        provider = _Keyed(endpoint, root=ROOT, timeout=5)
        with pytest.raises(ConfigurationError, match=says):
            provider._credentials()


async def test_downloads_carry_the_key_to_the_apis_origin_only() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("x-key")
        return httpx.Response(200, content=b"\x89PNG\r\n\x1a\n" + b"0" * 16)

    endpoint = Endpoint(name="svc", protocol="openai", api_key="k-123456")
    provider = _Keyed(endpoint, root=ROOT, timeout=5, transport=httpx.MockTransport(handler))
    await provider.download(ROOT + "/img.png")
    await provider.download("http://cdn.test/img.png")
    assert seen == {"api.test": "Token k-123456", "cdn.test": None}
    await provider.aclose()


# ------------------------------------------------------------------------------- sizes

_SD = SizeRule(multiple=8)


def _spec(rule: SizeRule | None = None) -> ModelSpec:
    return ModelSpec(provider="p", id="m", operations=frozenset({"generate"}), size_rule=rule)


def _ask(**kwargs: str) -> tuple[int, int] | None:
    rule = kwargs.pop("rule", None)
    request = generate_request("x", model="p:m", **kwargs)  # type: ignore[arg-type]
    return pixel_size(request, _spec(SizeRule.model_validate_json(rule) if rule else None), _SD)


def test_pixel_size_leaves_the_size_to_the_server_when_none_is_asked() -> None:
    assert _ask() is None


def test_pixel_size_takes_wxh_as_is_and_checks_the_rule() -> None:
    assert _ask(size="512x768") == (512, 768)
    with pytest.raises(UnsupportedCapabilityError, match="multiples of 64"):
        _ask(size="520x768", rule='{"multiple": 64}')
    with pytest.raises(RequestError, match="disagree"):
        _ask(size="512x768", aspect_ratio="16:9")
    with pytest.raises(RequestError, match="neither 'WxH' nor a size class"):
        _ask(size="huge")


def test_pixel_size_turns_a_class_or_a_ratio_into_pixels_within_the_rule() -> None:
    assert _ask(size="1K") == (1024, 1024)
    assert _ask(aspect_ratio="16:9") == (1368, 768)  # 1K at 16:9, multiples of 8 (the default)
    assert _ask(aspect_ratio="16:9", rule='{"multiple": 64}') == (1344, 768)
    assert _ask(size="4K", rule='{"multiple": 8, "max_pixels": 4194304}') == (2048, 2048)
