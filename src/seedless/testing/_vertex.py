"""The emulated Vertex AI prediction service: Imagen ``:predict`` and Gemini ``:generateContent``.

Paths (``{v}`` is ``v1`` or ``v1beta1``; google-genai uses ``v1beta1``)::

    POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{imagen}:predict
    POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{gemini}:generateContent
    POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{gemini}:streamGenerateContent
    GET  /{v}/publishers/google/models[?pageSize&pageToken] -> {"publisherModels": [...]}

Calls carry ``Authorization: Bearer <token>``; a missing or wrong token answers 401
UNAUTHENTICATED, another project than :attr:`VertexEmulator.project` 403, an unknown or
retired model 404 ("Publisher Model ... was not found"). ``:predict`` takes
``instances[{prompt}]`` and ``parameters`` (``sampleCount``, ``seed``, ``addWatermark``,
``aspectRatio``, ``sampleImageSize``, ``negativePrompt``, ``personGeneration``,
``outputOptions``, ``includeRaiReason``, ...) and answers
``predictions[{bytesBase64Encoded, mimeType}]``. Imagen is seeded: a seed needs
``addWatermark: false`` (400 otherwise, as on Vertex). A blocked answer carries
``raiFilteredReason`` when ``includeRaiReason`` is set, and is ``{}`` otherwise.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

from ._catalog import EmulatedModel
from ._faults import Fault
from ._google import GoogleService, page_reply
from ._images import SIZE_CLASSES, encode, fresh_rng, parse_ratio, ratio_size, render, seeded_rng
from ._server import Incoming, Reply, json_reply
from ._surfaces import VERTEX

__all__ = ["DEFAULT_PROJECT", "DEFAULT_VERTEX_TOKEN", "RAI_FILTERED_REASON", "VertexEmulator"]

DEFAULT_VERTEX_TOKEN = "test-vertex-token"
DEFAULT_PROJECT = "test-project"
DEFAULT_LOCATION = "us-central1"

#: The ``raiFilteredReason`` of a scripted Imagen block, worded like Vertex's.
RAI_FILTERED_REASON = (
    "Unable to show generated images. All images were filtered out because they violated "
    "Vertex AI's usage guidelines. You will not be charged for blocked images. Try rephrasing "
    "the prompt. If you think this was an error, send feedback. Support codes: 39322892"
)

_CALL = re.compile(
    r"^/(v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+)"
    r":(predict|generateContent|streamGenerateContent)$"
)
_LIST = re.compile(r"^/(v1|v1beta1)/publishers/google/models/?$")
_GET = re.compile(r"^/(v1|v1beta1)/publishers/google/models/([^/:]+)$")
_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
_PERSON = ("dont_allow", "allow_adult", "allow_all")
_SAFETY = (
    "block_low_and_above", "block_medium_and_above", "block_only_high", "block_none",
    "block_most", "block_some", "block_few", "block_fewest",
)  # fmt: skip
#: Parameters that change the picture (part of a seeded model's key).
_PICTURE_PARAMETERS = (
    "aspectRatio", "sampleImageSize", "negativePrompt", "guidanceScale", "personGeneration",
    "language", "enhancePrompt",
)  # fmt: skip


class VertexEmulator(GoogleService):
    """Vertex AI prediction for Imagen and Gemini, as google-genai (``vertexai=True``) sees it."""

    name: ClassVar[str] = "vertex"
    default_messages: ClassVar[dict[int, str]] = {
        429: (
            "Resource exhausted. Please try again later. Please refer to "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
        ),
        500: "Internal error encountered.",
        503: "The service is currently unavailable.",
        504: "Deadline expired before operation could complete.",
    }

    def __init__(
        self,
        *,
        token: str = DEFAULT_VERTEX_TOKEN,
        project: str | None = DEFAULT_PROJECT,
        location: str = DEFAULT_LOCATION,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: The one bearer token this service accepts.
        self.token = token
        #: The project calls must name (None accepts any).
        self.project = project
        #: The location :meth:`Emulator.endpoints` and ``env()`` hand out (any is accepted).
        self.location = location

    def owns(self, path: str) -> bool:
        return "/projects/" in path or "/publishers/" in path

    def model_of(self, incoming: Incoming) -> str | None:
        match = _CALL.match(incoming.path)
        if match:
            return match.group(4)
        got = _GET.match(incoming.path)
        return got.group(2) if got else None

    def _authenticate(self, incoming: Incoming) -> None:
        token = incoming.bearer()
        if token is None:
            raise self.refuse(
                401,
                f"Request is missing required authentication credential. {_AUTH_HELP}",
                details=[_error_info("CREDENTIALS_MISSING")],
            )
        if token != self.token:
            raise self.refuse(
                401,
                f"Request had invalid authentication credentials. {_AUTH_HELP}",
                details=[_error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")],
            )

    def route(self, incoming: Incoming) -> Reply:
        call = _CALL.match(incoming.path)
        if call and incoming.method == "POST":
            self._authenticate(incoming)
            version, project, location, model_id, method = call.groups()
            resource = (
                f"projects/{project}/locations/{location}/publishers/google/models/{model_id}"
            )
            if self.project is not None and project != self.project:
                return self.error(
                    403,
                    f"Permission 'aiplatform.endpoints.predict' denied on resource "
                    f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
                )
            model = self.lookup(model_id)
            if model is None:
                return self.error(
                    404,
                    f"Publisher Model `{resource}` was not found or your project does not have "
                    "access to it. Please ensure you are using a valid model version. For more "
                    "information, see: "
                    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
                )
            if method == "predict":
                if "predict" not in model.methods:
                    return self.error(
                        400,
                        "Gemini cannot be accessed through Vertex Predict/RawPredict API. Please "
                        "follow https://cloud.google.com/vertex-ai/docs/generative-ai/start/"
                        "quickstarts/quickstart-multimodal for Gemini usage.",
                    )
                fault = self.take_fault(model_id)
                return self._predict(model, incoming, fault)
            if "generateContent" not in model.methods:
                return self.error(400, f"Model {model_id} does not support {method}.")
            return self.serve_generate(
                incoming, model, method, vertex=True, surface=VERTEX[version]
            )
        if incoming.method == "GET" and _LIST.match(incoming.path):
            self._authenticate(incoming)
            models = self.served_models()
            return page_reply(self, "publisherModels", models, self.describe, incoming.query, 100)
        got = _GET.match(incoming.path)
        if incoming.method == "GET" and got:
            self._authenticate(incoming)
            model = self.lookup(got.group(2))
            if model is None:
                return self.error(
                    404, f"Publisher Model `publishers/google/models/{got.group(2)}` not found."
                )
            return json_reply(200, self.describe(model))
        return self.error(404, "Method not found.")

    @staticmethod
    def describe(model: EmulatedModel) -> dict[str, Any]:
        """A PublisherModel resource as the Model Garden listing returns it."""
        return {
            "name": f"publishers/google/models/{model.id}",
            "versionId": "001",
            "openSourceCategory": "PROPRIETARY",
            "launchStage": "GA",
        }

    # -- Imagen ----------------------------------------------------------------------------

    def _predict(self, model: EmulatedModel, incoming: Incoming, fault: Fault | None) -> Reply:
        body = self.read_json(incoming.json_ok, incoming.json_body)
        prompt = self._read_prompt(body.get("instances"))
        params = body.get("parameters", {})
        if not isinstance(params, dict):
            raise self.refuse(400, "Invalid value at 'parameters', expected an object.")
        count, seed, mime = self._read_parameters(params)
        if fault is not None and fault.kind == "block":
            payload: dict[str, Any] = {}
            if params.get("includeRaiReason"):
                payload["predictions"] = [
                    {"raiFilteredReason": fault.reason or RAI_FILTERED_REASON}
                ]
            return json_reply(200, payload)
        if fault is not None and fault.kind == "no_image":
            return json_reply(200, {})
        predictions = [
            self._prediction(model, prompt, params, seed, index, mime) for index in range(count)
        ]
        if params.get("includeSafetyAttributes"):
            predictions.append(
                {
                    "contentType": "Positive Prompt",
                    "safetyAttributes": {"categories": [], "scores": []},
                }
            )
        reply = json_reply(200, {"predictions": predictions})
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply

    def _read_prompt(self, instances: Any) -> str:
        """The prompt of the one instance a :predict request may hold."""
        prefix = "Image generation failed with the following error: "
        if not isinstance(instances, list) or not instances:
            raise self.refuse(400, f"{prefix}instances must contain exactly one instance.")
        if len(instances) > 1:
            raise self.refuse(400, f"{prefix}only one instance is supported per request.")
        instance = instances[0]
        prompt = instance.get("prompt") if isinstance(instance, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise self.refuse(400, f"{prefix}The prompt is empty.")
        return prompt

    def _prediction(
        self,
        model: EmulatedModel,
        prompt: str,
        params: dict[str, Any],
        seed: int | None,
        index: int,
        mime: str,
    ) -> dict[str, Any]:
        """The ``index``-th image: deterministic in (model, prompt, seed, index, picture
        parameters) for a seeded model given a seed, a fresh draw otherwise."""
        long_side = SIZE_CLASSES[params.get("sampleImageSize", "1K")]
        size = ratio_size(parse_ratio(params.get("aspectRatio", "1:1")) or (1, 1), long_side)
        picture_params = {k: params[k] for k in _PICTURE_PARAMETERS if k in params}
        if model.seeded and seed is not None:
            rng = seeded_rng(model.id, prompt, seed, index, picture_params)
        else:
            rng = fresh_rng()
        data = encode(render(prompt, rng, size), mime, _quality(params))
        prediction: dict[str, Any] = {
            "bytesBase64Encoded": base64.b64encode(data).decode(),
            "mimeType": mime,
        }
        if params.get("enhancePrompt"):
            prediction["prompt"] = f"{prompt}, richly detailed, balanced composition"
        if params.get("includeSafetyAttributes"):
            prediction["safetyAttributes"] = {"categories": [], "scores": []}
        return prediction

    def _read_parameters(self, params: dict[str, Any]) -> tuple[int, int | None, str]:
        prefix = "Image generation failed with the following error: "
        count = params.get("sampleCount", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
            raise self.refuse(400, f"{prefix}sampleCount must be an integer between 1 and 4.")
        seed = params.get("seed")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
                raise self.refuse(400, f"{prefix}seed must be an integer between 0 and 4294967295.")
            if params.get("addWatermark", True) is not False:
                raise self.refuse(400, f"{prefix}Seed is not supported when watermark is enabled.")
        checks = (
            ("aspectRatio", _IMAGEN_RATIOS),
            ("sampleImageSize", ("1K", "2K")),
            ("personGeneration", _PERSON),
            ("safetySetting", _SAFETY),
        )
        for name, allowed in checks:
            # Vertex documents lowercase values; the SDK sends its enums in uppercase.
            if name in params and str(params[name]).lower() not in [a.lower() for a in allowed]:
                raise self.refuse(
                    400,
                    f"{prefix}{name} {params[name]!r} is not supported. "
                    f"Supported values are: {', '.join(allowed)}.",
                )
        if "storageUri" in params:
            raise self.refuse(
                400,
                "The seedless emulator does not emulate Cloud Storage output "
                "(parameters.storageUri); ask for bytes instead.",
            )
        options = params.get("outputOptions") or {}
        mime = (
            str(options.get("mimeType", "image/png")).lower() if isinstance(options, dict) else ""
        )
        if mime not in ("image/png", "image/jpeg"):
            raise self.refuse(400, f"{prefix}Unsupported output MIME type {mime!r}.")
        return count, seed, mime


def _quality(params: dict[str, Any]) -> int:
    options = params.get("outputOptions")
    if isinstance(options, dict) and isinstance(options.get("compressionQuality"), int):
        return int(options["compressionQuality"])
    return 75


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "aiplatform.googleapis.com"},
    }
