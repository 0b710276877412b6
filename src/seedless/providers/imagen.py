"""The Imagen provider: Imagen models on Vertex AI through google-genai's ``generate_images``.

google-genai in Vertex mode (``vertexai=True``, a project and location, Application Default
Credentials or explicit ones) is Google's supported SDK for Imagen: it posts ``:predict`` with
``instances[{prompt}]`` and ``parameters``. Every Imagen model is shut down by now (the matrix
keeps their rows), so callers reach them only with ``allow_retired=True``.

:meth:`ImagenProvider.plan` builds the ``:predict`` body itself (``instances`` and camelCase
``parameters``, through one table that maps google-genai's config names onto the wire), and
records what it decides in the plan's ``chosen``:

* the watermark rule (the matrix's ``watermark = "seed_requires_off"``): Vertex ignores or
  rejects a seed while the SynthID watermark is on, so a seed with no watermark setting sends
  ``addWatermark: false`` (validation refused a seed with ``add_watermark=True``);
* the prompt-rewriting rule, likewise (the matrix's ``seed_requires_off``): the seed does not
  hold while Vertex rewrites the prompt (``enhancePrompt``, on by default for the Imagen
  generate models), so a seed sends ``enhancePrompt: false`` unless the caller set it;
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
from typing import TYPE_CHECKING, Any

from ..errors import (
    ContentBlockedError,
    NoImageError,
    RequestError,
    SeedlessDeprecationWarning,
    UnsupportedCapabilityError,
)
from ._genai import GenaiClient, genai_wire, import_genai, translate_error
from .base import ProviderReply, RawImage, WireRequest

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["ImagenProvider"]

#: google-genai's GenerateImagesConfig names -> where they go in the ``:predict`` body (as
#: google-genai 3.6.1 maps them): one table for planning and for handing the plan to the SDK.
_PARAMETERS: dict[str, tuple[str, ...]] = {
    "number_of_images": ("parameters", "sampleCount"),
    "seed": ("parameters", "seed"),
    "add_watermark": ("parameters", "addWatermark"),
    "aspect_ratio": ("parameters", "aspectRatio"),
    "image_size": ("parameters", "sampleImageSize"),
    "negative_prompt": ("parameters", "negativePrompt"),
    "guidance_scale": ("parameters", "guidanceScale"),
    "safety_filter_level": ("parameters", "safetySetting"),
    "person_generation": ("parameters", "personGeneration"),
    "include_safety_attributes": ("parameters", "includeSafetyAttributes"),
    "include_rai_reason": ("parameters", "includeRaiReason"),
    "language": ("parameters", "language"),
    "output_mime_type": ("parameters", "outputOptions", "mimeType"),
    "output_compression_quality": ("parameters", "outputOptions", "compressionQuality"),
    "enhance_prompt": ("parameters", "enhancePrompt"),
    "labels": ("labels",),
}
#: Options whose values are enum names, written in the enum's own case.
_ENUM_OPTIONS = ("person_generation", "safety_filter_level", "language")

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
    """Imagen generate models on Vertex AI (one ``:predict`` call per wire call)."""

    def __init__(self, endpoint: Endpoint, *, client: GenaiClient | None = None) -> None:
        import_genai("vertex")
        self.endpoint = endpoint
        self._owns_client = client is None
        self._client = client if client is not None else GenaiClient(endpoint, vertex=True)

    # ------------------------------------------------------------------ planning (no I/O)

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The ``:predict`` request as it travels, checked by google-genai's own types."""
        if request.operation != "generate":
            raise UnsupportedCapabilityError(
                f"{spec.key}: seedless drives Imagen for text-to-image only; edit with a Gemini "
                "image model (e.g. vertex:gemini-nano-banana-2.1) or local:pillow.",
                model=spec.key,
                capability="edit",
            )
        chosen: dict[str, Any] = {}
        config = {**request.options, "number_of_images": request.n}
        for name in _ENUM_OPTIONS:
            if name in config:
                config[name] = _enum_value(name, config[name], spec)
        if request.seed is not None:
            config["seed"] = request.seed
            if spec.watermark == "seed_requires_off" and request.add_watermark is None:
                chosen["add_watermark"] = False
            for name in spec.seed_requires_off:  # on by default, off with a seed
                if name not in config:
                    chosen[name] = False
        if request.add_watermark is not None:
            config["add_watermark"] = request.add_watermark
        if request.aspect_ratio is not None:
            config["aspect_ratio"] = request.aspect_ratio
        # sampleImageSize only where the model has a choice: one-size models reject the field.
        if request.size is not None and (spec.sizes is None or len(spec.sizes) > 1):
            config["image_size"] = request.size
        if request.negative_prompt:
            config["negative_prompt"] = request.negative_prompt
        if request.output_mime_type is not None:
            config["output_mime_type"] = request.output_mime_type
        if "include_rai_reason" not in config:
            chosen["include_rai_reason"] = True
        config.update(chosen)
        body: dict[str, Any] = {"instances": [{"prompt": request.prompt}]}
        for name, value in config.items():
            if name not in _PARAMETERS:
                raise RequestError(
                    f"{spec.key}: seedless does not know where option {name!r} goes in Imagen's "
                    f":predict request; it knows {', '.join(sorted(_PARAMETERS))}."
                )
            _put(body, _PARAMETERS[name], value)
        model = self.endpoint.wire_model(spec.id)
        return genai_wire(
            self.endpoint,
            spec,
            vertex=True,
            method="predict",
            body=body,
            chosen=chosen,
            extensions={"sdk": _sdk_call(model, request.prompt, config, spec)},
            shape="predict",
        )

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned ``:predict`` request and read its images."""
        client = self._client.get()
        try:
            response = await _start(client.aio.models, wire.extensions["sdk"])
        except Exception as exc:
            raise translate_error(exc, provider=self.endpoint.name, model=spec.key) from exc
        return read_response(response, spec, provider=self.endpoint.name)

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Plan and send in one go."""
        return await self.send(self.plan(request, spec), spec)

    async def aclose(self) -> None:
        """Close the SDK client, unless it is shared and owned by someone else."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"<ImagenProvider endpoint={self.endpoint.name!r}>"


def _put(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = body
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _sdk_call(
    model: str, prompt: str | None, config: dict[str, Any], spec: ModelSpec
) -> dict[str, Any]:
    """google-genai's ``generate_images`` keywords for a planned config, validated by its own
    ``GenerateImagesConfig`` (a bad value is a RequestError, raised while planning)."""
    types = import_genai().types
    try:
        return {"model": model, "prompt": prompt, "config": types.GenerateImagesConfig(**config)}
    except ValueError as exc:
        raise RequestError(f"{spec.key}: invalid option value: {exc}") from exc


def _enum_value(option: str, value: Any, spec: ModelSpec) -> str:
    """The value of an enum option written as the matrix lists it (validation has checked it
    without regard to case)."""
    text = str(getattr(value, "value", value))
    allowed = spec.accepted_options().get(option)
    for choice in (allowed.values or ()) if allowed is not None else ():
        if str(choice).lower() == text.lower():
            return str(choice)
    return text


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
