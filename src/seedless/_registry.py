"""Which wire protocols seedless can speak: the ``seedless.providers`` entry points.

Every provider, the built-in ones included, is registered the same way a third-party package
registers its own: an entry point in the ``seedless.providers`` group whose name is the
protocol and whose value is ``"module:factory"`` (a callable taking an
:class:`~seedless.Endpoint`). seedless's own ``pyproject.toml`` declares ``local``,
``gemini``, ``vertex`` and ``openai`` there, so the plugin path is the path every provider
takes. Nothing here imports a provider module; :func:`load_factory` does, on first use.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from .errors import ConfigurationError

__all__ = ["GROUP", "known_protocols", "load_factory"]

#: The entry-point group providers register in.
GROUP = "seedless.providers"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for point in metadata.entry_points(group=GROUP):
        found.setdefault(point.name, point)  # the first registration of a name wins
    return found


def known_protocols() -> list[str]:
    """Every protocol a provider is registered for."""
    return sorted(_entry_points())


def load_factory(protocol: str) -> Any:
    """The provider factory registered for ``protocol``, its module imported now.

    A protocol nobody registered, or a module that fails to import, is a ConfigurationError
    that says which, chained to the original error.
    """
    point = _entry_points().get(protocol)
    if point is None:
        known = ", ".join(known_protocols()) or "none (is seedless installed?)"
        raise ConfigurationError(f"No provider speaks protocol {protocol!r}. Known: {known}.")
    module_name, _, attr = point.value.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"The {protocol!r} provider ({point.value}) could not be imported: "
            f"{type(exc).__name__}: {exc}. Reinstall the package that provides it."
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigurationError(
            f"The {protocol!r} provider entry point names {point.value}, which does not exist."
        ) from exc
