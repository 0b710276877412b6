"""The rows of the capability matrix: what one model can do on one provider, and its lifecycle.

A :class:`ModelSpec` is plain data. Besides sizes, seeds, prices and lifecycle it carries the
facts a provider needs to plan a wire call and that validation needs to refuse one before any
I/O: the wire shape the model speaks, the request options it accepts (per operation, with
their types and values), the response and output formats it offers, and the options that
break seed replay. Users set every one of these for their own rows in ``models.toml``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "REQUEST_FIELDS",
    "BatchEngineName",
    "BatchSupport",
    "ImageInput",
    "Lifecycle",
    "ModelSpec",
    "Operation",
    "OptionSpec",
    "OptionType",
    "Reproducibility",
    "SeedPolicy",
    "SeedSupport",
    "SizeRule",
    "Status",
    "Watermark",
    "WireShape",
    "is_replayable",
    "option_mapping",
]

SeedSupport = Literal["deterministic", "seeded", "best_effort", "none"]
SeedPolicy = Literal["strict", "best_effort"]
Reproducibility = Literal["exact", "seeded", "none"]
Watermark = Literal["always", "never", "optional", "seed_requires_off"]
Status = Literal["active", "deprecated", "retired"]
#: How a model is spoken to: OpenAI-style images, Gemini generateContent, Imagen :predict,
#: local, the AUTOMATIC1111/Forge web API (sdapi), a ComfyUI workflow (comfy_prompt), BFL's
#: submit-and-poll tasks, Stability AI's Stable Image multipart forms.
WireShape = Literal[
    "images",
    "generate_content",
    "predict",
    "local",
    "sdapi",
    "comfy_prompt",
    "bfl",
    "stable_image",
]
Operation = Literal["generate", "edit"]
#: The providers' own batch engines seedless drives: Gemini Batch Mode, the OpenAI Batch API.
BatchEngineName = Literal["gemini", "openai"]
#: How an edit's input images travel on the ``images`` wire: ``edits`` (multipart
#: ``POST /images/edits``, OpenAI's way), ``image_url`` (one image, as a data URL, in the
#: generation body: Together's Kontext) or ``reference_images`` (every image, as data URLs, in
#: the generation body's array: Together's FLUX.2).
ImageInput = Literal["edits", "image_url", "reference_images"]
#: The input image formats each remote wire shape takes, for rows that do not list their own
#: (``input_mime_types``); shapes not listed take any image seedless reads. Gemini:
#: https://docs.cloud.google.com/vertex-ai/docs/generative-ai/image/image-captioning (V: PNG,
#: JPEG, WebP, HEIC, HEIF); OpenAI-style edits: https://platform.openai.com/docs/api-reference
#: /images/createEdit (V: png, webp or jpg); Imagen :predict edits:
#: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api (V: PNG,
#: JPEG).
WIRE_INPUT_MIME_TYPES: dict[str, tuple[str, ...]] = {
    "generate_content": ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"),
    "images": ("image/png", "image/jpeg", "image/webp"),
    "predict": ("image/png", "image/jpeg"),
}
OptionType = Literal["any", "string", "integer", "number", "boolean", "array", "object"]
#: Request fields that travel under names from ``ModelSpec.fields`` but are not options.
REQUEST_FIELDS = frozenset({"seed", "negative_prompt", "aspect_ratio", "output_format", "size"})

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

    multiple: int = Field(default=16, ge=1, description="both edges are multiples of this")
    min_edge: int | None = None
    max_edge: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_ratio: float | None = Field(
        default=None, ge=1.0, description="longest edge / shortest edge"
    )

    def problems(self, width: int, height: int) -> list[str]:
        """What ``width`` x ``height`` breaks of the rule, in words (empty if nothing)."""
        if width <= 0 or height <= 0:
            return ["both edges must be positive"]
        found = []
        if width % self.multiple or height % self.multiple:
            found.append(f"both edges must be multiples of {self.multiple}")
        if self.min_edge is not None and min(width, height) < self.min_edge:
            found.append(f"the shortest edge must be at least {self.min_edge}")
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
        if self.min_edge and self.max_edge:
            parts.append(f"edges {self.min_edge}-{self.max_edge}")
        elif self.min_edge:
            parts.append(f"edge >= {self.min_edge}")
        elif self.max_edge:
            parts.append(f"edge <= {self.max_edge}")
        if self.min_pixels or self.max_pixels:
            low = f"{self.min_pixels / 1e6:.2f}" if self.min_pixels else "0"
            high = f"{self.max_pixels / 1e6:.2f}" if self.max_pixels else "any"
            parts.append(f"{low}-{high} MP")
        if self.max_ratio:
            parts.append(f"ratio <= {self.max_ratio:g}:1")
        return ", ".join(parts)


class OptionSpec(BaseModel):
    """One request option a model accepts (``options={...}`` on a request): its type, allowed
    values or range, and the operations it applies to (None: every operation the model has)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: OptionType = "any"
    values: tuple[Any, ...] | None = Field(
        default=None, description="allowed values (strings compare without regard to case)"
    )
    minimum: float | None = None
    maximum: float | None = None
    operations: frozenset[Operation] | None = None
    description: str = ""

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this option, in words (None if nothing)."""
        checks: dict[str, tuple[type | tuple[type, ...], str]] = {
            "string": (str, "text"),
            "integer": (int, "a whole number"),
            "number": ((int, float), "a number"),
            "boolean": (bool, "true or false"),
            "array": ((list, tuple), "a list"),
            "object": (dict, "a mapping"),
        }
        if self.type in checks:
            kinds, words = checks[self.type]
            wrong_bool = isinstance(value, bool) and self.type in ("integer", "number")
            if not isinstance(value, kinds) or wrong_bool:
                return f"takes {words}, not {value!r}"
        if self.values is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            allowed = {_folded(v) for v in self.values}
            bad = [item for item in items if _folded(item) not in allowed]
            if bad:
                return f"takes {' | '.join(map(str, self.values))}, not {bad[0]!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"takes at least {self.minimum:g}, not {value!r}"
            if self.maximum is not None and value > self.maximum:
                return f"takes at most {self.maximum:g}, not {value!r}"
        return None

    def describe(self) -> str:
        """A few words: ``integer 1..50``, ``LOW|MEDIUM|HIGH``, ``boolean``."""
        if self.values is not None:
            return "|".join(map(str, self.values))
        bounds = ""
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = "" if self.maximum is None else f"{self.maximum:g}"
            bounds = f" {low}..{high}"
        return f"{self.type}{bounds}"


class BatchSupport(BaseModel):
    """A provider's own batch engine for a model: which one, and its price.

    ``engine`` names the batch API (``gemini``: Gemini Batch Mode, ``openai``: the OpenAI
    Batch API); it is usable only from an endpoint that speaks that protocol (and, for
    ``openai``, that is OpenAI itself or declares ``Endpoint(batch_engine=True)``). The batch
    price of an image is ``prices[size]`` when given, else ``price_factor`` times the list
    price (the endpoint's override included).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: BatchEngineName
    price_factor: float = Field(default=0.5, gt=0, le=1)
    prices: dict[str, float] = Field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def price(self, size: str | None, list_price: float | None) -> float | None:
        """The batch price of one image at ``size``, from the list price if not given."""
        if size is not None and size in self.prices:
            return self.prices[size]
        if "*" in self.prices:
            return self.prices["*"]
        return None if list_price is None else list_price * self.price_factor


def _folded(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


class ModelSpec(BaseModel):
    """One model on one provider: what it can do, what it costs, and its lifecycle there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    id: str
    name: str = ""
    aliases: tuple[str, ...] = ()
    operations: frozenset[Operation]
    wire: WireShape | None = Field(
        default=None, description="the wire shape; None: the provider's only one"
    )
    wire_id: str | None = Field(
        default=None,
        description="the host's own name for the model (black-forest-labs/FLUX.1-dev on "
        "Together); None: the id. An endpoint's model_ids win over it",
    )
    image_input: ImageInput | None = Field(
        default=None,
        description="how an edit's input images travel on the images wire; None: edits "
        "(multipart POST /images/edits)",
    )
    seed: SeedSupport = "none"
    seed_range: tuple[int, int] | None = None
    host_exact: bool = Field(
        default=False,
        description="a seeded model that gives bit-identical images for a seed on an unchanged "
        "host (self-hosted: same checkpoint, server version, device); results record the "
        "host's fingerprint, and a replay warns when it changed",
    )
    seed_requires_off: tuple[str, ...] = Field(
        default=(),
        description="boolean options that break seed replay: refused as true with a seed, "
        "sent as false when a seed is given and the caller left them unset",
    )
    images_per_call: int = Field(default=1, ge=1)
    aspect_ratios: tuple[str, ...] | None = None
    sizes: tuple[str, ...] | None = None
    size_rule: SizeRule | None = None
    default_size: str | None = None
    max_reference_images: int = Field(default=0, ge=0)
    edits_with: Literal["instruction", "effect"] = Field(
        default="instruction",
        description="what an edit needs: a text instruction (or an effect described in words), "
        "or an exact effect (the local provider)",
    )
    watermark: Watermark = "never"
    negative_prompt: bool = False
    options: dict[str, OptionSpec] = Field(default_factory=dict)
    response_formats: tuple[str, ...] | None = Field(
        default=None,
        description="response_format values the wire takes, the default first; () when the "
        "model takes no response_format; None when the shape has no such field",
    )
    output_mime_types: tuple[str, ...] | None = Field(
        default=None, description="formats the caller may ask for; None: the service picks"
    )
    input_mime_types: tuple[str, ...] | None = Field(
        default=None,
        description="input image formats an edit may send; None: those of its wire shape "
        "(WIRE_INPUT_MIME_TYPES), or any image seedless reads",
    )
    response_modalities: tuple[str, ...] | None = Field(
        default=None, description="generateContent responseModalities sent by default"
    )
    prices: dict[str, float] = Field(default_factory=dict)
    batch: BatchSupport | None = Field(
        default=None, description="the provider's own batch engine for this model, if any"
    )
    fields: dict[str, str] = Field(default_factory=dict)
    unavailable: str | None = Field(
        default=None,
        description="why no one can call this model (no public API ...): every request for "
        "it is refused before anything else, naming this reason and models that can",
    )
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
    def seed_level(self) -> str:
        """The seed level in words: ``seeded``, or ``seeded (exact on the same host)``."""
        return f"{self.seed} (exact on the same host)" if self.host_exact else self.seed

    @property
    def reproducibility(self) -> Reproducibility:
        """exact (local), seeded (same seed, same image), or none: derived from ``seed``."""
        return _REPRODUCIBILITY[self.seed]

    def accepts_seed(self, policy: SeedPolicy = "strict") -> bool:
        if self.seed in ("deterministic", "seeded"):
            return True
        return self.seed == "best_effort" and policy == "best_effort"

    def accepted_inputs(self) -> tuple[str, ...] | None:
        """The input image formats this row's edits take (None: any image seedless reads)."""
        if self.input_mime_types is not None:
            return self.input_mime_types
        return WIRE_INPUT_MIME_TYPES.get(self.wire or "")

    def accepted_options(self, operation: Operation | None = None) -> dict[str, OptionSpec]:
        """The options this row takes (for ``operation``, if given): its ``options``, plus
        ``response_format`` when it has response formats, plus any name in ``fields`` that is
        not a request field (a host extension such as ``steps``, of any type)."""
        accepted: dict[str, OptionSpec] = {}
        for name, host in self.fields.items():
            if name not in REQUEST_FIELDS and host:  # "" drops a field: not accepted
                accepted[name] = OptionSpec()
        if self.response_formats:
            accepted["response_format"] = OptionSpec(type="string", values=self.response_formats)
        accepted.update(self.options)
        if operation is None:
            return accepted
        return {
            name: spec
            for name, spec in accepted.items()
            if spec.operations is None or operation in spec.operations
        }

    def closest_options(self, name: str, operation: Operation | None = None) -> list[str]:
        """Accepted option names that look like ``name`` ("did you mean")."""
        return difflib.get_close_matches(name, list(self.accepted_options(operation)), n=3)

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


def is_replayable(spec: ModelSpec, seed: int | None) -> bool:
    """Whether a call to ``spec`` with ``seed`` gives the same image again (exact, or seeded
    with a seed): the calls a cache may answer and a budget may count as free when cached."""
    return spec.seed == "deterministic" or (spec.seed == "seeded" and seed is not None)


def option_mapping(value: Mapping[str, Any]) -> dict[str, OptionSpec]:
    """``{name: OptionSpec or its fields}`` as OptionSpecs (TOML tables, register_model)."""
    return {name: OptionSpec.model_validate(spec) for name, spec in value.items()}
