"""The Gemini provider: Gemini image models ("Nano Banana") via google-genai's generateContent.

Serves provider ``gemini`` (the Gemini API, or any relay that speaks its protocol at another
base URL) and, through :class:`~seedless.providers.vertex.VertexProvider`, Gemini models on
Vertex AI (the same SDK in Vertex mode). One call sends one request and returns one image:
the client splits ``n`` into concurrent calls, validates against the matrix (a seed is refused
unless the caller chose ``seed_policy="best_effort"``), retries and prices.

The request: the instruction as a text part, then every input image as an inline image part,
in the caller's order (source first, then references such as an approved before/after pair);
``generationConfig.responseModalities`` ``["IMAGE"]`` (``["TEXT", "IMAGE"]`` for the models
that need text too); ``imageConfig`` with the aspect ratio, and ``imageSize`` when the model
offers a choice of sizes. The answer: image parts become images, text parts the model's
commentary, thought parts are skipped. A blocked prompt or image raises
:class:`~seedless.errors.ContentBlockedError`; an answer without an image raises
:class:`~seedless.errors.NoImageError` carrying the model's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ContentBlockedError, NoImageError, RequestError, UnsupportedCapabilityError
from ._genai import GenaiClient, WirePlan, import_genai, refuse_unknown_options, translate_error
from .base import ProviderReply, RawImage

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["BLOCKED_FINISH_REASONS", "GeminiProvider"]

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

#: Model id prefixes that answer 400 to responseModalities ["IMAGE"] alone.
_NEEDS_TEXT_MODALITY = ("gemini-2.0-flash",)

_THINKING_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH")

#: Options every Gemini endpoint accepts: name -> what it takes.
_OPTIONS: dict[str, str] = {
    "response_modalities": 'list of "IMAGE"/"TEXT"',
    "temperature": "number",
    "thinking_level": "|".join(_THINKING_LEVELS),
    "include_thoughts": "bool",
    "system_instruction": "text",
    "safety_settings": "list of {category, threshold}",
}
#: Options only Vertex accepts (google-genai refuses them in Gemini API mode).
_VERTEX_OPTIONS: dict[str, str] = {
    "person_generation": "ALLOW_ALL|ALLOW_ADULT|ALLOW_NONE",
    "prominent_people": "ALLOW_PROMINENT_PEOPLE|BLOCK_PROMINENT_PEOPLE",
    "output_compression_quality": "int 0-100, JPEG only",
    "labels": "dict of str",
}


class GeminiProvider:
    """Gemini image models over google-genai (Gemini API mode, or Vertex mode for ``vertex``)."""

    def __init__(self, endpoint: Endpoint, *, client: GenaiClient | None = None) -> None:
        import_genai("vertex" if endpoint.protocol == "vertex" else "gemini")
        self.endpoint = endpoint
        self.vertex = endpoint.protocol == "vertex"
        self._owns_client = client is None
        self._client = client if client is not None else GenaiClient(endpoint, vertex=self.vertex)

    # ------------------------------------------------------------------ request building

    def build(self, request: ImageRequest, spec: ModelSpec) -> dict[str, Any]:
        """The wire request without sending it: ``{"model", "contents", "config"}`` as the
        SDK's ``generate_content`` takes them (``config`` a ``GenerateContentConfig``)."""
        return self._plan(request, spec).kwargs

    def _plan(self, request: ImageRequest, spec: ModelSpec) -> WirePlan:
        types = import_genai().types
        options = dict(request.options)
        accepted = dict(_OPTIONS, **(_VERTEX_OPTIONS if self.vertex else {}))
        if not self.vertex:
            vertex_only = sorted(set(options) & set(_VERTEX_OPTIONS))
            if vertex_only:
                raise RequestError(
                    f"{spec.key}: option(s) {', '.join(map(repr, vertex_only))} are accepted on "
                    "Vertex AI only (google-genai refuses them on the Gemini API). Use the "
                    f"'vertex:{spec.id}' model, or drop them."
                )
        refuse_unknown_options(options, accepted, model=spec.key)
        sent: dict[str, Any] = {}

        modalities = options.pop("response_modalities", None)
        if modalities is None:
            needs_text = spec.id.startswith(_NEEDS_TEXT_MODALITY)
            modalities = ["TEXT", "IMAGE"] if needs_text else ["IMAGE"]
            sent["response_modalities"] = modalities
        modalities = _modalities(modalities, spec)

        image_config: dict[str, Any] = {}
        if request.aspect_ratio is not None:
            image_config["aspect_ratio"] = request.aspect_ratio
        if request.size is not None and (spec.sizes is None or len(spec.sizes) > 1):
            image_config["image_size"] = request.size
        if request.output_mime_type is not None:
            if not self.vertex:
                raise UnsupportedCapabilityError(
                    f"{spec.key} cannot choose its output format on the Gemini API (the "
                    "service picks it; google-genai refuses output_mime_type there). Drop "
                    f"output_mime_type, or use 'vertex:{spec.id}'.",
                    model=spec.key,
                    capability="output_mime_type",
                )
            image_config["output_mime_type"] = request.output_mime_type
        for name in ("person_generation", "prominent_people", "output_compression_quality"):
            if name in options:
                image_config[name] = options.pop(name)

        config: dict[str, Any] = {"response_modalities": modalities}
        if image_config:
            config["image_config"] = image_config
        if request.seed is not None:
            config["seed"] = request.seed
        thinking: dict[str, Any] = {}
        if "thinking_level" in options:
            level = str(options.pop("thinking_level")).upper()
            if level not in _THINKING_LEVELS:
                raise RequestError(
                    f"{spec.key}: thinking_level must be one of {', '.join(_THINKING_LEVELS)}, "
                    f"not {level!r}."
                )
            thinking["thinking_level"] = level
        if "include_thoughts" in options:
            thinking["include_thoughts"] = bool(options.pop("include_thoughts"))
        if thinking:
            config["thinking_config"] = thinking
        for name in ("temperature", "system_instruction", "safety_settings", "labels"):
            if name in options:
                config[name] = options.pop(name)
        try:  # pydantic validates the nested dicts into ImageConfig / ThinkingConfig
            generation_config = types.GenerateContentConfig.model_validate(config)
        except ValueError as exc:
            raise RequestError(f"{spec.key}: invalid option value: {exc}") from exc

        parts = [types.Part(text=_instruction(request, spec, sent))]
        for image in getattr(request, "images", ()):
            parts.append(
                types.Part(inline_data=types.Blob(mime_type=image.mime_type, data=image.data))
            )
        contents = [types.Content(role="user", parts=parts)]
        model = self.endpoint.wire_model(spec.id)
        if model != spec.id:
            sent["model"] = model
        return WirePlan({"model": model, "contents": contents, "config": generation_config}, sent)

    # ------------------------------------------------------------------ the call

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Send one generateContent request and read its image (one wire call)."""
        plan = self._plan(request, spec)
        client = self._client.get()
        try:
            response = await client.aio.models.generate_content(**plan.kwargs)
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
        mode = "vertex" if self.vertex else "gemini"
        return f"<GeminiProvider {mode} endpoint={self.endpoint.name!r}>"


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


def _instruction(request: ImageRequest, spec: ModelSpec, sent: dict[str, Any]) -> str:
    """The text part: the prompt, or for an edit without one, the effect described in words."""
    prompt = request.prompt
    if prompt:
        return prompt
    effect = getattr(request, "effect", None)
    describe = getattr(effect, "describe", None)
    if callable(describe):
        text = str(describe())
        sent["prompt_from_effect"] = text
        return text
    raise RequestError(
        f"{spec.key} edits by instruction: pass a prompt (for example 'make it slightly "
        "darker'), or an effect it can describe in words."
    )


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
