"""The httpx plumbing every REST provider shares: one pooled client, sending, safe downloads.

An :class:`HttpSession` owns one :class:`httpx.AsyncClient` per provider, set up the same way
for every service: no redirects followed on API calls, no cookie jar (nothing a host sets may
travel to another port or host), seedless's User-Agent. :meth:`~HttpSession.send` maps
transport failures (timeouts, refused connections, non-http base URLs) onto
:mod:`seedless.errors` and hands error answers to the provider's own translator, the one
place each provider knows its service's error bodies. :meth:`~HttpSession.download` fetches
an image an answer points at: http(s) (and base64 ``data:``) URLs only, redirects followed by
hand and each checked the same way, credentials only where the provider says (its API's own
origin), a size cap counted while streaming and one deadline for the whole download.

The OpenAI-style, BFL and Stability providers use it; each keeps its request building and
answer reading to itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
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
    ) -> None:
        self.endpoint_name = endpoint_name
        self.root = root
        self.timeout = timeout
        self.owner = owner
        self.max_download_bytes = max_download_bytes
        self.download_timeout = download_timeout
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
        """Send one API call; a 2xx answer is returned, anything else raised.

        The body is ``json_body``, or ``form`` fields plus ``files``: url-encoded unless there
        are files or ``multipart`` asks for ``multipart/form-data`` anyway. Error answers go
        through ``error`` (the provider's translator); a redirect is refused, naming the base
        URL (API calls never follow one).
        """
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        parts = [(f.name, (f.filename, f.data, f.content_type)) for f in files]
        if json_body is not None:
            kwargs["json"] = json_body
        elif multipart or parts:
            fields = [(name, (None, value)) for name, value in (form or {}).items()]
            kwargs["files"] = fields + parts
        elif form is not None:
            kwargs["data"] = dict(form)
        try:
            response = await self.client().request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise SeedlessTimeoutError(
                f"{provider} did not answer within {self.timeout:g}s "
                f"({type(exc).__name__}). Raise Endpoint(timeout=...) for slow models.",
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
            raise ServerError(
                f"{provider}: the connection failed ({type(exc).__name__}: {exc}).",
                provider=provider,
            ) from exc
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

    def json_object(self, response: httpx.Response, provider: str) -> dict[str, Any]:
        """The answer's JSON object; ServerError for a body that is not one (truncated?)."""
        try:
            payload = response.json()
        except ValueError as exc:
            raise ServerError(
                f"{provider} answered HTTP {response.status_code} with a body that is not JSON "
                f"(truncated?): {short(response.text, 200)!r}",
                provider=provider,
                status=response.status_code,
            ) from exc
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
        return RawImage(data=data, mime_type=image_mime(data, fallback, provider))

    def _too_large(self, host: str, provider: str, size: int | None) -> ProviderError:
        what = f"{size:,} bytes" if size is not None else "more than that"
        return ProviderError(
            f"Refused the image from {host}: the download is capped at "
            f"{self.max_download_bytes:,} bytes and it is {what}. Raise "
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
