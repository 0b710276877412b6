"""The provider contract: plan a wire call (pure), send it (I/O), close. Nothing else.

A provider translates; it never decides policy. The client validates a request against the
matrix, splits ``n`` into wire calls (deriving their seeds), and asks the provider to
:meth:`~Provider.plan` each one: a pure function, no I/O, that returns the exact
:class:`WireRequest` (method, URL, headers without secrets, JSON body or multipart parts,
what seedless chose for the caller) or raises a :class:`~seedless.RequestError`. Every refusal
therefore happens in :meth:`~seedless.AsyncClient.prepare`, before a socket is opened or a
cent reserved. :meth:`~Provider.send` then does the I/O for one planned request and returns
the images; the client's one retry policy wraps only ``send``. This is httpx's split of
``build_request`` from sending.

A provider written for the older one-phase contract (``async call(request, spec)`` and
``aclose()``) keeps working: the client wraps it with :class:`CallAdapter`, whose plan records
the request and whose send calls ``call``.

Providers translate their backend's errors into :mod:`seedless.errors` in one place each,
chaining the original exception.

A provider whose output depends on the server's own stack (a self-hosted Forge or ComfyUI:
the checkpoint loaded, the server's version, the GPU) reports that stack as a fingerprint,
a flat mapping such as ``{"checkpoint_hash": "6ce0161689", "version": "v1.10.1"}``: in
each reply (:attr:`ProviderReply.host`, recorded as :attr:`~seedless.ImageResult.host` and in
recipes) and, optionally, on demand before anything is sent (:class:`Fingerprinting`), so a
replay can warn when the stack changed since a recipe was made.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = [
    "CallAdapter",
    "CallProvider",
    "Fingerprinting",
    "FunctionProvider",
    "Provider",
    "ProviderFactory",
    "ProviderReply",
    "RawImage",
    "WireFile",
    "WireRequest",
    "as_provider",
    "instruction",
]

#: Longest string a printed wire body shows before cutting it (base64 images).
_SHOWN_CHARS = 100


@dataclass(frozen=True)
class RawImage:
    """Image bytes as the backend returned them."""

    data: bytes = field(repr=False)
    mime_type: str


@dataclass(frozen=True)
class WireFile:
    """A file part of a multipart request: form field name, file name, content type, bytes."""

    name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False, compare=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> str:
        return f"<{self.filename}: {self.content_type}, {len(self.data)} bytes>"


@dataclass(frozen=True)
class WireRequest:
    """One wire call, planned without I/O: exactly what :meth:`Provider.send` will send.

    ``url`` is absolute, with any credential a base URL carries (a userinfo password, a
    ``?key=`` value) shown as ``[secure]``; ``path`` is the path as the host sees it (what a
    provider batch file or an API definition names). ``headers`` never hold a key: credential
    headers are listed with the value ``[secure]``. The body is ``json`` (bytes values stand
    for the base64 strings that travel, see :meth:`body`) or ``form`` fields plus ``files``.
    ``chosen`` is what seedless chose for the caller (a size, ``addWatermark: false`` with a
    seed ...), recorded in each result's ``sent``. ``shape`` names the wire shape
    (``images``, ``generate_content``, ``predict``, ``local``, ``call``); ``extensions`` holds
    what the provider needs to send but is not on the wire (the local provider's effect),
    as httpx's ``Request.extensions`` does.
    """

    provider: str
    model: str
    shape: str
    method: str
    url: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    files: tuple[WireFile, ...] = ()
    chosen: Mapping[str, Any] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def body(self) -> Any:
        """The JSON body as it travels: every bytes value base64-encoded (None for a form)."""
        return _jsonable(self.json)

    def body_bytes(self) -> bytes:
        """The JSON body serialised compactly (for sizes and provider batch files)."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False).encode()

    def describe(self, *, limit: int = _SHOWN_CHARS) -> str:
        """The request as a person reads it: request line, headers, then the body with long
        strings (base64 images) cut to ``limit`` characters."""
        lines = [f"{self.method} {self.url}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.json is not None:
            lines += ["", json.dumps(_clipped(self.json, limit), indent=2, ensure_ascii=False)]
        if self.form is not None or self.files:
            lines.append("")
            form = (self.form or {}).items()
            lines += [f"{name}={_clipped(value, limit)}" for name, value in form]
            lines += [f"{part.name}={part.describe()}" for part in self.files]
        return "\n".join(lines)

    __str__ = describe


@dataclass
class ProviderReply:
    """What one wire call produced: images, the model's text, token usage, and any setting
    learnt only while sending (merged over the plan's :attr:`WireRequest.chosen`).

    An asynchronous service answers a submission with a task to poll: the provider then
    returns no images and ``follow``, the request that asks for the task's outcome (the
    service's wait hint in ``poll_after`` seconds, if it gave one). The client sends
    ``follow`` at the retry policy's poll interval until a reply carries the images, within
    the policy's ``poll_timeout``; a failed poll is retried, the submission never resent.

    ``seed`` is the seed the service says it used (a server that picks one when none was
    sent, as Forge does for ``-1``): the results record it, so they can be replayed.
    ``host`` is the server's fingerprint (see the module docstring), recorded in the results.
    """

    images: list[RawImage]
    text: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    sent: dict[str, Any] = field(default_factory=dict)
    follow: WireRequest | None = None
    poll_after: float | None = None
    seed: int | None = None
    host: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _clipped(value: Any, limit: int) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes, base64 on the wire>"
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}...<{len(value)} chars>"
    if isinstance(value, Mapping):
        return {key: _clipped(item, limit) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clipped(item, limit) for item in value]
    return value


@runtime_checkable
class Provider(Protocol):
    """One backend: ``plan`` a wire call (pure), ``send`` it, ``aclose`` its connections."""

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest: ...

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Fingerprinting(Protocol):
    """A provider that can tell, before sending, which stack the server runs (optional).

    ``fingerprint(spec, request)`` returns the same keys its replies put in
    :attr:`ProviderReply.host` (or a subset), for the stack ``request`` would run on (a
    request may choose a checkpoint; None: the server's current one). :func:`seedless.replay`
    and ``seedless verify --recipe`` compare it with a recipe's before anything is sent, and
    warn (:class:`~seedless.HostChangedWarning`) when a key they share differs.
    """

    async def fingerprint(
        self, spec: ModelSpec, request: ImageRequest | None = None
    ) -> dict[str, Any]: ...


@runtime_checkable
class CallProvider(Protocol):
    """The one-phase contract of earlier releases: ``call`` plans and sends in one go."""

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply: ...

    async def aclose(self) -> None: ...


ProviderFactory = Callable[["Endpoint"], "Provider | CallProvider"]


def instruction(request: ImageRequest, chosen: dict[str, Any]) -> str:
    """The request's prompt, or for an edit without one, its effect described in words
    (recorded in ``chosen``; validation has refused an edit with neither)."""
    if request.prompt:
        return request.prompt
    text = str(request.effect.describe())  # type: ignore[union-attr]
    chosen["prompt_from_effect"] = text
    return text


def used_seed(value: Any, spec: ModelSpec) -> int | None:
    """The seed a service says it used, for :attr:`ProviderReply.seed`: ``None`` unless it is
    an integer the model's seed range accepts (so a replay can send it back)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    if spec.seed_range is not None and not spec.seed_range[0] <= value <= spec.seed_range[1]:
        return None
    return value


def call_wire(request: ImageRequest, spec: ModelSpec, *, shape: str = "call") -> WireRequest:
    """The plan of a provider that cannot tell its wire format before sending: the request
    itself, to be handed to its ``call``."""
    return WireRequest(
        provider=spec.provider,
        model=spec.key,
        shape=shape,
        method="CALL",
        url=f"{spec.key} (planned by its provider's call)",
        path="",
        json=request.canonical(),
        extensions={"request": request},
    )


class CallAdapter:
    """A one-phase provider (``call`` only) behind the two-phase contract.

    Its plan holds the request (the provider's own checks then run when sending, inside the
    retry loop, as they always did); its send calls ``call``.
    """

    def __init__(self, inner: CallProvider) -> None:
        self.inner = inner

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        return call_wire(request, spec)

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        return await self.inner.call(wire.extensions["request"], spec)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"<CallAdapter of {self.inner!r}>"


def as_provider(provider: Provider | CallProvider) -> Provider:
    """``provider`` under the two-phase contract (a one-phase provider wrapped)."""
    if callable(getattr(provider, "plan", None)) and callable(getattr(provider, "send", None)):
        return provider  # type: ignore[return-value]
    if callable(getattr(provider, "call", None)):
        return CallAdapter(provider)  # type: ignore[arg-type]
    raise TypeError(
        f"{type(provider).__name__} is not a seedless provider: it needs plan(), send() and "
        "aclose() (or, as in earlier releases, call() and aclose())"
    )


Handler = Callable[["ImageRequest", "ModelSpec"], "ProviderReply | Awaitable[ProviderReply]"]


class FunctionProvider:
    """A provider backed by your own function: a test double for unit tests.

    ``handler(request, spec)`` returns a :class:`ProviderReply` (plain or async)::

        client = seedless.Client(providers={"fake": FunctionProvider(handler)})

    Its plan is the request itself (shape ``call``); ``calls`` lists every request sent.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[ImageRequest] = []

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        return call_wire(request, spec)

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        return await self.call(wire.extensions["request"], spec)

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        self.calls.append(request)
        reply = self.handler(request, spec)
        if inspect.isawaitable(reply):
            reply = await reply
        assert isinstance(reply, ProviderReply)
        return reply

    async def aclose(self) -> None:
        return None
