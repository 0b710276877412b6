"""The emulated Black Forest Labs API: submit a task, poll it, download the result elsewhere.

Paths (:attr:`BFLEmulator.url` is the base URL, as ``https://api.bfl.ai`` is)::

    POST /v1/{model}              JSON inputs; x-key header -> {id, polling_url, cost, ...}
    GET  /v1/get_result?id=...    {id, status, result, progress, details, preview}
    GET  /v1/credits              {credits}

and, on a second loopback server (:class:`BFLDeliveryEmulator`, as BFL's results live on
``delivery-*.bfl.ai`` / blob storage), ``GET /results/{id}/sample.{ext}?se=...&sig=...``:
the image, served without any key, until it expires (:attr:`BFLDeliveryEmulator.result_ttl`,
ten minutes by default; then 403 as expired blob links answer).

Each model takes exactly the fields of its input schema in BFL's OpenAPI description
(``FluxDevInputs``, ``FluxPro11Inputs``, ``FluxUltraInput``, ``FluxKontextProInputs``,
``Flux2Inputs``, ``Flux2FlexInputs``, ``Flux2KleinInputs``) with its bounds; anything else is
a FastAPI-style 422 ``{"detail": [{"loc", "msg", "type"}]}`` (stricter than the service,
which may ignore unknown fields). A task stays ``Pending`` for :attr:`BFLEmulator.pending_polls`
polls (one by default), then ends: ``Ready`` with ``result.sample``; ``Content Moderated`` or
``Request Moderated`` after ``block_next`` (``prompt=True`` for the request); ``Error`` after
``no_image_next``; an unknown id is ``Task not found``. Generations are deterministic in
(model, prompt, seed, size or ratio, steps, guidance, raw, inputs); without a seed one is drawn
and reported in ``result.seed`` (sending it back gives the same image); ``prompt_upsampling``
rewrites the prompt at random, so it breaks replay as it does at BFL.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from hashlib import sha256
from typing import Any, ClassVar

from PIL import Image

from ._catalog import EmulatedModel
from ._faults import Fault, FaultQueue
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
from ._server import Incoming, Refusal, Reply, ServiceEmulator, json_reply, retry_headers

__all__ = ["BFL_INPUTS", "DEFAULT_BFL_API_KEY", "BFLDeliveryEmulator", "BFLEmulator"]

DEFAULT_BFL_API_KEY = "test-bfl-key"

_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_WEBHOOK = ("webhook_url", "webhook_secret")


@dataclass(frozen=True)
class _Inputs:
    """One input schema of BFL's OpenAPI description: its fields and their bounds."""

    schema: str
    fields: frozenset[str]
    pixels: tuple[int | None, int, int | None] | None = None  # (multiple, min, max) of edges
    references: int = 0  # input_image, input_image_2 ...
    safety_max: int = 6
    steps: tuple[int, int] | None = None
    guidance: tuple[float, float] | None = None
    default_format: str = "jpeg"
    prompt_required: bool = False
    megapixels: float = 1.0  # output size of a model that takes an aspect ratio
    default_ratio: str = "1:1"
    upsampling_default: bool = False
    #: BFL's price: credits for the first megapixel and for each further one (and each input one)
    credits: tuple[float, float] = (4.0, 0.0)

    @property
    def takes_pixels(self) -> bool:
        return self.pixels is not None


def _images(count: int) -> set[str]:
    return {"input_image"} | {f"input_image_{i}" for i in range(2, count + 1)}


_FLUX1 = {"prompt", "seed", "safety_tolerance", "output_format", "prompt_upsampling", *_WEBHOOK}
_FLUX2 = {"prompt", "seed", "width", "height", "safety_tolerance", "output_format", *_WEBHOOK}

_DEV = _Inputs(
    "FluxDevInputs",
    frozenset(_FLUX1 | {"image_prompt", "width", "height", "steps", "guidance"}),
    pixels=(32, 256, 1440),
    steps=(1, 50),
    guidance=(1.5, 5.0),
    credits=(2.5, 0.0),
)
_PRO11 = _Inputs(
    "FluxPro11Inputs",
    frozenset(_FLUX1 | {"image_prompt", "width", "height"}),
    pixels=(32, 256, 1440),
    credits=(4.0, 0.0),
)
_ULTRA = _Inputs(
    "FluxUltraInput",
    frozenset(_FLUX1 | {"aspect_ratio", "raw", "image_prompt", "image_prompt_strength"}),
    megapixels=4.0,
    default_ratio="16:9",
    credits=(6.0, 0.0),
)
_KONTEXT = _Inputs(
    "FluxKontextProInputs",
    frozenset(_FLUX1 | {"aspect_ratio"} | _images(4)),
    references=4,
    default_format="png",
    prompt_required=True,
    credits=(4.0, 0.0),
)
_FLUX2_PRO = _Inputs(
    "Flux2Inputs",
    frozenset(_FLUX2 | _images(8)),
    pixels=(None, 64, None),
    references=8,
    safety_max=5,
    prompt_required=True,
    credits=(3.0, 1.5),
)
_FLUX2_FLEX = _Inputs(
    "Flux2FlexInputs",
    frozenset(
        _FLUX2 | _images(8) | {"prompt_upsampling", "input_image_blob_path", "steps", "guidance"}
    ),
    pixels=(None, 64, None),
    references=8,
    safety_max=5,
    steps=(1, 50),
    guidance=(1.5, 10.0),
    prompt_required=True,
    upsampling_default=True,
    credits=(5.0, 5.0),
)
_FLUX2_KLEIN = _Inputs(
    "Flux2KleinInputs",
    frozenset(_FLUX2 | _images(4)),
    pixels=(None, 64, None),
    references=4,
    safety_max=5,
    prompt_required=True,
    credits=(1.4, 0.1),
)
#: Model id -> its input schema (BFL's OpenAPI description, api.bfl.ai/openapi.json) and
#: its price in credits (docs.bfl.ai pricing).
BFL_INPUTS: dict[str, _Inputs] = {
    "flux-dev": _DEV,
    "flux-pro-1.1": _PRO11,
    "flux-pro-1.1-ultra": _ULTRA,
    "flux-kontext-pro": _KONTEXT,
    "flux-kontext-max": replace(_KONTEXT, credits=(8.0, 0.0)),
    "flux-2-pro": _FLUX2_PRO,
    "flux-2-max": replace(_FLUX2_PRO, credits=(7.0, 3.0)),
    "flux-2-flex": _FLUX2_FLEX,
    "flux-2-klein-4b": _FLUX2_KLEIN,
    "flux-2-klein-9b": replace(_FLUX2_KLEIN, credits=(1.5, 0.2)),
}
#: FLUX.2's documented ceiling (docs.bfl.ai): 4 megapixels.
_FLUX2_MAX_PIXELS = 2048 * 2048


@dataclass
class _Task:
    id: str
    model: str
    prompt: str
    seed: int | None
    outcome: str  # the status the task ends with
    image: bytes = b""
    mime: str = "image/jpeg"
    details: dict[str, Any] | None = None
    polls: int = 0
    started: float = field(default_factory=time.time)


class BFLDeliveryEmulator(ServiceEmulator):
    """Where BFL's result images live: a second host, no key, links that expire."""

    name: ClassVar[str] = "bfl-delivery"

    def __init__(self, *, max_results: int = 256, **kwargs: Any) -> None:
        kwargs.setdefault("models", {})
        super().__init__(**kwargs)
        #: Seconds a result link stays valid (BFL: about ten minutes).
        self.result_ttl = 600.0
        #: The clock expiry is measured on (tests may replace it).
        self.clock: Callable[[], float] = time.monotonic
        self._max_results = max_results
        self._blobs: OrderedDict[str, tuple[bytes, str, float, str]] = OrderedDict()
        self._blobs_lock = threading.Lock()

    def store(self, task: str, data: bytes, mime: str) -> str:
        """Keep ``data`` and return its link (valid for :attr:`result_ttl` seconds)."""
        name = f"{task}/sample.{mime.removeprefix('image/').replace('jpeg', 'jpg')}"
        signature = secrets.token_urlsafe(16)
        expires = self.clock() + self.result_ttl
        with self._blobs_lock:
            self._blobs[name] = (data, mime, expires, signature)
            while len(self._blobs) > self._max_results:
                self._blobs.popitem(last=False)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.result_ttl))
        return f"{self.origin}/results/{name}?se={stamp}&sp=r&sig={signature}"

    def expire(self) -> None:
        """Let every link given out so far expire now."""
        with self._blobs_lock:
            for name, (data, mime, _, signature) in list(self._blobs.items()):
                self._blobs[name] = (data, mime, float("-inf"), signature)

    def error(
        self, status: int, message: str | None = None, *, retry_after: float | None = None,
        **extra: Any,
    ) -> Reply:  # fmt: skip
        code = {403: "AuthenticationFailed", 404: "BlobNotFound"}.get(status, "InternalError")
        text = message or "The request failed."
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error>'
            f"<Code>{code}</Code><Message>{text}</Message></Error>"
        ).encode()
        return Reply(
            status, body, content_type="application/xml", headers=retry_headers(retry_after)
        )

    def route(self, incoming: Incoming) -> Reply:
        path = incoming.path
        if incoming.method != "GET" or not path.startswith("/results/"):
            return self.error(404, "The specified resource does not exist.")
        with self._blobs_lock:
            stored = self._blobs.get(path.removeprefix("/results/"))
        if stored is None:
            return self.error(404, "The specified blob does not exist.")
        data, mime, expires, signature = stored
        if incoming.query.get("sig") != signature:
            return self.error(403, "Signature did not match.")
        if self.clock() >= expires:
            return self.error(403, "Signed expiry time has expired.")
        return Reply(200, data, content_type=mime)


class BFLEmulator(ServiceEmulator):
    """Black Forest Labs' asynchronous API: tasks submitted, polled, delivered elsewhere."""

    name: ClassVar[str] = "bfl"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_BFL_API_KEY,
        delivery: BFLDeliveryEmulator | None = None,
        credits: float = 1000.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: The one API key this service accepts (the ``x-key`` header).
        self.api_key = api_key
        #: The second host the result images are served from.
        self.delivery = delivery or BFLDeliveryEmulator()
        #: Polls that answer ``Pending`` before a task ends.
        self.pending_polls = 1
        #: The account's credits (``GET /v1/credits``).
        self.credits = credits
        self._poll_faults = FaultQueue()
        self._tasks: OrderedDict[str, _Task] = OrderedDict()
        self._tasks_lock = threading.Lock()

    def fail_poll_next(
        self, status: int, times: int = 1, *, retry_after: float | None = None
    ) -> None:
        """Answer the next ``times`` polls with ``status`` (the task itself goes on)."""
        self._poll_faults.add(Fault("status", None, status=status, retry_after=retry_after), times)

    @property
    def tasks(self) -> dict[str, str]:
        """Every task so far: id -> the status it ends with."""
        with self._tasks_lock:
            return {task.id: task.outcome for task in self._tasks.values()}

    # -- protocol --------------------------------------------------------------------------

    def model_of(self, incoming: Incoming) -> str | None:
        if incoming.path == "/v1/get_result":
            with self._tasks_lock:
                task = self._tasks.get(incoming.query.get("id", ""))
            return task.model if task else None
        if incoming.method == "POST" and incoming.path.startswith("/v1/"):
            return incoming.path.removeprefix("/v1/")
        return None

    def error(
        self, status: int, message: str | None = None, *, retry_after: float | None = None,
        **extra: Any,
    ) -> Reply:  # fmt: skip
        detail: Any = extra.get("detail") or message or _MESSAGES.get(status, "Request failed")
        return json_reply(status, {"detail": detail}, retry_headers(retry_after))

    def _invalid(self, field_name: str, message: str, kind: str) -> Refusal:
        detail = [{"loc": ["body", field_name], "msg": message, "type": kind}]
        return self.refuse(422, detail=detail)

    def route(self, incoming: Incoming) -> Reply:
        path, method = incoming.path, incoming.method
        if method == "GET" and path == "/v1/get_result":
            return self._result(incoming.query.get("id"))
        if method == "GET" and path == "/v1/credits":
            self._authenticate(incoming)
            return json_reply(200, {"credits": self.credits})
        if method == "POST" and path.startswith("/v1/") and path.count("/") == 2:
            self._authenticate(incoming)
            return self._submit(path.removeprefix("/v1/"), incoming)
        return self.error(404, "Not Found")

    def _authenticate(self, incoming: Incoming) -> None:
        key = incoming.headers.get("x-key")
        if not key:
            raise self.refuse(403, "Not authenticated")
        if key != self.api_key:
            raise self.refuse(403, "Invalid API key")

    # -- submission ------------------------------------------------------------------------

    def _submit(self, model_id: str, incoming: Incoming) -> Reply:
        model = self.lookup(model_id)
        inputs = BFL_INPUTS.get(model_id)
        if model is None or inputs is None:
            return self.error(404, "Not Found")
        if not incoming.json_ok or not isinstance(incoming.json_body, dict):
            raise self._invalid("", "Input should be a valid dictionary", "dict_type")
        body: dict[str, Any] = incoming.json_body
        self._check(body, inputs)
        fault = self.take_fault(model.id)
        task = self._make_task(model, inputs, body, fault)
        with self._tasks_lock:
            self._tasks[task.id] = task
            while len(self._tasks) > 1000:
                self._tasks.popitem(last=False)
        out_mp, in_mp = self._megapixels(body, inputs)
        first, rate = inputs.credits
        cost = first + max(0, math.ceil(out_mp - 1e-9) - 1) * rate + math.ceil(in_mp) * rate
        answer = {
            "id": task.id,
            "polling_url": f"{self.url}/v1/get_result?id={task.id}",
            "cost": round(cost, 2),
            "input_mp": round(in_mp, 2),
            "output_mp": round(out_mp, 2),
        }
        reply = json_reply(200, answer, {"x-request-id": secrets.token_hex(8)})
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply

    def _check(self, body: dict[str, Any], inputs: _Inputs) -> None:
        """Refuse, as FastAPI would (422), what the model's input schema does not take."""
        for name in body:
            if name not in inputs.fields:
                raise self._invalid(name, "Extra inputs are not permitted", "extra_forbidden")
        prompt = body.get("prompt")
        if prompt is None and inputs.prompt_required:
            raise self._invalid("prompt", "Field required", "missing")
        if prompt is not None and not isinstance(prompt, str):
            raise self._invalid("prompt", "Input should be a valid string", "string_type")
        for name in ("seed", "width", "height", "steps", "safety_tolerance"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise self._invalid(name, "Input should be a valid integer", "int_type")
        self._check_bounds(body, inputs)
        fmt = body.get("output_format")
        if fmt is not None and fmt not in _FORMATS:
            raise self._invalid("output_format", "Input should be 'jpeg', 'png' or 'webp'", "enum")
        ratio = body.get("aspect_ratio")
        if ratio is not None:
            parsed = parse_ratio(str(ratio))
            if parsed is None or not 9 / 21 - 1e-9 <= parsed[0] / parsed[1] <= 21 / 9 + 1e-9:
                raise self._invalid(
                    "aspect_ratio", "Aspect ratio must be between 21:9 and 9:21", "value_error"
                )
        for name in ("prompt_upsampling", "raw"):
            if name in body and not isinstance(body[name], bool):
                raise self._invalid(name, "Input should be a valid boolean", "bool_type")

    def _check_bounds(self, body: dict[str, Any], inputs: _Inputs) -> None:
        checks: list[tuple[str, float | None, float | None]] = [
            ("safety_tolerance", 0, inputs.safety_max)
        ]
        if inputs.steps:
            checks.append(("steps", *inputs.steps))
        if inputs.guidance:
            checks.append(("guidance", *inputs.guidance))
        if inputs.pixels:
            multiple, edge_min, edge_max = inputs.pixels
            checks += [("width", edge_min, edge_max), ("height", edge_min, edge_max)]
            for name in ("width", "height"):
                edge = body.get(name)
                if multiple and isinstance(edge, int) and edge % multiple:
                    raise self._invalid(
                        name, f"Input should be a multiple of {multiple}", "multiple_of"
                    )
        for name, low, high in checks:
            value = body.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                if value is not None:
                    raise self._invalid(name, "Input should be a valid number", "float_type")
                continue
            if low is not None and value < low:
                raise self._invalid(
                    name, f"Input should be greater than or equal to {low:g}", "greater_than_equal"
                )
            if high is not None and value > high:
                raise self._invalid(
                    name, f"Input should be less than or equal to {high:g}", "less_than_equal"
                )
        width, height = body.get("width") or 0, body.get("height") or 0
        if inputs.pixels and inputs.pixels[2] is None and width * height > _FLUX2_MAX_PIXELS:
            raise self._invalid("width", "The image may have at most 4 megapixels", "value_error")

    def _megapixels(self, body: dict[str, Any], inputs: _Inputs) -> tuple[float, float]:
        """(output, input) megapixels as BFL counts them (2**20 pixels each)."""
        if inputs.takes_pixels:
            out = (body.get("width") or 1024) * (body.get("height") or 1024) / 2**20
        else:
            out = inputs.megapixels
        inputs_mp = 0.0
        for name, value in body.items():
            if name.startswith("input_image") and isinstance(value, str):
                try:
                    picture = decode(base64.b64decode(value))
                except (binascii.Error, ValueError):
                    continue
                inputs_mp += picture.width * picture.height / 2**20
        return out, inputs_mp

    def _make_task(
        self, model: EmulatedModel, inputs: _Inputs, body: dict[str, Any], fault: Fault | None
    ) -> _Task:
        prompt = str(body.get("prompt") or "")
        seed = body.get("seed")
        if seed is None:  # BFL draws one and reports it
            seed = secrets.randbelow(2**32)
        task = _Task(str(uuid.uuid4()), model.id, prompt, seed, "Ready")
        if fault is not None and fault.kind == "block":
            task.outcome = "Request Moderated" if fault.prompt_stage else "Content Moderated"
            task.details = {"Moderation Reasons": [fault.reason or "Derivative Works Filter"]}
            return task
        if fault is not None and fault.kind == "no_image":
            task.outcome = "Error"
            task.details = {"error": fault.text or "Generation failed, please try again."}
            return task
        task.mime = _FORMATS[str(body.get("output_format") or inputs.default_format)]
        task.image = encode(self._picture(model, inputs, body, seed), task.mime)
        return task

    def _picture(
        self, model: EmulatedModel, inputs: _Inputs, body: dict[str, Any], seed: int
    ) -> Image.Image:
        """The image for a request; ``seed`` is the one sent or, without one, the one drawn and
        reported (sending it back gives the same image)."""
        prompt = str(body.get("prompt") or "")
        sources = [body[name] for name in sorted(body) if name.startswith("input_image")]
        digests = [sha256(str(value).encode()).hexdigest() for value in sources]
        upsampled = body.get("prompt_upsampling", inputs.upsampling_default)
        size = self._size(inputs, body, sources)
        key = (
            prompt, seed, size, body.get("aspect_ratio"), body.get("steps"),
            body.get("guidance"), body.get("raw"), digests,
        )  # fmt: skip
        # a prompt rewritten by a language model first is a fresh picture
        rng = seeded_rng(model.id, *key) if model.seeded and not upsampled else fresh_rng()
        if not sources:
            return render(prompt, rng, size)
        try:
            source = decode(base64.b64decode(str(sources[0])))
        except (binascii.Error, ValueError):
            raise self._invalid(
                "input_image", "Could not decode the input image", "value_error"
            ) from None
        return self.transform(fit(source, size), prompt, rng)

    @staticmethod
    def _size(inputs: _Inputs, body: dict[str, Any], sources: list[Any]) -> tuple[int, int]:
        width, height = body.get("width"), body.get("height")
        if inputs.takes_pixels and width and height:
            return ratio_size((width, height), long_side_for(width, height))
        ratio = parse_ratio(str(body.get("aspect_ratio") or inputs.default_ratio)) or (1, 1)
        long_side = long_side_for(2048, 2048) if inputs.megapixels > 2 else long_side_for(1, 1)
        if sources and not body.get("aspect_ratio") and not (width and height):
            try:
                first = decode(base64.b64decode(str(sources[0])))
                ratio = (first.width, first.height)
            except (binascii.Error, ValueError):
                pass
        return ratio_size(ratio, long_side)

    # -- polling ---------------------------------------------------------------------------

    def _result(self, task_id: str | None) -> Reply:
        fault = self._poll_faults.take(None)
        if fault is not None:
            raise Refusal(self.error(fault.status, retry_after=fault.retry_after))
        with self._tasks_lock:
            task = self._tasks.get(task_id or "")
            if task is not None:
                task.polls += 1
        answer: dict[str, Any] = {
            "id": task_id or "",
            "status": "Task not found",
            "result": None,
            "progress": None,
            "details": None,
            "preview": None,
        }
        if task is None:
            return json_reply(200, answer)
        if task.polls <= self.pending_polls:
            progress = round(task.polls / (self.pending_polls + 1), 2)
            answer.update(status="Pending", progress=progress)
            return json_reply(200, answer)
        answer["status"] = task.outcome
        if task.outcome != "Ready":
            answer["details"] = task.details
            return json_reply(200, answer)
        ended = time.time()
        answer["result"] = {
            "sample": self.delivery.store(task.id, task.image, task.mime),
            "prompt": task.prompt,
            "seed": task.seed,
            "start_time": task.started,
            "end_time": ended,
            "duration": round(ended - task.started, 3),
        }
        return json_reply(200, answer)


_MESSAGES = {
    402: "Insufficient credits",
    429: "You have exceeded the limit of 24 active tasks.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
