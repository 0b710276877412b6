"""What the emulated Gemini API and Vertex AI share: google.rpc.Status errors, generateContent.

Error bodies follow ``google.rpc.Status`` as Google's JSON APIs send it::

    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "details": [...]}}

which google-genai's ``errors.APIError`` reads (``code``, ``status``, ``message``). A
``Retry-After`` header and a ``google.rpc.RetryInfo`` detail go with scripted retry delays.

``generateContent`` reads ``contents[].parts[]`` (``text`` and ``inlineData``) and
``generationConfig`` (``responseModalities``, ``imageConfig.aspectRatio``,
``imageConfig.imageSize``, ``seed``, ``candidateCount``), refuses names the called API
version does not define (:mod:`._surfaces`, mirroring the providers' definitions), and answers with
``candidates[].content.parts[]``, ``finishReason``, ``usageMetadata``, and
``promptFeedback`` when the prompt is blocked. The first input image is the one edited (the
others are references), as seedless sends them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, ClassVar, TypeVar

from PIL import Image

from ._catalog import EmulatedModel
from ._faults import Fault
from ._images import (
    SIZE_CLASSES,
    decode,
    encode,
    fit,
    fresh_rng,
    parse_ratio,
    ratio_size,
    render,
    seeded_rng,
)
from ._server import Incoming, Reply, ServiceEmulator, format_seconds, json_reply
from ._surfaces import Surface

__all__ = [
    "ASPECT_RATIOS",
    "GoogleService",
    "generate_content",
    "page",
    "page_reply",
    "status_reply",
]

T = TypeVar("T")

#: HTTP status -> google.rpc.Code name, as Google's JSON APIs pair them.
GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: Aspect ratios the Gemini image models accept (the 1:4 ... 8:1 ones on the newer models).
ASPECT_RATIOS = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
    | {"1:4", "4:1", "1:8", "8:1"}
)
_IMAGE_TOKENS = {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}
_LEGACY_IMAGE_TOKENS = 1290  # gemini-2.5-flash-image, any size
_INPUT_IMAGE_TOKENS = 258
_INPUT_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
_MODALITIES = frozenset({"TEXT", "IMAGE", "AUDIO"})
_TROUBLESHOOTING = "https://developers.generativeai.google/guide/troubleshooting"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def status_reply(
    code: int,
    message: str,
    *,
    retry_after: float | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Reply:
    """A google.rpc.Status error answer (``Retry-After`` and ``RetryInfo`` when given)."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": GOOGLE_STATUS.get(code, "UNKNOWN"),
    }
    all_details = list(details or [])
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = format_seconds(retry_after)
        all_details.append(
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{format_seconds(retry_after)}s",
            }
        )
    if all_details:
        error["details"] = all_details
    return json_reply(code, {"error": error}, headers, indent=2)


class GoogleService(ServiceEmulator):
    """A service answering with google.rpc.Status errors."""

    default_messages: ClassVar[dict[int, str]] = {}

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        details: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> Reply:
        text = message or self.default_messages.get(status) or _generic_message(status)
        return status_reply(status, text, retry_after=retry_after, details=details)

    def serve_generate(
        self, incoming: Incoming, model: EmulatedModel, method: str, *, vertex: bool,
        surface: Surface,
    ) -> Reply:  # fmt: skip
        """A ``generateContent`` (or ``streamGenerateContent``: SSE for ``?alt=sse``, else a
        JSON array) call on ``model``, after its scripted fault is taken."""
        fault = self.take_fault(model.id)
        stream = None
        if method == "streamGenerateContent":
            stream = "sse" if incoming.query.get("alt") == "sse" else "json"
        return generate_content(
            self, model, incoming.json_ok, incoming.json_body, fault, vertex=vertex,
            surface=surface, stream=stream,
        )  # fmt: skip

    def too_large(self) -> Reply:
        limit = self.max_body_bytes
        return self.error(400, f"Request payload size exceeds the limit: {limit} bytes.")

    def read_json(self, body_ok: bool, body: Any) -> dict[str, Any]:
        """The request body as a JSON object, or the 400 Google's JSON parser answers."""
        if not body_ok:
            raise self.refuse(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            raise self.refuse(
                400,
                'Invalid JSON payload received. Unknown name "": Root element must be a message.',
            )
        return body

    def fields(self, value: Any, known: frozenset[str], where: str) -> dict[str, Any]:
        """``value`` as an object with camelCase keys; 400 for unknown names, like proto JSON."""
        if not isinstance(value, dict):
            raise self.refuse(400, f"Invalid value at '{where}', expected an object.")
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _camel(key)
            if name not in known:
                at = f" at '{where}'" if where else ""
                raise self.refuse(
                    400,
                    f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.',
                )
            out[name] = item
        return out


def _generic_message(status: int) -> str:
    return {
        400: "Request contains an invalid argument.",
        401: "Request is missing required authentication credential.",
        403: "The caller does not have permission.",
        404: "Requested entity was not found.",
        409: "The operation was aborted.",
        413: "Request payload size exceeds the limit.",
        429: "Resource has been exhausted (e.g. check quota).",
        500: "Internal error encountered.",
        501: "Operation is not implemented, or supported, or enabled.",
        502: "Bad gateway.",
        503: "The service is currently unavailable.",
        504: "Deadline expired before operation could complete.",
    }.get(status, "Unknown error.")


@dataclass
class _Request:
    instruction: str
    images: list[tuple[str, bytes]]
    modalities: list[str] | None
    aspect: str | None
    size_class: str
    candidates: int
    seed: int | None
    output_mime: str
    text_tokens: int


def _read_request(service: GoogleService, body: dict[str, Any], surface: Surface) -> _Request:
    top = service.fields(body, surface.request, "")
    texts, images = _read_contents(service, top.get("contents"), surface)
    config = service.fields(
        top.get("generationConfig", {}), surface.generation, "generation_config"
    )
    image_config = service.fields(
        config.get("imageConfig", {}), surface.image, "generation_config.image_config"
    )
    _read_thinking(service, config.get("thinkingConfig"), surface)
    modalities = _read_modalities(service, config.get("responseModalities"))
    aspect = image_config.get("aspectRatio")
    if aspect is not None and (not isinstance(aspect, str) or aspect not in ASPECT_RATIOS):
        raise service.refuse(
            400,
            f"Unsupported aspect ratio {aspect!r}. Supported values are: "
            + ", ".join(sorted(ASPECT_RATIOS, key=_ratio_key))
            + ".",
        )
    size_class = image_config.get("imageSize", "1K")
    if size_class not in SIZE_CLASSES:
        raise service.refuse(
            400, f"Unsupported image size {size_class!r}. Supported values are: 512, 1K, 2K, 4K."
        )
    candidates = config.get("candidateCount", 1)
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= 8:
        raise service.refuse(400, "Only values between 1 and 8 are supported for candidate_count.")
    seed = config.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not -(2**31) <= seed < 2**31
    ):
        raise service.refuse(400, f"Invalid value at 'generation_config.seed' (TYPE_INT32), {seed}")
    instruction = "\n".join(texts)
    return _Request(
        instruction=instruction,
        images=images,
        modalities=modalities,
        aspect=aspect,
        size_class=size_class,
        candidates=candidates,
        seed=seed,
        output_mime=_output_mime(service, image_config.get("imageOutputOptions")),
        text_tokens=max(1, len(instruction) // 4) if instruction else 0,
    )


def _read_contents(
    service: GoogleService, contents: Any, surface: Surface
) -> tuple[list[str], list[tuple[str, bytes]]]:
    """The user's texts and images of ``contents`` (its parts checked against ``surface``)."""
    if contents is None or contents == []:
        raise service.refuse(400, "* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise service.refuse(400, "Invalid value at 'contents', expected a list.")
    texts: list[str] = []
    images: list[tuple[str, bytes]] = []
    for c_index, raw_content in enumerate(contents):
        content = service.fields(raw_content, surface.content, f"contents[{c_index}]")
        parts = content.get("parts")
        if not parts or not isinstance(parts, list):
            raise service.refuse(
                400,
                f"* GenerateContentRequest.contents[{c_index}].parts: "
                "contents.parts must not be empty.\n",
            )
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise service.refuse(400, f"Please use a valid role: user, model. Got {role!r}.")
        for p_index, raw_part in enumerate(parts):
            where = f"contents[{c_index}].parts[{p_index}]"
            part = service.fields(raw_part, surface.part, where)
            if isinstance(part.get("text"), str):
                if role == "user":
                    texts.append(part["text"])
                continue
            if part.get("inlineData") is not None:
                blob = service.fields(part["inlineData"], surface.blob, f"{where}.inline_data")
                image = _read_blob(service, blob, f"{where}.inline_data")
                if role == "user":
                    images.append(image)
    return texts, images


def _read_thinking(service: GoogleService, value: Any, surface: Surface) -> None:
    """Check ``thinkingConfig``: its fields, and ``thinkingLevel`` among the version's levels."""
    if value is None:
        return
    where = "generation_config.thinking_config"
    thinking = service.fields(value, surface.thinking, where)
    level = thinking.get("thinkingLevel")
    if level is not None and level not in surface.thinking_levels:
        kind = (
            "GenerationConfig.ThinkingConfig" if "aiplatform" in surface.name else "ThinkingConfig"
        )
        raise service.refuse(
            400,
            f"Invalid value at '{where}.thinking_level' "
            f'(type.googleapis.com/{surface.package}.{kind}.ThinkingLevel), "{level}"',
        )


def _output_mime(service: GoogleService, options: Any) -> str:
    """The MIME type ``imageConfig.imageOutputOptions`` asks for (Vertex only), else PNG."""
    if isinstance(options, dict) and options.get("mimeType") is not None:
        mime = str(options["mimeType"]).lower()
        if mime not in ("image/png", "image/jpeg"):
            raise service.refuse(400, f"Unsupported output MIME type: {mime}.")
        return mime
    return "image/png"


def _ratio_key(ratio: str) -> tuple[int, int]:
    parsed = parse_ratio(ratio) or (0, 0)
    return parsed


def _read_blob(service: GoogleService, blob: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(blob, dict):
        raise service.refuse(400, f"Invalid value at '{where}'.")
    mime = str(blob.get("mimeType", "")).lower()
    data = blob.get("data")
    if not isinstance(data, str):
        raise service.refuse(400, f"* GenerateContentRequest.{where}.data: data is required.\n")
    try:
        raw = base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise service.refuse(
            400,
            f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed for "
            f'"{data[:32]}"',
        ) from None
    if mime.startswith("image/") and mime not in _INPUT_TYPES:
        raise service.refuse(400, f"Unsupported MIME type: {mime}")
    return mime, raw


def _read_modalities(service: GoogleService, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise service.refuse(400, "Invalid value at 'generation_config.response_modalities'.")
    modalities = []
    for index, item in enumerate(value):
        name = item.upper() if isinstance(item, str) else item
        if name not in _MODALITIES:
            raise service.refuse(
                400,
                f"Invalid value at 'generation_config.response_modalities[{index}]' "
                "(type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig."
                f'Modality), "{item}"',
            )
        modalities.append(str(name))
    return modalities


def generate_content(
    service: GoogleService,
    model: EmulatedModel,
    body_ok: bool,
    body: Any,
    fault: Fault | None,
    *,
    vertex: bool,
    surface: Surface,
    stream: str | None = None,
) -> Reply:
    """Answer a generateContent call (``stream``: None, ``"sse"`` or ``"json"``), its body
    checked against ``surface`` (the fields of the API version called)."""
    request = _read_request(service, service.read_json(body_ok, body), surface)
    prompt_tokens = request.text_tokens + _INPUT_IMAGE_TOKENS * len(request.images)
    envelope: dict[str, Any] = {}
    if fault is not None and fault.kind == "block" and fault.prompt_stage:
        envelope["promptFeedback"] = {"blockReason": fault.reason or "PROHIBITED_CONTENT"}
        usage = _usage(prompt_tokens, request, 0, vertex)
    elif fault is not None and fault.kind == "block":
        envelope["candidates"] = [
            {"finishReason": fault.reason or "IMAGE_SAFETY", "index": index}
            for index in range(request.candidates)
        ]
        usage = _usage(prompt_tokens, request, 0, vertex)
    else:
        text_only = fault is not None and fault.kind == "no_image"
        candidates, output_tokens = _candidates(service, model, request, fault, text_only)
        envelope["candidates"] = candidates
        usage = _usage(prompt_tokens, request, output_tokens, vertex)
    envelope["usageMetadata"] = usage
    envelope["modelVersion"] = model.id
    if vertex:
        envelope["createTime"] = (
            datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        )
    envelope["responseId"] = secrets.token_urlsafe(16)
    reply = _encode_answer(envelope, stream)
    reply.truncate = fault is not None and fault.kind == "truncate"
    return reply


def _encode_answer(envelope: dict[str, Any], stream: str | None) -> Reply:
    if stream == "sse":
        data = b"data: " + json.dumps(envelope).encode() + b"\r\n\r\n"
        return Reply(200, data, content_type="text/event-stream")
    if stream == "json":
        return json_reply(200, [envelope])
    return json_reply(200, envelope)


def _usage(prompt: int, request: _Request, output: int, vertex: bool) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if output:
        usage["candidatesTokenCount"] = output
    usage["totalTokenCount"] = prompt + output
    details = [{"modality": "TEXT", "tokenCount": request.text_tokens}]
    if request.images:
        details.append({"modality": "IMAGE", "tokenCount": prompt - request.text_tokens})
    usage["promptTokensDetails"] = details
    if vertex:
        usage["trafficType"] = "ON_DEMAND"
    return usage


def _candidates(
    service: GoogleService,
    model: EmulatedModel,
    request: _Request,
    fault: Fault | None,
    text_only: bool,
) -> tuple[list[dict[str, Any]], int]:
    wants_image = request.modalities is None or "IMAGE" in request.modalities
    wants_text = request.modalities is None or "TEXT" in request.modalities
    image_tokens = (
        _LEGACY_IMAGE_TOKENS
        if model.id.startswith("gemini-2.5")
        else _IMAGE_TOKENS[request.size_class]
    )
    source = _edit_source(service, request)
    candidates: list[dict[str, Any]] = []
    output_tokens = 0
    for index in range(request.candidates):
        parts: list[dict[str, Any]] = []
        if text_only or not wants_image:
            text = (fault.text if fault and fault.text else None) or (
                "I can't create that image, but here is a description of it instead."
            )
            parts.append({"text": text})
            output_tokens += max(1, len(text) // 4)
        else:
            if wants_text:
                caption = "Here is the edited image." if source else "Here is the image."
                parts.append({"text": caption})
                output_tokens += len(caption) // 4
            picture = _picture(service, model, request, source, index)
            data = base64.b64encode(encode(picture, request.output_mime)).decode()
            parts.append({"inlineData": {"mimeType": request.output_mime, "data": data}})
            output_tokens += image_tokens
        candidates.append(
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": index}
        )
    return candidates, output_tokens


def _edit_source(service: GoogleService, request: _Request) -> Image.Image | None:
    pictures = [data for mime, data in request.images if mime.startswith("image/")]
    if not pictures:
        return None
    try:
        return decode(pictures[0])
    except ValueError:
        raise service.refuse(
            400, f"Unable to process input image. Please retry or report in {_TROUBLESHOOTING}"
        ) from None


def _picture(
    service: GoogleService,
    model: EmulatedModel,
    request: _Request,
    source: Image.Image | None,
    index: int,
) -> Image.Image:
    long_side = SIZE_CLASSES[request.size_class]
    ratio = parse_ratio(request.aspect) if request.aspect else None
    if ratio is None:
        ratio = source.size if source is not None else (1, 1)
    size = ratio_size(ratio, long_side)
    if model.seeded and request.seed is not None:
        digests = [sha256(data).hexdigest() for _, data in request.images]
        rng = seeded_rng(
            model.id, request.instruction, request.seed, request.aspect, request.size_class,
            index, digests,
        )  # fmt: skip
    else:
        rng = fresh_rng()
    if source is None:
        return render(request.instruction, rng, size)
    return service.transform(fit(source, size), request.instruction, rng)


def page_reply(
    service: GoogleService,
    key: str,
    items: list[T],
    describe: Callable[[T], dict[str, Any]],
    query: dict[str, str],
    default_size: int = 50,
) -> Reply:
    """A list answer: one page of ``items`` (see :func:`page`), described, under ``key``,
    with ``nextPageToken`` when more follow."""
    chunk, token = page(service, items, query, default_size)
    payload: dict[str, Any] = {key: [describe(item) for item in chunk]}
    if token:
        payload["nextPageToken"] = token
    return json_reply(200, payload)


def page(
    service: GoogleService, items: list[Any], query: dict[str, str], default_size: int = 50
) -> tuple[list[Any], str | None]:
    """One page of ``items`` per ``pageSize``/``pageToken``, and the next page's token."""
    raw_size = query.get("pageSize", query.get("page_size", ""))
    try:
        size = int(raw_size) if raw_size else default_size
    except ValueError:
        raise service.refuse(
            400, f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\""
        ) from None
    if size <= 0:
        size = default_size
    size = min(size, 1000)
    token = query.get("pageToken", query.get("page_token", ""))
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise service.refuse(400, "Invalid page token.") from None
    chunk = items[start : start + size]
    end = start + len(chunk)
    next_token = (
        base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    )
    return chunk, next_token
