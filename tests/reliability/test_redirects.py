"""A ``url`` answer, or a redirect after it, pointing at a loopback, private or link-local
address (169.254.169.254: a cloud VM's metadata service) is refused without a connection; the
endpoint's own host, and public addresses, are followed."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from pydantic import SecretStr

import seedless
from seedless.providers._addresses import _why_refused

_buffer = io.BytesIO()
Image.new("RGB", (4, 4), "red").save(_buffer, format="PNG")
PNG = _buffer.getvalue()


class Relay:
    """An OpenAI-style relay on 127.0.0.1 whose answer URL the test sets."""

    def __init__(self) -> None:
        self.answer_url = ""
        self.redirect_to = ""
        self.paths: list[str] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, **headers: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                answer = {"created": 1, "data": [{"url": relay.answer_url}]}
                self._send(200, json.dumps(answer).encode(), Content_Type="application/json")

            def do_GET(self) -> None:
                relay.paths.append(self.path)
                if self.path == "/hop":
                    self._send(302, b"", Location=relay.redirect_to)
                else:
                    self._send(200, PNG, Content_Type="image/png")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server() -> Iterator[Relay]:
    running = Relay()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def relay(server: Relay) -> Relay:
    server.answer_url = server.redirect_to = ""
    server.paths.clear()
    return server


def _client(relay: Relay) -> seedless.Client:
    endpoint = seedless.Endpoint(
        name="relay",
        protocol="openai",
        base_url=f"http://localhost:{relay.port}/v1",  # the endpoint's own host is "localhost"
        api_key=SecretStr("sk-relay-0123456789"),
    )
    return seedless.Client(endpoints=[endpoint], retry=seedless.RetryPolicy(max_attempts=1))


def test_the_endpoints_own_host_is_followed(relay: Relay) -> None:
    relay.answer_url = f"http://localhost:{relay.port}/files/a.png"
    with _client(relay) as client:
        assert client.generate("a fox", model="relay:flux-dev", seed=1).image.data == PNG


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/x.png", "link-local"),
        ("http://10.0.0.7/x.png", "private"),
        ("http://192.168.1.20/x.png", "private"),
        ("http://100.64.1.1/x.png", "private"),  # shared address space (carrier-grade NAT)
        ("http://127.0.0.1:{port}/x.png", "loopback"),  # not the endpoint's host as written
        ("http://[::1]:{port}/x.png", "loopback"),
        ("http://0.0.0.0:{port}/x.png", "reserved"),
    ],
)
@pytest.mark.parametrize("how", ["answer", "redirect"])
def test_other_non_public_addresses_are_refused_without_a_connection(
    relay: Relay, target: str, why: str, how: str
) -> None:
    target = target.format(port=relay.port)
    if how == "answer":
        relay.answer_url = target
    else:
        relay.answer_url = f"http://localhost:{relay.port}/hop"
        relay.redirect_to = target
    with _client(relay) as client, pytest.raises(seedless.ProviderError) as caught:
        client.generate("a fox", model="relay:flux-dev", seed=1)
    assert type(caught.value) is seedless.ProviderError and not caught.value.retryable
    assert "Refused to download" in str(caught.value) and why in str(caught.value)
    assert relay.paths == ([] if how == "answer" else ["/hop"])  # nothing fetched there


def test_public_addresses_pass_the_check() -> None:
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert _why_refused(address) is None
    assert _why_refused("::ffff:169.254.169.254") is not None  # an IPv4 behind IPv6


def test_a_name_is_resolved_and_its_addresses_checked(relay: Relay) -> None:
    endpoint = seedless.Endpoint(
        name="relay",
        protocol="openai",
        base_url=f"http://127.0.0.1:{relay.port}/v1",  # its own host is now 127.0.0.1
        api_key=SecretStr("sk-relay-0123456789"),
    )
    relay.answer_url = f"http://localhost:{relay.port}/x.png"  # a name for a loopback address
    once = seedless.RetryPolicy(max_attempts=1)
    client = seedless.Client(endpoints=[endpoint], retry=once)
    with client, pytest.raises(seedless.ProviderError, match=r"localhost .*loopback"):
        client.generate("a fox", model="relay:flux-dev", seed=1)
    assert relay.paths == []
