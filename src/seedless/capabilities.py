"""The capability matrix: what every model can do, and its lifecycle, as data; and the rules.

The matrix is the one source of truth. Rows (:class:`ModelSpec`) come from the TOML file that
ships in ``seedless/data/models.toml``, then from the user's own TOML file (``SEEDLESS_MODELS``
or ``<user config dir>/seedless/models.toml``), then from :func:`register_model` calls; a later
layer adds rows or overrides fields of earlier ones, keyed by ``(provider, id)``.

:func:`validate` refuses a request the model cannot serve and :func:`check_lifecycle` refuses
a retired model (or warns about a deprecated one). Both run in the client before any network
I/O, and every refusal names the alternatives the matrix knows.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import (
    ConfigurationError,
    ModelRetiredError,
    SeedlessDeprecationWarning,
    UnsupportedCapabilityError,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "Lifecycle",
    "Matrix",
    "ModelSpec",
    "SeedPolicy",
    "SeedSupport",
    "SizeRule",
    "capabilities",
    "check_lifecycle",
    "check_size_rule",
    "load_models_toml",
    "register_model",
    "validate",
]

SeedSupport = Literal["deterministic", "seeded", "best_effort", "none"]
SeedPolicy = Literal["strict", "best_effort"]
Reproducibility = Literal["exact", "seeded", "none"]
Watermark = Literal["always", "never", "optional", "seed_requires_off"]
Status = Literal["active", "deprecated", "retired"]

_REPRODUCIBILITY: dict[str, Reproducibility] = {
    "deterministic": "exact",
    "seeded": "seeded",
    "best_effort": "none",
    "none": "none",
}


class Lifecycle(BaseModel):
    """Where a model stands on one provider: stage, dates, successor, and the sources for them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: Literal["preview", "ga", "experimental"] = "ga"
    released: date | None = None
    deprecated: date | None = None
    shutdown: date | None = None
    shutdown_is_earliest: bool = False
    successor: str | None = None
    sources: tuple[str, ...] = ()
    notes: str = ""

    def status(self, today: date) -> Status:
        if self.shutdown is not None and today >= self.shutdown:
            return "retired"
        if self.deprecated is not None and today >= self.deprecated:
            return "deprecated"
        if self.shutdown is not None:
            return "deprecated"
        return "active"

    def summary(self, today: date) -> str:
        """One line: "GA since 2026-05-28", "deprecated 2026-10-06, shutdown 2026-10-29 ..."."""
        parts = [self.stage.upper() if self.stage == "ga" else self.stage]
        if self.released:
            parts[0] += f" {self.released}"
        if self.deprecated:
            parts.append(f"deprecated {self.deprecated}")
        if self.shutdown:
            word = "shut down" if today >= self.shutdown else "shutdown"
            earliest = " (earliest)" if self.shutdown_is_earliest else ""
            parts.append(f"{word} {self.shutdown}{earliest}")
        if self.successor:
            parts.append(f"successor {self.successor}")
        return ", ".join(parts)


class SizeRule(BaseModel):
    """Pixel limits of a model that takes free ``WxH`` sizes (instead of a list of sizes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    multiple: int = Field(16, ge=1, description="both edges are multiples of this")
    max_edge: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_ratio: float | None = Field(None, ge=1.0, description="longest edge / shortest edge")

    def problems(self, width: int, height: int) -> list[str]:
        """What ``width`` x ``height`` breaks of the rule, in words (empty if nothing)."""
        if width <= 0 or height <= 0:
            return ["both edges must be positive"]
        found = []
        if width % self.multiple or height % self.multiple:
            found.append(f"both edges must be multiples of {self.multiple}")
        if self.max_edge is not None and max(width, height) > self.max_edge:
            found.append(f"the longest edge may be at most {self.max_edge}")
        pixels = width * height
        if self.max_pixels is not None and pixels > self.max_pixels:
            found.append(f"at most {self.max_pixels:,} pixels")
        if self.min_pixels is not None and pixels < self.min_pixels:
            found.append(f"at least {self.min_pixels:,} pixels")
        if self.max_ratio is not None and max(width, height) / min(width, height) > self.max_ratio:
            found.append(f"a ratio of at most {self.max_ratio:g}:1")
        return found

    def describe(self) -> str:
        parts = [f"WxH in multiples of {self.multiple}"]
        if self.max_edge:
            parts.append(f"edge <= {self.max_edge}")
        if self.min_pixels or self.max_pixels:
            low = f"{self.min_pixels / 1e6:.2f}" if self.min_pixels else "0"
            high = f"{self.max_pixels / 1e6:.2f}" if self.max_pixels else "any"
            parts.append(f"{low}-{high} MP")
        if self.max_ratio:
            parts.append(f"ratio <= {self.max_ratio:g}:1")
        return ", ".join(parts)


class ModelSpec(BaseModel):
    """One model on one provider: what it can do, what it costs, and its lifecycle there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    id: str
    name: str = ""
    aliases: tuple[str, ...] = ()
    operations: frozenset[Literal["generate", "edit"]]
    seed: SeedSupport = "none"
    seed_range: tuple[int, int] | None = None
    images_per_call: int = Field(1, ge=1)
    aspect_ratios: tuple[str, ...] | None = None
    sizes: tuple[str, ...] | None = None
    size_rule: SizeRule | None = None
    default_size: str | None = None
    max_reference_images: int = Field(0, ge=0)
    watermark: Watermark = "never"
    negative_prompt: bool = False
    prices: dict[str, float] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)
    notes: str = ""
    sources: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    origin: str = "builtin"

    @field_validator("aspect_ratios")
    @classmethod
    def _ratios(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for ratio in value or ():
            if not re.fullmatch(r"\d+:\d+", ratio):
                raise ValueError(f"aspect ratio {ratio!r} is not of the form W:H")
        return value

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.id}"

    @property
    def reproducibility(self) -> Reproducibility:
        """exact (local), seeded (same seed, same image), or none: derived from ``seed``."""
        return _REPRODUCIBILITY[self.seed]

    def accepts_seed(self, policy: SeedPolicy = "strict") -> bool:
        if self.seed in ("deterministic", "seeded"):
            return True
        return self.seed == "best_effort" and policy == "best_effort"

    def price_for(self, size: str | None = None) -> float | None:
        """List price of one output image at ``size`` (or the default size), USD."""
        size = size or self.default_size
        if size is not None and size in self.prices:
            return self.prices[size]
        if "*" in self.prices:
            return self.prices["*"]
        if size is None and len(self.prices) == 1:
            return next(iter(self.prices.values()))
        return None

    def status(self, today: date | None = None) -> Status:
        return self.lifecycle.status(today or date.today())


# ------------------------------------------------------------------------------------ Matrix


class Matrix:
    """An immutable set of ModelSpec rows with lookups by key and alias, filters and a table."""

    def __init__(self, rows: Iterable[ModelSpec]) -> None:
        self._rows: dict[str, ModelSpec] = {}
        for row in rows:
            self._rows[row.key] = row

    # -- container
    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __repr__(self) -> str:
        return f"<Matrix of {len(self)} models>"

    @property
    def providers(self) -> list[str]:
        return sorted({row.provider for row in self})

    @cached_property
    def _aliases(self) -> dict[tuple[str | None, str], str]:
        """(provider or None, alias) -> key. A bare alias resolves to the row listed first."""
        table: dict[tuple[str | None, str], str] = {}
        for row in self:
            for alias in row.aliases:
                table.setdefault((None, alias), row.key)
                table[(row.provider, alias)] = row.key
            table.setdefault((None, row.id), row.key)
            table[(row.provider, row.id)] = row.key
        return table

    def get(self, key: str) -> ModelSpec | None:
        return self._rows.get(key)

    def resolve(
        self,
        name: str,
        *,
        protocols: Mapping[str, str] | None = None,
    ) -> ModelSpec:
        """Find the row for ``"provider:model"``, ``"model"`` or an alias.

        ``protocols`` maps endpoint names to their protocol, so ``"myrelay:flux-dev"`` finds
        the row of ``myrelay`` if the user gave one, else the ``openai`` row of flux-dev.
        Raises ConfigurationError with "did you mean" suggestions.
        """
        provider, _, model = name.rpartition(":")
        lookups: list[str | None] = [provider or None]
        protocol = (protocols or {}).get(provider)
        if provider and protocol and protocol != provider:
            lookups.append(protocol)
        for lookup in lookups:
            key = self._aliases.get((lookup, model))
            if key is not None:
                row = self._rows[key]
                if provider and row.provider != provider:
                    # found through the endpoint's protocol: address it by the endpoint's name
                    row = row.model_copy(update={"provider": provider})
                return row
        if (
            provider
            and protocols is not None
            and provider not in protocols
            and provider not in self.providers
        ):
            known = sorted(set(self.providers) | set(protocols or ()))
            raise ConfigurationError(
                f"Unknown provider {provider!r} in {name!r}. Known providers and endpoints: "
                f"{', '.join(known)}."
            )
        everything = sorted({k for k in self._rows} | {a for _, a in self._aliases})
        close = difflib.get_close_matches(
            name, everything, n=3, cutoff=0.6
        ) or difflib.get_close_matches(model, everything, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigurationError(
            f"Unknown model {name!r}.{hint} `seedless capabilities` lists every model; "
            "seedless.register_model() or a models.toml file adds your own."
        )

    # -- queries
    def filter(self, predicate: Callable[[ModelSpec], bool]) -> Matrix:
        return Matrix(row for row in self if predicate(row))

    def supports(self, capability: str, *, today: date | None = None) -> Matrix:
        """Rows that can do ``capability``: "seed" (replayable seed), "generate", "edit",
        "negative_prompt", "reference_images", or a seed level ("best_effort", ...)."""
        checks: dict[str, Callable[[ModelSpec], bool]] = {
            "seed": lambda r: r.seed in ("deterministic", "seeded"),
            "generate": lambda r: "generate" in r.operations,
            "edit": lambda r: "edit" in r.operations,
            "negative_prompt": lambda r: r.negative_prompt,
            "reference_images": lambda r: r.max_reference_images > 1,
            "deterministic": lambda r: r.seed == "deterministic",
            "seeded": lambda r: r.seed == "seeded",
            "best_effort": lambda r: r.seed == "best_effort",
        }
        if capability not in checks:
            raise ValueError(f"unknown capability {capability!r}; one of {', '.join(checks)}")
        return self.filter(checks[capability])

    def active(self, today: date | None = None) -> Matrix:
        day = today or date.today()
        return self.filter(lambda r: r.status(day) != "retired")

    def successors(self, spec: ModelSpec, today: date | None = None) -> list[str]:
        """The successor chain of ``spec`` on its provider, ending at an active model."""
        day = today or date.today()
        chain: list[str] = []
        current = spec
        while current.lifecycle.successor and len(chain) < 8:
            nxt = self._rows.get(f"{current.provider}:{current.lifecycle.successor}")
            key = f"{current.provider}:{current.lifecycle.successor}"
            if key in chain:
                break
            chain.append(key)
            if nxt is None or nxt.status(day) != "retired":
                break
            current = nxt
        return chain

    def alternatives(
        self,
        spec: ModelSpec,
        *,
        capability: str,
        operation: str | None = None,
        today: date | None = None,
        limit: int = 6,
        where: Callable[[ModelSpec], bool] | None = None,
    ) -> list[str]:
        """Active models that can do ``capability`` (and ``operation``, and satisfy ``where``),
        nearest first."""
        day = today or date.today()
        rows = [
            row
            for row in self.supports(capability).active(day)
            if (operation is None or operation in row.operations)
            and row.key != spec.key
            and (where is None or where(row))
        ]
        rows.sort(key=lambda r: (r.provider != spec.provider, r.status(day) != "active", r.key))
        return [row.key for row in rows[:limit]]

    # -- output
    def table(self, *, today: date | None = None, lifecycle: bool = True) -> str:
        """A plain-text table of the matrix (what ``seedless capabilities`` prints)."""
        day = today or date.today()
        header = ["model", "ops", "seed", "n/call", "sizes", "refs", "$/image", "status"]
        lines = [header]
        for row in sorted(self, key=lambda r: (r.provider, r.id)):
            prices = sorted(set(row.prices.values()))
            price = "-" if not prices else "/".join(f"{p:g}" for p in prices)
            status = row.status(day)
            cells = [
                row.key,
                ",".join(sorted(row.operations)),
                row.seed,
                str(row.images_per_call),
                ",".join(row.sizes) if row.sizes else "any",
                str(row.max_reference_images),
                price,
                f"{status}: {row.lifecycle.summary(day)}" if lifecycle else status,
            ]
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        rendered = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        rendered.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(rendered)

    def to_json(self) -> list[dict[str, Any]]:
        return [row.model_dump(mode="json") for row in sorted(self, key=lambda r: r.key)]


# ------------------------------------------------------------------------------- validation

_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")


def validate(
    request: Any,
    spec: ModelSpec,
    matrix: Matrix,
    *,
    seed_policy: SeedPolicy = "strict",
    today: date | None = None,
) -> None:
    """Refuse, before any I/O, a request ``spec`` cannot serve (UnsupportedCapabilityError)."""
    operation: str = request.operation

    def refuse(
        capability: str,
        why: str,
        alt_capability: str | None = None,
        where: Callable[[ModelSpec], bool] | None = None,
    ) -> None:
        alternatives = matrix.alternatives(
            spec,
            capability=alt_capability or operation,
            operation=operation,
            today=today,
            where=where,
        )
        alt = f" Models that can: {', '.join(alternatives)}." if alternatives else ""
        raise UnsupportedCapabilityError(
            f"{spec.key} {why}.{alt}",
            model=spec.key,
            capability=capability,
            alternatives=alternatives,
        )

    if operation not in spec.operations:
        refuse(operation, f"cannot {operation} (it supports {', '.join(sorted(spec.operations))})")

    if request.seed is not None:
        if spec.seed == "none":
            refuse("seed", "takes no seed: every call is a fresh random draw", "seed")
        if spec.seed == "best_effort" and seed_policy != "best_effort":
            refuse(
                "seed",
                "takes a seed only as a best-effort hint (the same seed does not give the same "
                "image), so seedless refuses it by default; pass seed_policy='best_effort' to "
                "send it anyway, or use a seeded model",
                "seed",
            )
        if spec.seed_range is not None:
            low, high = spec.seed_range
            if not low <= request.seed <= high:
                refuse("seed", f"takes seeds from {low} to {high}, not {request.seed}", "seed")
        if spec.watermark == "seed_requires_off" and request.add_watermark:
            raise UnsupportedCapabilityError(
                f"{spec.key} cannot use a seed while the watermark is on (the service ignores "
                "or rejects the seed). Drop add_watermark=True, or drop the seed.",
                model=spec.key,
                capability="watermark",
                alternatives=[],
            )
    if request.add_watermark is not None:
        if spec.watermark == "always" and request.add_watermark is False:
            refuse(
                "watermark",
                "always watermarks its images (SynthID); it cannot be turned off",
                where=lambda row: row.watermark != "always",
            )
        if spec.watermark == "never" and request.add_watermark is True:
            refuse(
                "watermark",
                "has no watermark setting",
                where=lambda row: row.watermark != "never",
            )

    ratios = spec.aspect_ratios
    if (
        request.aspect_ratio is not None
        and ratios is not None
        and request.aspect_ratio not in ratios
    ):
        raise UnsupportedCapabilityError(
            f"{spec.key} does not offer aspect ratio {request.aspect_ratio!r}; it offers "
            f"{', '.join(ratios)}.",
            model=spec.key,
            capability="aspect_ratio",
            alternatives=list(ratios),
        )
    if request.size is not None and spec.sizes is not None and request.size not in spec.sizes:
        raise UnsupportedCapabilityError(
            f"{spec.key} does not offer size {request.size!r}; it offers {', '.join(spec.sizes)}.",
            model=spec.key,
            capability="size",
            alternatives=list(spec.sizes),
        )
    explicit = _SIZE_RE.match(request.size or "")
    if explicit:
        check_size_rule(spec, int(explicit.group(1)), int(explicit.group(2)))
    if request.negative_prompt and not spec.negative_prompt:
        refuse("negative_prompt", "does not accept a negative prompt", "negative_prompt")
    if operation == "edit":
        count = len(request.images)
        limit = max(spec.max_reference_images, 1 if "edit" in spec.operations else 0)
        if count > limit:
            refuse(
                "reference_images",
                f"takes at most {limit} input image(s) per edit; the request has {count}",
                "reference_images",
                where=lambda row: row.max_reference_images >= count,
            )


_warned: set[str] = set()
_warned_lock = threading.Lock()


def check_size_rule(spec: ModelSpec, width: int, height: int) -> None:
    """Refuse ``width`` x ``height`` when the model's published size rule excludes it (no I/O);
    a model without a rule accepts any size here."""
    if spec.size_rule is None:
        return
    problems = spec.size_rule.problems(width, height)
    if problems:
        raise UnsupportedCapabilityError(
            f"{spec.key} cannot make {width}x{height}: {'; '.join(problems)}.",
            model=spec.key,
            capability="size",
        )


def check_lifecycle(
    spec: ModelSpec,
    matrix: Matrix,
    *,
    today: date,
    allow_retired: bool = False,
) -> None:
    """Raise ModelRetiredError past the shutdown date; warn once per model if deprecated."""
    status = spec.status(today)
    life = spec.lifecycle
    chain = matrix.successors(spec, today)
    source = f" Source: {life.sources[0]}." if life.sources else ""
    instead = f" Use {chain[-1]} instead." if chain else ""
    if status == "retired":
        if allow_retired:
            return
        raise ModelRetiredError(
            f"{spec.key} was shut down on {life.shutdown}.{instead}{source} If your project or "
            "relay still serves it, pass allow_retired=True.",
            model=spec.key,
            shutdown=str(life.shutdown),
            successor=chain[-1] if chain else None,
            sources=life.sources,
        )
    if status == "deprecated":
        with _warned_lock:
            if spec.key in _warned:
                return
            _warned.add(spec.key)
        earliest = " at the earliest" if life.shutdown_is_earliest else ""
        when = (
            f" and shuts down on {life.shutdown}{earliest}"
            if life.shutdown
            else ", with no shutdown date announced yet"
        )
        since = f" since {life.deprecated}" if life.deprecated else ""
        warnings.warn(
            f"{spec.key} is deprecated{since}{when}.{instead}{source}",
            SeedlessDeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )


def _caller_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside the seedless package."""
    package = str(Path(__file__).parent)
    frame = sys._getframe(2)  # the caller of check_lifecycle
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _reset_warnings_for_tests() -> None:
    with _warned_lock:
        _warned.clear()


# ------------------------------------------------------------------------------ TOML loading


class _TomlLifecycle(Lifecycle):
    pass


class _TomlModel(BaseModel):
    """One [[model]] table: a ModelSpec spread over ``providers`` with a lifecycle per provider."""

    model_config = ConfigDict(extra="forbid")

    id: str
    providers: list[str]
    name: str | None = None
    aliases: list[str] | None = None
    operations: list[Literal["generate", "edit"]] | None = None
    seed: SeedSupport | None = None
    seed_range: tuple[int, int] | None = None
    images_per_call: int | None = None
    aspect_ratios: list[str] | None = None
    sizes: list[str] | None = None
    size_rule: SizeRule | None = None
    default_size: str | None = None
    max_reference_images: int | None = None
    watermark: Watermark | None = None
    negative_prompt: bool | None = None
    prices: dict[str, float] | None = None
    fields: dict[str, str] | None = None
    notes: str | None = None
    sources: dict[str, list[str]] | None = None
    lifecycle: dict[str, _TomlLifecycle] | None = None


class _TomlFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: int = Field(1, alias="schema")
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


def load_models_toml(
    path: str | os.PathLike[str], *, origin: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a models.toml file: (row dicts ready to merge, endpoint dicts).

    Errors name the file, the line and the field.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file}: invalid TOML: {exc}") from exc
    try:
        parsed = _TomlFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        line = _locate(text, loc)
        where = f"{file}:{line}" if line else str(file)
        field = ".".join(str(p) for p in loc)
        raise ConfigurationError(f"{where}: field {field}: {first['msg']}") from exc
    rows: list[dict[str, Any]] = []
    for index, model in enumerate(parsed.model):
        data = model.model_dump(exclude_unset=True, exclude={"providers", "lifecycle"})
        if "sources" in data:
            data["sources"] = {k: tuple(v) for k, v in data["sources"].items()}
        for provider in model.providers:
            row = dict(data, provider=provider, origin=origin or str(file))
            if model.lifecycle and provider in model.lifecycle:
                row["lifecycle"] = model.lifecycle[provider].model_dump(exclude_unset=True)
            row["_line"] = _locate(text, ["model", index])
            rows.append(row)
    return rows, parsed.endpoint


def _merge_rows(layers: Iterable[Iterable[dict[str, Any]]]) -> list[ModelSpec]:
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
                    elif field in ("prices", "fields", "sources") and isinstance(value, dict):
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
            ) from exc
    return specs


def user_models_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The user's models.toml: $SEEDLESS_MODELS, else the per-user config directory."""
    env = os.environ if environ is None else environ
    explicit = env.get("SEEDLESS_MODELS")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidate = base / "seedless" / "models.toml"
    return candidate if candidate.is_file() else None


_BUILTIN = Path(__file__).with_name("data") / "models.toml"
_lock = threading.Lock()
_registered: list[dict[str, Any]] = []
_cache: tuple[Matrix, list[dict[str, Any]]] | None = None


def _build() -> tuple[Matrix, list[dict[str, Any]]]:
    builtin, _ = load_models_toml(_BUILTIN, origin="builtin")
    layers: list[Iterable[dict[str, Any]]] = [builtin]
    endpoints: list[dict[str, Any]] = []
    user = user_models_path()
    if user is not None:
        if not user.is_file():
            raise ConfigurationError(f"SEEDLESS_MODELS points at {user}, which is not a file")
        rows, endpoints = load_models_toml(user)
        layers.append(rows)
    layers.append(_registered)
    return Matrix(_merge_rows(layers)), endpoints


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
