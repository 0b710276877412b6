"""The emulated OpenAI images API: OpenAI's own models, and Flux behind a generic relay.

Paths (:attr:`OpenAIEmulator.url` ends in ``/v1``, as OpenAI SDK base URLs do)::

    POST /v1/images/generations   JSON {model, prompt, n, size, response_format, ...}
    POST /v1/images/edits         multipart: image (one or more files), prompt, model, ...
    GET  /v1/models               {"object": "list", "data": [{id, object, created, owned_by}]}
    GET  /v1/models/{id}
    GET  /files/{name}            the pictures of ``response_format=url`` answers (no key)

Calls carry ``Authorization: Bearer <key>``. Answers are ``{created, data[{b64_json|url,
revised_prompt?}]}``; errors are ``{"error": {"message", "type", "param", "code"}}`` with
OpenAI's status codes (401 invalid_api_key, 404 model_not_found, 429 rate_limit_exceeded,
...). Every model takes exactly its surface's fields (:mod:`._surfaces`) and answers 400
``unknown_parameter`` to any other, per operation: OpenAI's own models (gpt-image-*, dall-e-*)
OpenAI's ``CreateImageRequest`` / ``CreateImageEditRequest`` (no ``seed``; ``moderation`` and
``style`` on generations only, ``input_fidelity`` on edits only); other models (Flux) those
plus a relay's ``seed``, ``width``/``height``, ``steps`` and ``guidance_scale``, and are
deterministic in (prompt, seed, size, steps, guidance, input). Subclasses in :mod:`._hosts`
speak Together's and DeepInfra's spellings of the same API.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, ClassVar

from ._catalog import EmulatedModel
from ._faults import Fault
from ._images import decode, encode, fit, fresh_rng, long_side_for, ratio_size, render, seeded_rng
from ._openai_batch import OpenAIBatchAPI, data_url_bytes
from ._server import FilePart, Incoming, Reply, ServiceEmulator, format_seconds, json_reply
from ._surfaces import (
    EDIT_JSON_PARAMETERS,
    EDIT_PARAMETERS,
    GENERATION_PARAMETERS,
    OPENAI_IMAGES,
    RELAY_IMAGES,
    ImagesSurface,
)

__all__ = [
    "DEFAULT_OPENAI_API_KEY",
    "EDIT_JSON_PARAMETERS",
    "EDIT_PARAMETERS",
    "GENERATION_PARAMETERS",
    "OPENAI_FAMILY",
    "Asked",
    "OpenAIEmulator",
    "Picture",
]

DEFAULT_OPENAI_API_KEY = "test-openai-key"
#: Model id prefixes of OpenAI's own image models (the rest are served relay-style).
OPENAI_FAMILY = ("gpt-image", "chatgpt-image", "dall-e")
_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_MAX_SIDE = 4096
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "requests",
}
_MESSAGES = {
    429: "Rate limit reached for images per minute. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later",
    504: "Gateway timeout.",
}


@dataclass(frozen=True)
class Picture:
    """One image of an answer: its encoded bytes and MIME type."""

    data: bytes
    mime: str


@dataclass
class Asked:
    """What an images request asked for, read and checked against its host's surface."""

    model: EmulatedModel
    prompt: str
    count: int
    seed: int | None
    steps: int | None
    guidance: float | None
    requested: tuple[int, int]
    mime: str
    response_format: str
    source: Any  # the decoded input picture of an edit, or None
    digest: str | None


class OpenAIEmulator(ServiceEmulator):
    """An OpenAI-style images endpoint (OpenAI itself, or a Flux relay)."""

    name: ClassVar[str] = "openai"
    url_path: ClassVar[str] = "/v1"
    #: The model used when a request names none (OpenAI's documented default).
    default_model: ClassVar[str | None] = "dall-e-2"
    #: Whether ``GET {url_path}/models`` lists the models.
    lists_models: ClassVar[bool] = True
    #: Whether the host has ``POST {url_path}/images/edits``.
    has_edits: ClassVar[bool] = True
    #: Whether the host has OpenAI's ``/v1/files`` and ``/v1/batches`` (:attr:`batches`).
    has_batches: ClassVar[bool] = True
    batches: OpenAIBatchAPI
    #: Largest ``n``.
    max_images: ClassVar[int] = 10

    def __init__(
        self, *, api_key: str = DEFAULT_OPENAI_API_KEY, max_files: int = 256, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        #: The one API key this service accepts.
        self.api_key = api_key
        if self.has_batches:
            #: ``/v1/files`` and ``/v1/batches`` (``batches.engine.schedule``, ``expire_next``).
            self.batches = OpenAIBatchAPI(self)
        self._max_files = max_files
        self._files: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._files_lock = threading.Lock()

    def surface(self, model: EmulatedModel) -> ImagesSurface:
        """The fields, formats and operations ``model`` takes on this host."""
        return OPENAI_IMAGES if model.id.startswith(OPENAI_FAMILY) else RELAY_IMAGES

    def model_of(self, incoming: Incoming) -> str | None:
        models = f"{self.url_path}/models/"
        if incoming.path.startswith(models):
            return incoming.path.removeprefix(models)
        source = incoming.form if incoming.form is not None else incoming.json_body
        if isinstance(source, dict) and isinstance(source.get("model"), str):
            return str(source["model"])
        return None

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> Reply:
        headers = {"x-request-id": "req_" + secrets.token_hex(16)}
        if retry_after is not None:
            headers["retry-after"] = format_seconds(retry_after)
            headers["retry-after-ms"] = str(round(retry_after * 1000))
        if code is None and status == 429:
            code = "rate_limit_exceeded"
        error = {
            "message": message or _MESSAGES.get(status, "The request failed."),
            "type": type or _TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
        return json_reply(status, {"error": error}, headers, indent=2)

    def _authenticate(self, incoming: Incoming) -> None:
        key = incoming.bearer()
        if key is None:
            raise self.refuse(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
                "as the password field (with blank username) if you're accessing the API from your "
                "browser and are prompted for a username and password. You can obtain an API key "
                "from https://platform.openai.com/account/api-keys.",
            )
        if key != self.api_key:
            shown = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "****"
            raise self.refuse(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _model(self, model_id: str) -> EmulatedModel:
        model = self.lookup(model_id)
        if model is None:
            raise self.refuse(
                404,
                f"The model `{model_id}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return model

    # -- routing ---------------------------------------------------------------------------

    def route(self, incoming: Incoming) -> Reply:
        path, method = incoming.path, incoming.method
        if method == "GET" and path.startswith("/files/"):
            return self._download(path.removeprefix("/files/"))
        batch_reply = self.batches.route(incoming) if self.has_batches else None
        if batch_reply is not None:
            return batch_reply
        if method == "POST" and path == f"{self.url_path}/images/generations":
            self._authenticate(incoming)
            return self.generate_json(self._json_object(incoming))
        if self.has_edits and method == "POST" and path == f"{self.url_path}/images/edits":
            self._authenticate(incoming)
            if incoming.content_type == "application/json" and self.has_batches:
                return self.edit_json(self._json_object(incoming), self.batches._file_bytes)
            if incoming.content_type != "multipart/form-data":
                raise self.refuse(
                    400,
                    f"Invalid Content-Type header ({incoming.content_type or 'none'}), expected "
                    "multipart/form-data.",
                )
            if incoming.form is None:
                raise self.refuse(400, "Could not parse multipart form.")
            return self._images(incoming.form, "edit")
        if self.lists_models and method == "GET" and path.startswith(f"{self.url_path}/models"):
            return self._listing(incoming)
        return self.error(404, f"Invalid URL ({method} {path})")

    def _json_object(self, incoming: Incoming) -> dict[str, Any]:
        if not incoming.json_ok or not isinstance(incoming.json_body, dict):
            raise self.refuse(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
            )
        return incoming.json_body

    def generate_json(self, body: dict[str, Any]) -> Reply:
        """Answer a generation's JSON body (a direct call or a batch line)."""
        return self._images(body, "generate")

    def edit_json(self, body: dict[str, Any], file_bytes: Callable[[str], bytes | None]) -> Reply:
        """Answer the JSON form of an edit: ``images`` are ``{"image_url": "data:..."}``
        (base64 data URLs) or ``{"file_id"}`` of an uploaded file; the first is edited."""
        images = body.get("images")
        if not isinstance(images, list) or not images or not isinstance(images[0], dict):
            raise self.refuse(
                400, "Missing required parameter: 'images'.", param="images",
                code="missing_required_parameter",
            )  # fmt: skip
        first = images[0]
        source: bytes | None = None
        if isinstance(first.get("image_url"), str):
            source = data_url_bytes(first["image_url"])
        elif isinstance(first.get("file_id"), str):
            source = file_bytes(first["file_id"])
        if source is None:
            raise self.refuse(
                400, "Invalid 'images[0]': expected a base64 data URL or a file_id of an "
                "uploaded file.", param="images", code="invalid_value",
            )  # fmt: skip
        return self._images(body, "edit_json", source)

    def _listing(self, incoming: Incoming) -> Reply:
        self._authenticate(incoming)
        model_id = incoming.path.removeprefix(f"{self.url_path}/models").strip("/")
        if model_id:
            return json_reply(200, self.describe(self._model(model_id)))
        data = [self.describe(m) for m in self.served_models()]
        return json_reply(200, {"object": "list", "data": data})

    @staticmethod
    def describe(model: EmulatedModel) -> dict[str, Any]:
        """A model object as ``GET /v1/models`` lists it."""
        return {
            "id": model.id,
            "object": "model",
            "created": model.created,
            "owned_by": model.owned_by,
        }

    # -- images ----------------------------------------------------------------------------

    def _images(self, fields: dict[str, Any], operation: str, data: bytes | None = None) -> Reply:
        """Answer an images request: ``operation`` is ``generate``, ``edit`` (multipart) or
        ``edit_json`` (the JSON form of an edit, whose input picture is ``data``)."""
        asked = self._read(fields, operation, data)
        fault = self.take_fault(asked.model.id)
        if fault is not None and fault.kind == "block":
            return self._blocked(asked.model, fault)
        if fault is not None and fault.kind == "no_image":
            return json_reply(200, self.answer(asked, [], fields))
        size = ratio_size(asked.requested, long_side_for(*asked.requested))
        key_parts = (
            asked.prompt, asked.seed, asked.requested, asked.steps, asked.guidance,
            fields.get("negative_prompt"), asked.digest,
        )  # fmt: skip
        quality = self._int(fields, "output_compression") or 90
        pictures: list[Picture] = []
        for index in range(asked.count):
            if asked.model.seeded and asked.seed is not None:
                rng = seeded_rng(asked.model.id, index, *key_parts)
            else:
                rng = fresh_rng()
            if asked.source is None:
                picture = render(asked.prompt, rng, size)
            else:
                picture = self.transform(fit(asked.source, size), asked.prompt, rng)
            pictures.append(Picture(encode(picture, asked.mime, quality), asked.mime))
        answer = self.answer(asked, pictures, fields)
        reply = json_reply(200, answer, {"x-request-id": "req_" + secrets.token_hex(16)})
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply

    def _read(self, fields: dict[str, Any], operation: str, data: bytes | None = None) -> Asked:
        """The request's fields against its model's surface (unknown ones: 400)."""
        model_id = fields.get("model", self.default_model)
        if model_id is None:
            raise self.refuse(
                400, "Missing required parameter: 'model'.", param="model",
                code="missing_required_parameter",
            )  # fmt: skip
        if not isinstance(model_id, str):
            raise self.refuse(400, "Invalid type for 'model': expected a string.", param="model")
        model = self._model(model_id)
        surface = self.surface(model)
        allowed = {
            "generate": surface.generation,
            "edit": surface.edit,
            "edit_json": surface.edit_json,
        }[operation]
        for name in fields:
            if allowed is None or name not in allowed:
                raise self.refuse(
                    400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
                )
        prompt = fields.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise self.refuse(
                400, "Missing required parameter: 'prompt'.", param="prompt",
                code="missing_required_parameter",
            )  # fmt: skip
        count = self._int(fields, "n") or 1
        if not 1 <= count <= self.max_images:
            raise self.refuse(
                400,
                f"Invalid 'n': {count} is not between 1 and {self.max_images}.",
                param="n",
                code="invalid_value",
            )
        if model.id == "dall-e-3" and count != 1:
            raise self.refuse(400, "You must provide n=1 for this model.", param="n")
        if operation != "edit_json":
            data = self.source(fields, operation)
        image = decode_or_refuse(self, data) if data is not None else None
        guidance = fields.get("guidance_scale")
        return Asked(
            model=model,
            prompt=prompt,
            count=count,
            seed=self._int(fields, "seed"),
            steps=self._int(fields, "steps"),
            guidance=None if guidance is None else self._number(fields, "guidance_scale"),
            requested=self._size(fields, image.size if image is not None else None),
            mime=self._mime(fields, surface),
            response_format=self._response_format(fields, model, surface),
            source=image,
            digest=sha256(data).hexdigest() if data is not None else None,
        )

    def source(self, fields: dict[str, Any], operation: str) -> bytes | None:
        """The input picture of an edit (the first ``image`` file), None for a generation."""
        if operation != "edit":
            return None
        images = fields.get("image", fields.get("image[]"))
        first = images[0] if isinstance(images, list) and images else images
        if first is None:
            raise self.refuse(
                400, "Missing required parameter: 'image'.", param="image",
                code="missing_required_parameter",
            )  # fmt: skip
        if not isinstance(first, FilePart):
            raise self.refuse(
                400,
                "Invalid type for 'image': expected a file.",
                param="image",
                code="invalid_type",
            )
        return first.data

    def answer(
        self, asked: Asked, pictures: list[Picture], fields: dict[str, Any]
    ) -> dict[str, Any]:
        """The answer body: OpenAI's ``ImagesResponse``."""
        data: list[dict[str, Any]] = []
        for picture in pictures:
            item: dict[str, Any] = {}
            if asked.response_format == "url":
                item["url"] = self._store(picture.data, picture.mime)
            else:
                item["b64_json"] = base64.b64encode(picture.data).decode()
            if asked.model.id == "dall-e-3":
                item["revised_prompt"] = f"A detailed illustration of {asked.prompt}"
            data.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if asked.model.id.startswith("gpt-image") and pictures:
            extras = self._gpt_image_extras(asked, fields)
            answer.update(extras)
        return answer

    def _blocked(self, model: EmulatedModel, fault: Fault) -> Reply:
        if model.id.startswith("gpt-image"):
            return self.error(
                400,
                fault.reason
                or "Your request was rejected by the safety system. If you believe this is an "
                "error, contact us at help.openai.com. safety_violations=[violence].",
                type="image_generation_user_error",
                code="moderation_blocked",
            )
        return self.error(
            400,
            fault.reason
            or "Your request was rejected as a result of our safety system. Your prompt may "
            "contain text that is not allowed by our safety system.",
            code="content_policy_violation",
        )

    @staticmethod
    def _gpt_image_extras(asked: Asked, fields: dict[str, Any]) -> dict[str, Any]:
        text_tokens = max(1, len(asked.prompt) // 4)
        output_tokens = 1056 * asked.count
        width, height = asked.requested
        return {
            "background": fields.get("background", "opaque"),
            "output_format": asked.mime.removeprefix("image/"),
            "quality": fields.get("quality", "medium"),
            "size": f"{width}x{height}",
            "usage": {
                "input_tokens": text_tokens,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": text_tokens},
                "output_tokens": output_tokens,
                "total_tokens": text_tokens + output_tokens,
            },
        }

    # -- parameter reading -----------------------------------------------------------------

    def _int(self, fields: dict[str, Any], name: str) -> int | None:
        """``fields[name]`` as an integer (numeric strings too, as forms send), None if absent."""
        value = fields.get(name)
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip()):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self.refuse(
            400,
            f"Invalid type for '{name}': expected an integer, but got {type(value).__name__}.",
            param=name,
            code="invalid_type",
        )

    def _number(self, fields: dict[str, Any], name: str) -> float:
        value = fields.get(name)
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self.refuse(
                400, f"Invalid type for '{name}': expected a number.", param=name,
                code="invalid_type",
            ) from None  # fmt: skip

    def _size(self, fields: dict[str, Any], source: tuple[int, int] | None) -> tuple[int, int]:
        width = self._int(fields, "width")
        height = self._int(fields, "height")
        size: tuple[int, int]
        if width is not None or height is not None:
            size = (width or height or 0, height or width or 0)
            param = "width" if width is not None else "height"
        else:
            text = fields.get("size", "auto")
            param = "size"
            if text in ("auto", None):
                # auto: 1024 on the long side, at the input picture's ratio for edits
                size = ratio_size(source, 1024) if source else (1024, 1024)
            else:
                match = _SIZE.match(str(text))
                if match is None:
                    raise self.refuse(
                        400,
                        f"Invalid value: '{text}'. Supported values are 'auto' and "
                        "'WIDTHxHEIGHT' (for example '1024x1024').",
                        param="size",
                        code="invalid_value",
                    )
                size = (int(match.group(1)), int(match.group(2)))
        if not all(1 <= side <= _MAX_SIDE for side in size):
            raise self.refuse(
                400, f"Invalid image size {size[0]}x{size[1]}: each side must be 1-{_MAX_SIDE}.",
                param=param, code="invalid_value",
            )  # fmt: skip
        return size

    def _mime(self, fields: dict[str, Any], surface: ImagesSurface) -> str:
        name = str(fields.get("output_format", surface.output_formats[0])).lower()
        if name not in surface.output_formats:
            shown = " and ".join(f"'{value}'" for value in surface.output_formats)
            raise self.refuse(
                400, f"Invalid value: '{name}'. Supported values are: {shown}.",
                param="output_format", code="invalid_value",
            )  # fmt: skip
        return _FORMATS[name]

    def _response_format(
        self, fields: dict[str, Any], model: EmulatedModel, surface: ImagesSurface
    ) -> str:
        if model.id.startswith("gpt-image"):
            if "response_format" in fields:  # they always answer base64 and refuse the field
                raise self.refuse(
                    400, "Unknown parameter: 'response_format'.", param="response_format",
                    code="unknown_parameter",
                )  # fmt: skip
            return "b64_json"
        default = "url" if model.id.startswith("dall-e") else surface.response_formats[0]
        value = fields.get("response_format", default)
        if value not in surface.response_formats:
            shown = " and ".join(f"'{v}'" for v in surface.response_formats)
            raise self.refuse(
                400, f"Invalid value: '{value}'. Supported values are: {shown}.",
                param="response_format", code="invalid_value",
            )  # fmt: skip
        return "url" if value == "url" else "b64_json"

    # -- url answers -----------------------------------------------------------------------

    def _store(self, payload: bytes, mime: str) -> str:
        name = secrets.token_urlsafe(12) + "." + mime.removeprefix("image/")
        with self._files_lock:
            self._files[name] = (payload, mime)
            while len(self._files) > self._max_files:
                self._files.popitem(last=False)
        return f"{self.origin}/files/{name}"

    def _download(self, name: str) -> Reply:
        with self._files_lock:
            stored = self._files.get(name)
        if stored is None:
            return self.error(404, "The requested file does not exist or has expired.")
        payload, mime = stored
        return Reply(200, payload, content_type=mime)


def decode_or_refuse(service: OpenAIEmulator, data: bytes) -> Any:
    """The input picture of an edit, or OpenAI's 400 for an unreadable file."""
    try:
        return decode(data)
    except ValueError:
        raise service.refuse(
            400, "Invalid image file or mode for image 1, please check your image file.",
            param="image", code="invalid_image_file",
        ) from None  # fmt: skip
