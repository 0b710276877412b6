"""The base class every emulated service extends: models, credentials, faults, latency,
recording.

A service records each request (:class:`RecordedRequest`, secrets masked), waits its
latency, then answers through :meth:`~ServiceEmulator.route`, where subclasses speak their
protocol and consult the scripted faults; each answer is recorded too
(:class:`RecordedAnswer`), so tests can check both sides against the providers' definitions.
The messages live in :mod:`seedless.testing._messages` and the HTTP server that hosts the
services in :mod:`seedless.testing._loopback`; both are re-exported here.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from PIL import Image

from ._catalog import EmulatedModel, default_methods, default_models, guess_seed_policy
from ._faults import Fault, FaultQueue
from ._images import EditTransform, darken
from ._loopback import LoopbackServer
from ._messages import (
    MASK,
    FilePart,
    Incoming,
    RecordedAnswer,
    RecordedRequest,
    Refusal,
    Reply,
    format_seconds,
    json_reply,
    mask_headers,
    mask_query,
    retry_headers,
)

__all__ = [
    "MASK",
    "FilePart",
    "Incoming",
    "LoopbackServer",
    "RecordedAnswer",
    "RecordedRequest",
    "Refusal",
    "Reply",
    "ServiceEmulator",
    "counter",
    "format_seconds",
    "json_reply",
    "retry_headers",
]

logger = logging.getLogger("seedless.testing")

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


class ServiceEmulator:
    """What every emulated service shares: models, credentials, faults, latency, recording.

    Subclasses set :attr:`name` and implement :meth:`route` and :meth:`error`.
    """

    name: ClassVar[str] = ""
    #: Path prefix of :attr:`url` (``"/v1"`` for OpenAI-style base URLs).
    url_path: ClassVar[str] = ""

    def __init__(
        self,
        *,
        models: dict[str, EmulatedModel] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        #: The served model table (``id -> EmulatedModel``); edit it freely.
        self.models: dict[str, EmulatedModel] = (
            default_models(self.name) if models is None else dict(models)
        )
        #: Model ids that answer 404 and leave the listings, as retired models do.
        self.retired: set[str] = set()
        #: How this service's models edit a picture: ``fn(image, instruction, rng)``.
        self.edit_transform: EditTransform = darken
        #: Largest request body accepted, in bytes.
        self.max_body_bytes = max_body_bytes
        #: How many recorded requests (and answers) are kept (the oldest go first).
        self.max_recorded = 1000
        self._latency: float | None = None
        self._default_latency: Callable[[], float] = lambda: 0.0
        self._stopping = threading.Event()
        self._faults = FaultQueue()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._answers: list[RecordedAnswer] = []
        self._sequence: Callable[[], int] = counter()
        self._server: LoopbackServer | None = None
        self._serving = 0
        self._peak = 0

    # -- addresses -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` of the server hosting this service."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: use `with Emulator() as emu:`")
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def url(self) -> str:
        """The base URL to give an SDK or an :class:`~seedless.Endpoint`."""
        return self.origin + self.url_path

    @property
    def port(self) -> int:
        """The TCP port of the server hosting this service."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.port

    # -- models ----------------------------------------------------------------------------

    def add_model(self, model_id: str, *, seeded: bool | None = None, **fields: Any) -> None:
        """Serve ``model_id`` too (seed policy guessed from its name unless ``seeded`` says)."""
        if seeded is None:
            policy = guess_seed_policy(model_id)
        else:
            policy = "honoured" if seeded else "ignored"
        fields.setdefault("methods", default_methods(self.name, model_id))
        fields.setdefault("display_name", model_id)
        if self.name in ("openai", "together", "deepinfra"):
            fields.setdefault("owned_by", "system")
        self.models[model_id] = EmulatedModel(model_id, policy, **fields)

    def lookup(self, model_id: str) -> EmulatedModel | None:
        """The served model ``model_id``, or None if it is unknown or retired."""
        if model_id in self.retired:
            return None
        return self.models.get(model_id)

    def served_models(self) -> list[EmulatedModel]:
        """The models listing endpoints show: the table minus the retired ones."""
        return [m for m in self.models.values() if m.id not in self.retired]

    # -- latency and faults ----------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every answer waits (this service's own value, else the emulator's)."""
        return self._latency if self._latency is not None else self._default_latency()

    @latency.setter
    def latency(self, seconds: float | None) -> None:
        if seconds is not None and seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = seconds

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: float | None = None,
        model: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and this protocol's error body."""
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error code (400-599)")
        fault = Fault("status", model, status=status, retry_after=retry_after, message=message)
        self._faults.add(fault, times)

    def drop_next(self, times: int = 1, *, model: str | None = None) -> None:
        """Close the connection of the next ``times`` requests without answering."""
        self._faults.add(Fault("drop", model), times)

    def truncate_next(self, times: int = 1, *, model: str | None = None) -> None:
        """Send only the first half of the next ``times`` successful answers, then close."""
        self._faults.add(Fault("truncate", model), times)

    def slow_next(self, seconds: float, times: int = 1, *, model: str | None = None) -> None:
        """Delay the next ``times`` answers by ``seconds`` on top of :attr:`latency`."""
        self._faults.add(Fault("slow", model, delay=seconds), times)

    def block_next(
        self,
        reason: str | None = None,
        times: int = 1,
        *,
        model: str | None = None,
        prompt: bool = False,
    ) -> None:
        """Answer the next ``times`` requests with this protocol's safety block.

        ``reason`` is the Gemini ``finishReason`` (``promptFeedback.blockReason`` when
        ``prompt`` is true), the Vertex ``raiFilteredReason`` text, or the OpenAI error
        message; None picks the service's usual one.
        """
        self._faults.add(Fault("block", model, reason=reason, prompt_stage=prompt), times)

    def no_image_next(
        self, text: str | None = None, times: int = 1, *, model: str | None = None
    ) -> None:
        """Answer the next ``times`` requests successfully, with ``text`` and no image."""
        self._faults.add(Fault("no_image", model, text=text), times)

    @property
    def pending_faults(self) -> list[Fault]:
        """Scripted faults not used yet."""
        return self._faults.pending()

    # -- recording -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def answers(self) -> list[RecordedAnswer]:
        """Every answer given so far, oldest first (a copy), each with its request."""
        with self._lock:
            return list(self._answers)

    @property
    def peak_concurrency(self) -> int:
        """The most requests this service was answering at once since it started or was
        last :meth:`reset` (with a :attr:`latency`, how many calls a client had in flight)."""
        with self._lock:
            return self._peak

    def reset(self) -> None:
        """Forget recorded requests and answers, unused faults and the peak concurrency."""
        with self._lock:
            self._requests.clear()
            self._answers.clear()
            self._peak = self._serving
        self._faults.clear()

    # -- serving ---------------------------------------------------------------------------

    def owns(self, path: str) -> bool:
        """Whether this service answers ``path`` on a server hosting several services."""
        return True

    def model_of(self, incoming: Incoming) -> str | None:
        """The model a request names, for recording and fault matching."""
        return None

    def body_limit(self, path: str) -> int:
        """The largest body accepted at ``path`` (:attr:`max_body_bytes`, unless a service
        takes large uploads there)."""
        return self.max_body_bytes

    def keeps_body(self, incoming: Incoming) -> bool:
        """Whether the recorded request keeps the body's bytes (not for file uploads, whose
        chunks are large and kept by the service itself)."""
        return True

    def serve(self, incoming: Incoming) -> Reply:
        """Record ``incoming``, wait the latency, and answer it."""
        keep = self.keeps_body(incoming)
        recorded = RecordedRequest(
            service=self.name,
            method=incoming.method,
            path=incoming.path,
            query=mask_query(incoming.query),
            headers=mask_headers(incoming.headers),
            body=incoming.json_body if incoming.json_ok and keep else None,
            form=incoming.form if keep else None,
            model=self.model_of(incoming),
            raw=incoming.raw if keep else b"",
            sequence=self._sequence(),
        )
        with self._lock:
            self._requests.append(recorded)
            del self._requests[: max(0, len(self._requests) - self.max_recorded)]
            self._serving += 1
            self._peak = max(self._peak, self._serving)
        try:
            self.sleep(self.latency)
            try:
                reply = self.route(incoming)
            except Refusal as refusal:
                reply = refusal.reply
        finally:
            with self._lock:
                self._serving -= 1
        self._record_answer(recorded, reply)
        return reply

    def _record_answer(self, request: RecordedRequest, reply: Reply) -> None:
        answer = RecordedAnswer(
            request=request,
            status=reply.status,
            content_type=reply.content_type,
            headers=dict(reply.headers),
            body=b"" if reply.drop else reply.body,
            dropped=reply.drop,
            truncated=reply.truncate,
        )
        with self._lock:
            self._answers.append(answer)
            del self._answers[: max(0, len(self._answers) - self.max_recorded)]

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the emulator is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def take_fault(self, model: str | None) -> Fault | None:
        """The next fault for ``model``; status, drop and slow faults are acted on here.

        Returns a fault the caller must act on (``truncate``, ``block``, ``no_image``), or
        None; raises :class:`Refusal` for a status fault or a dropped connection.
        """
        fault = self._faults.take(model)
        if fault is None:
            return None
        if fault.kind == "status":
            raise Refusal(self.error(fault.status, fault.message, retry_after=fault.retry_after))
        if fault.kind == "drop":
            raise Refusal(Reply(drop=True))
        if fault.kind == "slow":
            self.sleep(fault.delay)
            return None
        return fault

    def transform(self, image: Image.Image, instruction: str, rng: random.Random) -> Image.Image:
        """:attr:`edit_transform` applied; its failures become a 500 that says so."""
        try:
            result = self.edit_transform(image, instruction, rng)
        except Exception as exc:
            logger.exception("edit_transform of the %s emulator failed", self.name)
            raise self.refuse(500, f"The emulator's edit_transform failed: {exc!r}") from exc
        if not isinstance(result, Image.Image):
            raise self.refuse(500, "The emulator's edit_transform did not return a PIL image.")
        return result.convert("RGB")

    def refuse(self, status: int, message: str | None = None, **extra: Any) -> Refusal:
        """A :class:`Refusal` carrying this protocol's error answer."""
        return Refusal(self.error(status, message, **extra))

    def route(self, incoming: Incoming) -> Reply:
        """Answer ``incoming`` (subclasses speak their protocol here)."""
        raise NotImplementedError

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        **extra: Any,
    ) -> Reply:
        """This protocol's error answer for ``status``."""
        raise NotImplementedError

    def too_large(self) -> Reply:
        """The answer to a body over :attr:`max_body_bytes` (the connection then closes)."""
        return self.error(
            413, f"Request payload size exceeds the limit: {self.max_body_bytes} bytes."
        )

    # -- lifecycle (driven by Emulator) ----------------------------------------------------

    def _attach(
        self,
        server: LoopbackServer,
        stopping: threading.Event,
        default_latency: Callable[[], float],
        sequence: Callable[[], int],
    ) -> None:
        self._server = server
        self._stopping = stopping
        self._default_latency = default_latency
        self._sequence = sequence

    def _detach(self) -> None:
        self._server = None


def counter() -> Callable[[], int]:
    lock = threading.Lock()
    state = [0]

    def next_value() -> int:
        with lock:
            state[0] += 1
            return state[0]

    return next_value
