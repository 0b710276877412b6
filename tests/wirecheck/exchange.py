"""One recorded exchange (request and answer) against the definition of its endpoint.

Which definition applies:

- ``gemini`` service: the Gemini API (generativelanguage) of the path's version;
- ``vertex`` service: Vertex AI (aiplatform) of the path's version;
- ``forge`` and ``comfyui`` services: the AUTOMATIC1111/Forge web API
  (``sdapi.openapi.json``) and ComfyUI's routes (``comfyui.openapi.json``); ComfyUI serves
  every route under ``/api`` too, checked as the route without it;
- ``openai`` service: OpenAI's own description for OpenAI's models (gpt-image-*,
  chatgpt-image-*, dall-e-*) and for calls that name no model (listing, files, batches);
  for other models (Flux behind a generic relay) OpenAI's description plus the relay's
  extension fields (``relay.overlay.json``: no relay publishes a definition). Its answers are
  OpenAI's shape for every model and are checked against OpenAI's description.
- ``together`` service: Together's OpenAPI description, requests and answers.
- ``deepinfra`` service: DeepInfra's images API as transcribed from its model pages.
- ``bfl`` service: BFL's description (submissions, ``get_result``, ``credits``; a 422 is its
  ``HTTPValidationError``; other error bodies, FastAPI's ``{"detail": ...}``, it does not
  define); ``bfl-delivery``, the result host, is not an API;
- ``stability`` service: Stability AI's v2beta description, whose answers are defined per
  status and per content type (``application/json; type=image/png``).

:func:`check_planned` checks a planned ``WireRequest`` (``client.prepare()``) the same way,
before anything is sent. A recorded request is judged only when the emulator accepted it (a
status below 400): refusing a body the definition refuses is the emulator being as strict as
the service. Every answer is judged:
2xx against the operation's answer schema, errors against the service's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from seedless.providers.base import WireRequest
from seedless.testing import FilePart, RecordedAnswer, RecordedRequest

from .definitions import DEFINITIONS, GEMINI_ALIASES, Problem, api_version
from .google import GoogleDoc
from .openapi import OpenAPIDoc

#: google.rpc.Code names (googleapis google/rpc/code.proto), the ``status`` of a JSON error.
GOOGLE_CODES = frozenset(
    {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "UNAUTHENTICATED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS",
    }
)  # fmt: skip
_OPENAI_FAMILY = ("gpt-image", "chatgpt-image", "dall-e")
#: Services of the OpenAI images style, each with its host's definition.
_IMAGES = ("openai", "together", "deepinfra")


def check_exchange(
    request: RecordedRequest, answer: RecordedAnswer | None, *, casing: str = "camel"
) -> list[Problem]:
    """Every difference between this exchange and its endpoint's definition."""
    judge = _accepted(answer)
    if request.service in ("gemini", "vertex"):
        return list(_google(request, answer, casing, judge))
    if request.service in _IMAGES:
        return list(_openai(request, answer, judge))
    if request.service in ("forge", "comfyui"):
        return list(_selfhosted(request, answer, judge))
    if request.service in ("bfl", "stability"):
        return list(_hosted(request, answer, judge))
    return []


def check_planned(
    wire: WireRequest, *, casing: str = "camel", service: str | None = None
) -> list[Problem]:
    """Every difference between a planned :class:`~seedless.providers.base.WireRequest` (what
    ``client.prepare()`` keeps, before any I/O) and its endpoint's definition.

    ``service`` names the host whose definition applies (``openai``, ``together``,
    ``deepinfra``, ``gemini``, ``vertex``); by default the built-in endpoint the request was
    planned for, else the wire shape's usual host. The path is the URL's (DeepInfra's API
    lives under ``/v1/openai``).
    """
    if wire.shape in ("sdapi", "comfy_prompt"):
        service = "forge" if wire.shape == "sdapi" else "comfyui"
        planned = RecordedRequest(
            service=service, method=wire.method, path=wire.path, query={}, headers={},
            body=wire.body(), model=wire.model,
        )  # fmt: skip
        return list(_selfhosted(planned, None, True))
    if wire.shape == "images":
        service = service or (wire.provider if wire.provider in _IMAGES else "openai")
    elif wire.shape in ("generate_content", "predict"):
        service = service or ("vertex" if "/projects/" in wire.path else "gemini")
    elif wire.shape in ("bfl", "stable_image"):
        service = service or ("bfl" if wire.shape == "bfl" else "stability")
    else:
        return []
    form: dict[str, Any] | None = None
    if wire.form is not None or wire.files:
        form = dict(wire.form or {})
        for part in wire.files:
            previous = form.get(part.name)
            value = FilePart(part.filename, part.content_type, len(part.data), part.sha256, b"")
            form[part.name] = value if previous is None else [*_listed(previous), value]
    path = urlsplit(wire.url).path if wire.shape == "images" else wire.path
    request = RecordedRequest(
        service=service, method=wire.method, path=path, query={}, headers={},
        body=wire.body() if form is None else None, form=form, model=_wire_model(wire),
    )  # fmt: skip
    if service in _IMAGES:
        return list(_openai(request, None, True))
    if service in ("bfl", "stability"):
        return list(_hosted(request, None, True))
    return list(_google(request, None, casing, True))


def _wire_model(wire: WireRequest) -> str | None:
    """The model the body names (the host's id), else the matrix key's id."""
    source = wire.json if wire.json is not None else wire.form
    if isinstance(source, dict) and isinstance(source.get("model"), str):
        return str(source["model"])
    return wire.model.rpartition(":")[2] or None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _where(request: RecordedRequest) -> str:
    return f"{request.method} {request.path}"


def _accepted(answer: RecordedAnswer | None) -> bool:
    return answer is not None and not answer.dropped and answer.status < 400


# ------------------------------------------------------------------------------- Google


def _google_doc(request: RecordedRequest) -> GoogleDoc | None:
    version = api_version(request.path)
    family = DEFINITIONS.gemini if request.service == "gemini" else DEFINITIONS.vertex
    return family.get(version or "")


def _google(
    request: RecordedRequest, answer: RecordedAnswer | None, casing: str, judge: bool
) -> Iterator[Problem]:
    where = _where(request)
    doc = _google_doc(request)
    path = request.path
    version = api_version(path) or ""
    if request.service == "gemini" and version in GEMINI_ALIASES:
        path = f"/{GEMINI_ALIASES[version]}/" + path.removeprefix(f"/{version}/")
    route = doc.route(request.method, path) if doc else None
    if doc is None or route is None:
        if judge:
            api = "generativelanguage" if request.service == "gemini" else "aiplatform"
            known = doc.label if doc else f"{api} (no vendored definition of this version)"
            yield Problem("request", where, "$", "no such method in the definition", known)
        if answer is not None and answer.status >= 400:
            yield from _google_error(answer, where, doc.label if doc else "google.rpc.Status")
        return
    _, method = route
    found: list[Problem] = []

    def report(side: str) -> Any:
        def add(path: str, message: str, schema: str) -> None:
            found.append(Problem(side, where, path, message, f"{doc.label} {schema}"))

        return add

    if "request" in method and judge:
        if request.body is None:
            found.append(Problem("request", where, "$", "no JSON body", doc.label))
        else:
            doc.check(
                method["request"]["$ref"], request.body, report("request"),
                casing=casing, request=True,
            )  # fmt: skip
    yield from found
    if answer is None or answer.dropped:
        return
    if answer.status >= 400:
        yield from _google_error(answer, where, doc.label)
        return
    found.clear()
    for item in _google_payloads(answer):
        doc.check(method["response"]["$ref"], item, report("answer"), request=False)
    yield from found


def _google_payloads(answer: RecordedAnswer) -> Iterator[Any]:
    if answer.content_type.startswith("text/event-stream"):
        for line in answer.body.decode().splitlines():
            if line.startswith("data: "):
                yield json.loads(line.removeprefix("data: "))
        return
    payload = answer.json
    if isinstance(payload, list):  # streamGenerateContent without alt=sse: a JSON array
        yield from payload
    else:
        yield payload


def _google_error(answer: RecordedAnswer, where: str, label: str) -> Iterator[Problem]:
    definition = f"{label} google.rpc.Status JSON error (AIP-193)"
    payload = answer.json
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict) or set(payload) != {"error"}:
        yield Problem("answer", where, "$", 'not {"error": {...}}', definition)
        return
    for key in set(error) - {"code", "message", "status", "details"}:
        yield Problem("answer", where, f"$.error.{key}", "unknown field", definition)
    if error.get("code") != answer.status:
        yield Problem("answer", where, "$.error.code", "differs from the HTTP status", definition)
    if not isinstance(error.get("message"), str):
        yield Problem("answer", where, "$.error.message", "missing or not a string", definition)
    if error.get("status") not in GOOGLE_CODES:
        yield Problem("answer", where, "$.error.status", "not a google.rpc.Code name", definition)
    for index, detail in enumerate(error.get("details", [])):
        if not (
            isinstance(detail, dict)
            and str(detail.get("@type", "")).startswith("type.googleapis.com/")
        ):
            path = f"$.error.details[{index}]"
            yield Problem("answer", where, path, "not a google.protobuf.Any", definition)


# ------------------------------------------------------------------------------- OpenAI


def _openai_docs(request: RecordedRequest) -> tuple[OpenAPIDoc | None, OpenAPIDoc]:
    """The definition of the request, and the one of the answer."""
    if request.service == "together":
        return DEFINITIONS.together, DEFINITIONS.together
    if request.service == "deepinfra":
        return DEFINITIONS.deepinfra, DEFINITIONS.deepinfra
    model = request.model or ""
    own = (
        not model or model.startswith(_OPENAI_FAMILY) or not request.path.startswith("/v1/images/")
    )
    return (DEFINITIONS.openai if own else DEFINITIONS.relay), DEFINITIONS.openai


def _openai(
    request: RecordedRequest, answer: RecordedAnswer | None, judge: bool
) -> Iterator[Problem]:
    where = _where(request)
    if request.method == "GET" and request.path.startswith("/files/"):
        return  # the emulator's stand-in for the image URLs of url answers: not an API call
    request_doc, answer_doc = _openai_docs(request)
    found: list[Problem] = []

    def report(side: str, doc: OpenAPIDoc) -> Any:
        def add(path: str, message: str, schema: str) -> None:
            found.append(Problem(side, where, path, message, f"{doc.label} {schema}"))

        return add

    if request_doc is not None and judge:
        route = request_doc.route(request.method, request.path)
        if route is None:
            found.append(Problem("request", where, "$", "no such operation", request_doc.label))
        else:
            _check_openai_request(request_doc, route[1], request, report("request", request_doc))
    yield from found
    found.clear()
    if answer is None or answer.dropped:
        return
    if answer.status >= 400:
        schema = {"$ref": f"#/components/schemas/{answer_doc.error_schema}"}
        answer_doc.check(schema, answer.json, report("answer", answer_doc))
    else:
        route = answer_doc.route(request.method, request.path)
        if route is not None:
            content_type = answer.content_type.split(";")[0].strip()
            schema = answer_doc.answer_schema(route[1], answer.status, content_type)
            if schema is not None:
                answer_doc.check(schema, answer.json, report("answer", answer_doc))
    yield from found


def _check_openai_request(
    doc: OpenAPIDoc, operation: dict[str, Any], request: RecordedRequest, report: Any
) -> None:
    if "requestBody" not in operation:
        return
    if request.form is not None:
        schema = doc.request_schema(operation, "multipart/form-data")
        if schema is None:
            report("$", "multipart body where the definition takes none", "requestBody")
            return
        instance = doc.form_instance(schema, _form(request.form))
        doc.check(schema, instance, report, f"{request.path} multipart requestBody")
        return
    schema = doc.request_schema(operation, "application/json")
    if schema is None:
        report("$", "JSON body where the definition takes none", "requestBody")
        return
    doc.check(schema, request.body, report, f"{request.path} requestBody")


def _form(form: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return "<file>" if isinstance(value, FilePart) else value

    return {
        k: [plain(v) for v in vs] if isinstance(vs, list) else plain(vs) for k, vs in form.items()
    }


# ------------------------------------------------------------------- self-hosted servers

#: The error shapes of an AUTOMATIC1111/Forge answer: FastAPI's validation list (422), A1111's
#: middleware (a body with ``error``), FastAPI's ``{"detail"}`` (Forge).
_SDAPI_ERRORS = ("HTTPValidationError", "A1111Error", "HTTPException")


def _selfhosted(
    request: RecordedRequest, answer: RecordedAnswer | None, judge: bool
) -> Iterator[Problem]:
    doc = DEFINITIONS.sdapi if request.service == "forge" else DEFINITIONS.comfyui
    path = request.path.removeprefix("/api") if request.service == "comfyui" else request.path
    where = f"{request.method} {path}"
    found: list[Problem] = []

    def add(side: str) -> Any:
        def report(at: str, message: str, schema: str) -> None:
            found.append(Problem(side, where, at, message, f"{doc.label} {schema}"))

        return report

    route = doc.route(request.method, path)
    if route is None:
        if judge:
            found.append(Problem("request", where, "$", "no such operation", doc.label))
        yield from found
        return
    if judge and "requestBody" in route[1]:
        content = "multipart/form-data" if request.form is not None else "application/json"
        schema = doc.request_schema(route[1], content)
        if schema is None:
            found.append(Problem("request", where, "$", f"no {content} body defined", doc.label))
        elif request.form is not None:
            doc.check(schema, doc.form_instance(schema, _form(request.form)), add("request"))
        else:
            doc.check(schema, request.body, add("request"))
    if answer is not None and not answer.dropped and _is_json(answer):
        schema = _selfhosted_answer(doc, route[1], answer, request.service)
        if schema is not None:
            doc.check(schema, answer.json, add("answer"))
    yield from found


def _is_json(answer: RecordedAnswer) -> bool:
    return answer.content_type.split(";")[0].strip() == "application/json"


def _selfhosted_answer(
    doc: OpenAPIDoc, operation: dict[str, Any], answer: RecordedAnswer, service: str
) -> Any:
    if answer.status < 400:
        return doc.answer_schema(operation, answer.status, "application/json")
    if service == "comfyui":  # only /prompt answers JSON errors; the rest are aiohttp text
        return {"$ref": "#/components/schemas/PromptError"}
    payload = answer.json
    name = _SDAPI_ERRORS[2]
    if (
        answer.status == 422
        and isinstance(payload, dict)
        and isinstance(payload.get("detail"), list)
    ):
        name = _SDAPI_ERRORS[0]
    elif isinstance(payload, dict) and "error" in payload:
        name = _SDAPI_ERRORS[1]
    return {"$ref": f"#/components/schemas/{name}"}


# ------------------------------------------------------------------------- BFL, Stability


def _hosted(
    request: RecordedRequest, answer: RecordedAnswer | None, judge: bool
) -> Iterator[Problem]:
    """BFL's and Stability AI's exchanges: requests against the operation's body schema,
    answers against the schema of their status and content type."""
    doc = DEFINITIONS.bfl if request.service == "bfl" else DEFINITIONS.stability
    where = _where(request)
    found: list[Problem] = []

    def report(side: str) -> Any:
        def add(path: str, message: str, schema: str) -> None:
            found.append(Problem(side, where, path, message, f"{doc.label} {schema}"))

        return add

    route = doc.route(request.method, request.path)
    if route is None:
        if judge:
            yield Problem("request", where, "$", "no such operation", doc.label)
        return
    operation = route[1]
    if judge:
        for parameter in operation.get("parameters", []):
            name = parameter.get("name")
            required = parameter.get("in") == "query" and parameter.get("required")
            if required and name not in request.query:
                message = "required query parameter missing"
                found.append(Problem("request", where, f"?{name}", message, doc.label))
        if "requestBody" in operation:
            _check_openai_request(doc, operation, request, report("request"))
    yield from found
    found.clear()
    if answer is None or answer.dropped:
        return
    _check_hosted_answer(doc, operation, request, answer, report("answer"))
    yield from found


def _check_hosted_answer(
    doc: OpenAPIDoc,
    operation: dict[str, Any],
    request: RecordedRequest,
    answer: RecordedAnswer,
    report: Any,
) -> None:
    responses = operation.get("responses", {})
    response = responses.get(str(answer.status))
    if response is None:
        if answer.status < 400 or request.service == "stability":
            report("$", f"status {answer.status} is not defined for this operation", "responses")
        return  # BFL defines 200 and 422 only: FastAPI's other errors are {"detail": ...}
    content = response.get("content", {})
    content_type = answer.content_type.strip()
    schema = (content.get(content_type) or content.get(content_type.split(";")[0]) or {}).get(
        "schema"
    )
    if schema is None:
        if content and not content_type.startswith("image/"):
            report("$", f"content type {content_type!r} is not defined", "responses")
        return
    if schema.get("format") == "binary":
        return
    doc.check(schema, answer.json, report, f"{request.path} {answer.status} answer")
