"""Exact effects: ``Adjust`` (explicit settings), fitted looks (a 3D LUT from an approved pair)
and ``.cube`` LUTs from grading tools (``CubeEffect``).

An effect is anything with ``apply(image) -> image`` and ``describe() -> str``; the built-in
ones are pydantic models with a ``kind`` field, so they save to JSON and load back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, runtime_checkable

from pydantic import PlainSerializer, PlainValidator, ValidationError

from ..errors import ConfigurationError
from .adjust import Adjust

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Adjust",
    "Effect",
    "EffectField",
    "effect_from_dict",
    "load_effect",
    "validation_message",
]


@runtime_checkable
class Effect(Protocol):
    """What an exact effect provides: a ``kind``, pixels, words, and a JSON form.

    ``Adjust``, ``FittedEffect`` and ``CubeEffect`` are effects; so is any object of yours
    with these four.
    """

    @property
    def kind(self) -> str: ...

    def apply(self, image: Image.Image) -> Image.Image: ...

    def describe(self) -> str: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


def _coerce_effect(value: Any) -> Effect:
    if isinstance(value, dict):
        return effect_from_dict(value)  # type: ignore[no-any-return]
    if isinstance(value, Effect):
        return value
    raise ValueError(
        f"{type(value).__name__} is not an effect (Adjust, FittedEffect, CubeEffect, ...)"
    )


#: A pydantic field type for effects: validates dicts by their ``kind`` (importing the fitted
#: effect's numpy machinery only when one is used) and serialises with ``model_dump``.
EffectField = Annotated[
    Effect,
    PlainValidator(_coerce_effect),
    PlainSerializer(lambda effect: effect.model_dump(mode="json"), return_type=dict),
]


def effect_from_dict(data: dict[str, Any]) -> Any:
    """Build an effect from its JSON form (``kind`` "adjust", "lut" or "cube")."""
    kind = data.get("kind", "adjust")
    if kind == "adjust":
        return Adjust.model_validate(data)
    if kind == "lut":
        from .fit import FittedEffect  # lazy: numpy, only when a fitted look is used

        return FittedEffect.model_validate(data)
    if kind == "cube":
        from .cube_lut import CubeEffect  # lazy: numpy, only when a .cube LUT is used

        return CubeEffect.model_validate(data)
    raise ConfigurationError(f"unknown effect kind {kind!r}; expected 'adjust', 'lut' or 'cube'")


def load_effect(path: str | os.PathLike[str]) -> Any:
    """Load an effect saved as JSON, or a ``.cube`` LUT (any dialect: a ``CubeEffect``)."""
    file = Path(path)
    if file.suffix.lower() == ".cube":
        from .cube_lut import CubeEffect  # lazy: numpy, only when a .cube LUT is used

        return CubeEffect.load(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read effect file {file}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{file}: an effect file holds one JSON object")
    if "effect" in data and isinstance(data["effect"], dict):  # a saved Recipe
        data = data["effect"]
    try:
        return effect_from_dict(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{file}: {validation_message(exc)}") from exc


def validation_message(exc: ValidationError) -> str:
    """The first problem of a pydantic error in one line: ``field: what is wrong``."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "effect"
    return f"{where}: {first['msg']}"
