"""Provider registry: protocol name -> the module that speaks it, imported only when first used.

Built-in protocols are listed here; other packages add theirs through the
``seedless.providers`` entry-point group (name = protocol, value = "module:factory" taking an
:class:`~seedless.Endpoint`), looked up only for protocols that are not built in. Either way
the factory module is imported on first use, so nothing here imports a provider SDK.
"""

from __future__ import annotations

import contextlib
import importlib
from importlib import metadata
from typing import TYPE_CHECKING

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..config import Endpoint
    from .base import CallProvider, Provider, ProviderFactory

__all__ = ["create_provider", "known_protocols"]

#: protocol -> (module:factory, pip extra that brings its SDK or None)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "local": ("seedless.providers.local:LocalProvider", None),
    "gemini": ("seedless.providers.gemini:GeminiProvider", "gemini"),
    "vertex": ("seedless.providers.vertex:VertexProvider", "vertex"),
    "openai": ("seedless.providers.openai:OpenAIProvider", None),
}


def known_protocols() -> list[str]:
    names = set(BUILTIN)
    with contextlib.suppress(Exception):  # broken metadata must not break seedless
        names |= {ep.name for ep in metadata.entry_points(group="seedless.providers")}
    return sorted(names)


def _factory_path(protocol: str) -> tuple[str, str | None]:
    if protocol in BUILTIN:
        return BUILTIN[protocol]
    for ep in metadata.entry_points(group="seedless.providers"):
        if ep.name == protocol:
            return ep.value, None
    raise ConfigurationError(
        f"No provider speaks protocol {protocol!r}. Known: {', '.join(known_protocols())}."
    )


def create_provider(endpoint: Endpoint) -> Provider | CallProvider:
    """Import the module for ``endpoint.protocol`` (lazily) and build its provider."""
    target, extra = _factory_path(endpoint.protocol)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise ConfigurationError(
                f"The {endpoint.protocol!r} provider is not available in this version of "
                f"seedless. Use model='local:pillow' meanwhile."
            ) from exc
        hint = f' Install it with: pip install "seedless[{extra}]"' if extra else ""
        raise ConfigurationError(
            f"The {endpoint.protocol!r} provider needs the package {missing!r}, which is not "
            f"installed.{hint}"
        ) from exc
    factory: ProviderFactory = getattr(module, attr)
    return factory(endpoint)
