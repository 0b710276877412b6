"""The Vertex AI provider: routes each model to the Imagen or the Gemini adapter, on one SDK client.

Vertex serves two wire shapes: Imagen's ``:predict`` and Gemini's ``:generateContent``; the
matrix row's ``wire`` says which a model speaks. Both go through google-genai in Vertex mode, so one
``google.genai.Client`` (project, location, credentials; built lazily on the first call, when
Application Default Credentials are looked up if none were given) serves both adapters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._genai import GenaiClient, import_genai
from .base import ProviderReply, WireRequest
from .gemini import GeminiProvider
from .imagen import ImagenProvider

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["VertexProvider"]


class VertexProvider:
    """Vertex AI: Imagen models through :class:`ImagenProvider`, the rest through
    :class:`GeminiProvider` in Vertex mode, sharing one lazily built SDK client."""

    def __init__(self, endpoint: Endpoint) -> None:
        import_genai("vertex")
        self.endpoint = endpoint
        self._client = GenaiClient(endpoint, vertex=True)
        self.imagen = ImagenProvider(endpoint, client=self._client)
        self.gemini = GeminiProvider(endpoint, client=self._client)

    def route(self, spec: ModelSpec) -> GeminiProvider | ImagenProvider:
        """The adapter that speaks ``spec``'s wire shape (the matrix row's ``wire``)."""
        return self.imagen if spec.wire == "predict" else self.gemini

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The wire request, planned by the adapter for ``spec`` (no I/O)."""
        return self.route(spec).plan(request, spec)

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned wire call through the adapter for ``spec``."""
        return await self.route(spec).send(wire, spec)

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Plan and send in one go."""
        return await self.send(self.plan(request, spec), spec)

    async def aclose(self) -> None:
        """Close the shared SDK client."""
        await self._client.aclose()

    def __repr__(self) -> str:
        where = f"{self.endpoint.project}/{self.endpoint.location or 'default location'}"
        return f"<VertexProvider endpoint={self.endpoint.name!r} {where}>"
