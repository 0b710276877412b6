"""The httpx plumbing every REST provider shares: one pooled client, sending, safe downloads.

An :class:`HttpSession` owns one :class:`httpx.AsyncClient` per provider, set up the same way
for every service: no redirects followed on API calls, no cookie jar (nothing a host sets may
travel to another port or host), seedless's User-Agent. :meth:`~HttpSession.send` maps
transport failures (timeouts, refused connections, non-http base URLs) onto
:mod:`seedless.errors` and hands error answers to the provider's own translator, the one
place each provider knows its service's error bodies. :meth:`~HttpSession.download` fetches
an image an answer points at: http(s) (and base64 ``data:``) URLs only, redirects followed by
hand and each checked the same way, public addresses or the endpoint's own host only (checked
before connecting: :mod:`seedless.providers._addresses`), credentials only where the provider
says (its API's own origin), a size cap counted while streaming and one deadline for the
whole download.

:meth:`~HttpSession.request` sends without judging the status (the self-hosted providers,
which read their servers' error bodies first) and :meth:`~HttpSession.fetch` reads a GET's
body under the same size cap.

The OpenAI-style, BFL and Stability providers use it through :class:`~._hosted.HttpProvider`,
the self-hosted Forge and ComfyUI providers through :class:`~._selfhosted.SelfHostedHTTP`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from .._version import __version__
from ..errors import (
    ConfigurationError,
    NoImageError,
    ProviderError,
    RateLimitError,
    ServerError,
    redact,
)
from ..errors import TimeoutError as SeedlessTimeoutError
from ..images import sniff_mime
from ..retry import parse_retry_after
from ._addresses import check_target
from .base import RawImage, WireFile

__all__ = [
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "Credentials",
    "ErrorMapper",
    "HttpSession",
    "decode_base64",
    "error_json",
    "error_text",
    "fastapi_detail",
    "form_value",
    "image_mime",
    "origin",
    "short",
]

#: Largest image a URL in an answer may point at; enforced while streaming.
DEFAULT_MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
#: Seconds a whole download (all redirects included) may take.
DEFAULT_DOWNLOAD_TIMEOUT = 60.0
#: Redirects followed when downloading an image.
MAX_REDIRECTS = 3
USER_AGENT = f"seedless/{__version__}"

#: The headers (credentials included) a download may send to a URL, decided by the provider.
Credentials = Callable[[httpx.URL], Mapping[str, str]]
#: The provider's translation of an error answer into a seedless error.
ErrorMapper = Callable[[httpx.Response], ProviderError]


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default)


def short(text: str, limit: int = 400) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_json(response: httpx.Response) -> Any:
    """The JSON of an error answer, or None when its body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: httpx.Response, limit: int = 400) -> str:
    """An error answer's body on one line, cut to ``limit``; the reason phrase if it is empty."""
    return short(response.text, limit) if response.text.strip() else response.reason_phrase


def fastapi_detail(payload: Any) -> str | None:
    """FastAPI's error ``detail``: its text, or its validation errors as ``loc: msg`` joined by
    ``"; "`` (``body`` left out of each location); None when the payload has neither."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                msg = str(item.get("msg") or "")
                parts.append(f"{loc}: {msg}" if loc and msg else loc or msg)
        return "; ".join(part for part in parts if part) or "the request was not valid"
    return detail if isinstance(detail, str) and detail else None


def form_value(value: Any) -> str:
    """A multipart form field's text: booleans as true/false, lists and mappings as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def decode_base64(encoded: str, provider: str, what: str) -> bytes:
    """The bytes of a base64 string in an answer (whitespace ignored); ServerError naming
    ``what`` when it is not valid base64 (a truncated answer)."""
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ServerError(
            f"{provider} sent {what} that is not valid base64 (truncated?).", provider=provider
        ) from exc


def image_mime(data: bytes, fallback: str | None, provider: str) -> str:
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


class HttpSession:
    """One provider's pooled httpx client, its sending and its downloads.

    Args:
        endpoint_name: the endpoint's name, for messages.
        root: the API root the provider sends to, for messages (credentials redacted).
        timeout: seconds an API answer may take.
        owner: the provider class users construct, named in "raise X(...)" hints.
        max_download_bytes: largest image a download may deliver.
        download_timeout: seconds a download may take, redirects included.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
        slow_hint: what a timeout message tells the reader to do.
        down_hint: what a failed connection's message adds (``"Is the server running?"``).
    """

    def __init__(
        self,
        *,
        endpoint_name: str,
        root: str,
        timeout: float,
        owner: str,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        slow_hint: str = "Raise Endpoint(timeout=...) for slow models.",
        down_hint: str = "",
    ) -> None:
        self.endpoint_name = endpoint_name
        self.root = root
        self.timeout = timeout
        self.owner = owner
        self.max_download_bytes = max_download_bytes
        self.download_timeout = download_timeout
        self.slow_hint = slow_hint
        self.down_hint = down_hint
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        """The pooled client, created on first use."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": USER_AGENT},
                # no cookie jar: nothing a host sets may travel to another port or host
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled connections."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------------------ API calls

    @contextlib.contextmanager
    def _transport_errors(self, provider: str) -> Iterator[None]:
        """httpx's transport failures (timeouts, refused or dropped connections, a base URL
        that is not http) as seedless errors."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise SeedlessTimeoutError(
                f"{provider} did not answer within {self.timeout:g}s "
                f"({type(exc).__name__}). {self.slow_hint}",
                provider=provider,
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ConfigurationError(
                redact(
                    f"Endpoint {self.endpoint_name!r} has base_url {self.root!r}, which is not "
                    "an http(s) URL."
                )
            ) from exc
        except httpx.TransportError as exc:
            hint = f" {self.down_hint}" if self.down_hint else ""
            raise ServerError(
                f"{provider}: the connection to {redact(self.root)} failed "
                f"({type(exc).__name__}: {exc}).{hint}",
                provider=provider,
            ) from exc

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        provider: str,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        files: Iterable[WireFile] = (),
        multipart: bool = False,
    ) -> httpx.Response:
        """Send one API call and return the answer, whatever its status (transport failures
        raised as seedless errors).

        The body is ``json_body``, or ``form`` fields plus ``files``: url-encoded unless there
        are files or ``multipart`` asks for ``multipart/form-data`` anyway.
        """
        kwargs: dict[str, Any] = {"headers": dict(headers), "params": params}
        parts = [(f.name, (f.filename, f.data, f.content_type)) for f in files]
        if json_body is not None:
            kwargs["json"] = json_body
        elif multipart or parts:
            fields = [(name, (None, value)) for name, value in (form or {}).items()]
            kwargs["files"] = fields + parts
        elif form is not None:
            kwargs["data"] = dict(form)
        with self._transport_errors(provider):
            return await self.client().request(method, url, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        provider: str,
        error: ErrorMapper,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Iterable[WireFile] = (),
        multipart: bool = False,
    ) -> httpx.Response:
        """Send one API call (see :meth:`request`); a 2xx answer is returned, anything else
        raised. Error answers go through ``error`` (the provider's translator); a redirect is
        refused, naming the base URL (API calls never follow one).
        """
        response = await self.request(
            method,
            url,
            headers=headers,
            provider=provider,
            json_body=json_body,
            form=form,
            files=files,
            multipart=multipart,
        )
        if response.status_code >= 400:
            raise error(response)
        if response.status_code >= 300:
            raise ProviderError(
                f"{provider} answered HTTP {response.status_code} (a redirect to "
                f"{response.headers.get('location', '?')!r}); check the endpoint's base_url "
                f"({redact(self.root)}).",
                provider=provider,
                status=response.status_code,
            )
        return response

    async def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        provider: str,
        params: Mapping[str, str] | None = None,
        what: str,
    ) -> httpx.Response:
        """``GET url`` with its body read under :attr:`max_download_bytes` (refused past it,
        naming ``what``), whatever its status; transport failures as in :meth:`request`."""
        with self._transport_errors(provider):
            async with self.client().stream("GET", url, headers=headers, params=params) as got:
                content = await self._read_capped(got, provider, what)
                return httpx.Response(
                    got.status_code, headers=got.headers, content=content, request=got.request
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, response: httpx.Response, provider: str) -> Any:
        """The answer's JSON; ServerError for a body that is not JSON (truncated?)."""
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                f"{provider} answered HTTP {response.status_code} with a body that is not JSON "
                f"(truncated?): {short(response.text, 200)!r}",
                provider=provider,
                status=response.status_code,
            ) from exc

    def json_object(self, response: httpx.Response, provider: str) -> dict[str, Any]:
        """The answer's JSON object; ServerError for a body that is not one (truncated?)."""
        payload = self.json(response, provider)
        if not isinstance(payload, dict):
            raise ServerError(
                f"{provider} answered with JSON that is not an object.",
                provider=provider,
                status=response.status_code,
            )
        return payload

    # ------------------------------------------------------------------ downloads

    async def download(self, url: str, provider: str, credentials: Credentials) -> RawImage:
        """Fetch the image at ``url`` safely (see the module docstring).

        ``credentials(target)`` gives the headers a request to ``target`` may carry; it is
        asked again after every redirect, so a key meant for the API's origin never follows
        a redirect elsewhere.
        """
        if url.startswith("data:"):
            return self._data_url(url, provider)
        try:
            return await asyncio.wait_for(
                self._fetch(url, provider, credentials), self.download_timeout
            )
        except asyncio.TimeoutError as exc:
            raise SeedlessTimeoutError(
                f"Downloading the image from {provider}'s answer took longer than "
                f"{self.download_timeout:g}s.",
                provider=provider,
            ) from exc

    async def _fetch(self, url: str, provider: str, credentials: Credentials) -> RawImage:
        client = self.client()
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
            headers = dict(credentials(target))
            checked = await check_target(
                target, httpx.URL(self.root).host, provider, resolve=self._transport is None
            )
            headers.update(checked.headers)  # checked before connecting, and pinned
            try:
                async with client.stream(
                    "GET", checked.url, headers=headers, extensions=checked.extensions
                ) as response:
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
        data = await self._read_capped(response, provider, f"the image at {host}")
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        fallback = content_type if content_type.startswith("image/") else None
        return RawImage(data=data, mime_type=image_mime(data, fallback, provider))

    async def _read_capped(self, response: httpx.Response, provider: str, what: str) -> bytes:
        """A streamed body, refused past :attr:`max_download_bytes`: at once when the declared
        Content-Length is over it, else as soon as the bytes counted are."""
        cap = self.max_download_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise self._too_large(what, provider, int(declared))
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > cap:
                raise self._too_large(what, provider, None)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, what: str, provider: str, size: int | None) -> ProviderError:
        said = f" ({size:,} bytes)" if size is not None else ""
        return ProviderError(
            f"{provider} served more than {self.max_download_bytes:,} bytes for {what}{said}: "
            f"refused, as downloads are capped at {self.max_download_bytes:,} bytes. Raise "
            f"{self.owner}(max_download_bytes=...) if you expect such images.",
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
        data = decode_base64(encoded, provider, "a data: URL")
        return RawImage(data=data, mime_type=image_mime(data, header[5:-7], provider))
