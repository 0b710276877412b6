"""The Gemini provider: Gemini image models ("Nano Banana") via google-genai's generateContent.

Serves provider ``gemini`` (the Gemini API, or any relay that speaks its protocol at another
base URL) and, through :class:`~seedless.providers.vertex.VertexProvider`, Gemini models on
Vertex AI (the same SDK in Vertex mode). One call sends one request and returns one image:
the client splits ``n`` into concurrent calls, validates against the matrix (a seed is refused
unless the caller chose ``seed_policy="best_effort"``), retries and prices.

:meth:`GeminiProvider.plan` builds the REST body itself (camelCase, as the wire wants it, and
as a provider batch file or the API's definition needs it): the instruction as a text part,
then every input image as an inline image part, in the caller's order (source first, then
references such as an approved before/after pair); ``generationConfig.responseModalities``
from the matrix row (``["IMAGE"]``); ``imageConfig`` with the aspect ratio, and ``imageSize``
when the model offers a choice of sizes. google-genai's own types then check that body while
planning, and :meth:`~GeminiProvider.send` hands them to the SDK. The answer: image parts
become images, text parts the model's commentary, thought parts are skipped. A blocked prompt
or image raises :class:`~seedless.errors.ContentBlockedError`; an answer without an image
raises :class:`~seedless.errors.NoImageError` carrying the model's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ContentBlockedError, NoImageError, RequestError
from ._genai import GenaiClient, genai_wire, import_genai, translate_error
from .base import ProviderReply, RawImage, WireRequest

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["BLOCKED_FINISH_REASONS", "GeminiProvider", "sdk_call"]

#: finishReason values that mean a safety or policy filter stopped the answer.
BLOCKED_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)

#: Options that go into ``imageConfig`` (Vertex only: the matrix's Gemini API rows lack them).
_IMAGE_CONFIG = {"person_generation": "personGeneration", "prominent_people": "prominentPeople"}
#: Options that go into ``thinkingConfig``.
_THINKING = {"thinking_level": "thinkingLevel", "include_thoughts": "includeThoughts"}
#: Top-level fields of the REST body that google-genai takes inside its config object.
_TOP_LEVEL = ("systemInstruction", "safetySettings", "labels")


class GeminiProvider:
    """Gemini image models over google-genai (Gemini API mode, or Vertex mode for ``vertex``)."""

    def __init__(self, endpoint: Endpoint, *, client: GenaiClient | None = None) -> None:
        import_genai("vertex" if endpoint.protocol == "vertex" else "gemini")
        self.endpoint = endpoint
        self.vertex = endpoint.protocol == "vertex"
        self._owns_client = client is None
        self._client = client if client is not None else GenaiClient(endpoint, vertex=self.vertex)

    # ------------------------------------------------------------------ planning (no I/O)

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The generateContent request as it travels (camelCase REST body, images inline),
        checked by google-genai's own types before anything is sent."""
        options = dict(request.options)
        chosen: dict[str, Any] = {}
        modalities = options.pop("response_modalities", None)
        if modalities is None:
            modalities = list(spec.response_modalities or ("IMAGE",))
            chosen["response_modalities"] = modalities
        generation: dict[str, Any] = {"responseModalities": _modalities(modalities, spec)}
        image_config = self._image_config(request, spec, options)
        if image_config:
            generation["imageConfig"] = image_config
        if request.seed is not None:
            generation["seed"] = request.seed
        if "temperature" in options:
            generation["temperature"] = options.pop("temperature")
        thinking = {wire: options.pop(name) for name, wire in _THINKING.items() if name in options}
        if "thinkingLevel" in thinking:
            thinking["thinkingLevel"] = str(thinking["thinkingLevel"]).upper()
        if thinking:
            generation["thinkingConfig"] = thinking
        parts: list[dict[str, Any]] = [{"text": _instruction(request, chosen)}]
        parts += [
            {"inlineData": {"mimeType": image.mime_type, "data": image.data}}
            for image in getattr(request, "images", ())
        ]
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}]}
        body["generationConfig"] = generation
        if "system_instruction" in options:
            body["systemInstruction"] = {"parts": [{"text": options.pop("system_instruction")}]}
        if "safety_settings" in options:
            body["safetySettings"] = options.pop("safety_settings")
        if "labels" in options:
            body["labels"] = options.pop("labels")
        model = self.endpoint.wire_model(spec.id)
        if model != spec.id:
            chosen["model"] = model
        return genai_wire(
            self.endpoint,
            spec,
            vertex=self.vertex,
            method="generateContent",
            body=body,
            chosen=chosen,
            extensions={"sdk": sdk_call(model, body, spec)},
            shape="generate_content",
        )

    def _image_config(
        self, request: ImageRequest, spec: ModelSpec, options: dict[str, Any]
    ) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if request.aspect_ratio is not None:
            config["aspectRatio"] = request.aspect_ratio
        if request.size is not None and (spec.sizes is None or len(spec.sizes) > 1):
            config["imageSize"] = request.size
        for name, wire in _IMAGE_CONFIG.items():
            if name in options:
                config[wire] = options.pop(name)
        output: dict[str, Any] = {}
        if request.output_mime_type is not None:
            output["mimeType"] = request.output_mime_type
        if "output_compression_quality" in options:
            output["compressionQuality"] = options.pop("output_compression_quality")
        if output:
            config["imageOutputOptions"] = output
        return config

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned generateContent request and read its image (one wire call)."""
        client = self._client.get()
        try:
            response = await client.aio.models.generate_content(**wire.extensions["sdk"])
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
        mode = "vertex" if self.vertex else "gemini"
        return f"<GeminiProvider {mode} endpoint={self.endpoint.name!r}>"


def sdk_call(model: str, body: Mapping[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """google-genai's ``generate_content`` keywords for a REST body: the SDK's own pydantic
    types validate it (a bad value is a RequestError, raised while planning)."""
    types = import_genai().types
    config = dict(body.get("generationConfig", {}))
    config.update({key: body[key] for key in _TOP_LEVEL if key in body})
    if "imageOutputOptions" in config.get("imageConfig", {}):
        # google-genai passes an ImageConfig.image_output_options object on with snake_case
        # keys, so the output options go in through its flat fields, which it maps itself.
        image_config = dict(config["imageConfig"])
        output = image_config.pop("imageOutputOptions")
        for wire, flat in (
            ("mimeType", "outputMimeType"),
            ("compressionQuality", "outputCompressionQuality"),
        ):
            if wire in output:
                image_config[flat] = output[wire]
        config["imageConfig"] = image_config
    try:
        return {
            "model": model,
            "contents": [types.Content.model_validate(item) for item in body["contents"]],
            "config": types.GenerateContentConfig.model_validate(config),
        }
    except ValueError as exc:
        raise RequestError(f"{spec.key}: invalid option value: {exc}") from exc


def _modalities(value: Any, spec: ModelSpec) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        value = [value]
    names = [str(item).upper() for item in value]
    if "IMAGE" not in names or not set(names) <= {"IMAGE", "TEXT"}:
        raise RequestError(
            f'{spec.key}: response_modalities must include "IMAGE" and may add "TEXT"; got '
            f"{list(value)!r}."
        )
    return names


def _instruction(request: ImageRequest, chosen: dict[str, Any]) -> str:
    """The text part: the prompt, or for an edit without one, the effect described in words
    (validation has refused an edit with neither)."""
    if request.prompt:
        return request.prompt
    text = str(request.effect.describe())  # type: ignore[union-attr]
    chosen["prompt_from_effect"] = text
    return text


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def read_response(response: Any, spec: ModelSpec, *, provider: str) -> ProviderReply:
    """Images, commentary and token usage from a GenerateContentResponse; blocks and
    image-less answers raise."""
    usage = _usage(response)
    feedback = getattr(response, "prompt_feedback", None)
    block_reason = _enum_name(getattr(feedback, "block_reason", None))
    if block_reason and block_reason != "BLOCKED_REASON_UNSPECIFIED":
        detail = getattr(feedback, "block_reason_message", None)
        raise ContentBlockedError(
            f"{spec.key} blocked the prompt ({block_reason})"
            f"{': ' + detail if detail else ''}. Rephrase the prompt or change the input "
            "images; nothing was generated.",
            reason=block_reason,
            provider=provider,
        )
    images: list[RawImage] = []
    texts: list[str] = []
    finish: list[str] = []
    for candidate in getattr(response, "candidates", None) or []:
        reason = _enum_name(candidate.finish_reason)
        if reason:
            finish.append(reason)
        content = candidate.content
        for part in (content.parts if content is not None else None) or []:
            if part.thought:
                continue
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("image/"):
                images.append(RawImage(data=blob.data, mime_type=blob.mime_type or "image/png"))
            elif part.text:
                texts.append(part.text)
    text = "\n".join(texts) if texts else None
    if images:
        return ProviderReply(images=images, text=text, usage=usage)
    said = f' It said: "{_shorten(text)}".' if text else ""
    blocked = [reason for reason in finish if reason in BLOCKED_FINISH_REASONS]
    if blocked:
        raise ContentBlockedError(
            f"{spec.key} blocked the image ({blocked[0]}).{said} Rephrase the prompt or change "
            "the input images; nothing was generated.",
            reason=blocked[0],
            provider=provider,
        )
    why = f" (finishReason {', '.join(finish)})" if finish else ""
    raise NoImageError(
        f"{spec.key} answered without an image{why}.{said} Ask again, or make the prompt say "
        "plainly that an image is wanted.",
        text=text,
        provider=provider,
    )


def _shorten(text: str | None, limit: int = 300) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _usage(response: Any) -> dict[str, Any]:
    """usageMetadata as plain JSON (snake_case keys), empty when the answer has none."""
    metadata = getattr(response, "usage_metadata", None)
    if metadata is None:
        return {}
    dumped = metadata.model_dump(mode="json", exclude_none=True)
    return dict(dumped) if isinstance(dumped, Mapping) else {}
