"""``Recipe``: a versioned JSON record of how an approved result was made.

A recipe names the path (``strategy``), the model, the instruction, the exact effect, the
seed, the other request parameters and the sha256 of the images that anchor it, so the same
look can be made again later, on the same or on new photos:

========== ======================================================== ======================
strategy   replay                                                   reproducibility
========== ======================================================== ======================
local      the effect, applied by the local Pillow provider         bit-identical, $0
seeded     the same prompt, seed and parameters on the same model   same seed, same image
anchored   anchored best-of-N on the model (no seed exists)         best effort, scored
========== ======================================================== ======================

Recipes are plain JSON (``version`` 1). They never hold image bytes or secrets: images are
named by hash, and replaying an anchored recipe asks for the original and approved images
back, checking them against those hashes. A recipe made on a self-hosted server also keeps
the server's fingerprint (``host``: checkpoint hash, server version, device), because a seed
gives the same bytes only on the same stack; :meth:`Recipe.host_changes` says what differs.
:func:`seedless.replay` (:mod:`seedless.strategies.replay`) makes a recipe's result again;
``Recipe.from_result`` reads one from any result's provenance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .._version import __version__
from ..effects import effect_from_dict
from ..errors import ConfigurationError, RequestError
from ..images import atomic_write
from ..models import EditRequest, GenerateRequest, ImageInput, ImageLike, ImageRequest, ImageResult
from .anchoring import parse_anchor_prompt

__all__ = ["RECIPE_VERSION", "BestOfSettings", "Recipe", "Strategy", "check_anchor"]

#: The recipe format this version of seedless writes (and the newest it reads).
RECIPE_VERSION = 1

Strategy = Literal["local", "seeded", "anchored"]

_PARAMETERS = ("aspect_ratio", "size", "negative_prompt", "add_watermark", "output_mime_type")

_REPRODUCIBILITY = {
    "local": "exact: bit-identical bytes, $0",
    "seeded": "seeded: the same seed and request give the same image",
    "anchored": "best effort: no seed exists; anchored best-of-N, scored against the approved pair",
}


class BestOfSettings(BaseModel):
    """How many candidates were drawn, the early-stop threshold and the scorer's name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(4, ge=1, le=64)
    threshold: float | None = None
    scorer: str = "MatchEffect"


class Recipe(BaseModel):
    """How an approved result was made; :func:`replay` makes it again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = RECIPE_VERSION
    strategy: Strategy
    operation: Literal["generate", "edit"] = "edit"
    model: str = Field(description='"provider:model"')
    instruction: str | None = Field(
        default=None,
        description="The prompt sent (seeded), or the edit in words that anchoring wraps.",
    )
    measured: str | None = Field(
        default=None, description="The edit in numbers as sent to the model (anchored)."
    )
    effect: dict[str, Any] | None = Field(
        default=None, description="The exact effect (kind 'adjust', 'lut' or 'cube'), as JSON."
    )
    seed: int | None = None
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="aspect_ratio, size, output_mime_type, options ..."
    )
    anchors: dict[str, str] = Field(
        default_factory=dict, description="sha256 of the anchor images: original, approved."
    )
    source: str | None = Field(default=None, description="sha256 of the edited source image.")
    result: str | None = Field(default=None, description="sha256 of the approved result.")
    best_of: BestOfSettings | None = None
    host: dict[str, Any] | None = Field(
        default=None,
        description="Fingerprint of the self-hosted server that made the result (checkpoint "
        "hash, server version, device); a replay warns when the server's differs.",
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    seedless_version: str = __version__
    notes: str = ""

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > RECIPE_VERSION:
            raise ValueError(
                f"recipe version {value} was written by a newer seedless (this one reads up to "
                f"{RECIPE_VERSION}); upgrade seedless to replay it"
            )
        return value

    @field_validator("effect", mode="before")
    @classmethod
    def _effect_as_json(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict) and hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        return value

    # ------------------------------------------------------------------ building

    @classmethod
    def from_result(cls, result: ImageResult, /, **extra: Any) -> Recipe:
        """The recipe of ``result``, read from its provenance; keywords override any field.

        The strategy follows the result: a deterministic model (local) gives ``local``, a
        seeded model with a recorded seed gives ``seeded``, anything else ``anchored``. For an
        anchored request the instruction and the anchor hashes are read back from it; for a
        plain edit on a model without a seed, the source becomes the ``original`` anchor and
        the result itself the ``approved`` one.
        """
        request = dict(result.request)
        operation = request.get("operation", "edit")
        images = [str(image["sha256"]) for image in request.get("images", [])]
        prompt = request.get("prompt")
        data: dict[str, Any] = {
            "operation": operation,
            "model": result.model_key,
            "parameters": {k: request[k] for k in _PARAMETERS if request.get(k) is not None},
            "source": images[0] if images else None,
            "result": result.sha256,
            "host": dict(result.host) or None,
        }
        if request.get("options"):
            data["parameters"]["options"] = request["options"]
        if result.seed_mode == "deterministic":
            data.update(strategy="local", effect=request.get("effect"), instruction=prompt)
        elif result.seed_mode == "seeded" and result.seed is not None:
            data.update(strategy="seeded", seed=result.seed, instruction=prompt)
        else:
            data["strategy"] = "anchored"
            parts = parse_anchor_prompt(prompt or "")
            if parts:
                data["instruction"] = parts["instruction"] or None
                data["measured"] = parts.get("measured")
                if len(images) >= 3:
                    data["anchors"] = {"original": images[1], "approved": images[2]}
                elif len(images) == 2:
                    data["anchors"] = {"original": images[0], "approved": images[1]}
            else:
                data["instruction"] = prompt
                if images:
                    data["anchors"] = {"original": images[0], "approved": result.sha256}
        data.update(extra)
        return cls.model_validate(data)

    # ------------------------------------------------------------------ queries

    @property
    def reproducibility(self) -> str:
        """What replaying this recipe promises, in words."""
        if self.strategy == "seeded" and self.host:
            return f"{_REPRODUCIBILITY['seeded']}; the same bytes on an unchanged host"
        return _REPRODUCIBILITY[self.strategy]

    def host_changes(self, current: Mapping[str, Any] | None) -> list[str]:
        """What differs between the recipe's host fingerprint and ``current`` (a server's), one
        ``"key: recorded -> now"`` per key both name; empty when they agree or either is
        unknown."""
        if not self.host or not current:
            return []
        return [
            f"{key}: {self.host[key]} -> {current[key]}"
            for key in sorted(self.host)
            if key in current and str(current[key]) != str(self.host[key])
        ]

    def effect_object(self) -> Any:
        """The effect as an object (``Adjust`` or a fitted LUT), or None."""
        if self.effect is None:
            return None
        return effect_from_dict(dict(self.effect))

    def request_for(self, image: ImageLike | None = None) -> ImageRequest:
        """The request replaying a ``local`` or ``seeded`` recipe on ``image`` (no I/O)."""
        params = dict(self.parameters)
        if self.strategy == "anchored":
            raise RequestError(
                "an anchored recipe replays as anchored best-of-N: use replay() with the "
                "original and approved images"
            )
        if self.operation == "generate":
            if self.instruction is None:
                raise ConfigurationError("this recipe generates, but holds no prompt")
            return GenerateRequest(
                prompt=self.instruction, seed=self.seed, model=self.model, **params
            )
        if image is None:
            raise RequestError(f"a {self.strategy} edit recipe needs an image to edit")
        return EditRequest(
            images=(ImageInput.of(image),),
            prompt=self.instruction,
            effect=self.effect_object(),
            seed=self.seed,
            model=self.model,
            **params,
        )

    def describe(self) -> str:
        """A few lines saying what the recipe does and how reproducible a replay is."""
        lines = [f"{self.strategy} recipe on {self.model} ({self.reproducibility})"]
        if self.effect is not None:
            effect = self.effect_object()
            lines.append(f"effect: {effect.describe() if effect is not None else self.effect}")
        if self.instruction:
            lines.append(f"instruction: {self.instruction}")
        if self.measured:
            lines.append(f"measured: {self.measured}")
        if self.seed is not None:
            lines.append(f"seed: {self.seed}")
        if self.parameters:
            lines.append(f"parameters: {json.dumps(self.parameters, sort_keys=True)}")
        if self.anchors:
            pairs = ", ".join(f"{k} {v[:12]}" for k, v in sorted(self.anchors.items()))
            lines.append(f"anchors: {pairs}")
        if self.host:
            lines.append(f"host: {json.dumps(self.host, sort_keys=True)}")
        if self.best_of is not None:
            lines.append(
                f"best of {self.best_of.n} by {self.best_of.scorer}"
                + (f", threshold {self.best_of.threshold}" if self.best_of.threshold else "")
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ files

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the recipe as JSON, atomically."""
        return atomic_write(path, (self.to_json() + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read a recipe saved by :meth:`save`; errors name the file and what is wrong."""
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read recipe {file}: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "recipe"
            raise ConfigurationError(f"{file}: {where}: {first['msg']}") from exc


def check_anchor(recipe: Recipe, role: str, image: ImageLike | None) -> ImageInput:
    """The anchor image for ``role``, checked against the hash the recipe recorded."""
    if image is None:
        raise RequestError(
            f"replaying an anchored recipe needs the {role} image of the approved pair "
            f"(sha256 {recipe.anchors.get(role, '?')[:12]}...): pass {role}=..."
        )
    anchor = ImageInput.of(image)
    expected = recipe.anchors.get(role)
    if expected is not None and anchor.sha256 != expected:
        raise RequestError(
            f"the {role} image given (sha256 {anchor.sha256[:12]}...) is not the one this recipe "
            f"was made with (sha256 {expected[:12]}...); pass the original file, unmodified"
        )
    return anchor
