"""The ``openai`` provider: any OpenAI-style images endpoint, spoken with httpx (no vendor SDK).

One module serves OpenAI itself, Flux relays, Together, DeepInfra and LocalAI: they share
``POST /v1/images/generations`` (a JSON body) and, where the host has one,
``POST /v1/images/edits`` (multipart), and differ in the extension fields they take
(``seed``, ``width``/``height``, ``steps``, ``guidance_scale`` ...), their response formats
and their model names. All of that is the model's matrix row on the host's provider
(``fields``, ``response_formats``, ``wire_id``, ``image_input``: an edit on Together is a
generation carrying its input images as data URLs), and can be adjusted per endpoint
(``Endpoint.field_names``, ``Endpoint.model_ids``); ``Endpoint.extra_fields`` go on every
request.

The provider only translates. :meth:`OpenAIProvider.plan` turns a validated request into the
exact :class:`~seedless.providers.base.WireRequest` (method, path, JSON body or multipart parts)
without any I/O (also what a batch file needs); :meth:`~OpenAIProvider.send` sends it on the
provider's one pooled :class:`httpx.AsyncClient`, decodes ``b64_json`` answers,
downloads ``url`` answers (http(s) only, redirects followed by hand, a size cap and a deadline,
credentials only ever sent to the base URL's own origin) and maps every failure onto
:mod:`seedless.errors`. Retries, validation and fan-out belong to the client.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from ..config import missing_base_url
from ..errors import (
    ConfigurationError,
    ContentBlockedError,
    ModelNotFoundError,
    NoImageError,
    ProviderError,
    QuotaExceededError,
    ServerError,
    UnsupportedCapabilityError,
    error_for_status,
)
from ..errors import TimeoutError as SeedlessTimeoutError
from ..images import printable
from ..retry import honour_should_retry, parse_retry_after
from ._hosted import HttpProvider, KeyHeader
from ._http import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    decode_base64,
    form_value,
    image_mime,
    short,
)
from ._sizes import SIZE_CLASSES, size_fields
from .base import ProviderReply, RawImage, WireFile, WireRequest, instruction

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_TIMEOUT",
    "SIZE_CLASSES",
    "OpenAIProvider",
    "api_root",
    "api_url",
]

#: Where the default ``openai`` endpoint goes when neither base_url nor OPENAI_BASE_URL is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Seconds to wait for an images API answer (GPT image models can take a minute or more).
DEFAULT_TIMEOUT = 180.0

#: ``error.code`` / ``error.type`` values that mean a safety system blocked the request.
_CONTENT_POLICY = frozenset(
    {"content_policy_violation", "moderation_blocked", "content_filter", "contentFilter"}
)
_AUTH_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})
_VERSION_SEGMENT = re.compile(r"^v\d+[a-z0-9]*$")
_OUTPUT_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
#: ``ModelSpec.image_input`` values that put an edit's images in a generation body.
_INLINE_INPUTS = ("image_url", "reference_images")
_FORMAT_MIMES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
# ---------------------------------------------------------------------------------- helpers


def api_root(base_url: str | None) -> str:
    """The URL that ``/images/generations`` is appended to.

    A base URL with a version among its path segments (``/v1``, ``/v2beta``, DeepInfra's
    ``/v1/openai``) is used as is, as the OpenAI SDK does with OPENAI_BASE_URL; any other gets
    ``/v1`` appended, so both ``https://relay.example`` and ``https://relay.example/v1`` work.
    """
    base, mark, query = (base_url or DEFAULT_BASE_URL).strip().partition("?")
    base = base.rstrip("/")
    segments = httpx.URL(base).path.split("/")
    root = base if any(_VERSION_SEGMENT.match(part) for part in segments) else base + "/v1"
    return root + mark + query


def api_url(root: str, path: str) -> str:
    """``path`` (``/images/generations``) under an :func:`api_root`, before its query, if any
    (``?api-version=...`` or a relay's ``?key=...`` stays at the end)."""
    base, mark, query = root.partition("?")
    return base + path + mark + query


# --------------------------------------------------------------------------------- provider


class OpenAIProvider(HttpProvider):
    """One OpenAI-style endpoint: a pooled httpx client, its key, headers and field names.

    Args:
        endpoint: the profile (base URL, key, headers, extra fields, field names, timeout).
        max_download_bytes: largest image a ``url`` answer may deliver.
        download_timeout: seconds a ``url`` download may take, redirects included.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    key_header: ClassVar[KeyHeader] = KeyHeader("Authorization", "Bearer ", _AUTH_HEADERS)

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = endpoint.timeout or DEFAULT_TIMEOUT
        super().__init__(
            endpoint,
            root=api_root(endpoint.base_url),
            timeout=self.timeout,
            max_download_bytes=max_download_bytes,
            download_timeout=download_timeout,
            transport=transport,
        )

    @property
    def max_download_bytes(self) -> int:
        """Largest image a ``url`` answer may deliver."""
        return self._session.max_download_bytes

    @property
    def download_timeout(self) -> float:
        """Seconds a ``url`` download may take, redirects included."""
        return self._session.download_timeout

    # ------------------------------------------------------------------ building (no I/O)

    def field_names(self, spec: ModelSpec) -> dict[str, str]:
        """Canonical name -> the host's field name: the matrix row, then the endpoint's.

        An endpoint maps a name to ``""`` to drop it (``{"width": "", "height": ""}`` sends
        ``size`` instead of ``width``/``height``, as LocalAI wants).
        """
        merged = {**spec.fields, **self.endpoint.field_names}
        return {name: host for name, host in merged.items() if host}

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The exact wire request for ``request`` (validated by the client): no I/O.

        Raises RequestError (or UnsupportedCapabilityError) for what only this protocol can
        judge: a size the model's pixel rules exclude, width/height mixed with a size, a field
        the endpoint drops.
        """
        return self._plan(request, spec, json_edit=False)

    def _plan(self, request: ImageRequest, spec: ModelSpec, *, json_edit: bool) -> WireRequest:
        unreachable = missing_base_url(self.endpoint)
        if unreachable:
            raise ConfigurationError(unreachable)
        names = self.field_names(spec)
        options = dict(request.options)
        sent: dict[str, Any] = {}
        body: dict[str, Any] = dict(self.endpoint.extra_fields)
        model = self.endpoint.wire_model(spec.id, spec.wire_id)
        if model != spec.id:
            sent["model"] = model
        body.update(model=model, prompt=instruction(request, sent), n=request.n)

        size_fields = self._size_fields(request, spec, names, options)
        body.update(size_fields)
        sent.update(size_fields)

        formats = _response_formats(spec)
        if formats:
            chosen = options.pop("response_format", None) or body.get("response_format")
            body["response_format"] = chosen or formats[0]
            sent["response_format"] = body["response_format"]
        else:
            body.pop("response_format", None)  # the model always answers base64
        if request.seed is not None:
            body[self._request_field("seed", "seed", spec)] = request.seed
        if request.negative_prompt:
            field = self._request_field("negative_prompt", "negative_prompt", spec)
            body[field] = request.negative_prompt
        if request.output_mime_type:
            mime = request.output_mime_type.lower()
            fmt = _OUTPUT_FORMATS.get(mime, mime.rpartition("/")[2])
            body[self._request_field("output_format", "output_mime_type", spec)] = fmt
        for key, value in options.items():
            if value is not None:
                body[names.get(key, key)] = value
        return self._wire(request, spec, body, sent, json_edit=json_edit)

    def _wire(
        self, request: ImageRequest, spec: ModelSpec, body: dict[str, Any], sent: dict[str, Any],
        *, json_edit: bool = False,
    ) -> WireRequest:  # fmt: skip
        """The request line, headers (credentials masked) and the body as JSON or a form.

        An edit goes to ``/images/edits`` as multipart (or, for a batch line, its JSON form),
        unless the row's ``image_input`` says the host takes the input images in a generation
        body (as data URLs).
        """
        inline = request.operation == "edit" and spec.image_input in _INLINE_INPUTS
        if inline:
            body.update(self._inline_images(request, spec))
        as_generation = request.operation == "generate" or inline
        path = "/v1/images/generations" if as_generation else "/v1/images/edits"
        url = api_url(self.root, path.removeprefix("/v1"))  # the real one: send() posts to it

        def wire(**parts: Any) -> WireRequest:
            return self._post_wire(spec, shape="images", path=path, url=url, chosen=sent, **parts)

        if as_generation:
            return wire(json=body)
        images = getattr(request, "images", ())
        if json_edit:
            body["images"] = [
                {"image_url": f"data:{image.mime_type};base64,"
                              + base64.b64encode(image.data).decode("ascii")}
                for image in images
            ]  # fmt: skip
            return wire(json=body)
        field = "image" if len(images) == 1 else "image[]"  # openai-python's array convention
        files = tuple(
            WireFile(
                field, printable(image.name or f"image{index}{_extension(image.mime_type)}"),
                image.mime_type, image.data,
            )
            for index, image in enumerate(images)
        )  # fmt: skip
        form = {key: form_value(value) for key, value in body.items() if value is not None}
        return wire(form=form, files=files)

    def plan_json(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The plan with a JSON body for every operation: an edit as the JSON form of
        ``/v1/images/edits`` (``images`` as base64 ``data:`` URLs, OpenAI's
        ``EditImageBodyJsonParam``), what a provider batch line must carry; a generation as
        :meth:`plan` gives it. No I/O."""
        return self._plan(request, spec, json_edit=True)

    def _inline_images(self, request: ImageRequest, spec: ModelSpec) -> dict[str, Any]:
        """An edit's input images as data URLs, under the host's field for them: one
        ``image_url``, or every image in ``reference_images`` (source first)."""
        kind = str(spec.image_input)
        field = self.field_names(spec).get(kind, kind)
        urls = [
            f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode()}"
            for image in getattr(request, "images", ())
        ]
        return {field: urls[0] if kind == "image_url" else urls}

    def _size_fields(
        self,
        request: ImageRequest,
        spec: ModelSpec,
        names: Mapping[str, str],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """``size`` or ``width``/``height`` (host names) for the request's size and ratio."""
        return size_fields(request, spec, names, options)

    def _request_field(self, name: str, capability: str, spec: ModelSpec) -> str:
        """The host's name for the request field ``name``; refused if the endpoint drops it.

        A seed, negative prompt or output format the host never receives cannot be honoured,
        so the request is refused (no I/O) rather than sent without it and recorded as if it
        had been.
        """
        host = {**spec.fields, **self.endpoint.field_names}.get(name, name)
        if not host:
            raise UnsupportedCapabilityError(
                f"{spec.key} on endpoint {self.endpoint.name!r} cannot take {capability}: the "
                f"endpoint drops the {name!r} field (field_names={{{name!r}: ''}}). Leave "
                f"{capability} out, or map {name!r} to the host's name for it.",
                model=spec.key,
                capability=capability,
            )
        return host

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned request and return its images (``url`` answers downloaded)."""
        response = await self._post(wire, self._credentials(), spec.provider)
        return await self.read_answer(response, spec)

    async def read_answer(self, response: httpx.Response, spec: ModelSpec) -> ProviderReply:
        """The images of an images API answer (an error answer raises its seedless error):
        what :meth:`send` makes of a response, also for the answers a provider batch's
        output file holds (``response.status_code`` and body)."""
        provider = spec.provider
        if response.status_code >= 400:
            raise self._error(response, provider)
        payload = self._payload(response, provider)
        items = [item for item in payload.get("data") or [] if isinstance(item, dict)]
        text = next(
            (
                item["revised_prompt"]
                for item in items
                if isinstance(item.get("revised_prompt"), str)
            ),
            None,
        )
        fallback = _FORMAT_MIMES.get(str(payload.get("output_format", "")).lower())
        found: list[RawImage] = []
        for item in items:  # one by one: a failed download leaves no task behind
            image = await self._image(item, provider, fallback)
            if image is not None:
                found.append(image)
        if not found:
            raise NoImageError(
                f"{provider} answered {spec.id} without an image"
                + (f" (it said: {short(text, 200)})" if text else "")
                + ". Try again, or rephrase the prompt.",
                text=text,
                provider=provider,
                status=response.status_code,
            )
        usage = payload.get("usage")
        return ProviderReply(
            images=found,
            text=text,
            usage=dict(usage) if isinstance(usage, dict) else {},
        )

    async def _post(
        self, wire: WireRequest, headers: dict[str, str], provider: str
    ) -> httpx.Response:
        url = api_url(self.root, wire.path.removeprefix("/v1"))
        return await self._session.send(
            "POST",
            url,
            headers=headers,
            provider=provider,
            error=lambda response: self._error(response, provider),
            json_body=wire.json,
            form=wire.form,
            files=wire.files,
        )

    def _payload(self, response: httpx.Response, provider: str) -> dict[str, Any]:
        payload = self._session.json_object(response, provider)
        if "data" not in payload and "error" in payload:  # some relays answer errors with 200
            raise self._error(response, provider)
        return payload

    def _error(self, response: httpx.Response, provider: str) -> ProviderError:
        """The seedless error for an error answer (``{"error": {...}}`` or any body)."""
        status = response.status_code
        message, code, kind, param = _error_fields(response)
        retry_after = parse_retry_after(response.headers)
        reason = next((v for v in (code, kind) if v in _CONTENT_POLICY), None)
        exc: ProviderError
        if reason is not None:
            exc = ContentBlockedError(
                f"{provider}'s safety system blocked the request ({reason}): {message}",
                reason=reason,
                provider=provider,
                status=status,
            )
        elif code == "model_not_found" or (status == 404 and param == "model"):
            exc = ModelNotFoundError(
                f"{provider} answered HTTP {status}: {message}", provider=provider, status=status
            )
        elif code == "insufficient_quota" or kind == "insufficient_quota":
            exc = QuotaExceededError(
                f"{provider} answered HTTP {status}: {message} This is a billing stop, not a "
                "rate limit: it is not retried. Check the account's plan and credit.",
                provider=provider,
                status=status,
            )
        elif status == 404:
            exc = ProviderError(
                f"{provider} answered HTTP 404: {message}. Check the endpoint's base_url "
                f"({self.root}): requests go to {self.root}/images/...",
                provider=provider,
                status=status,
            )
        else:
            if code == "unknown_parameter" and param:
                message += (
                    f" This host does not take {param!r}: rename it with "
                    "Endpoint(field_names=...) or leave it out."
                )
            exc = error_for_status(status, message, provider=provider, retry_after=retry_after)
        return honour_should_retry(exc, response.headers)

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the endpoint's API at ``path`` (``/files``, ``/batches/ID`` ...) with its key;
        the JSON answer, or the seedless error of an error answer. ``kwargs`` go to httpx
        (``json=``, ``data=``/``files=`` for multipart, ``params=``)."""
        provider = self.endpoint.name
        async with self._failures(f"{method} {path}"):
            response = await self._session.client().request(
                method, api_url(self.root, path), headers=self._credentials(), **kwargs
            )
        if response.status_code >= 400:
            raise self._error(response, provider)
        return self._session.json(response, provider)

    async def download_to(self, path: str, handle: Any) -> int:
        """Stream the body of ``GET path`` (a file's ``/content``) into the binary ``handle``,
        64 KiB at a time; returns the bytes written."""
        written = 0
        request = self._session.client().stream(
            "GET", api_url(self.root, path), headers=self._credentials()
        )
        async with self._failures(f"downloading {path}"), request as response:
            if response.status_code >= 400:
                await response.aread()
                raise self._error(response, self.endpoint.name)
            async for chunk in response.aiter_bytes(64 * 1024):
                handle.write(chunk)
                written += len(chunk)
        return written

    @contextlib.asynccontextmanager
    async def _failures(self, what: str) -> AsyncIterator[None]:
        """httpx's timeouts and dropped connections during ``what`` as seedless errors."""
        provider = self.endpoint.name
        try:
            yield
        except httpx.TimeoutException as exc:
            raise SeedlessTimeoutError(
                f"{provider} did not finish {what} in time.", provider=provider
            ) from exc
        except httpx.TransportError as exc:
            raise ServerError(
                f"{provider}: {what} failed ({type(exc).__name__}: {exc}).", provider=provider
            ) from exc

    # ------------------------------------------------------------------ answers

    async def _image(
        self, item: dict[str, Any], provider: str, fallback: str | None
    ) -> RawImage | None:
        encoded = item.get("b64_json")
        if isinstance(encoded, str) and encoded:
            data = decode_base64(encoded, provider, "b64_json")
            return RawImage(data=data, mime_type=image_mime(data, fallback, provider))
        url = item.get("url")
        if isinstance(url, str) and url:
            return await self.download(url, provider)
        return None


def _response_formats(spec: ModelSpec) -> tuple[str, ...]:
    """The response_format values the model takes, default first: the matrix's, or OpenAI's
    two for a row that does not say."""
    return spec.response_formats if spec.response_formats is not None else ("b64_json", "url")


def _extension(mime: str) -> str:
    fmt = _OUTPUT_FORMATS.get(mime, "")
    return "." + ("jpg" if fmt == "jpeg" else fmt) if fmt else ""


def _error_fields(response: httpx.Response) -> tuple[str, str | None, str | None, str | None]:
    """(message, code, type, param) of an error answer, tolerant of any body shape."""
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    error: Any = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg") or ""
        code, kind, param = error.get("code"), error.get("type"), error.get("param")
    elif isinstance(error, str):
        message, code, kind, param = error, None, None, None
    elif isinstance(payload, dict):
        message = payload.get("message") or payload.get("detail") or ""
        code, kind, param = payload.get("code"), payload.get("type"), None
    else:
        message, code, kind, param = "", None, None, None
    if not isinstance(message, str) or not message:
        message = short(response.text, 300) if response.text.strip() else response.reason_phrase
    return (
        short(message),
        str(code) if code is not None else None,
        str(kind) if kind is not None else None,
        str(param) if param is not None else None,
    )
