"""Loopback HTTP plumbing shared by the emulated services, and the base class they extend.

A :class:`LoopbackServer` is a ``ThreadingHTTPServer`` bound to 127.0.0.1 that speaks
HTTP/1.1 with keep-alive, answers each connection on its own thread, caps body sizes and the
number of open connections, and on :meth:`~LoopbackServer.close` shuts every open connection
and joins every thread it started. It hosts one or more :class:`ServiceEmulator` objects and
hands each request to the first whose :meth:`~ServiceEmulator.owns` accepts its path.

A service records each request (:class:`RecordedRequest`, secrets masked), waits its
latency, then answers through :meth:`~ServiceEmulator.route`, where subclasses speak their
protocol and consult the scripted faults; each answer is recorded too
(:class:`RecordedAnswer`), so tests can check both sides against the providers' definitions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from email.message import Message
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from PIL import Image

from seedless.errors import is_secret_header, redact

from ._catalog import EmulatedModel, default_methods, default_models, guess_seed_policy
from ._faults import Fault, FaultQueue
from ._images import EditTransform, darken

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

#: What recorded headers and query parameters show instead of a credential.
MASK = "[secure]"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class FilePart:
    """A file field of a multipart request, described by its digest (bytes kept out of repr)."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    data: bytes = field(repr=False, compare=False)


def _clipped(value: Any, limit: int = 100) -> Any:
    """``value`` with every string longer than ``limit`` cut short (base64 images, for reprs)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}...<{len(value)} chars>"
    if isinstance(value, dict):
        return {key: _clipped(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [_clipped(item, limit) for item in value]
    return value


@dataclass(frozen=True)
class RecordedRequest:
    """One request as an emulated service received it, credentials masked.

    ``body`` is the parsed JSON body (None if the body was not JSON); ``form`` holds the
    fields of a multipart body (a repeated field becomes a list; files are :class:`FilePart`);
    ``raw`` keeps the exact bytes received and is left out of the repr, and the repr cuts
    long strings of ``body`` (base64 images) short.
    """

    service: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    form: dict[str, Any] | None = None
    model: str | None = None
    raw: bytes = field(default=b"", repr=False, compare=False)
    sequence: int = field(default=0, repr=False)

    def __repr__(self) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        values["body"] = _clipped(self.body)
        shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
        return f"RecordedRequest({shown})"


@dataclass(frozen=True)
class RecordedAnswer:
    """What an emulated service answered to ``request``: status, headers and body as written.

    ``body`` holds the bytes the service wrote (all of them, even when a scripted
    ``truncate`` fault cut the wire short; ``truncated`` says so) and is left out of the
    repr; :attr:`json` parses it. ``dropped`` answers wrote nothing (``drop_next``).
    """

    request: RecordedRequest
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes = field(default=b"", repr=False, compare=False)
    dropped: bool = False
    truncated: bool = False

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None if it is empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class Reply:
    """An answer to write: status, headers and body, or a scripted transport fault."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate: bool = False
    #: A file to send as the body instead of ``body``, streamed from disk (large downloads).
    path: str | None = None


class Refusal(Exception):
    """Raised inside a route to answer at once with ``reply`` (an error body)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class Incoming:
    """A received request, before any protocol reading; JSON and multipart parsed once."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    json_ok: bool = False
    json_body: Any = None
    form: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        content_type = self.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            try:
                self.form = parse_multipart(content_type, self.raw)
            except ValueError:
                self.form = None
        elif self.raw:
            try:
                self.json_body = json.loads(self.raw)
                self.json_ok = True
            except (ValueError, RecursionError):
                self.json_ok = False

    @property
    def content_type(self) -> str:
        """The media type of the body, without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, if any."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def json_reply(
    status: int, payload: Any, headers: dict[str, str] | None = None, *, indent: int | None = None
) -> Reply:
    """A JSON answer."""
    body = json.dumps(payload, indent=indent).encode()
    return Reply(status=status, body=body, headers=dict(headers or {}))


def format_seconds(seconds: float) -> str:
    """``2.0`` -> ``"2"``, ``0.25`` -> ``"0.25"``: a Retry-After value without noise."""
    if seconds == math.floor(seconds):
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")


def retry_headers(seconds: float | None) -> dict[str, str]:
    """``{"retry-after": "2"}`` for a scripted wait, or no header without one."""
    return {} if seconds is None else {"retry-after": format_seconds(seconds)}


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a ``multipart/form-data`` body; ValueError if it is malformed."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart body without a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2:
        raise ValueError("multipart body without parts")
    fields: dict[str, Any] = {}
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        if not section.startswith(b"\r\n"):
            raise ValueError("malformed multipart delimiter")
        head, sep, content = section[2:].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        part = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header_name, colon, header_value = line.partition(":")
            if colon:
                part[header_name.strip()] = header_value.strip()
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("multipart part without a name")
        filename = part.get_filename()
        declared = part.get("content-type")
        value: Any
        if filename is not None or (declared and not declared.lower().startswith("text/")):
            value = FilePart(
                filename=filename,
                content_type=declared or "application/octet-stream",
                size=len(content),
                sha256=sha256(content).hexdigest(),
                data=content,
            )
        else:
            value = content.decode("utf-8", "replace")
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields


def _mask_headers(headers: dict[str, str]) -> dict[str, str]:
    masked = {}
    for name, value in headers.items():
        if is_secret_header(name):
            scheme, space, _ = value.partition(" ")
            keep_scheme = space and scheme.lower() in ("bearer", "basic")
            masked[name] = f"{scheme} {MASK}" if keep_scheme else MASK
        else:
            masked[name] = value
    return masked


def _mask_query(query: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_header(k) else v) for k, v in query.items()}


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time off a keep-alive connection and writes the service's reply."""

    protocol_version = "HTTP/1.1"
    server_version = "seedless-emulator"
    timeout = 30  # idle keep-alive connections close after this many seconds
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections
    server: LoopbackServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # the request line carries the query: a ?key= must not reach the access log
        logger.debug("%s %s", self.address_string(), redact(format % args))

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        service = self.server.service_for(path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            raw = self._read_body(service.body_limit(path))
        except _BodyTooLarge:
            self.close_connection = True
            self._write(service.too_large())
            return
        except ValueError:
            self.close_connection = True
            self._write(service.error(400, "The request body could not be read."))
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        incoming = Incoming(self.command, path, query, headers, raw)
        self._write(service.serve(incoming))

    def _write(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            self._shut()
            return
        if reply.path is not None:
            self._write_file(reply, reply.path)
            return
        body = reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        if reply.truncate or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._shut()
        else:
            self.wfile.write(body)

    def _write_file(self, reply: Reply, path: str) -> None:
        """Stream a file as the body, 1 MiB at a time (a truncate fault sends half)."""
        size = os.path.getsize(path)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(size))
        if reply.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        left = size // 2 if reply.truncate else size
        with open(path, "rb") as handle:
            while left > 0:
                block = handle.read(min(left, 1 << 20))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)
        if reply.truncate:
            self.wfile.flush()
            self.close_connection = True
            self._shut()

    def _shut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server on 127.0.0.1 that can close all its connections and threads."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port: int, services: list[ServiceEmulator], max_connections: int) -> None:
        if not services:
            raise ValueError("a server needs at least one service")
        self.services = services
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._active: dict[socket.socket, threading.Thread] = {}
        self._closing = False
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also looks up the host's FQDN, a DNS query that can stall.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.port

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 asked for an ephemeral one)."""
        return int(self.server_address[1])

    def service_for(self, path: str) -> ServiceEmulator:
        """The first hosted service that owns ``path``; the last one takes the rest."""
        for service in self.services[:-1]:
            if service.owns(path):
                return service
        return self.services[-1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._closing or len(self._active) >= self.max_connections:
                self.shutdown_request(request)
                return
            thread = threading.Thread(
                target=self.process_request_thread,
                args=(request, client_address),
                name="seedless-emulator-connection",
                daemon=True,
            )
            self._active[request] = thread
            thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._active.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"seedless-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, shut every open connection, and join every thread started."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            self._closing = True
            active = list(self._active.items())
        for sock, _ in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in active:
            thread.join(timeout=10)
        self.server_close()


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

    def reset(self) -> None:
        """Forget recorded requests and answers, and unused faults."""
        with self._lock:
            self._requests.clear()
            self._answers.clear()
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
            query=_mask_query(incoming.query),
            headers=_mask_headers(incoming.headers),
            body=incoming.json_body if incoming.json_ok and keep else None,
            form=incoming.form if keep else None,
            model=self.model_of(incoming),
            raw=incoming.raw if keep else b"",
            sequence=self._sequence(),
        )
        with self._lock:
            self._requests.append(recorded)
            del self._requests[: max(0, len(self._requests) - self.max_recorded)]
        self.sleep(self.latency)
        try:
            reply = self.route(incoming)
        except Refusal as refusal:
            reply = refusal.reply
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
