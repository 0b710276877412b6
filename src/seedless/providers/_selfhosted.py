"""What the self-hosted providers (``forge``, ``comfyui``) share: where the server is and its
optional HTTP basic auth, one pooled httpx client whose transport failures map onto
:mod:`seedless.errors`, JSON answers read safely, and the pixel size a request asks for.

A server's URL may carry basic-auth credentials (``http://user:pass@gpu-box:7860``), or the
endpoint's ``api_key`` may hold them as ``user:password`` (A1111's ``--api-auth`` format).
Either way they travel only in the ``Authorization`` header, are registered as secrets (the
password, ``user:password`` and its base64 form), and show as ``[secure]`` in every planned
request, repr and error.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import httpx

from .._version import __version__
from ..capabilities import check_size_rule
from ..errors import (
    ConfigurationError,
    ProviderError,
    RequestError,
    ServerError,
    error_for_status,
    redact,
    register_secret,
)
from ..errors import TimeoutError as SeedlessTimeoutError
from ..retry import honour_should_retry, parse_retry_after

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_TIMEOUT",
    "SIZE_CLASSES",
    "SelfHostedHTTP",
    "pixel_size",
    "short",
]

#: Seconds to wait for one answer: a self-hosted GPU renders one request at a time.
DEFAULT_TIMEOUT = 600.0
#: Largest image file a server may serve for one output.
DEFAULT_MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
#: Size classes as square edge lengths (about that many pixels squared, at any ratio).
SIZE_CLASSES: dict[str, int] = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}
_WXH = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_RATIO = re.compile(r"^(\d{1,3}):(\d{1,3})$")


def short(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Address:
    root: str  # scheme://host[:port][/path], without userinfo or a trailing slash
    auth: tuple[str, str] | None


def _address(endpoint: Endpoint, default_url: str) -> _Address:
    """The server's root URL and basic-auth credentials (the endpoint's key wins over the
    URL's userinfo), registered as secrets."""
    raw = (endpoint.base_url or default_url).strip().rstrip("/")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(
            redact(f"Endpoint {endpoint.name!r} has base_url {raw!r}, which is not a URL.")
        ) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            redact(
                f"Endpoint {endpoint.name!r} has base_url {raw!r}: give the server's http(s) "
                "address, e.g. http://127.0.0.1:7860."
            )
        )
    auth: tuple[str, str] | None = None
    if url.username or url.password:
        auth = (url.username, url.password)
    key = endpoint.key()
    if key:
        user, colon, password = key.partition(":")
        auth = (user, password) if colon else ("", key)
    if auth is not None:
        token = f"{auth[0]}:{auth[1]}"
        for secret in (auth[1], token, base64.b64encode(token.encode()).decode()):
            register_secret(secret)
    root = str(url.copy_with(username=None, password=None)).rstrip("/")
    return _Address(root=root, auth=auth)


class SelfHostedHTTP:
    """One self-hosted server: its root URL, basic auth, and a pooled httpx client.

    Args:
        endpoint: the endpoint (base URL, ``api_key`` as ``user:password``, headers, timeout).
        default_url: where the server is when the endpoint names no base URL.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        default_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        address = _address(endpoint, default_url)
        self.root = address.root
        self._auth = address.auth
        self.timeout = endpoint.timeout or DEFAULT_TIMEOUT
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        auth = ", basic auth" if self._auth else ""
        return f"<{self.endpoint.name} {redact(self.root)}{auth}>"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (``/sdapi/v1/txt2img``) on this server."""
        return self.root + path

    def shown_headers(self) -> dict[str, str]:
        """The headers sent besides httpx's own, credentials shown as ``[secure]``."""
        shown = {"User-Agent": f"seedless/{__version__}"}
        shown.update({name: "[secure]" for name in self.endpoint.headers})
        if self._auth is not None:
            shown["Authorization"] = "Basic [secure]"
        return shown

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": f"seedless/{__version__}", **self.endpoint.headers},
                auth=httpx.BasicAuth(*self._auth) if self._auth is not None else None,
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._client

    async def request(
        self,
        method: str,
        path: str,
        *,
        provider: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Any = None,
    ) -> httpx.Response:
        """Send one request; transport failures become seedless errors (status not checked)."""
        with self._transport_errors(provider):
            return await self._http().request(
                method, self.url(path), json=json, params=params, data=data, files=files
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def download(
        self, path: str, *, provider: str, params: Mapping[str, str], limit: int
    ) -> httpx.Response:
        """``GET path`` read while streaming, refused past ``limit`` bytes (an image a server
        serves is bounded, a runaway answer is not read into memory)."""
        with self._transport_errors(provider):
            async with self._http().stream("GET", self.url(path), params=params) as response:
                chunks, total = [], 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > limit:
                        raise ProviderError(
                            f"{provider} served more than {limit:,} bytes for {path}; refused "
                            "(raise max_download_bytes= if your images are that large).",
                            provider=provider,
                        )
                    chunks.append(chunk)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    content=b"".join(chunks),
                    request=response.request,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _transport_errors(self, provider: str) -> Iterator[None]:
        """httpx's transport failures as seedless errors (timeouts, dropped connections)."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise SeedlessTimeoutError(
                f"{provider} did not answer within {self.timeout:g}s ({type(exc).__name__}). "
                "A busy GPU queue is slow: raise Endpoint(timeout=...).",
                provider=provider,
            ) from exc
        except httpx.TransportError as exc:
            raise ServerError(
                f"{provider}: the connection to {redact(self.root)} failed "
                f"({type(exc).__name__}: {exc}). Is the server running?",
                provider=provider,
            ) from exc

    def status_error(
        self, response: httpx.Response, provider: str, message: str, *, auth_env: str
    ) -> ProviderError:
        """The seedless error for an error status (the library's one status table, the
        service's ``x-should-retry`` honoured); a 401 says how to give basic-auth credentials
        (``auth_env``), a redirect to check the base URL."""
        status = response.status_code
        if 300 <= status < 400:
            return ProviderError(
                f"{provider} answered HTTP {status} (a redirect); check the base_url "
                f"({redact(self.root)}).",
                provider=provider,
                status=status,
            )
        if status == 401:
            message += (
                f" The server asks for HTTP basic auth: set {auth_env}=user:password, or "
                "Endpoint(api_key='user:password')."
            )
        exc = error_for_status(
            status, message, provider=provider, retry_after=parse_retry_after(response.headers)
        )
        return honour_should_retry(exc, response.headers)

    @staticmethod
    def json(response: httpx.Response, provider: str) -> Any:
        """The JSON body of ``response``; a ServerError when it is not JSON (truncated?)."""
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                f"{provider} answered HTTP {response.status_code} with a body that is not JSON "
                f"(truncated?): {short(response.text, 200)!r}",
                provider=provider,
                status=response.status_code,
            ) from exc

    async def aclose(self) -> None:
        """Close the pooled connections."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _ratio(text: str) -> float:
    match = _RATIO.match(text)
    if match is None or not int(match.group(1)) or not int(match.group(2)):
        raise RequestError(f"aspect ratio {text!r} is not of the form W:H (e.g. '16:9')")
    return int(match.group(1)) / int(match.group(2))


def pixel_size(request: ImageRequest, spec: ModelSpec) -> tuple[int, int] | None:
    """The width and height ``request`` asks for, or None when it leaves the size to the
    server (or the workflow).

    ``size="WxH"`` is taken as is (checked against the row's size rule); a size class
    (``"512"``, ``"1K"`` ...) or an aspect ratio alone (``"1K"`` then) becomes about that many
    pixels at the ratio, both edges rounded to the rule's multiple (8 for Stable Diffusion).
    """
    size, ratio_text = request.size, request.aspect_ratio
    if size is None and ratio_text is None:
        return None
    if size is not None and (match := _WXH.match(size)) is not None:
        dims = int(match.group(1)), int(match.group(2))
        if ratio_text is not None and abs(math.log(dims[0] / dims[1] / _ratio(ratio_text))) > 0.02:
            raise RequestError(f"size {size!r} and aspect_ratio {ratio_text!r} disagree; give one.")
        check_size_rule(spec, *dims)
        return dims
    edge = SIZE_CLASSES.get(size or "1K")
    if edge is None:
        raise RequestError(
            f"size {size!r} is neither 'WxH' nor a size class ({', '.join(SIZE_CLASSES)})."
        )
    ratio = _ratio(ratio_text) if ratio_text else 1.0
    multiple = spec.size_rule.multiple if spec.size_rule else 8
    width = max(multiple, round(edge * math.sqrt(ratio) / multiple) * multiple)
    height = max(multiple, round(edge / math.sqrt(ratio) / multiple) * multiple)
    return width, height
