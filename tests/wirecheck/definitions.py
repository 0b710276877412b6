"""Loading the vendored definitions, and the one Problem type every check reports."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .google import GoogleDoc
from .openapi import OpenAPIDoc

FOLDER = Path(__file__).resolve().parents[1] / "definitions"
#: Gemini API versions checked against another version's definition: v1alpha's own protos
#: (googleapis, last changed 2025-02-28) lack imageConfig and thinkingConfig, which the service
#: takes there as in v1beta; the emulator serves v1alpha with v1beta's fields too.
GEMINI_ALIASES = {"v1alpha": "v1beta"}


@dataclass(frozen=True)
class Problem:
    """One place where a body differs from its definition."""

    side: str  # "request" or "answer"
    where: str  # "POST /v1beta/models/x:generateContent"
    path: str  # "$.generationConfig.imageConfig.personGeneration"
    message: str  # "unknown field"
    definition: str  # "generativelanguage v1beta (googleapis@f8291d2) ImageConfig"

    def __str__(self) -> str:
        return f"{self.side} {self.where}: {self.path}: {self.message} [{self.definition}]"


def _load(name: str) -> dict[str, Any]:
    with (FOLDER / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _revision(doc: dict[str, Any]) -> str:
    vendored = doc.get("x-vendored", {})
    if vendored.get("revision"):
        return f"rev {vendored['revision']}"
    return f"{vendored.get('repository', '?')}@{str(vendored.get('commit', '?'))[:7]}"


class Definitions:
    """Every vendored definition, loaded once."""

    @cached_property
    def gemini(self) -> dict[str, GoogleDoc]:
        """The Gemini API (generativelanguage) by version, with the live-field overlay."""
        overlay = _load("generativelanguage.live.json")
        docs = {}
        for version in ("v1beta", "v1"):
            doc = _load(f"generativelanguage.{version}.json")
            label = f"generativelanguage {version} ({_revision(doc)} + generativelanguage.live)"
            docs[version] = GoogleDoc(label, doc, overlay.get(version))
        for alias, version in GEMINI_ALIASES.items():
            doc = _load(f"generativelanguage.{version}.json")
            label = (
                f"generativelanguage {alias} checked as {version} ({_revision(doc)} + "
                "generativelanguage.live)"
            )
            docs[alias] = GoogleDoc(label, doc, overlay.get(version))
        return docs

    @cached_property
    def vertex(self) -> dict[str, GoogleDoc]:
        """Vertex AI (aiplatform) by version."""
        docs = {}
        for version in ("v1", "v1beta1"):
            doc = _load(f"aiplatform.{version}.json")
            docs[version] = GoogleDoc(f"aiplatform {version} ({_revision(doc)})", doc)
        return docs

    @cached_property
    def openai(self) -> OpenAPIDoc:
        """OpenAI's own OpenAPI description."""
        doc = _load("openai.openapi.json")
        return OpenAPIDoc(f"openai-openapi ({_revision(doc)})", doc, error="ErrorResponse")

    @cached_property
    def together(self) -> OpenAPIDoc:
        """Together's OpenAPI description (the published Flux host definition)."""
        doc = _load("together.openapi.json")
        return OpenAPIDoc(f"together openapi ({_revision(doc)})", doc, error="ErrorData")

    @cached_property
    def sdapi(self) -> OpenAPIDoc:
        """The AUTOMATIC1111/Forge web API, derived from Forge's sources."""
        doc = _load("sdapi.openapi.json")
        return OpenAPIDoc(f"sdapi ({_revision(doc)})", doc, error="HTTPException")

    @cached_property
    def comfyui(self) -> OpenAPIDoc:
        """ComfyUI's server routes, transcribed from its sources."""
        doc = _load("comfyui.openapi.json")
        return OpenAPIDoc(f"comfyui ({_revision(doc)})", doc, error="PromptError")

    @cached_property
    def bfl(self) -> OpenAPIDoc:
        """Black Forest Labs' OpenAPI description (api.bfl.ai/openapi.json)."""
        doc = _load("bfl.openapi.json")
        return OpenAPIDoc(f"bfl openapi ({_revision(doc)})", doc, error="HTTPValidationError")

    @cached_property
    def stability(self) -> OpenAPIDoc:
        """Stability AI's v2beta description (the Stable Image generate operations); its error
        bodies are defined per operation and status."""
        doc = _load("stability.openapi.json")
        return OpenAPIDoc(
            f"stability openapi ({_revision(doc)})", doc, error="ContentModerationResponse"
        )

    @cached_property
    def relay(self) -> OpenAPIDoc:
        """A generic OpenAI-style Flux relay: OpenAI's description with the relay's extension
        fields added to its image requests (``relay.overlay.json``, seedless's convention)."""
        doc = copy.deepcopy(_load("openai.openapi.json"))
        overlay = _load("relay.overlay.json")
        for name, extra in overlay["properties"].items():
            doc["components"]["schemas"][name]["properties"].update(extra)
        label = f"openai-openapi ({_revision(doc)}) + relay.overlay ({_revision(overlay)})"
        return OpenAPIDoc(label, doc, error="ErrorResponse")

    @cached_property
    def deepinfra(self) -> OpenAPIDoc:
        """DeepInfra's OpenAI-compatible images API, transcribed from its model pages."""
        doc = _load("deepinfra.openapi.json")
        label = f"deepinfra (transcribed, {_revision(doc)})"
        return OpenAPIDoc(label, doc, error="ErrorResponse")


DEFINITIONS = Definitions()

_VERSION = re.compile(r"^/(v\d+(?:alpha|beta)?\d*)/")


def api_version(path: str) -> str | None:
    """``"v1beta"`` for ``/v1beta/models/...``."""
    match = _VERSION.match(path)
    return match.group(1) if match else None
