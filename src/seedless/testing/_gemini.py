"""The emulated Gemini API (generativelanguage): generateContent and the model listing.

Paths (``{v}`` is ``v1``, ``v1beta`` or ``v1alpha``; google-genai 3.x uses ``v1``)::

    POST /{v}/models/{model}:generateContent
    POST /{v}/models/{model}:streamGenerateContent[?alt=sse]
    GET  /{v}/models[?pageSize=N&pageToken=T]      -> {"models": [...], "nextPageToken": ...}
    GET  /{v}/models/{model}

The key travels in ``x-goog-api-key`` (or ``?key=``). A missing key answers 403
PERMISSION_DENIED and a wrong one 400 INVALID_ARGUMENT with reason API_KEY_INVALID, as the
real service does. Unknown and retired models answer 404 NOT_FOUND with the service's
"is not found for API version ..." message. Gemini models take a ``seed`` and ignore it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ._catalog import EmulatedModel
from ._gemini_batch import GeminiBatchMode
from ._google import GoogleService, page, page_reply
from ._server import Incoming, Reply, json_reply
from ._surfaces import GEMINI_API

__all__ = ["DEFAULT_GEMINI_API_KEY", "GeminiEmulator", "page"]

DEFAULT_GEMINI_API_KEY = "test-gemini-key"

_GENERATE = re.compile(
    r"^/(v1|v1beta|v1alpha)/models/([^/:]+):(generateContent|streamGenerateContent)$"
)
_BATCH_CREATE = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):batchGenerateContent$")
_LIST = re.compile(r"^/(v1|v1beta|v1alpha)/models/?$")
_GET = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+)$")


class GeminiEmulator(GoogleService):
    """The Gemini API as google-genai (``vertexai=False``) and REST callers see it."""

    name: ClassVar[str] = "gemini"
    default_messages: ClassVar[dict[int, str]] = {
        429: (
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
            "rate-limits."
        ),
        500: (
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting"
        ),
        503: "The model is overloaded. Please try again later.",
        504: "The request timed out. Please try again.",
    }

    def __init__(self, *, api_key: str = DEFAULT_GEMINI_API_KEY, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The one API key this service accepts.
        self.api_key = api_key
        #: The Files API and Batch Mode (``batches.engine.schedule``, ``expire_next`` ...).
        self.batches = GeminiBatchMode(self)

    def keeps_body(self, incoming: Incoming) -> bool:
        return not incoming.path.startswith("/upload/")

    def body_limit(self, path: str) -> int:
        # the Files API takes files of up to 2 GB, in one request or in chunks
        return 2 * 1000**3 if path.startswith("/upload/") else self.max_body_bytes

    def model_of(self, incoming: Incoming) -> str | None:
        match = _GENERATE.match(incoming.path) or _GET.match(incoming.path)
        if match is None:
            match = _BATCH_CREATE.match(incoming.path)
        return match.group(2) if match else None

    def _authenticate(self, incoming: Incoming) -> None:
        key = incoming.headers.get("x-goog-api-key") or incoming.query.get("key")
        if not key:
            raise self.refuse(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.api_key:
            message = "API key not valid. Please pass a valid API key."
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
            ]
            raise self.refuse(400, message, details=details)

    def _not_found(self, model_id: str, version: str, method: str) -> Reply:
        return self.error(
            404,
            f"models/{model_id} is not found for API version {version}, or is not supported "
            f"for {method}. Call ListModels to see the list of available models and their "
            "supported methods.",
        )

    def route(self, incoming: Incoming) -> Reply:
        batch_reply = self.batches.route(incoming)
        if batch_reply is not None:
            return batch_reply
        generate = _GENERATE.match(incoming.path)
        if incoming.method == "POST" and generate:
            self._authenticate(incoming)
            version, model_id, method = generate.groups()
            model = self.lookup(model_id)
            if model is None or "generateContent" not in model.methods:
                return self._not_found(model_id, version, method)
            return self.serve_generate(
                incoming, model, method, vertex=False, surface=GEMINI_API[version]
            )
        if incoming.method == "GET" and _LIST.match(incoming.path):
            self._authenticate(incoming)
            return page_reply(self, "models", self.served_models(), self.describe, incoming.query)
        got = _GET.match(incoming.path)
        if incoming.method == "GET" and got:
            self._authenticate(incoming)
            version, model_id = got.groups()
            model = self.lookup(model_id)
            if model is None:
                return self._not_found(model_id, version, "get")
            return json_reply(200, self.describe(model))
        return self.error(404, "Method not found.")

    @staticmethod
    def describe(model: EmulatedModel) -> dict[str, Any]:
        """A Model resource as ``models.list``/``models.get`` return it."""
        return {
            "name": f"models/{model.id}",
            "version": "001",
            "displayName": model.display_name or model.id,
            "description": f"{model.display_name or model.id} (seedless emulator)",
            "inputTokenLimit": 65536,
            "outputTokenLimit": 32768,
            "supportedGenerationMethods": list(model.methods),
            "temperature": 1.0,
            "topP": 0.95,
            "maxTemperature": 2.0,
        }
