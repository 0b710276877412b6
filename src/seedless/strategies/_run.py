"""Running strategy coroutines from either client: the async engine, or the sync facade's loop."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeAlias, TypeVar

from ..client import AsyncClient, Client

__all__ = ["AnyClient", "aio", "run_sync"]

T = TypeVar("T")

#: Either client; strategies run on the :class:`AsyncClient` underneath.
AnyClient: TypeAlias = Client | AsyncClient


def aio(client: AnyClient) -> AsyncClient:
    """The async engine of ``client``."""
    if isinstance(client, Client):
        return client.aio
    if isinstance(client, AsyncClient):
        return client
    raise TypeError(f"expected a seedless Client or AsyncClient, not {type(client).__name__}")


def run_sync(client: AnyClient, coro: Coroutine[Any, Any, T], *, name: str) -> T:
    """Run ``coro`` on a sync :class:`Client`'s private loop; an AsyncClient must be awaited."""
    if isinstance(client, Client):
        return client._run(coro)
    coro.close()
    raise TypeError(
        f"{name}() with an AsyncClient must be awaited: use `await {name}_async(...)`, or pass "
        "a seedless.Client"
    )
