"""Emulated OpenAI-style Flux hosts that spell the images API their own way.

Each runs on its own port, at the path its host publishes, and takes exactly the fields of its
host's definition (:mod:`._surfaces`), answering 400 ``unknown_parameter`` to any other:

- :class:`TogetherEmulator` follows Together's OpenAPI description
  (togethercomputer/openapi ``090263aa``): ``POST /v1/images/generations`` only, with
  ``width``/``height``, ``steps``, ``guidance_scale``, ``seed``, ``response_format``
  ``url|base64``, ``output_format`` ``jpeg|png`` (JPEG by default) and Together's model ids
  (``black-forest-labs/FLUX.1-dev``). An edit is a generation whose input comes as
  ``image_url`` (Kontext) or ``reference_images`` (FLUX.2); the emulator reads ``data:`` URLs
  only (it cannot fetch). Answers are Together's ``ImageResponse``: ``{id, model, object:
  "list", data: [{index, type, b64_json|url}]}``.
- :class:`DeepInfraEmulator` follows DeepInfra's OpenAI-compatible images API (its model
  pages; DeepInfra publishes no machine-readable definition): ``POST
  /v1/openai/images/generations`` with OpenAI's ``model``, ``prompt``, ``n`` (1-4), ``size``,
  ``user``, ``style`` and ``response_format`` ``b64_json`` only; no seed field, so every call
  is a fresh picture. Answers are OpenAI's shape, JPEG.

Both take ``Authorization: Bearer <key>`` and answer errors in OpenAI's shape (Together's
``ErrorData`` is the same object; DeepInfra documents none).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from typing import Any, ClassVar

from ._catalog import EmulatedModel
from ._openai import Asked, OpenAIEmulator, Picture
from ._surfaces import DEEPINFRA_IMAGES, TOGETHER_IMAGES, ImagesSurface

__all__ = [
    "DEFAULT_DEEPINFRA_API_KEY",
    "DEFAULT_TOGETHER_API_KEY",
    "DeepInfraEmulator",
    "TogetherEmulator",
]

DEFAULT_TOGETHER_API_KEY = "test-together-key"
DEFAULT_DEEPINFRA_API_KEY = "test-deepinfra-key"
_DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.DOTALL)


class TogetherEmulator(OpenAIEmulator):
    """Together's images API (``POST /v1/images/generations``), Flux by Together's ids."""

    name: ClassVar[str] = "together"
    url_path: ClassVar[str] = "/v1"
    default_model: ClassVar[str | None] = None
    lists_models: ClassVar[bool] = False
    has_edits: ClassVar[bool] = False
    has_batches: ClassVar[bool] = False
    max_images: ClassVar[int] = 4

    def __init__(self, *, api_key: str = DEFAULT_TOGETHER_API_KEY, **kwargs: Any) -> None:
        super().__init__(api_key=api_key, **kwargs)

    def surface(self, model: EmulatedModel) -> ImagesSurface:
        return TOGETHER_IMAGES

    def source(self, fields: dict[str, Any], operation: str) -> bytes | None:
        """The first input picture: ``image_url``, else ``reference_images[0]``."""
        url = fields.get("image_url")
        references = fields.get("reference_images")
        if url is None and isinstance(references, list) and references:
            url, param = references[0], "reference_images"
        else:
            param = "image_url"
        if url is None:
            return None
        return _data_url(self, url, param)

    def answer(
        self, asked: Asked, pictures: list[Picture], fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Together's ``ImageResponse``."""
        data: list[dict[str, Any]] = []
        for index, picture in enumerate(pictures):
            if asked.response_format == "url":
                item = {"url": self._store(picture.data, picture.mime), "type": "url"}
            else:
                encoded = base64.b64encode(picture.data).decode()
                item = {"b64_json": encoded, "type": "b64_json"}
            data.append({"index": index, **item})
        return {
            "id": secrets.token_hex(8) + "-" + str(int(time.time())),
            "model": asked.model.id,
            "object": "list",
            "data": data,
        }


class DeepInfraEmulator(OpenAIEmulator):
    """DeepInfra's OpenAI-compatible images API (``POST /v1/openai/images/generations``)."""

    name: ClassVar[str] = "deepinfra"
    url_path: ClassVar[str] = "/v1/openai"
    default_model: ClassVar[str | None] = None
    lists_models: ClassVar[bool] = False
    has_edits: ClassVar[bool] = False
    has_batches: ClassVar[bool] = False
    max_images: ClassVar[int] = 4

    def __init__(self, *, api_key: str = DEFAULT_DEEPINFRA_API_KEY, **kwargs: Any) -> None:
        super().__init__(api_key=api_key, **kwargs)

    def surface(self, model: EmulatedModel) -> ImagesSurface:
        return DEEPINFRA_IMAGES


def _data_url(service: OpenAIEmulator, url: Any, param: str) -> bytes:
    """The bytes of a ``data:image/...;base64,`` URL, or a 400 naming ``param``."""
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    if match is None:
        raise service.refuse(
            400,
            f"Invalid value for '{param}': the emulator reads data:image/...;base64 URLs only "
            "(it cannot fetch a URL).",
            param=param,
            code="invalid_value",
        )
    try:
        return base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise service.refuse(
            400, f"Invalid value for '{param}': not base64.", param=param, code="invalid_value"
        ) from None
