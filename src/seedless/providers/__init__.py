"""The providers: one module per wire protocol, each created on first use.

Which module speaks which protocol is registered as entry points (``seedless.providers``,
see :mod:`seedless._registry`), the built-in ones as any third-party package's, so the
factory module, and any SDK it needs, is imported only when an endpoint of its protocol is
first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._registry import known_protocols, load_factory

if TYPE_CHECKING:
    from ..config import Endpoint
    from .base import CallProvider, Provider, ProviderFactory

__all__ = ["create_provider", "known_protocols"]


def create_provider(endpoint: Endpoint) -> Provider | CallProvider:
    """Import the module for ``endpoint.protocol`` (lazily) and build its provider."""
    factory: ProviderFactory = load_factory(endpoint.protocol)
    return factory(endpoint)
