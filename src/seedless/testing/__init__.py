"""Loopback emulators of the Gemini API, Vertex AI, OpenAI-style image APIs (OpenAI, a Flux
relay, Together, DeepInfra), self-hosted servers (Forge/AUTOMATIC1111, ComfyUI), Black Forest
Labs' API and Stability AI's, for tests.

``seedless.testing`` runs real HTTP servers on 127.0.0.1 that speak each provider's wire
protocol, so the real google-genai SDK, the OpenAI SDK, plain httpx, and seedless itself can
be exercised end to end without keys or the internet::

    from seedless.testing import Emulator

    with Emulator() as emu:
        emu.gemini.fail_next(429, retry_after=1)     # script faults
        client = emu.client()                        # a seedless.Client wired to them all
        os.environ.update(emu.env())                 # or point unmodified SDK code at it
        ...
        emu.gemini.requests[-1].body                 # what went over the wire
        emu.gemini.answers[-1].json                  # and what came back

Seeded models (Imagen, Flux, Stable Diffusion) are deterministic in prompt, seed and size;
unseeded ones (Gemini, GPT image) give a fresh picture every call. The ``seedless_emulator``
pytest fixture comes from :mod:`seedless.testing.pytest_plugin`. Importing this package
imports neither google-genai nor google-auth.

Which definitions the emulators follow: each takes exactly the request fields of its
provider's published definition, per operation and API version, and answers in its shape
(:data:`REVISIONS` names them, with their revisions; seedless's own test suite checks every
request and answer against those files). So a test that passes against the emulator proves
the bodies conform to these revisions; it cannot prove what a service does beyond them.
"""

from __future__ import annotations

from typing import Any

from ._bfl import DEFAULT_BFL_API_KEY, BFLDeliveryEmulator, BFLEmulator
from ._catalog import EmulatedModel, SeedPolicy, default_models
from ._comfyui import ComfyUIEmulator
from ._emulator import Emulator, static_credentials, static_credentials_class
from ._faults import Fault
from ._forge import ForgeEmulator
from ._gemini import DEFAULT_GEMINI_API_KEY, GeminiEmulator
from ._hosts import (
    DEFAULT_DEEPINFRA_API_KEY,
    DEFAULT_TOGETHER_API_KEY,
    DeepInfraEmulator,
    TogetherEmulator,
)
from ._images import DARKEN_JITTER, DARKEN_TARGET, SIZE_CLASSES, EditTransform, darken
from ._openai import DEFAULT_OPENAI_API_KEY, OpenAIEmulator
from ._server import MASK, FilePart, RecordedAnswer, RecordedRequest, ServiceEmulator
from ._stability import DEFAULT_STABILITY_API_KEY, StabilityEmulator
from ._surfaces import REVISIONS
from ._vertex import (
    DEFAULT_LOCATION,
    DEFAULT_PROJECT,
    DEFAULT_VERTEX_TOKEN,
    RAI_FILTERED_REASON,
    VertexEmulator,
)

__all__ = [
    "DARKEN_JITTER",
    "DARKEN_TARGET",
    "DEFAULT_BFL_API_KEY",
    "DEFAULT_DEEPINFRA_API_KEY",
    "DEFAULT_GEMINI_API_KEY",
    "DEFAULT_LOCATION",
    "DEFAULT_OPENAI_API_KEY",
    "DEFAULT_PROJECT",
    "DEFAULT_STABILITY_API_KEY",
    "DEFAULT_TOGETHER_API_KEY",
    "DEFAULT_VERTEX_TOKEN",
    "MASK",
    "RAI_FILTERED_REASON",
    "REVISIONS",
    "SIZE_CLASSES",
    "BFLDeliveryEmulator",
    "BFLEmulator",
    "ComfyUIEmulator",
    "DeepInfraEmulator",
    "EditTransform",
    "EmulatedModel",
    "Emulator",
    "Fault",
    "FilePart",
    "ForgeEmulator",
    "GeminiEmulator",
    "OpenAIEmulator",
    "RecordedAnswer",
    "RecordedRequest",
    "SeedPolicy",
    "ServiceEmulator",
    "StabilityEmulator",
    "StaticCredentials",
    "TogetherEmulator",
    "VertexEmulator",
    "darken",
    "default_models",
    "static_credentials",
]


def __getattr__(name: str) -> Any:
    # StaticCredentials subclasses google.auth's Credentials, so it is built on first access.
    if name == "StaticCredentials":
        return static_credentials_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
