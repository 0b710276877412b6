"""What the emulated services exchange: a received request (:class:`Incoming`), an answer to
write (:class:`Reply`, or :class:`Refusal` raised inside a route), and the records tests read
(:class:`RecordedRequest`, credentials masked; :class:`RecordedAnswer`), with the helpers
every protocol uses (JSON answers, Retry-After values, multipart parsing).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from email.message import Message
from hashlib import sha256
from typing import Any

from seedless.errors import is_secret_header

__all__ = [
    "MASK",
    "FilePart",
    "Incoming",
    "RecordedAnswer",
    "RecordedRequest",
    "Refusal",
    "Reply",
    "format_seconds",
    "json_reply",
    "mask_headers",
    "mask_query",
    "parse_multipart",
    "retry_headers",
]

#: What recorded headers and query parameters show instead of a credential.
MASK = "[secure]"


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


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    masked = {}
    for name, value in headers.items():
        if is_secret_header(name):
            scheme, space, _ = value.partition(" ")
            keep_scheme = space and scheme.lower() in ("bearer", "basic")
            masked[name] = f"{scheme} {MASK}" if keep_scheme else MASK
        else:
            masked[name] = value
    return masked


def mask_query(query: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_header(k) else v) for k, v in query.items()}
