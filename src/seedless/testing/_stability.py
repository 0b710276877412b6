"""The emulated Stability AI Stable Image API (REST v2beta): Ultra, Core and SD 3.5.

Paths (:attr:`StabilityEmulator.url` is the base URL, as ``https://api.stability.ai`` is)::

    POST /v2beta/stable-image/generate/ultra   multipart; prompt, image + strength ...
    POST /v2beta/stable-image/generate/core    multipart; prompt, aspect_ratio ...
    POST /v2beta/stable-image/generate/sd3     multipart; model = sd3.5-large | -turbo | -medium
    GET  /v1/user/balance                      {"credits": ...}

Calls carry ``authorization: Bearer <key>`` (a bare key works too, as Stability's own curl
examples send it) and must be ``multipart/form-data``. Each service takes exactly the fields
of its request schema in Stability's OpenAPI description, with their enums and bounds;
anything else is a 400 ``{"id", "name", "errors": [...]}`` (stricter than the service may
be). ``Accept: application/json`` answers ``{"image": base64, "seed", "finish_reason"}`` with
``Content-Type: application/json; type=image/png``; ``image/*`` (the default) answers the raw
bytes with ``finish-reason`` and ``seed`` headers. A seed of 0 or none means "pick one", and
the one picked is reported (sending it back gives the same image). Faults: ``block_next()``
answers 403 ``content_moderation``, ``block_next("CONTENT_FILTERED")`` a 200 whose image is
blurred; bodies over 10 MiB get 413 ``payload_too_large``; ``rate_limit`` (off by default)
answers 429 past 150 requests in 10 s.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import deque
from hashlib import sha256
from typing import Any, ClassVar

from PIL import Image, ImageFilter

from ._catalog import EmulatedModel
from ._images import (
    decode,
    encode,
    fit,
    fresh_rng,
    long_side_for,
    parse_ratio,
    ratio_size,
    render,
    seeded_rng,
)
from ._server import FilePart, Incoming, Reply, ServiceEmulator, json_reply, retry_headers

__all__ = ["DEFAULT_STABILITY_API_KEY", "STABILITY_FIELDS", "StabilityEmulator"]

DEFAULT_STABILITY_API_KEY = "sk-test-stability-key"
#: Stability's request limit: requests per window of seconds.
RATE_LIMIT = (150, 10.0)

_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_STYLES = (
    "enhance", "anime", "photographic", "digital-art", "comic-book", "fantasy-art", "line-art",
    "analog-film", "neon-punk", "isometric", "low-poly", "origami", "modeling-compound",
    "cinematic", "3d-model", "pixel-art", "tile-texture",
)  # fmt: skip
_SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium")
#: Service -> the fields of its request schema (Stability's OpenAPI description, v2beta).
STABILITY_FIELDS: dict[str, frozenset[str]] = {
    "ultra": frozenset(
        {
            "prompt",
            "negative_prompt",
            "aspect_ratio",
            "seed",
            "output_format",
            "image",
            "style_preset",
            "strength",
        }
    ),
    "core": frozenset(
        {"prompt", "aspect_ratio", "negative_prompt", "seed", "style_preset", "output_format"}
    ),
    "sd3": frozenset(
        {
            "prompt",
            "mode",
            "image",
            "strength",
            "aspect_ratio",
            "model",
            "seed",
            "output_format",
            "style_preset",
            "negative_prompt",
            "cfg_scale",
        }
    ),
}
#: Output megapixels per service (Ultra 1 MP, Core 1.5 MP, SD 3.5 1 MP).
_MEGAPIXELS = {"ultra": 1.0, "core": 1.5, "sd3": 1.0}
_MESSAGES = {
    400: ("bad_request", "The request is invalid."),
    401: ("unauthorized", "authorization: invalid or missing API key"),
    403: (
        "content_moderation",
        "Your request was flagged by our content moderation system, "
        "as a result your request was denied and you were not charged.",
    ),
    404: ("not_found", "The requested resource was not found."),
    413: ("payload_too_large", "body: payloads cannot be larger than 10MiB in size"),
    422: ("invalid_language", "English is the only supported language for this service."),
    429: (
        "rate_limit_exceeded",
        "You have exceeded the rate limit of 150 requests within a 10 "
        "second period, and have been timed out for 60 seconds.",
    ),
    500: ("internal_error", "An unexpected server error has occurred, please try again later."),
}


class StabilityEmulator(ServiceEmulator):
    """Stability AI's Stable Image generation services, as its v2beta REST API answers."""

    name: ClassVar[str] = "stability"

    def __init__(self, *, api_key: str = DEFAULT_STABILITY_API_KEY, **kwargs: Any) -> None:
        kwargs.setdefault("max_body_bytes", 10 * 1024 * 1024)  # "larger than 10MiB": 413
        super().__init__(**kwargs)
        #: The one API key this service accepts.
        self.api_key = api_key
        #: Answer 429 past 150 requests in 10 seconds, as the service does (off by default).
        self.rate_limit = False
        #: The account's credits (``GET /v1/user/balance``).
        self.credits = 1000.0
        self._recent: deque[float] = deque()
        self._recent_lock = threading.Lock()

    def model_of(self, incoming: Incoming) -> str | None:
        service = incoming.path.rpartition("/")[2]
        if service == "sd3":
            model = (incoming.form or {}).get("model")
            return model if isinstance(model, str) else "sd3.5-large"
        return f"stable-image-{service}" if service in STABILITY_FIELDS else None

    def error(
        self, status: int, message: str | None = None, *, retry_after: float | None = None,
        **extra: Any,
    ) -> Reply:  # fmt: skip
        name, default = _MESSAGES.get(status, ("error", "The request failed."))
        body = {
            "id": secrets.token_hex(16),
            "name": extra.get("name") or name,
            "errors": [message or default],
        }
        return json_reply(status, body, retry_headers(retry_after))

    def route(self, incoming: Incoming) -> Reply:
        path, method = incoming.path, incoming.method
        if method == "GET" and path == "/v1/user/balance":
            self._authenticate(incoming)
            return json_reply(200, {"credits": self.credits})
        prefix = "/v2beta/stable-image/generate/"
        if method == "POST" and path.startswith(prefix):
            service = path.removeprefix(prefix)
            if service not in STABILITY_FIELDS:
                return self.error(404, f"{path}: not found")
            self._authenticate(incoming)
            self._throttle()
            if incoming.content_type != "multipart/form-data" or incoming.form is None:
                raise self.refuse(400, "content-type: must be multipart/form-data")
            return self._generate(service, incoming)
        return self.error(404, f"{path}: not found")

    def _authenticate(self, incoming: Incoming) -> None:
        value = incoming.headers.get("authorization", "")
        key = value.partition(" ")[2] if value.lower().startswith("bearer ") else value
        if not key.strip():
            raise self.refuse(401, "authorization: missing", name="unauthorized")
        if key.strip() != self.api_key:
            raise self.refuse(401, "authorization: invalid API key", name="unauthorized")

    def _throttle(self) -> None:
        if not self.rate_limit:
            return
        limit, window = RATE_LIMIT
        now = time.monotonic()
        with self._recent_lock:
            while self._recent and now - self._recent[0] > window:
                self._recent.popleft()
            if len(self._recent) >= limit:
                raise self.refuse(429, retry_after=60.0)
            self._recent.append(now)

    # -- generation ------------------------------------------------------------------------

    def _generate(self, service: str, incoming: Incoming) -> Reply:
        form = incoming.form or {}
        fields = self._check(service, form)
        model_id = self.model_of(incoming) or service
        model = self.lookup(model_id)
        if model is None:
            raise self.refuse(404, f"model: {model_id} was not found")
        fault = self.take_fault(model.id)
        if fault is not None and fault.kind == "block" and fault.reason != "CONTENT_FILTERED":
            raise self.refuse(403, fault.reason)
        seed = int(float(fields.get("seed") or 0)) or secrets.randbelow(4294967294) + 1
        picture = self._picture(model, service, fields, seed)
        finish = "SUCCESS"
        if fault is not None and fault.kind == "block":  # blurred, as moderated outputs are
            picture, finish = picture.filter(ImageFilter.GaussianBlur(8)), "CONTENT_FILTERED"
        mime = _FORMATS[str(fields.get("output_format") or "png")]
        payload = encode(picture, mime)
        if fault is not None and fault.kind == "no_image":
            payload = b""
        reply = self._answer(incoming, payload, mime, seed, finish)
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply

    def _answer(
        self, incoming: Incoming, payload: bytes, mime: str, seed: int, finish: str
    ) -> Reply:
        headers = {"x-request-id": secrets.token_hex(16)}
        if "application/json" in incoming.headers.get("accept", ""):
            body = {"image": base64.b64encode(payload).decode(), "seed": seed,
                    "finish_reason": finish}  # fmt: skip
            reply = json_reply(200, body, headers)
            reply.content_type = f"application/json; type={mime}"
            return reply
        headers.update({"finish-reason": finish, "seed": str(seed)})
        return Reply(200, payload, content_type=mime, headers=headers)

    def _check(self, service: str, form: dict[str, Any]) -> dict[str, Any]:
        """The form's fields, refused (400, as the service) where its schema says no."""
        allowed = STABILITY_FIELDS[service]
        for name in form:
            if name not in allowed:
                raise self.refuse(400, f"{name}: is not a recognised parameter")
        prompt = form.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 10000:
            raise self.refuse(400, "prompt: is required and must be 1-10000 characters")
        enums = {
            "aspect_ratio": _RATIOS, "output_format": tuple(_FORMATS), "style_preset": _STYLES,
            "model": _SD3_MODELS, "mode": ("text-to-image", "image-to-image"),
        }  # fmt: skip
        for name, values in enums.items():
            if name in form and form[name] not in values:
                raise self.refuse(400, f"{name}: must be one of {', '.join(values)}")
        bounds = {"seed": (0, 4294967294), "strength": (0, 1), "cfg_scale": (1, 10)}
        for name, (low, high) in bounds.items():
            if name in form:
                try:
                    value = float(form[name])
                except (TypeError, ValueError):
                    raise self.refuse(400, f"{name}: must be a number") from None
                if not low <= value <= high:
                    raise self.refuse(400, f"{name}: must be between {low} and {high}")
        image = form.get("image")
        if image is not None and not isinstance(image, FilePart):
            raise self.refuse(400, "image: must be a file")
        img2img = image is not None or form.get("mode") == "image-to-image"
        if img2img and (image is None or "strength" not in form):
            raise self.refuse(400, "image, strength: both are required for image-to-image")
        if service == "sd3" and img2img and form.get("mode") != "image-to-image":
            raise self.refuse(400, "mode: must be image-to-image when an image is sent")
        if service == "sd3" and img2img and "aspect_ratio" in form:
            raise self.refuse(400, "aspect_ratio: is only valid for text-to-image requests")
        return form

    def _picture(
        self, model: EmulatedModel, service: str, fields: dict[str, Any], seed: int
    ) -> Image.Image:
        prompt = str(fields["prompt"])
        image = fields.get("image")
        digest = sha256(image.data).hexdigest() if isinstance(image, FilePart) else None
        key = (
            prompt, seed, fields.get("aspect_ratio"), fields.get("negative_prompt"),
            fields.get("style_preset"), fields.get("cfg_scale"), fields.get("strength"), digest,
        )  # fmt: skip
        # without a seed (or 0) the one drawn is reported: sending it back gives the same image
        rng = seeded_rng(model.id, *key) if model.seeded else fresh_rng()
        edge = 1024 * _MEGAPIXELS[service] ** 0.5
        long_side = long_side_for(int(edge), int(edge))
        if isinstance(image, FilePart):
            try:
                source = decode(image.data)
            except ValueError:
                raise self.refuse(400, "image: could not be decoded") from None
            size = ratio_size((source.width, source.height), long_side)
            return self.transform(fit(source, size), prompt, rng)
        ratio = parse_ratio(str(fields.get("aspect_ratio") or "1:1")) or (1, 1)
        return render(prompt, rng, ratio_size(ratio, long_side))
