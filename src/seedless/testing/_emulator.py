"""The :class:`Emulator`: the emulated services on loopback servers, started and stopped together.

Port scheme: servers on 127.0.0.1. One hosts Google's APIs, the Gemini API and Vertex AI
together (their paths never overlap, and google-genai can then be pointed at either by
``GOOGLE_GEMINI_BASE_URL`` or ``GOOGLE_VERTEX_BASE_URL`` whichever mode it ends up in). The
next hosts the OpenAI-style API (whose ``GET /v1/models`` would clash with Gemini's): OpenAI's
own models and Flux behind a generic relay. The self-hosted servers follow, one each, as they
run on their own machines: Forge/AUTOMATIC1111 and ComfyUI. Then Black Forest Labs' API, BFL's
result host (images are served from another origin than the API, as at BFL), Stability AI's,
and the OpenAI-style Flux hosts that spell the API their own way, at their hosts' own paths:
Together and DeepInfra. With ``port=0`` every port is ephemeral; with ``port=N`` Google's is
N, OpenAI's N+1, Forge's N+2, ComfyUI's N+3, BFL's N+4, its results' N+5, Stability's N+6,
Together's N+7 and DeepInfra's N+8.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from types import TracebackType
from typing import Any

from pydantic import SecretStr

from seedless.client import Client
from seedless.config import Endpoint

from ._bfl import DEFAULT_BFL_API_KEY, BFLEmulator
from ._comfyui import ComfyUIEmulator
from ._forge import ForgeEmulator
from ._gemini import DEFAULT_GEMINI_API_KEY, GeminiEmulator
from ._hosts import (
    DEFAULT_DEEPINFRA_API_KEY,
    DEFAULT_TOGETHER_API_KEY,
    DeepInfraEmulator,
    TogetherEmulator,
)
from ._openai import DEFAULT_OPENAI_API_KEY, OpenAIEmulator
from ._server import (
    DEFAULT_MAX_BODY_BYTES,
    LoopbackServer,
    RecordedAnswer,
    RecordedRequest,
    ServiceEmulator,
    counter,
)
from ._stability import DEFAULT_STABILITY_API_KEY, StabilityEmulator
from ._vertex import DEFAULT_LOCATION, DEFAULT_PROJECT, DEFAULT_VERTEX_TOKEN, VertexEmulator

__all__ = ["Emulator", "static_credentials", "static_credentials_class"]

#: The loopback servers an emulator runs, in port order (N, N+1, ... with ``port=N``).
SERVERS = (
    "google", "openai", "forge", "comfyui", "bfl", "bfl-delivery", "stability", "together",
    "deepinfra",
)  # fmt: skip

_STATIC_CLASS: type[Any] | None = None
_STATIC_LOCK = threading.Lock()


def static_credentials_class() -> type[Any]:
    """``StaticCredentials``: google-auth credentials whose token never changes or expires.

    Built on first use so that importing ``seedless.testing`` does not import google.auth.
    google-genai in Vertex mode needs credentials it can read a token from; google-auth's
    ``AnonymousCredentials`` fail there ("cannot be refreshed").
    """
    global _STATIC_CLASS
    with _STATIC_LOCK:
        if _STATIC_CLASS is None:
            from google.auth import credentials as google_credentials  # lazy: google-auth

            class StaticCredentials(google_credentials.Credentials):
                """Credentials carrying a fixed bearer token, for emulators and tests."""

                def __init__(self, token: str = DEFAULT_VERTEX_TOKEN) -> None:
                    super().__init__()  # type: ignore[no-untyped-call]
                    self.token = token

                def refresh(self, request: Any) -> None:
                    """Nothing to do: the token is static."""

                def __repr__(self) -> str:
                    return "StaticCredentials(token='[secure]')"

            StaticCredentials.__module__ = "seedless.testing"
            _STATIC_CLASS = StaticCredentials
        return _STATIC_CLASS


def static_credentials(token: str = DEFAULT_VERTEX_TOKEN) -> Any:
    """A ``google.auth.credentials.Credentials`` whose token is always ``token``."""
    return static_credentials_class()(token)


class Emulator:
    """Loopback emulators of the Gemini API, Vertex AI, an OpenAI-style images API (OpenAI's
    models and a Flux relay), Black Forest Labs' API (``emu.bfl``, its result host
    ``emu.bfl.delivery``), Stability AI's, and the Flux hosts Together and DeepInfra.

    ::

        with Emulator() as emu:
            emu.gemini.fail_next(429, retry_after=1)
            client = genai.Client(api_key=emu.gemini.api_key,
                                  http_options=HttpOptions(base_url=emu.gemini.url))
            ...
            assert emu.gemini.requests[-1].body["generationConfig"]["seed"] == 7

    Every service has ``url``, ``requests``, ``models``, ``retired``, ``latency``,
    ``edit_transform`` and the fault scripts (``fail_next``, ``drop_next``,
    ``truncate_next``, ``slow_next``, ``block_next``, ``no_image_next``).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        latency: float = 0.0,
        gemini_api_key: str = DEFAULT_GEMINI_API_KEY,
        vertex_token: str = DEFAULT_VERTEX_TOKEN,
        openai_api_key: str = DEFAULT_OPENAI_API_KEY,
        bfl_api_key: str = DEFAULT_BFL_API_KEY,
        stability_api_key: str = DEFAULT_STABILITY_API_KEY,
        together_api_key: str = DEFAULT_TOGETHER_API_KEY,
        deepinfra_api_key: str = DEFAULT_DEEPINFRA_API_KEY,
        project: str = DEFAULT_PROJECT,
        location: str = DEFAULT_LOCATION,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_connections: int = 512,
    ) -> None:
        highest = 65535 - len(SERVERS) + 1
        if port < 0 or port > highest:
            raise ValueError(f"port must be 0 (ephemeral) or 1-{highest}")
        self.requested_port = port
        self.max_connections = max_connections
        self.gemini = GeminiEmulator(api_key=gemini_api_key, max_body_bytes=max_body_bytes)
        self.vertex = VertexEmulator(
            token=vertex_token, project=project, location=location, max_body_bytes=max_body_bytes
        )
        self.openai = OpenAIEmulator(api_key=openai_api_key, max_body_bytes=max_body_bytes)
        self.forge = ForgeEmulator(max_body_bytes=max_body_bytes)
        self.comfyui = ComfyUIEmulator(max_body_bytes=max_body_bytes)
        self.bfl = BFLEmulator(api_key=bfl_api_key, max_body_bytes=max_body_bytes)
        self.stability = StabilityEmulator(api_key=stability_api_key)
        self.together = TogetherEmulator(api_key=together_api_key, max_body_bytes=max_body_bytes)
        self.deepinfra = DeepInfraEmulator(api_key=deepinfra_api_key, max_body_bytes=max_body_bytes)
        self._latency = 0.0
        self.latency = latency
        self._servers: list[LoopbackServer] = []
        self._stopping = threading.Event()
        self._adc_dir: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return bool(self._servers)

    def start(self) -> Emulator:
        """Bind 127.0.0.1 and serve on background threads; returns self."""
        if self._servers:
            raise RuntimeError("the emulator is already running")
        self._stopping = threading.Event()
        sequence = counter()
        hosted: list[list[ServiceEmulator]] = [
            [self.vertex, self.gemini],
            [self.openai],
            *([service] for service in self.self_hosted),
            [self.bfl],
            [self.bfl.delivery],
            [self.stability],
        ]
        hosted.extend([host] for host in self.flux_hosts)
        try:
            for offset, services in enumerate(hosted):
                port = self.requested_port + offset if self.requested_port else 0
                self._servers.append(LoopbackServer(port, services, self.max_connections))
        except BaseException:
            self._close_servers()
            raise
        for server in self._servers:
            for service in server.services:
                service._attach(server, self._stopping, lambda: self._latency, sequence)
            server.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread; safe to call twice."""
        self._stopping.set()
        self._close_servers()
        self.gemini.batches.close()
        self.openai.batches.close()
        if self._adc_dir is not None:
            shutil.rmtree(self._adc_dir, ignore_errors=True)
            self._adc_dir = None

    def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
            for service in server.services:
                service._detach()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if not self.running:
            return "<Emulator stopped>"
        hosted = " ".join(f"{s.name}={s.origin}" for s in self.self_hosted)
        return (
            f"<Emulator google={self.gemini.origin} openai={self.openai.origin} {hosted} "
            f"bfl={self.bfl.origin} stability={self.stability.origin} "
            f"together={self.together.origin} deepinfra={self.deepinfra.origin}>"
        )

    # -- shared settings -------------------------------------------------------------------

    @property
    def self_hosted(self) -> tuple[ServiceEmulator, ...]:
        """The self-hosted servers (Forge, ComfyUI), each on its own port."""
        return self.forge, self.comfyui

    @property
    def flux_hosts(self) -> tuple[OpenAIEmulator, ...]:
        """The OpenAI-style Flux hosts with spellings of their own (Together, DeepInfra)."""
        return self.together, self.deepinfra

    @property
    def services(self) -> tuple[ServiceEmulator, ...]:
        """Every emulated service (BFL's result host included)."""
        return (
            self.gemini,
            self.vertex,
            self.openai,
            *self.self_hosted,
            self.bfl,
            self.bfl.delivery,
            self.stability,
            *self.flux_hosts,
        )

    @property
    def latency(self) -> float:
        """Seconds every answer waits, for services without a latency of their own."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        """Set the latency of every service (clearing their own values)."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = float(seconds)
        for service in self.services:
            service.latency = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request any service received, in arrival order."""
        merged = [r for service in self.services for r in service.requests]
        return sorted(merged, key=lambda r: r.sequence)

    @property
    def answers(self) -> list[RecordedAnswer]:
        """Every answer any service gave, in the order their requests arrived."""
        merged = [a for service in self.services for a in service.answers]
        return sorted(merged, key=lambda a: a.request.sequence)

    def reset(self) -> None:
        """Forget every recorded request and answer, and unused fault, of every service."""
        for service in self.services:
            service.reset()

    # -- wiring clients --------------------------------------------------------------------

    def endpoints(self) -> list[Endpoint]:
        """seedless endpoints pointing at this emulator: gemini, vertex, openai (OpenAI's
        models, and Flux through the relay profile), forge, comfyui (forge with the emulator's
        basic auth, if it asks for one), bfl, stability, relay (the OpenAI-style service again),
        together and deepinfra."""
        try:
            credentials = static_credentials(self.vertex.token)
        except ImportError:  # google-auth is absent: the vertex extra is not installed
            credentials = None
        return [
            Endpoint(
                name="gemini",
                protocol="gemini",
                api_key=SecretStr(self.gemini.api_key),
                base_url=self.gemini.url,
            ),
            Endpoint(
                name="vertex",
                protocol="vertex",
                project=self.vertex.project or DEFAULT_PROJECT,
                location=self.vertex.location,
                credentials=credentials,
                base_url=self.vertex.url,
            ),
            Endpoint(
                name="openai",
                protocol="openai",
                api_key=SecretStr(self.openai.api_key),
                base_url=self.openai.url,
                batch_engine=True,  # the emulator serves /v1/files and /v1/batches
            ),
            Endpoint(
                name="forge",
                protocol="forge",
                api_key=SecretStr(":".join(self.forge.auth)) if self.forge.auth else None,
                base_url=self.forge.url,
            ),
            Endpoint(name="comfyui", protocol="comfyui", base_url=self.comfyui.url),
            Endpoint(
                name="bfl",
                protocol="bfl",
                api_key=SecretStr(self.bfl.api_key),
                base_url=self.bfl.url,
            ),
            Endpoint(
                name="stability",
                protocol="stability",
                api_key=SecretStr(self.stability.api_key),
                base_url=self.stability.url,
            ),
            *self._flux_endpoints(),
        ]

    def _flux_endpoints(self) -> list[Endpoint]:
        """``relay`` (the OpenAI-style service again), ``together`` and ``deepinfra``."""
        hosts = [("relay", self.openai), *((host.name, host) for host in self.flux_hosts)]
        return [
            Endpoint(
                name=name, protocol="openai", api_key=SecretStr(host.api_key), base_url=host.url
            )
            for name, host in hosts
        ]

    def client(self, **kwargs: Any) -> Client:
        """A ``seedless.Client`` wired to every emulated service."""
        return Client(endpoints=self.endpoints(), **kwargs)

    def env(self) -> dict[str, str]:
        """Environment variables that point the standard SDKs (and seedless) at this emulator.

        Covers google-genai in both modes (``GOOGLE_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``,
        ``GOOGLE_VERTEX_BASE_URL``, project, location, and an Application Default Credentials
        file holding the emulator's token), the OpenAI SDK (``OPENAI_BASE_URL`` ends in
        ``/v1``) and seedless's BFL and Stability endpoints (``BFL_API_KEY``,
        ``SEEDLESS_BFL_URL``, ``STABILITY_API_KEY``, ``SEEDLESS_STABILITY_URL``) and built-in Flux
        hosts (``SEEDLESS_RELAY_URL``, ``TOGETHER_BASE_URL``, ``DEEPINFRA_BASE_URL`` and their
        keys). It does not set
        ``GOOGLE_GENAI_USE_VERTEXAI``.
        """
        if not self.running:
            raise RuntimeError("start the emulator before asking for its environment")
        return {
            # one name only (google-genai logs a notice on every client when both are set):
            # GOOGLE_API_KEY, which google-genai and seedless both read first
            "GOOGLE_API_KEY": self.gemini.api_key,
            "GOOGLE_GEMINI_BASE_URL": self.gemini.url,
            "GOOGLE_VERTEX_BASE_URL": self.vertex.url,
            "GOOGLE_CLOUD_PROJECT": self.vertex.project or DEFAULT_PROJECT,
            "GOOGLE_CLOUD_LOCATION": self.vertex.location,
            "GOOGLE_APPLICATION_CREDENTIALS": self._adc_file(),
            "OPENAI_API_KEY": self.openai.api_key,
            "OPENAI_BASE_URL": self.openai.url,
            "SEEDLESS_FORGE_URL": self.forge.url,
            **({"SEEDLESS_FORGE_AUTH": ":".join(self.forge.auth)} if self.forge.auth else {}),
            "SEEDLESS_COMFYUI_URL": self.comfyui.url,
            "BFL_API_KEY": self.bfl.api_key,
            "SEEDLESS_BFL_URL": self.bfl.url,
            "STABILITY_API_KEY": self.stability.api_key,
            "SEEDLESS_STABILITY_URL": self.stability.url,
            "SEEDLESS_RELAY_API_KEY": self.openai.api_key,
            "SEEDLESS_RELAY_URL": self.openai.url,
            "TOGETHER_API_KEY": self.together.api_key,
            "TOGETHER_BASE_URL": self.together.url,
            "DEEPINFRA_API_KEY": self.deepinfra.api_key,
            "DEEPINFRA_BASE_URL": self.deepinfra.url,
        }

    def _adc_file(self) -> str:
        """An ``authorized_user`` ADC file holding the emulator's token, valid until 2099.

        google-auth sends refreshes of such files to Google's own token endpoint whatever the
        file says, so the file carries a token that never needs refreshing instead.
        """
        if self._adc_dir is None:
            self._adc_dir = tempfile.mkdtemp(prefix="seedless-emulator-")
        path = os.path.join(self._adc_dir, "application_default_credentials.json")
        info = {
            "type": "authorized_user",
            "client_id": "seedless-emulator",
            "client_secret": "seedless-emulator",
            "refresh_token": "seedless-emulator",
            "token": self.vertex.token,
            "expiry": "2099-01-01T00:00:00Z",
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(info, handle)
        return path
