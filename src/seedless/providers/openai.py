"""The ``openai`` provider: any OpenAI-style images endpoint, spoken with httpx (no vendor SDK).

One module serves OpenAI itself, Flux relays, Together-style hosts and LocalAI: they share
``POST /v1/images/generations`` (a JSON body) and ``POST /v1/images/edits`` (multipart), and
differ in the extension fields they take (``seed``, ``width``/``height``, ``steps``,
``guidance`` ...). Those names come from the model's matrix row (``fields``) and can be
renamed per endpoint (``Endpoint.field_names``); ``Endpoint.extra_fields`` go on every request.

The provider only translates. :meth:`OpenAIProvider.plan` turns a validated request into the
exact :class:`~seedless.providers.base.WireRequest` (method, path, JSON body or multipart parts)
without any I/O (also what a batch file needs); :meth:`~OpenAIProvider.send` sends it on the
provider's one pooled :class:`httpx.AsyncClient`, decodes ``b64_json`` answers,
downloads ``url`` answers (http(s) only, redirects followed by hand, a size cap and a deadline,
credentials only ever sent to the base URL's own origin) and maps every failure onto
:mod:`seedless.errors`. Retries, validation and fan-out belong to the client.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import httpx

from .._version import __version__
from ..capabilities import SizeRule, check_size_rule
from ..errors import (
    ConfigurationError,
    ContentBlockedError,
    ModelNotFoundError,
    NoImageError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    RequestError,
    ServerError,
    UnsupportedCapabilityError,
    error_for_status,
    is_secret_header,
    redact,
)
from ..errors import TimeoutError as SeedlessTimeoutError
from ..images import sniff_mime
from ..retry import honour_should_retry, parse_retry_after
from .base import ProviderReply, RawImage, WireFile, WireRequest

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
#: Largest image a ``url`` answer may point at; enforced while streaming.
DEFAULT_MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
#: Seconds a whole ``url`` download (all redirects included) may take.
DEFAULT_DOWNLOAD_TIMEOUT = 60.0
#: Redirects followed when downloading a ``url`` answer.
MAX_REDIRECTS = 3
#: Size classes as square edge lengths: a class is the pixel area edge x edge, at any ratio.
SIZE_CLASSES: dict[str, int] = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}

#: ``error.code`` / ``error.type`` values that mean a safety system blocked the request.
_CONTENT_POLICY = frozenset(
    {"content_policy_violation", "moderation_blocked", "content_filter", "contentFilter"}
)
_AUTH_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})
_SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_RATIO_RE = re.compile(r"^(\d+):(\d+)$")
_VERSION_SEGMENT = re.compile(r"^v\d+[a-z0-9]*$")
_OUTPUT_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_FORMAT_MIMES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
#: Free-size models without a published rule still round edges to multiples of 16.
_DEFAULT_RULE = SizeRule()


def _size_rule(spec: ModelSpec) -> SizeRule:
    """The matrix's pixel rule for a free-size model (``ModelSpec.size_rule``)."""
    return spec.size_rule or _DEFAULT_RULE


# ---------------------------------------------------------------------------------- helpers


def api_root(base_url: str | None) -> str:
    """The URL that ``/images/generations`` is appended to.

    A base URL whose last path segment is a version (``/v1``, ``/v2beta``) is used as is, as
    the OpenAI SDK does with OPENAI_BASE_URL; any other gets ``/v1`` appended, so both
    ``https://relay.example`` and ``https://relay.example/v1`` work.
    """
    base, mark, query = (base_url or DEFAULT_BASE_URL).strip().partition("?")
    base = base.rstrip("/")
    last = httpx.URL(base).path.rstrip("/").rsplit("/", 1)[-1]
    root = base if _VERSION_SEGMENT.match(last) else base + "/v1"
    return root + mark + query


def api_url(root: str, path: str) -> str:
    """``path`` (``/images/generations``) under an :func:`api_root`, before its query, if any
    (``?api-version=...`` or a relay's ``?key=...`` stays at the end)."""
    base, mark, query = root.partition("?")
    return base + path + mark + query


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default)


def _parse_ratio(ratio: str) -> float:
    match = _RATIO_RE.match(ratio)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise RequestError(f"aspect ratio {ratio!r} is not of the form W:H (e.g. '16:9')")
    return int(match.group(1)) / int(match.group(2))


def _parse_wxh(size: str) -> tuple[int, int] | None:
    match = _SIZE_RE.match(size)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def _dims_for(ratio: float, size_class: str, rule: SizeRule) -> tuple[int, int]:
    """Width and height of about ``edge**2`` pixels at ``ratio``, within the model's rule."""
    edge = SIZE_CLASSES[size_class]
    area = float(edge * edge)
    if rule.max_ratio is not None:
        ratio = min(max(ratio, 1 / rule.max_ratio), rule.max_ratio)
    if rule.max_pixels is not None:
        area = min(area, float(rule.max_pixels))
    if rule.min_pixels is not None:
        area = max(area, float(rule.min_pixels))
    width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    if rule.max_edge is not None and max(width, height) > rule.max_edge:
        scale = rule.max_edge / max(width, height)
        width, height = width * scale, height * scale
    m = rule.multiple
    nearest = (_round_to(width, m), _round_to(height, m))
    down = (max(m, int(width // m) * m), max(m, int(height // m) * m))
    up = (math.ceil(width / m) * m, math.ceil(height / m) * m)
    for dims in (nearest, down, up):  # nearest, unless rounding crossed a limit
        if not rule.problems(*dims):
            return dims
    return nearest


def _closest(sizes: tuple[str, ...], ratio: float, area: float | None) -> str | None:
    """The entry of a fixed size list whose ratio (then area) is closest."""
    candidates = [(s, dims) for s in sizes if (dims := _parse_wxh(s)) is not None]
    if not candidates:
        return None

    def distance(item: tuple[str, tuple[int, int]]) -> tuple[float, float]:
        w, h = item[1]
        off = abs(math.log((w / h) / ratio))
        return (round(off, 6), abs(math.log(w * h / area)) if area else 0.0)

    return min(candidates, key=distance)[0]


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------- provider


class OpenAIProvider:
    """One OpenAI-style endpoint: a pooled httpx client, its key, headers and field names.

    Args:
        endpoint: the profile (base URL, key, headers, extra fields, field names, timeout).
        max_download_bytes: largest image a ``url`` answer may deliver.
        download_timeout: seconds a ``url`` download may take, redirects included.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.max_download_bytes = max_download_bytes
        self.download_timeout = download_timeout
        self.timeout = endpoint.timeout or DEFAULT_TIMEOUT
        self.root = api_root(endpoint.base_url)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"<OpenAIProvider {self.endpoint.name} {redact(self.root)}>"

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
        names = self.field_names(spec)
        options = dict(request.options)
        sent: dict[str, Any] = {}
        body: dict[str, Any] = dict(self.endpoint.extra_fields)
        model = self.endpoint.wire_model(spec.id)
        if model != spec.id:
            sent["model"] = model
        body.update(model=model, prompt=_prompt(request, sent), n=request.n)

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
        return self._wire(request, spec, body, sent)

    def _wire(
        self, request: ImageRequest, spec: ModelSpec, body: dict[str, Any], sent: dict[str, Any]
    ) -> WireRequest:
        """The request line, headers (credentials masked) and the body as JSON or a form."""
        path = "/v1/images/generations" if request.operation == "generate" else "/v1/images/edits"
        common: dict[str, Any] = {
            "provider": spec.provider,
            "model": spec.key,
            "shape": "images",
            "method": "POST",
            "url": redact(api_url(self.root, path.removeprefix("/v1"))),  # the real one: send
            "path": path,
            "headers": self._shown_headers(),
            "chosen": sent,
        }
        if request.operation == "generate":
            return WireRequest(json=body, **common)
        images = getattr(request, "images", ())
        field = "image" if len(images) == 1 else "image[]"  # openai-python's array convention
        files = tuple(
            WireFile(
                field, image.name or f"image{index}{_extension(image.mime_type)}", image.mime_type,
                image.data,
            )
            for index, image in enumerate(images)
        )  # fmt: skip
        form = {key: _form_value(value) for key, value in body.items() if value is not None}
        return WireRequest(form=form, files=files, **common)

    def _shown_headers(self) -> dict[str, str]:
        """The headers sent besides httpx's own, credentials shown as ``[secure]``."""
        shown = {"User-Agent": f"seedless/{__version__}"}
        for name, value in self.endpoint.headers.items():
            shown[name] = "[secure]" if is_secret_header(name) else value
        if not any(name.lower() in _AUTH_HEADERS for name in self.endpoint.headers):
            shown["Authorization"] = "Bearer [secure]"
        return shown

    def _size_fields(
        self,
        request: ImageRequest,
        spec: ModelSpec,
        names: Mapping[str, str],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """``size`` or ``width``/``height`` (host names) for the request's size and ratio."""
        takes_wh = "width" in names and "height" in names
        rule = _size_rule(spec)
        fields: dict[str, Any] = {}
        ratio_text = request.aspect_ratio
        if ratio_text is not None and "aspect_ratio" in names:
            fields[names["aspect_ratio"]] = ratio_text  # the host takes the ratio itself
            ratio_text = None if request.size is None else ratio_text

        width, height = options.pop("width", None), options.pop("height", None)
        dims: tuple[int, int] | None = None
        explicit = False
        if width is not None or height is not None:
            if width is None or height is None or request.size is not None or ratio_text:
                raise RequestError(
                    f"{spec.key}: give width and height together, and not with size or "
                    "aspect_ratio."
                )
            dims, explicit = (int(width), int(height)), True
        size = request.size
        if dims is None and size is None and ratio_text is None and spec.default_size:
            size = spec.default_size
        if dims is None and size is not None:
            if size == "auto":
                return fields if takes_wh else {**fields, names.get("size", "size"): "auto"}
            wxh = _parse_wxh(size)
            if wxh is not None:
                dims, explicit = wxh, True
                if (
                    ratio_text is not None
                    and abs(math.log((wxh[0] / wxh[1]) / _parse_ratio(ratio_text))) > 0.02
                ):
                    raise RequestError(
                        f"size {size!r} and aspect_ratio {ratio_text!r} disagree; give one."
                    )
            elif size in SIZE_CLASSES:
                ratio = _parse_ratio(ratio_text) if ratio_text else 1.0
                dims = _dims_for(ratio, size, rule)
            else:
                raise RequestError(
                    f"size {size!r} is neither 'WxH' nor a size class ({', '.join(SIZE_CLASSES)})."
                )
        elif dims is None and ratio_text is not None:
            dims = _dims_for(_parse_ratio(ratio_text), "1K", rule)
        if dims is None:
            return fields
        if dims[0] <= 0 or dims[1] <= 0:
            raise RequestError(f"{spec.key}: image sizes must be positive, not {dims}.")
        if explicit:
            check_size_rule(spec, dims[0], dims[1])
        elif spec.sizes:
            chosen = _closest(spec.sizes, dims[0] / dims[1], float(dims[0] * dims[1]))
            if chosen is not None:
                dims = _parse_wxh(chosen)
                assert dims is not None
        if takes_wh:
            fields[names["width"]], fields[names["height"]] = dims
        else:
            fields[names.get("size", "size")] = f"{dims[0]}x{dims[1]}"
        return fields

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

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": f"seedless/{__version__}"},
                # no cookie jar: nothing a host sets may travel to another port or host
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._client

    def _credentials(self) -> dict[str, str]:
        """Endpoint headers plus ``Authorization: Bearer KEY`` (for the API's origin only)."""
        headers = dict(self.endpoint.headers)
        if not any(name.lower() in _AUTH_HEADERS for name in headers):
            env = ("OPENAI_API_KEY",) if self.endpoint.name == "openai" else ()
            headers["Authorization"] = f"Bearer {self.endpoint.require_key(*env)}"
        return headers

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned request and return its images (``url`` answers downloaded)."""
        provider = spec.provider
        response = await self._post(wire, self._credentials(), provider)
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
                + (f" (it said: {_short(text, 200)})" if text else "")
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

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Plan and send in one go."""
        return await self.send(self.plan(request, spec), spec)

    async def _post(
        self, wire: WireRequest, headers: dict[str, str], provider: str
    ) -> httpx.Response:
        client = self._http()
        url = api_url(self.root, wire.path.removeprefix("/v1"))
        try:
            if wire.json is not None:
                response = await client.post(url, json=wire.json, headers=headers)
            else:
                files = [(f.name, (f.filename, f.data, f.content_type)) for f in wire.files]
                response = await client.post(
                    url, data=dict(wire.form or {}), files=files, headers=headers
                )
        except httpx.TimeoutException as exc:
            raise SeedlessTimeoutError(
                f"{provider} did not answer within {self.timeout:g}s "
                f"({type(exc).__name__}). Raise Endpoint(timeout=...) for slow models.",
                provider=provider,
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ConfigurationError(
                redact(
                    f"Endpoint {self.endpoint.name!r} has base_url {self.root!r}, which is not "
                    "an http(s) URL."
                )
            ) from exc
        except httpx.TransportError as exc:
            raise ServerError(
                f"{provider}: the connection failed ({type(exc).__name__}: {exc}).",
                provider=provider,
            ) from exc
        if response.status_code >= 400:
            raise self._error(response, provider)
        if response.status_code >= 300:
            raise ProviderError(
                f"{provider} answered HTTP {response.status_code} (a redirect to "
                f"{response.headers.get('location', '?')!r}); check the endpoint's base_url "
                f"({self.root}).",
                provider=provider,
                status=response.status_code,
            )
        return response

    def _payload(self, response: httpx.Response, provider: str) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as exc:
            raise ServerError(
                f"{provider} answered HTTP {response.status_code} with a body that is not JSON "
                f"(truncated?): {_short(response.text, 200)!r}",
                provider=provider,
                status=response.status_code,
            ) from exc
        if not isinstance(payload, dict):
            raise ServerError(
                f"{provider} answered with JSON that is not an object.",
                provider=provider,
                status=response.status_code,
            )
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

    # ------------------------------------------------------------------ answers

    async def _image(
        self, item: dict[str, Any], provider: str, fallback: str | None
    ) -> RawImage | None:
        encoded = item.get("b64_json")
        if isinstance(encoded, str) and encoded:
            try:
                data = base64.b64decode("".join(encoded.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ServerError(
                    f"{provider} sent b64_json that is not valid base64 (truncated?).",
                    provider=provider,
                ) from exc
            return RawImage(data=data, mime_type=_image_mime(data, fallback, provider))
        url = item.get("url")
        if isinstance(url, str) and url:
            return await self.download(url, provider)
        return None

    async def download(self, url: str, provider: str | None = None) -> RawImage:
        """Fetch the image of a ``url`` answer with the pooled client, safely.

        http(s) (and base64 ``data:``) URLs only; at most :data:`MAX_REDIRECTS` redirects,
        each checked the same way; the endpoint's key and headers only to the base URL's own
        origin; at most :attr:`max_download_bytes`, counted while streaming; at most
        :attr:`download_timeout` seconds in all.
        """
        name = provider or self.endpoint.name
        if url.startswith("data:"):
            return self._data_url(url, name)
        try:
            return await asyncio.wait_for(self._fetch(url, name), self.download_timeout)
        except asyncio.TimeoutError as exc:
            raise SeedlessTimeoutError(
                f"Downloading the image from {name}'s answer took longer than "
                f"{self.download_timeout:g}s.",
                provider=name,
            ) from exc

    async def _fetch(self, url: str, provider: str) -> RawImage:
        client = self._http()
        home = _origin(httpx.URL(self.root))
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = httpx.URL(current)
            except httpx.InvalidURL as exc:
                raise ProviderError(
                    f"{provider} answered with an image URL that is not valid.",
                    provider=provider,
                ) from exc
            if target.scheme not in ("http", "https"):
                raise ProviderError(
                    f"Refused to download an image from a {target.scheme or 'relative'!s}: URL "
                    f"in {provider}'s answer: seedless follows http(s) URLs only.",
                    provider=provider,
                )
            headers = self._credentials() if _origin(target) == home else {}
            try:
                async with client.stream("GET", target, headers=headers) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        current = str(target.join(location))
                        continue
                    return await self._read_image(response, provider)
            except httpx.TimeoutException as exc:
                raise SeedlessTimeoutError(
                    f"Downloading the image from {target.host} timed out.", provider=provider
                ) from exc
            except httpx.TransportError as exc:
                raise ServerError(
                    f"Downloading the image from {target.host} failed "
                    f"({type(exc).__name__}: {exc}).",
                    provider=provider,
                ) from exc
        raise ProviderError(
            f"The image URL in {provider}'s answer redirected more than {MAX_REDIRECTS} times.",
            provider=provider,
        )

    async def _read_image(self, response: httpx.Response, provider: str) -> RawImage:
        host = response.request.url.host
        status = response.status_code
        if status >= 400:
            cls: type[ProviderError] = ProviderError
            if status == 429:
                cls = RateLimitError
            elif status >= 500:
                cls = ServerError
            raise cls(
                f"Downloading the image from {host} failed with HTTP {status}"
                + ("" if status >= 500 else " (answer URLs expire: download them promptly)")
                + ".",
                provider=provider,
                status=status,
                retry_after=parse_retry_after(response.headers),
            )
        cap = self.max_download_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise self._too_large(host, provider, int(declared))
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > cap:
                raise self._too_large(host, provider, None)
            chunks.append(chunk)
        data = b"".join(chunks)
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        fallback = content_type if content_type.startswith("image/") else None
        return RawImage(data=data, mime_type=_image_mime(data, fallback, provider))

    def _too_large(self, host: str, provider: str, size: int | None) -> ProviderError:
        what = f"{size:,} bytes" if size is not None else "more than that"
        return ProviderError(
            f"Refused the image from {host}: the download is capped at "
            f"{self.max_download_bytes:,} bytes and it is {what}. Raise "
            "OpenAIProvider(max_download_bytes=...) if you expect such images.",
            provider=provider,
        )

    def _data_url(self, url: str, provider: str) -> RawImage:
        header, _, encoded = url.partition(",")
        if not header.endswith(";base64") or not header[5:].startswith("image/"):
            raise ProviderError(
                f"{provider} answered with a data: URL that is not a base64 image.",
                provider=provider,
            )
        if len(encoded) * 3 // 4 > self.max_download_bytes:
            raise self._too_large("a data: URL", provider, len(encoded) * 3 // 4)
        try:
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ServerError(
                f"{provider} sent a data: URL that is not valid base64.", provider=provider
            ) from exc
        return RawImage(data=data, mime_type=_image_mime(data, header[5:-7], provider))

    # ------------------------------------------------------------------ lifetime

    async def aclose(self) -> None:
        """Close the pooled connections (the client's context manager calls this)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _prompt(request: ImageRequest, sent: dict[str, Any]) -> str:
    """The prompt, or for an edit without one, its effect described in words (recorded;
    validation has refused an edit with neither)."""
    if request.prompt:
        return request.prompt
    text = str(request.effect.describe())  # type: ignore[union-attr]
    sent["prompt_from_effect"] = text
    return text


def _response_formats(spec: ModelSpec) -> tuple[str, ...]:
    """The response_format values the model takes, default first: the matrix's, or OpenAI's
    two for a row that does not say."""
    return spec.response_formats if spec.response_formats is not None else ("b64_json", "url")


def _extension(mime: str) -> str:
    fmt = _OUTPUT_FORMATS.get(mime, "")
    return "." + ("jpg" if fmt == "jpeg" else fmt) if fmt else ""


def _image_mime(data: bytes, fallback: str | None, provider: str) -> str:
    """The MIME type of image bytes by their magic, else ``fallback``; NoImageError if neither."""
    mime = sniff_mime(data)
    if mime != "application/octet-stream":
        return mime
    if fallback and fallback.startswith("image/") and data:
        return fallback
    raise NoImageError(
        f"{provider} answered with {len(data)} bytes that are not a recognisable image.",
        provider=provider,
    )


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
        message = _short(response.text, 300) if response.text.strip() else response.reason_phrase
    return (
        _short(message),
        str(code) if code is not None else None,
        str(kind) if kind is not None else None,
        str(param) if param is not None else None,
    )
