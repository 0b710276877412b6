"""The Imagen provider: Imagen models on Vertex AI through google-genai's ``generate_images``.

google-genai in Vertex mode (``vertexai=True``, a project and location, Application Default
Credentials or explicit ones) is Google's supported SDK for Imagen: it posts ``:predict`` with
``instances[{prompt}]`` and ``parameters``. Every Imagen model is shut down by now (the matrix
keeps their rows), so callers reach them only with ``allow_retired=True``.

What this module decides, and records in ``ProviderReply.sent``:

* the watermark rule: Vertex ignores or rejects a seed while the SynthID watermark is on, so a
  seed with no watermark setting sends ``addWatermark: false``; a seed with
  ``add_watermark=True`` is refused before the network;
* the prompt-rewriting rule, likewise: the seed does not hold while Vertex rewrites the prompt
  (``enhancePrompt``, on by default for the Imagen generate models), so a seed sends
  ``enhancePrompt: false`` unless the caller set it; a seed with ``enhance_prompt=True`` is
  refused;
* ``includeRaiReason: true`` unless the caller says otherwise, so that a filtered answer can
  say why (:class:`~seedless.errors.ContentBlockedError` with the RAI reason).

google-genai 3.x marks ``generate_images`` deprecated (not before 2027) and warns about it
once; this module catches that warning and shows one clear
:class:`~seedless.errors.SeedlessDeprecationWarning` per process instead.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Awaitable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..errors import (
    ContentBlockedError,
    NoImageError,
    RequestError,
    SeedlessDeprecationWarning,
    UnsupportedCapabilityError,
)
from ._genai import GenaiClient, WirePlan, import_genai, refuse_unknown_options, translate_error
from .base import ProviderReply, RawImage

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["ImagenProvider"]

#: Options Imagen accepts: name -> what it takes.
_OPTIONS: dict[str, str] = {
    "person_generation": "DONT_ALLOW|ALLOW_ADULT|ALLOW_ALL",
    "safety_filter_level": "BLOCK_LOW_AND_ABOVE|BLOCK_MEDIUM_AND_ABOVE|BLOCK_ONLY_HIGH|BLOCK_NONE",
    "guidance_scale": "number",
    "enhance_prompt": "bool",
    "include_rai_reason": "bool, default true",
    "include_safety_attributes": "bool",
    "language": "auto|en|zh|ja|ko|hi|...",
    "output_compression_quality": "int 0-100, JPEG only",
    "labels": "dict of str",
}
#: Options whose SDK type is an enum: option -> name of the enum in google.genai.types.
_ENUM_OPTIONS = {
    "person_generation": "PersonGeneration",
    "safety_filter_level": "SafetyFilterLevel",
    "language": "ImagePromptLanguage",
}

_warned = False
_warned_lock = threading.Lock()

_DEFAULT_NOTICE = (
    "google-genai marks generate_images (Imagen) deprecated, to be removed in a future major "
    "release."
)


def _surface_deprecation(sdk_message: str | None) -> None:
    """Show one SeedlessDeprecationWarning per process about Imagen through generate_images."""
    global _warned
    with _warned_lock:
        if _warned:
            return
        _warned = True
    said = f'google-genai says: "{sdk_message}"' if sdk_message else _DEFAULT_NOTICE
    warnings.warn(
        f"seedless reaches Imagen through google-genai's generate_images. {said} Imagen "
        "models are also shut down (see `seedless capabilities`); move to a Gemini image "
        "model such as vertex:gemini-nano-banana-2.1. This notice is shown once per process.",
        SeedlessDeprecationWarning,
        stacklevel=3,
    )


def _reset_warning_for_tests(shown: bool = False) -> None:
    """Forget (or pretend) that the once-per-process notice was shown."""
    global _warned
    with _warned_lock:
        _warned = shown


def _start(models: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
    """Call ``models.generate_images`` (which returns a coroutine) with its warning caught.

    The SDK warns synchronously, when the coroutine is created, so the global warnings state
    is touched only for that instant, with no ``await`` inside.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pending: Awaitable[Any] = models.generate_images(**kwargs)
    notice: str | None = None
    for item in caught:
        text = str(item.message)
        if notice is None and "deprecat" in text.lower():
            notice = text
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    _surface_deprecation(notice)
    return pending


class ImagenProvider:
    """Imagen generate models on Vertex AI (one ``:predict`` call per :meth:`call`)."""

    def __init__(self, endpoint: Endpoint, *, client: GenaiClient | None = None) -> None:
        import_genai("vertex")
        self.endpoint = endpoint
        self._owns_client = client is None
        self._client = client if client is not None else GenaiClient(endpoint, vertex=True)

    # ------------------------------------------------------------------ request building

    def build(self, request: ImageRequest, spec: ModelSpec) -> dict[str, Any]:
        """The wire request without sending it: ``{"model", "prompt", "config"}`` as the SDK's
        ``generate_images`` takes them (``config`` a ``GenerateImagesConfig``)."""
        return self._plan(request, spec).kwargs

    def _plan(self, request: ImageRequest, spec: ModelSpec) -> WirePlan:
        types = import_genai().types
        if request.operation != "generate":
            raise UnsupportedCapabilityError(
                f"{spec.key}: seedless drives Imagen for text-to-image only; edit with a Gemini "
                "image model (e.g. vertex:gemini-nano-banana-2.1) or local:pillow.",
                model=spec.key,
                capability="edit",
            )
        options = dict(request.options)
        refuse_unknown_options(options, _OPTIONS, model=spec.key)
        if request.n > spec.images_per_call:
            raise RequestError(
                f"{spec.key} returns at most {spec.images_per_call} images per call; the client "
                f"splits larger requests (got n={request.n} in one call)."
            )
        sent: dict[str, Any] = {}
        config: dict[str, Any] = {"number_of_images": request.n}

        add_watermark = request.add_watermark
        if request.seed is not None:
            if add_watermark:
                raise UnsupportedCapabilityError(
                    f"{spec.key} cannot use a seed while the watermark is on (Vertex ignores or "
                    "rejects the seed). Drop add_watermark=True, or drop the seed.",
                    model=spec.key,
                    capability="watermark",
                )
            config["seed"] = request.seed
            if add_watermark is None:
                add_watermark = False
                sent["add_watermark"] = False
            if options.get("enhance_prompt"):
                raise UnsupportedCapabilityError(
                    f"{spec.key} cannot use a seed while prompt rewriting is on (Vertex rewrites "
                    "the prompt with an LLM first, so the seed no longer gives the same image). "
                    "Drop enhance_prompt=True, or drop the seed.",
                    model=spec.key,
                    capability="enhance_prompt",
                )
            if "enhance_prompt" not in options:  # on by default for the Imagen generate models
                options["enhance_prompt"] = False
                sent["enhance_prompt"] = False
        if add_watermark is not None:
            config["add_watermark"] = add_watermark
        if request.aspect_ratio is not None:
            config["aspect_ratio"] = request.aspect_ratio
        # sampleImageSize only where the model has a choice: one-size models reject the field.
        if request.size is not None and (spec.sizes is None or len(spec.sizes) > 1):
            config["image_size"] = request.size
        if request.negative_prompt:
            config["negative_prompt"] = request.negative_prompt
        if request.output_mime_type is not None:
            config["output_mime_type"] = request.output_mime_type

        for name, enum_name in _ENUM_OPTIONS.items():
            if name in options:
                options[name] = _enum_value(getattr(types, enum_name), options[name], name, spec)
        if "include_rai_reason" not in options:
            options["include_rai_reason"] = True
            sent["include_rai_reason"] = True
        config.update(options)
        try:
            generate_config = types.GenerateImagesConfig(**config)
        except ValueError as exc:
            raise RequestError(f"{spec.key}: invalid option value: {exc}") from exc
        return WirePlan(
            {
                "model": self.endpoint.wire_model(spec.id),
                "prompt": request.prompt,
                "config": generate_config,
            },
            sent,
        )

    # ------------------------------------------------------------------ the call

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Send one ``:predict`` request and read its images."""
        plan = self._plan(request, spec)
        client = self._client.get()
        try:
            response = await _start(client.aio.models, plan.kwargs)
        except Exception as exc:
            raise translate_error(exc, provider=self.endpoint.name, model=spec.key) from exc
        reply = read_response(response, spec, provider=self.endpoint.name)
        reply.sent = plan.sent
        return reply

    async def aclose(self) -> None:
        """Close the SDK client, unless it is shared and owned by someone else."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"<ImagenProvider endpoint={self.endpoint.name!r}>"


def _enum_value(enum: type[Enum], value: Any, option: str, spec: ModelSpec) -> str:
    """The enum value matching ``value`` (any case), or a RequestError listing the choices."""
    text = str(getattr(value, "value", value))
    for member in enum:
        if str(member.value).lower() == text.lower():
            return str(member.value)
    choices = ", ".join(str(m.value) for m in enum if not str(m.value).endswith("UNSPECIFIED"))
    raise RequestError(f"{spec.key}: option {option} takes one of {choices}; not {text!r}.")


def read_response(response: Any, spec: ModelSpec, *, provider: str) -> ProviderReply:
    """Images from a GenerateImagesResponse; an all-filtered or empty answer raises."""
    images: list[RawImage] = []
    filtered: list[str] = []
    enhanced: list[str] = []
    for generated in getattr(response, "generated_images", None) or []:
        image = generated.image
        if image is not None and image.image_bytes:
            mime_type = image.mime_type or "image/png"
            images.append(RawImage(data=image.image_bytes, mime_type=mime_type))
            if generated.enhanced_prompt:
                enhanced.append(generated.enhanced_prompt)
        elif generated.rai_filtered_reason:
            filtered.append(generated.rai_filtered_reason)
    if not images and filtered:
        raise ContentBlockedError(
            f"{spec.key}: Vertex's Responsible AI filter removed every image: {filtered[0]}",
            reason=filtered[0],
            provider=provider,
        )
    if not images:
        raise NoImageError(
            f"{spec.key} answered without images and without a filter reason (a silent "
            "Responsible AI filter, if include_rai_reason was turned off). Try another prompt "
            "or seed.",
            provider=provider,
        )
    notes = [f"Prompt as rewritten by the service: {enhanced[0]}"] if enhanced else []
    if filtered:
        notes.append(f"{len(filtered)} image(s) were filtered out: {filtered[0]}")
    return ProviderReply(images=images, text="\n".join(notes) or None)
