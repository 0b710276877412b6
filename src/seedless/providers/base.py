"""The provider contract: one async call per wire request, and a close. Nothing else.

A provider turns one validated request (``n`` no larger than the model's images per call)
into one wire call and the images it returned. It never decides policy: validation,
lifecycle checks, fan-out, seeds for extra calls, retries, concurrency, cost and provenance
all belong to the client, once, for every provider. Providers translate their backend's
errors into :mod:`seedless.errors` in one place each, chaining the original exception.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["FunctionProvider", "Provider", "ProviderFactory", "ProviderReply", "RawImage"]


@dataclass(frozen=True)
class RawImage:
    """Image bytes as the backend returned them."""

    data: bytes = field(repr=False)
    mime_type: str


@dataclass
class ProviderReply:
    """What one wire call produced: images, the model's text, token usage, settings sent."""

    images: list[RawImage]
    text: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    sent: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """One backend. ``call`` sends one request; ``aclose`` releases connections."""

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply: ...

    async def aclose(self) -> None: ...


ProviderFactory = Callable[["Endpoint"], Provider]

Handler = Callable[["ImageRequest", "ModelSpec"], "ProviderReply | Awaitable[ProviderReply]"]


class FunctionProvider:
    """A provider backed by your own function: a test double for unit tests.

    ``handler(request, spec)`` returns a :class:`ProviderReply` (plain or async)::

        client = seedless.Client(providers={"fake": FunctionProvider(handler)})
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[ImageRequest] = []

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        self.calls.append(request)
        reply = self.handler(request, spec)
        if inspect.isawaitable(reply):
            reply = await reply
        assert isinstance(reply, ProviderReply)
        return reply

    async def aclose(self) -> None:
        return None
