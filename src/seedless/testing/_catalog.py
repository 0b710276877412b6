"""The models each emulated service serves by default, and how each one treats a seed.

This is the one place the emulator's model table lives. Every emulator instance takes a copy
(``emu.gemini.models``, ``emu.vertex.models``, ``emu.openai.models``), so a test can add,
remove or replace rows without touching other tests. The table says nothing about lifecycles:
which of these are shut down in the real world is the capability matrix's business; here a
test marks a model retired with ``emu.<service>.retired.add(model_id)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EmulatedModel",
    "SeedPolicy",
    "default_methods",
    "default_models",
    "guess_seed_policy",
]

#: How a model treats a ``seed`` field: ``"honoured"`` (deterministic in prompt, seed and
#: parameters), ``"ignored"`` (accepted, and each call is fresh anyway, like Gemini), or
#: ``"rejected"`` (a 400 for an unknown parameter, like OpenAI's own image models).
SeedPolicy = Literal["honoured", "ignored", "rejected"]

#: Fixed ``created`` timestamp for the OpenAI-style listing (2025-01-01T00:00:00Z).
_CREATED = 1735689600


@dataclass(frozen=True)
class EmulatedModel:
    """One row of an emulated service's model table."""

    id: str
    seed: SeedPolicy
    display_name: str = ""
    #: Gemini API ``supportedGenerationMethods`` / Vertex method names / OpenAI operations.
    methods: tuple[str, ...] = ("generateContent",)
    owned_by: str = "google"
    created: int = _CREATED

    @property
    def seeded(self) -> bool:
        """True when the same prompt, seed and parameters give the same image."""
        return self.seed == "honoured"


_GEMINI_METHODS = ("generateContent", "countTokens", "batchGenerateContent")
_GEMINI_IDS = (
    ("gemini-nano-banana-2.1", "Nano Banana 2.1"),
    ("gemini-3-pro-image", "Nano Banana Pro"),
    ("gemini-3-pro-image-preview", "Nano Banana Pro (preview)"),
    ("gemini-3.1-flash-image", "Nano Banana 2"),
    ("gemini-3.1-flash-image-preview", "Nano Banana 2 (preview)"),
    ("gemini-3.1-flash-lite-image", "Nano Banana 2 Lite"),
    ("gemini-2.5-flash-image", "Nano Banana"),
    ("gemini-2.5-flash-image-preview", "Nano Banana (preview)"),
)
_IMAGEN_IDS = (
    ("imagen-4.0-generate-001", "Imagen 4"),
    ("imagen-4.0-fast-generate-001", "Imagen 4 Fast"),
    ("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra"),
    ("imagen-3.0-generate-002", "Imagen 3"),
    ("imagen-3.0-fast-generate-001", "Imagen 3 Fast"),
    ("imagen-3.0-capability-001", "Imagen 3 Capability"),
)
_FLUX_SEEDED = (
    "flux-dev",
    "flux-schnell",
    "flux-pro",
    "flux-pro-1.1",
    "flux-pro-1.1-ultra",
    "flux-kontext-pro",
    "flux-kontext-max",
    "flux-2-pro",
    "flux-2-max",
    "flux-2-flex",
    "flux-2-klein-4b",
    "flux-2-klein-9b",
)
#: Together's ids of the Flux models it serves (its images overview).
_TOGETHER_IDS = (
    "black-forest-labs/FLUX.1-schnell",
    "black-forest-labs/FLUX.1-dev",
    "black-forest-labs/FLUX.1.1-pro",
    "black-forest-labs/FLUX.1-kontext-pro",
    "black-forest-labs/FLUX.1-kontext-max",
    "black-forest-labs/FLUX.2-pro",
    "black-forest-labs/FLUX.2-max",
    "black-forest-labs/FLUX.2-flex",
    "black-forest-labs/FLUX.2-dev",
)
#: DeepInfra's ids (its model pages); its OpenAI-compatible API takes no seed.
_DEEPINFRA_IDS = (
    "black-forest-labs/FLUX-1-schnell",
    "black-forest-labs/FLUX-1-dev",
    "black-forest-labs/FLUX-pro",
    "black-forest-labs/FLUX-2-klein-4b",
)
_OPENAI_METHODS = ("images.generations", "images.edits")
#: The models Black Forest Labs' own API serves (its OpenAPI description's paths).
_BFL_IDS = (
    "flux-dev", "flux-pro-1.1", "flux-pro-1.1-ultra", "flux-kontext-pro", "flux-kontext-max",
    "flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b",
)  # fmt: skip
#: Stability AI's Stable Image services and the SD 3.5 models of its sd3 service.
_STABILITY_IDS = (
    "stable-image-ultra", "stable-image-core", "sd3.5-large", "sd3.5-large-turbo",
    "sd3.5-medium",
)  # fmt: skip
#: The services that speak the OpenAI images style.
_IMAGES_SERVICES = ("openai", "together", "deepinfra")


def _gemini_rows() -> list[EmulatedModel]:
    return [
        EmulatedModel(model_id, "ignored", name, _GEMINI_METHODS) for model_id, name in _GEMINI_IDS
    ]


def default_models(service: str) -> dict[str, EmulatedModel]:
    """A fresh copy of the default model table of ``service`` (gemini, vertex, openai, bfl,
    stability, together or deepinfra)."""
    rows: list[EmulatedModel]
    if service == "gemini":
        rows = _gemini_rows()
    elif service == "vertex":
        rows = [EmulatedModel(i, "honoured", n, ("predict",)) for i, n in _IMAGEN_IDS]
        rows += _gemini_rows()
    elif service == "openai":
        rows = [
            EmulatedModel(i, "honoured", i, _OPENAI_METHODS, owned_by="black-forest-labs")
            for i in _FLUX_SEEDED
        ]
        rows.append(
            EmulatedModel(
                "flux-3-image", "ignored", "FLUX 3 Image", _OPENAI_METHODS, "black-forest-labs"
            )
        )
        rows += [
            EmulatedModel(i, "rejected", i, _OPENAI_METHODS, owned_by="system")
            for i in ("gpt-image-2", "gpt-image-1", "dall-e-3")
        ]
    elif service == "together":
        rows = [
            EmulatedModel(i, "honoured", i, ("images.generations",), "black-forest-labs")
            for i in _TOGETHER_IDS
        ]
    elif service == "deepinfra":
        rows = [
            EmulatedModel(i, "ignored", i, ("images.generations",), "black-forest-labs")
            for i in _DEEPINFRA_IDS
        ]
    elif service == "bfl":
        rows = [EmulatedModel(i, "honoured", i, ("generate",), "bfl") for i in _BFL_IDS]
    elif service == "stability":
        rows = [
            EmulatedModel(i, "honoured", i, ("generate",), "stability-ai") for i in _STABILITY_IDS
        ]
    else:
        raise ValueError(
            f"unknown service {service!r}; expected gemini, vertex, openai, bfl, stability, "
            "together or deepinfra"
        )
    return {row.id: row for row in rows}


def guess_seed_policy(model_id: str) -> SeedPolicy:
    """The seed policy a model id suggests, for rows a test adds without saying."""
    lowered = model_id.lower()
    if lowered.startswith(("gpt-image", "dall-e")):
        return "rejected"
    if lowered.startswith("flux-3"):
        return "ignored"
    if "imagen" in lowered or "flux" in lowered:
        return "honoured"
    if lowered.startswith(("sd3", "stable-image", "stable-diffusion")):
        return "honoured"
    return "ignored"


def default_methods(service: str, model_id: str) -> tuple[str, ...]:
    """The methods a model added to ``service`` answers, from its name."""
    if service in _IMAGES_SERVICES:
        return _OPENAI_METHODS
    if service in ("bfl", "stability"):
        return ("generate",)
    if service == "vertex" and "imagen" in model_id.lower():
        return ("predict",)
    return _GEMINI_METHODS
