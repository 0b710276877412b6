"""Reading ``models.toml`` files: the built-in matrix, and the user's own rows and endpoints.

One ``[[model]]`` table describes a model id on one or more ``providers``; a later file (the
user's) adds rows or overrides fields of earlier ones, keyed by ``(provider, id)``, with
``prices``, ``fields``, ``options`` and ``sources`` merged key by key. Facts that differ per
provider go under ``[model.per_provider.<provider>]`` (for example an option only Vertex
takes), and shared option lists are named once under ``[option_sets.<name>]`` and referenced
by ``option_sets = ["<name>"]`` (the built-in sets can be referenced from a user's file).
Every error names the file, the line and the field.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._dirs import user_config_dir
from ._specs import (
    BatchSupport,
    ImageInput,
    Lifecycle,
    ModelSpec,
    OptionSpec,
    SeedSupport,
    SizeRule,
    Watermark,
    WireShape,
)
from .errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["OptionSets", "load_models_toml", "merge_rows", "user_models_path"]

#: Named option lists: set name -> option name -> spec.
OptionSets = Mapping[str, Mapping[str, OptionSpec]]

#: Row fields whose tables merge key by key across layers instead of being replaced.
_MERGED = ("prices", "fields", "options", "sources")


class _TomlFields(BaseModel):
    """The row fields a [[model]] table (or its per-provider part) may set."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    aliases: list[str] | None = None
    operations: list[Literal["generate", "edit"]] | None = None
    wire: WireShape | None = None
    wire_id: str | None = None
    image_input: ImageInput | None = None
    seed: SeedSupport | None = None
    seed_range: tuple[int, int] | None = None
    host_exact: bool | None = None
    seed_requires_off: list[str] | None = None
    images_per_call: int | None = None
    aspect_ratios: list[str] | None = None
    sizes: list[str] | None = None
    size_rule: SizeRule | None = None
    default_size: str | None = None
    max_reference_images: int | None = None
    edits_with: Literal["instruction", "effect"] | None = None
    watermark: Watermark | None = None
    negative_prompt: bool | None = None
    option_sets: list[str] | None = None
    options: dict[str, OptionSpec] | None = None
    response_formats: list[str] | None = None
    output_mime_types: list[str] | None = None
    input_mime_types: list[str] | None = None
    response_modalities: list[str] | None = None
    prices: dict[str, float] | None = None
    batch: BatchSupport | None = None
    fields: dict[str, str] | None = None
    unavailable: str | None = None
    notes: str | None = None
    sources: dict[str, list[str]] | None = None


class _TomlModel(_TomlFields):
    """One [[model]] table: a ModelSpec spread over ``providers`` with a lifecycle per provider."""

    id: str
    providers: list[str]
    lifecycle: dict[str, Lifecycle] | None = None
    per_provider: dict[str, _TomlFields] | None = None


class _TomlFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: int = Field(default=1, alias="schema")
    option_sets: dict[str, dict[str, OptionSpec]] = Field(default_factory=dict)
    model: list[_TomlModel] = Field(default_factory=list)
    endpoint: list[dict[str, Any]] = Field(default_factory=list)


def _locate(text: str, loc: Sequence[int | str]) -> int | None:
    """Best-effort line number of ``model[i].field`` inside a TOML text."""
    if len(loc) < 2 or loc[0] != "model" or not isinstance(loc[1], int):
        return None
    headers = [
        i
        for i, line in enumerate(text.splitlines())
        if line.split("#", 1)[0].strip() == "[[model]]"  # a comment may follow the header
    ]
    if loc[1] >= len(headers):
        return None
    lines = text.splitlines()
    start = headers[loc[1]]
    end = headers[loc[1] + 1] if loc[1] + 1 < len(headers) else len(lines)
    field = str(loc[2]) if len(loc) > 2 else None
    for number in range(start, end):
        stripped = lines[number].strip()
        if field and (
            stripped.startswith(f"{field} ")
            or stripped.startswith(f"{field}=")
            or stripped.startswith(f"[model.{field}")
        ):
            return number + 1
    return start + 1


def _parse(file: Path) -> tuple[_TomlFile, str]:
    text = file.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file}: invalid TOML: {exc}") from exc
    try:
        return _TomlFile.model_validate(raw), text
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        line = _locate(text, loc)
        where = f"{file}:{line}" if line else str(file)
        field = ".".join(str(p) for p in loc)
        raise ConfigurationError(f"{where}: field {field}: {first['msg']}") from exc


def _provider_row(model: _TomlModel, provider: str, sets: OptionSets, where: str) -> dict[str, Any]:
    """The row dict of ``model`` on ``provider``: shared fields, then its per-provider ones,
    with named option sets expanded (explicit options win)."""
    data = model.model_dump(
        exclude_unset=True, exclude={"providers", "lifecycle", "per_provider", "id"}
    )
    extra = (model.per_provider or {}).get(provider)
    if extra is not None:
        for field, value in extra.model_dump(exclude_unset=True).items():
            merged = field in _MERGED and isinstance(value, dict)
            data[field] = {**data.get(field, {}), **value} if merged else value
    names = data.pop("option_sets", None)
    if names is not None:
        options: dict[str, Any] = {}
        for name in names:
            if name not in sets:
                known = ", ".join(sorted(sets)) or "none"
                raise ConfigurationError(
                    f"{where}: model {provider}:{model.id}: unknown option set {name!r} "
                    f"(known: {known})"
                )
            options.update({key: spec.model_dump() for key, spec in sets[name].items()})
        data["options"] = {**options, **data.get("options", {})}
    if "sources" in data:
        data["sources"] = {k: tuple(v) for k, v in data["sources"].items()}
    data["id"] = model.id
    data["provider"] = provider
    if model.lifecycle and provider in model.lifecycle:
        data["lifecycle"] = model.lifecycle[provider].model_dump(exclude_unset=True)
    return data


def load_models_toml(
    path: str | os.PathLike[str],
    *,
    origin: str | None = None,
    option_sets: OptionSets | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, OptionSpec]]]:
    """Read a models.toml file: (row dicts ready to merge, endpoint dicts, its option sets).

    ``option_sets`` are sets defined elsewhere (the built-in file's) that rows may reference
    besides the file's own. Errors name the file, the line and the field.
    """
    file = Path(path)
    parsed, text = _parse(file)
    sets = {**(option_sets or {}), **parsed.option_sets}
    rows: list[dict[str, Any]] = []
    for index, model in enumerate(parsed.model):
        line = _locate(text, ["model", index])
        where = f"{file}:{line}" if line else str(file)
        for provider in model.providers:
            row = _provider_row(model, provider, sets, where)
            row["origin"] = origin or str(file)
            row["_line"] = line
            rows.append(row)
    return rows, parsed.endpoint, parsed.option_sets


def merge_rows(layers: Iterable[Iterable[dict[str, Any]]]) -> list[ModelSpec]:
    """ModelSpecs from layers of row dicts: a later row with the key of an earlier one
    overrides the fields it names (tables merged key by key) unless it is a whole row."""
    merged: dict[str, dict[str, Any]] = {}
    lines: dict[str, str] = {}
    for layer in layers:
        for row in layer:
            row = dict(row)
            line = row.pop("_line", None)
            replace = row.pop("_replace", False)
            key = f"{row['provider']}:{row['id']}"
            if key in merged and not replace:
                base = merged[key]
                for field, value in row.items():
                    if field == "lifecycle" and isinstance(value, dict):
                        base["lifecycle"] = {**base.get("lifecycle", {}), **value}
                    elif field in _MERGED and isinstance(value, dict):
                        base[field] = {**base.get(field, {}), **value}
                    else:
                        base[field] = value
            else:
                merged[key] = row
            lines[key] = f"{row.get('origin')}{':' + str(line) if line else ''}"
    specs = []
    for key, row in merged.items():
        try:
            specs.append(ModelSpec.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(
                f"{lines[key]}: model {key}: field {field}: {first['msg']}"
                + _not_a_row(key, row, merged, first["type"])
            ) from exc
    return specs


def _not_a_row(key: str, row: Mapping[str, Any], merged: Mapping[str, Any], error: str) -> str:
    """A hint for a partial table that meant to change a row that does not exist (Flux rows
    are per host: relay:flux-dev, not openai:flux-dev)."""
    if error != "missing":
        return ""
    others = sorted(k for k, other in merged.items() if other["id"] == row["id"] and k != key)
    if not others:
        return ""
    return (
        f" ({key} is not a built-in row, so this table must describe a whole row; the rows of "
        f"{row['id']} are {', '.join(others)}: name one of their providers to change it)"
    )


def user_models_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The user's models.toml: $SEEDLESS_MODELS, else the per-user config directory."""
    env = os.environ if environ is None else environ
    explicit = env.get("SEEDLESS_MODELS")
    if explicit:
        return Path(explicit).expanduser()
    candidate = user_config_dir() / "models.toml"
    return candidate if candidate.is_file() else None
