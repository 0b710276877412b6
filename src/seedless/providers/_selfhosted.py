"""What the self-hosted providers (``forge``, ``comfyui``) add to the shared
:class:`~._http.HttpSession`: where the server is and its optional HTTP basic auth.

A server's URL may carry basic-auth credentials (``http://user:pass@gpu-box:7860``), or the
endpoint's ``api_key`` may hold them as ``user:password`` (A1111's ``--api-auth`` format).
Either way they travel only in the ``Authorization`` header, are registered as secrets (the
password, ``user:password`` and its base64 form), and show as ``[secure]`` in every planned
request, repr and error. Sizes come from :func:`~._sizes.pixel_size` with Stable Diffusion's
multiple of 8 for rows without a size rule (:data:`SD_SIZE_RULE`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ..capabilities import SizeRule
from ..errors import (
    ConfigurationError,
    ProviderError,
    error_for_status,
    redact,
    register_secret,
)
from ..retry import honour_should_retry, parse_retry_after
from ._http import USER_AGENT, HttpSession
from .base import WireFile

if TYPE_CHECKING:
    from ..config import Endpoint

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_TIMEOUT",
    "SD_SIZE_RULE",
    "SelfHostedHTTP",
]

#: Seconds to wait for one answer: a self-hosted GPU renders one request at a time.
DEFAULT_TIMEOUT = 600.0
#: Largest image file a server may serve for one output.
DEFAULT_MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
#: Stable Diffusion's latent is an eighth of the picture: edges in multiples of 8 for a row
#: that publishes no size rule of its own.
SD_SIZE_RULE = SizeRule(multiple=8)


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
    """One self-hosted server: its root URL, basic auth, and the pooled :class:`HttpSession`.

    Args:
        endpoint: the endpoint (base URL, ``api_key`` as ``user:password``, headers, timeout).
        default_url: where the server is when the endpoint names no base URL.
        owner: the provider class users construct, named in "raise X(...)" hints.
        max_download_bytes: largest file :meth:`download` reads.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        default_url: str,
        owner: str,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        address = _address(endpoint, default_url)
        self.root = address.root
        self._auth = address.auth
        self.timeout = endpoint.timeout or DEFAULT_TIMEOUT
        self.session = HttpSession(
            endpoint_name=endpoint.name,
            root=self.root,
            timeout=self.timeout,
            owner=owner,
            max_download_bytes=max_download_bytes,
            transport=transport,
            slow_hint="A busy GPU queue is slow: raise Endpoint(timeout=...).",
            down_hint="Is the server running?",
        )

    def __repr__(self) -> str:
        auth = ", basic auth" if self._auth else ""
        return f"<{self.endpoint.name} {redact(self.root)}{auth}>"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (``/sdapi/v1/txt2img``) on this server."""
        return self.root + path

    def shown_headers(self) -> dict[str, str]:
        """The headers sent besides httpx's own, credentials shown as ``[secure]``."""
        shown = {"User-Agent": USER_AGENT}
        shown.update({name: "[secure]" for name in self.endpoint.headers})
        if self._auth is not None:
            shown["Authorization"] = "Basic [secure]"
        return shown

    def _headers(self) -> dict[str, str]:
        """The endpoint's headers, and basic auth when the server asks for it."""
        headers = dict(self.endpoint.headers)
        if self._auth is not None:
            token = f"{self._auth[0]}:{self._auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        provider: str,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[WireFile, ...] = (),
    ) -> httpx.Response:
        """Send one request; transport failures become seedless errors (status not checked)."""
        return await self.session.request(
            method,
            self.url(path),
            headers=self._headers(),
            provider=provider,
            json_body=json,
            form=form,
            files=files,
        )

    async def download(
        self, path: str, *, provider: str, params: Mapping[str, str]
    ) -> httpx.Response:
        """``GET path`` read while streaming, refused past the session's
        ``max_download_bytes`` (an image a server serves is bounded, a runaway answer is not
        read into memory); the status is not checked."""
        return await self.session.fetch(
            self.url(path), headers=self._headers(), provider=provider, params=params, what=path
        )

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

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self.session.aclose()
