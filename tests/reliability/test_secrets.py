"""Secrets never reach a log line (httpx's and httpcore's included, at DEBUG), a dump of an
endpoint, or the emulator's access log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

import seedless
from seedless.testing import Emulator

KEY = "sk-relay-key-0123456789"
QUERY_KEY = "query-secret-4567"
PASSWORD = "url-password-8901"
HEADER = "header-token-2345"
SECRETS = (KEY, QUERY_KEY, PASSWORD, HEADER)


@pytest.fixture
def everything_logged() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, formatted with its traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_no_secret_in_any_log_line_at_debug(
    seedless_emulator: Emulator, everything_logged: io.StringIO
) -> None:
    emu = seedless_emulator
    relay = seedless.Endpoint(
        name="relay",
        protocol="openai",
        api_key=SecretStr(emu.openai.api_key),
        base_url=f"{emu.openai.url}?api_key={QUERY_KEY}",
        headers={"X-Relay-Token": HEADER},
    )
    userinfo = seedless.Endpoint(
        name="userinfo",
        protocol="openai",
        api_key=SecretStr(KEY),
        base_url=emu.openai.url.replace("://", f"://bob:{PASSWORD}@"),
    )
    retry = seedless.RetryPolicy(max_attempts=2, initial=0.001, max_backoff=0.01, jitter=0.0)
    with seedless.Client(endpoints=[relay, userinfo], retry=retry) as client:
        client.generate("a fox", model="relay:flux-dev", seed=1)
        emu.openai.fail_next(500)
        emu.openai.drop_next()
        with pytest.raises(seedless.ServerError):
            client.generate("a fox", model="relay:flux-dev", seed=2)
        with pytest.raises(seedless.SeedlessError):
            client.generate("a fox", model="userinfo:flux-dev", seed=3)
    with httpx.Client() as plain:  # a user's own call with the key in the query, as Gemini's
        plain.get(f"{emu.gemini.url}/v1beta/models?key={QUERY_KEY}")
    logged = everything_logged.getvalue()
    assert "HTTP Request: POST" in logged  # httpx's INFO lines are there, scrubbed
    assert "seedless.testing" in logged  # and the emulator's access log
    for secret in SECRETS:
        assert secret not in logged


def test_endpoint_dumps_mask_credentials() -> None:
    endpoint = seedless.Endpoint(
        name="relay",
        protocol="openai",
        api_key=SecretStr(KEY),
        base_url=f"https://bob:{PASSWORD}@relay.example/v1?key={QUERY_KEY}&region=eu",
        headers={"X-Relay-Token": HEADER, "X-Trace": "visible"},
    )
    for dumped in (
        str(endpoint.model_dump()),
        json.dumps(endpoint.model_dump(mode="json")),
        endpoint.model_dump_json(),
    ):
        for secret in SECRETS:
            assert secret not in dumped
        assert "visible" in dumped and "relay.example" in dumped and "region=eu" in dumped
    assert endpoint.headers["X-Relay-Token"] == HEADER  # the value itself is still sent
