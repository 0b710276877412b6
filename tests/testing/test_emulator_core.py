"""What all emulated services share: lifecycle, threads, concurrency, limits, recording, wiring."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import seedless
import seedless.testing
from seedless.testing import MASK, Emulator, FilePart, default_models
from seedless.testing._emulator import SERVERS
from seedless.testing._messages import parse_multipart

SRC = str(Path(seedless.testing.__file__).resolve().parents[2])
FLUX = {"model": "flux-dev", "prompt": "a lighthouse"}


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_import_is_light() -> None:
    result = _python(
        "import sys, seedless.testing\n"
        "light = ('seedless.providers', 'seedless.providers.base')\n"
        "prefixes = ('google', 'openai', 'seedless.providers')\n"
        "print([m for m in sys.modules if m.startswith(prefixes) and m not in light])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_names_are_sorted_and_exist() -> None:
    names = seedless.testing.__all__

    def isort_style(name: str) -> tuple[int, str]:  # ruff's RUF022 order
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style)
    for name in names:
        assert getattr(seedless.testing, name) is not None


def test_static_credentials_are_google_auth_credentials() -> None:
    credentials_module = pytest.importorskip("google.auth.credentials")
    credentials = seedless.testing.StaticCredentials("zq-secret-9")
    assert isinstance(credentials, credentials_module.Credentials)
    assert credentials.token == "zq-secret-9"
    assert credentials.valid
    assert "zq-secret-9" not in repr(credentials)
    credentials.refresh(None)
    assert credentials.token == "zq-secret-9"


def test_lifecycle_urls_and_loopback_binding() -> None:
    emulator = Emulator()
    assert not emulator.running
    with pytest.raises(RuntimeError):
        _ = emulator.gemini.url
    with emulator:
        assert emulator.running
        assert emulator.gemini.url == emulator.vertex.url == emulator.gemini.origin
        assert emulator.openai.url == emulator.openai.origin + "/v1"
        assert emulator.gemini.url.startswith("http://127.0.0.1:")
        for server in emulator._servers:
            assert server.server_address[0] == "127.0.0.1"
        with pytest.raises(RuntimeError):
            emulator.start()
    emulator.stop()  # a second stop is harmless
    assert not emulator.running


def test_fixed_port_scheme() -> None:
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port > 65535 - len(SERVERS) + 1:
            continue
        try:
            with Emulator(port=port) as emulator:
                assert emulator.gemini.port == emulator.vertex.port == port
                assert emulator.openai.port == port + 1
                assert emulator.forge.port == port + 2
                assert emulator.comfyui.port == port + 3
                assert emulator.bfl.port == port + 4
                assert emulator.bfl.delivery.port == port + 5
                assert emulator.stability.port == port + 6
                return
        except OSError:
            continue  # PORT+1 was taken; try another pair
    pytest.fail("no free pair of ports found")


def test_stop_leaves_no_threads_even_with_open_keep_alive_connections() -> None:
    before = set(threading.enumerate())
    emulator = Emulator().start()
    client = httpx.Client(headers={"Authorization": f"Bearer {emulator.openai.api_key}"})
    try:
        for _ in range(3):
            assert client.post(f"{emulator.openai.url}/images/generations", json=FLUX).is_success
            assert client.get(f"{emulator.gemini.url}/v1beta/models", params={"key": "x"})
        emulator.stop()  # the client still holds its keep-alive connections
        leftover = [t for t in threading.enumerate() if t not in before]
        assert leftover == []
    finally:
        client.close()
        emulator.stop()


def test_200_concurrent_requests_at_50ms_latency(emu: Emulator) -> None:
    # Plain http.client on 200 threads: httpx's async pool itself slows down past ~50
    # connections, and this measures the server.
    emu.latency = 0.05
    headers = {"Authorization": f"Bearer {emu.openai.api_key}", "Content-Type": "application/json"}

    def generate(seed: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", emu.openai.port, timeout=30)
        try:
            body = json.dumps({**FLUX, "seed": seed})
            connection.request("POST", "/v1/images/generations", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(generate, range(200)))
    assert statuses == [200] * 200
    assert len(emu.openai.requests) == 200
    assert emu.openai.peak_concurrency > 10  # answered side by side, not one after another


def test_latency_settings(emu: Emulator) -> None:
    emu.latency = 0.2
    assert [s.latency for s in emu.services] == [0.2] * len(emu.services)
    emu.gemini.latency = 0.0
    assert (emu.gemini.latency, emu.vertex.latency) == (0.0, 0.2)
    started = time.perf_counter()
    httpx.get(f"{emu.openai.url}/models")
    assert time.perf_counter() - started >= 0.2  # the answer waited its latency
    emu.latency = 0.0  # setting the emulator's latency clears the services' own
    assert [s.latency for s in emu.services] == [0.0] * len(emu.services)
    with pytest.raises(ValueError):
        emu.latency = -1


def test_body_size_is_capped() -> None:
    with Emulator(max_body_bytes=1000) as emulator:
        google = httpx.post(
            f"{emulator.gemini.url}/v1beta/models/gemini-3-pro-image:generateContent",
            content=b"x" * 2000,
            headers={"x-goog-api-key": emulator.gemini.api_key},
        )
        assert google.status_code == 400
        assert "Request payload size exceeds the limit: 1000 bytes." in google.text
        openai = httpx.post(f"{emulator.openai.url}/images/generations", content=b"x" * 2000)
        assert openai.status_code == 413
        assert openai.json()["error"]["type"] == "invalid_request_error"


def test_chunked_bodies_are_read(emu: Emulator) -> None:
    def chunks() -> object:
        yield b'{"model": "flux-dev",'
        yield b' "prompt": "chunked"}'

    response = httpx.post(
        f"{emu.openai.url}/images/generations",
        content=chunks(),  # type: ignore[arg-type]
        headers={
            "Authorization": f"Bearer {emu.openai.api_key}",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 200
    assert emu.openai.requests[0].headers["transfer-encoding"] == "chunked"
    assert emu.openai.requests[0].body == {"model": "flux-dev", "prompt": "chunked"}


def test_recording_order_masking_and_reset(emu: Emulator) -> None:
    httpx.get(f"{emu.openai.url}/models", headers={"Authorization": "Bearer secret-1"})
    httpx.get(f"{emu.gemini.url}/v1beta/models", headers={"x-goog-api-key": "secret-2"})
    httpx.get(f"{emu.vertex.url}/v1beta1/publishers/google/models", headers={"api-key": "secret-3"})
    recorded = emu.requests
    assert [r.service for r in recorded] == ["openai", "gemini", "vertex"]
    assert recorded[0].headers["authorization"] == f"Bearer {MASK}"
    assert recorded[1].headers["x-goog-api-key"] == MASK
    assert recorded[2].headers["api-key"] == MASK
    assert "secret" not in repr(recorded)
    emu.gemini.fail_next(500)
    emu.reset()
    assert emu.requests == []
    assert emu.gemini.pending_faults == []


def test_answers_are_recorded_with_their_requests(emu: Emulator) -> None:
    key = {"Authorization": f"Bearer {emu.openai.api_key}"}
    httpx.post(f"{emu.openai.url}/images/generations", headers=key, json=FLUX)
    emu.openai.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{emu.openai.url}/images/generations", headers=key, json=FLUX)
    httpx.get(f"{emu.gemini.url}/v1beta/models")  # no key: 403
    ok, dropped, refused = emu.answers
    assert ok.request is emu.openai.requests[0] and ok.status == 200
    assert ok.json["data"][0]["b64_json"] and "b64_json" not in repr(ok)
    assert dropped.dropped and dropped.body == b""
    assert refused.request.service == "gemini" and refused.status == 403
    assert refused.json["error"]["status"] == "PERMISSION_DENIED"
    emu.reset()
    assert emu.answers == []


def test_a_recorded_image_upload_has_a_short_repr(emu: Emulator) -> None:
    picture = "A" * 50_000  # base64 image bytes, as an inlineData part carries them
    body = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": picture}}]}]}
    httpx.post(f"{emu.openai.url}/images/generations", json=body)
    (recorded,) = emu.openai.requests
    assert recorded.body == body  # the field keeps everything
    assert len(repr(recorded)) < 2_000 and "image/png" in repr(recorded)


def test_unknown_paths_answer_each_protocols_404(emu: Emulator) -> None:
    google = httpx.post(f"{emu.gemini.url}/v1beta/nothing")
    assert google.status_code == 404
    assert google.json()["error"]["status"] == "NOT_FOUND"
    openai = httpx.post(f"{emu.openai.url}/nothing", headers={"Authorization": "Bearer x"})
    assert openai.status_code == 404
    assert openai.json()["error"]["message"] == "Invalid URL (POST /v1/nothing)"


def test_model_tables_are_per_instance_and_editable() -> None:
    with Emulator() as first, Emulator() as second:
        first.openai.add_model("flux-9-pro")
        assert first.openai.models["flux-9-pro"].seeded
        assert "flux-9-pro" not in second.openai.models
        first.gemini.add_model("gemini-4-image", seeded=True)
        assert first.gemini.models["gemini-4-image"].seed == "honoured"
        first.vertex.add_model("gemini-4-image")
        first.vertex.add_model("imagen-5.0-generate-001")
        assert first.vertex.models["gemini-4-image"].methods[0] == "generateContent"
        assert first.vertex.models["imagen-5.0-generate-001"].methods == ("predict",)
        assert first.vertex.models["imagen-5.0-generate-001"].seeded
    assert all(not m.seeded for m in default_models("gemini").values())
    assert all(m.seeded for m in default_models("vertex").values() if m.id.startswith("imagen"))
    table = default_models("openai")
    assert table["flux-2-pro"].seeded and not table["flux-3-image"].seeded
    assert table["gpt-image-2"].seed == "rejected"


def test_multipart_parser() -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\n'
        b"make it\r\nwarmer\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="image[]"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        b"\x89PNG\r\n--not-the-boundary\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="image[]"; filename="b.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
        b"\xff\xd8\xff\r\n"
        b"--XyZ--\r\n"
    )
    fields = parse_multipart("multipart/form-data; boundary=XyZ", body)
    assert fields["prompt"] == "make it\r\nwarmer"
    first, second = fields["image[]"]
    assert isinstance(first, FilePart) and isinstance(second, FilePart)
    assert first.data == b"\x89PNG\r\n--not-the-boundary"
    assert (second.filename, second.content_type, second.size) == ("b.jpg", "image/jpeg", 3)
    with pytest.raises(ValueError):
        parse_multipart("multipart/form-data", body)


def test_endpoints_and_client(emu: Emulator) -> None:
    gemini, vertex, openai, *others = emu.endpoints()
    assert [e.name for e in others] == [
        "forge", "comfyui", "bfl", "stability", "relay", "together", "deepinfra"
    ]
    relay, together, deepinfra = others[-3:]
    assert (gemini.name, gemini.protocol, gemini.base_url) == ("gemini", "gemini", emu.gemini.url)
    assert gemini.api_key is not None
    assert gemini.api_key.get_secret_value() == emu.gemini.api_key
    assert (vertex.project, vertex.location, vertex.base_url) == (
        "test-project",
        "us-central1",
        emu.vertex.url,
    )
    if vertex.credentials is not None:
        assert vertex.credentials.token == emu.vertex.token
    assert (openai.protocol, openai.base_url) == ("openai", emu.openai.url)
    assert relay.base_url == emu.openai.url and openai.row_providers() == ("openai", "relay")
    assert (together.base_url, deepinfra.base_url) == (emu.together.url, emu.deepinfra.url)
    assert deepinfra.base_url.endswith("/v1/openai")
    with emu.client() as client:
        assert client.endpoints["gemini"].base_url == emu.gemini.url
        assert client.endpoints["openai"].base_url == emu.openai.url


def test_env_names() -> None:
    with Emulator() as emulator:
        env = emulator.env()
        assert env["OPENAI_BASE_URL"] == emulator.openai.url
        assert env["GOOGLE_GEMINI_BASE_URL"] == env["GOOGLE_VERTEX_BASE_URL"] == emulator.gemini.url
        assert env["GOOGLE_API_KEY"] == emulator.gemini.api_key
        assert (env["GOOGLE_CLOUD_PROJECT"], env["GOOGLE_CLOUD_LOCATION"]) == (
            "test-project",
            "us-central1",
        )
        adc = Path(env["GOOGLE_APPLICATION_CREDENTIALS"])
        assert adc.is_file()
    assert not adc.exists()  # removed on stop
    with pytest.raises(RuntimeError):
        emulator.env()


def test_env_sets_one_gemini_key_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from google import genai

    with Emulator() as emulator:
        env = emulator.env()
        assert "GEMINI_API_KEY" not in env  # GOOGLE_API_KEY, which both readers take first
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with caplog.at_level("WARNING"):
            client = genai.Client()
        assert client._api_client.api_key == emulator.gemini.api_key
        assert "Both GOOGLE_API_KEY and GEMINI_API_KEY" not in caplog.text
        assert seedless.Client().endpoints["gemini"].key() == emulator.gemini.api_key


def test_cli_runs_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "seedless", "emulate", "--latency", "0"],
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("export OPENAI_BASE_URL="):
                break
        base_url = lines[-1].strip().split("=", 1)[1]
        listing = httpx.get(
            f"{base_url}/models", headers={"Authorization": "Bearer test-openai-key"}
        )
        assert listing.status_code == 200
        assert any(line.startswith("  Gemini API  http://127.0.0.1:") for line in lines)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in out


def test_scripted_waits_travel_as_retry_after_in_every_protocol(emu: Emulator) -> None:
    services = [emu.bfl, emu.bfl.delivery, emu.stability, emu.forge, emu.comfyui]
    for service in services:
        assert service.error(503, retry_after=2.5).headers.get("retry-after") == "2.5"
        assert service.error(503, retry_after=0).headers.get("retry-after") == "0"
        assert "retry-after" not in service.error(503).headers
    assert emu.forge.error(401, retry_after=1).headers == {
        "retry-after": "1",
        "www-authenticate": "Basic",
    }


def test_vertex_model_listing_pages(emu: Emulator) -> None:
    headers = {"authorization": f"Bearer {emu.vertex.token}"}
    url = f"{emu.vertex.url}/v1beta1/publishers/google/models"
    names: list[str] = []
    params: dict[str, str | int] = {"pageSize": 2}
    while True:
        page = httpx.get(url, params=params, headers=headers).json()
        assert 1 <= len(page["publisherModels"]) <= 2
        names += [m["name"] for m in page["publisherModels"]]
        if "nextPageToken" not in page:
            break
        params["pageToken"] = page["nextPageToken"]
    assert names == [f"publishers/google/models/{m.id}" for m in emu.vertex.served_models()]
