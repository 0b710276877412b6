"""Provider batch engines: one module per provider batch API, behind one small contract.

:mod:`~seedless.batch.engines.gemini` (Gemini Batch Mode) and
:mod:`~seedless.batch.engines.openai` (the OpenAI Batch API) implement
:class:`~seedless.batch.engines.base.BatchEngine`; :func:`engine_for` builds the one an
endpoint uses. google-genai is imported only when a Gemini engine is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import ConfigurationError
from .base import TERMINAL, BatchEngine, LineResult, RemoteBatch, ShardLimits

if TYPE_CHECKING:
    from ...client import AsyncClient

__all__ = ["TERMINAL", "BatchEngine", "LineResult", "RemoteBatch", "ShardLimits", "engine_for"]


def engine_for(client: AsyncClient, endpoint: str, engine: str) -> BatchEngine:
    """The batch engine ``engine`` for the client's endpoint ``endpoint``."""
    if engine == "gemini":
        from .gemini import GeminiBatchEngine  # lazy: google-genai and httpx

        return GeminiBatchEngine(client.endpoints[endpoint])
    if engine == "openai":
        from ...providers.openai import OpenAIProvider  # lazy: httpx
        from .openai import OpenAIBatchEngine  # lazy: httpx

        provider = client.provider(endpoint)
        if not isinstance(provider, OpenAIProvider):
            raise ConfigurationError(
                f"endpoint {endpoint!r} has no OpenAI-style provider, so it has no OpenAI "
                "Batch API; run its jobs with engine='direct'"
            )
        return OpenAIBatchEngine(provider)
    raise ConfigurationError(f"no provider batch engine named {engine!r} (gemini, openai)")
