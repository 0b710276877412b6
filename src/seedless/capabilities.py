"""The capability matrix: what every model can do, and its lifecycle, as data; and the rules.

The matrix is the one source of truth. Rows (:class:`ModelSpec`) come from the TOML file that
ships in ``seedless/data/models.toml``, then from the user's own TOML file (``SEEDLESS_MODELS``
or ``<user config dir>/seedless/models.toml``), then from :func:`register_model` calls; a later
layer adds rows or overrides fields of earlier ones, keyed by ``(provider, id)``.

:func:`check_available` refuses a model no one can call (no public API), :func:`validate` a
request the model cannot serve and :func:`check_lifecycle` a retired model (or warns about a
deprecated one). All run in the client before any network I/O, and every refusal names the
alternatives the matrix knows.

This module is the public face of the matrix; the rows live in ``seedless._specs``, the
queries in ``seedless._matrix``, the rules in ``seedless._validate`` and the file format in
``seedless._models_toml``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._matrix import Matrix
from ._models_toml import load_models_toml, merge_rows, user_models_path
from ._specs import (
    BatchSupport,
    Lifecycle,
    ModelSpec,
    OptionSpec,
    Reproducibility,
    SeedPolicy,
    SeedSupport,
    SizeRule,
    WireShape,
    is_replayable,
)
from ._validate import check_available, check_lifecycle, check_size_rule, validate
from .errors import ConfigurationError

__all__ = [
    "BatchSupport",
    "Lifecycle",
    "Matrix",
    "ModelSpec",
    "OptionSpec",
    "Reproducibility",
    "SeedPolicy",
    "SeedSupport",
    "SizeRule",
    "WireShape",
    "capabilities",
    "check_available",
    "check_lifecycle",
    "check_size_rule",
    "is_replayable",
    "load_models_toml",
    "register_model",
    "user_endpoints",
    "user_models_path",
    "validate",
]


_BUILTIN = Path(__file__).with_name("data") / "models.toml"
_lock = threading.Lock()
_registered: list[dict[str, Any]] = []
_cache: tuple[Matrix, list[dict[str, Any]]] | None = None


def _build() -> tuple[Matrix, list[dict[str, Any]]]:
    builtin, _, sets = load_models_toml(_BUILTIN, origin="builtin")
    layers: list[Iterable[dict[str, Any]]] = [builtin]
    endpoints: list[dict[str, Any]] = []
    user = user_models_path()
    if user is not None:
        if not user.is_file():
            raise ConfigurationError(f"SEEDLESS_MODELS points at {user}, which is not a file")
        rows, endpoints, _ = load_models_toml(user, option_sets=sets)
        layers.append(rows)
    layers.append(_registered)
    return Matrix(merge_rows(layers)), endpoints


def capabilities() -> Matrix:
    """The capability matrix in force: built-in rows, the user's TOML file, registered rows."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = _build()
        return _cache[0]


def user_endpoints() -> list[dict[str, Any]]:
    """``[[endpoint]]`` tables from the user's models.toml (read with the matrix)."""
    capabilities()
    assert _cache is not None
    return _cache[1]


def register_model(spec: ModelSpec | Mapping[str, Any]) -> ModelSpec:
    """Add a row to the process-wide matrix, or override fields of an existing one.

    A full :class:`ModelSpec` replaces the row with the same provider and id; a mapping with
    ``provider`` and ``id`` overrides just the fields it names (for example a relay's price).
    """
    global _cache
    if isinstance(spec, ModelSpec):
        row: dict[str, Any] = spec.model_dump()
        row["origin"] = "register_model"
        row["_replace"] = True  # a whole row: its prices, fields and sources are not merged
    else:
        row = dict(spec)
        if "provider" not in row or "id" not in row:
            raise ConfigurationError("register_model needs at least 'provider' and 'id'")
        row.setdefault("origin", "register_model")
    with _lock:
        _registered.append(row)
        _cache = None
    try:
        matrix = capabilities()
    except ConfigurationError:
        with _lock:
            _registered.remove(row)
            _cache = None
        raise
    result = matrix.get(f"{row['provider']}:{row['id']}")
    assert result is not None
    return result


def _reset_registry_for_tests() -> None:
    global _cache
    with _lock:
        _registered.clear()
        _cache = None
