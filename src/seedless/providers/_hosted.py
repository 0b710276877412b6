"""What the hosted REST providers (OpenAI-style, BFL, Stability) share, over one
:class:`~._http.HttpSession` each: the endpoint and its API root, the key header (shown as
``[secure]`` in every plan, sent only to the API's own origin, read from the service's
environment variable for the built-in endpoint), downloads of the images answers point at,
``call`` and ``aclose``. Each provider keeps its request building, answer reading and error
translation to itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from ..config import DEFAULTS
from ..errors import is_secret_header, redact
from ._http import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    USER_AGENT,
    HttpSession,
    origin,
)
from .base import ProviderReply, RawImage, WireRequest

if TYPE_CHECKING:
    from .._specs import WireShape
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["HttpProvider", "KeyHeader"]


@dataclass(frozen=True)
class KeyHeader:
    """Where a hosted API takes its key: ``name: prefix + key``.

    The key is the endpoint's own (a built-in endpoint reads it from the variables its
    :data:`seedless.config.DEFAULTS` entry names). An endpoint whose headers already hold
    ``name`` or one of ``given_by`` (lower-case header names) brings its own credentials: no
    key is asked for.
    """

    name: str
    prefix: str = ""
    given_by: frozenset[str] = frozenset()

    def given(self, headers: Mapping[str, str]) -> bool:
        """Whether ``headers`` already carry the credentials."""
        names = self.given_by | {self.name.lower()}
        return any(name.lower() in names for name in headers)


class HttpProvider:
    """What the hosted REST providers (OpenAI-style, BFL, Stability) share: the endpoint, the
    pooled :class:`HttpSession` to ``root``, the key header, ``call`` and ``aclose``.

    A subclass sets :attr:`key_header` (and :attr:`fixed_headers`, sent with every API call)
    and implements ``plan`` and ``send``.
    """

    #: The header the service reads the key from.
    key_header: ClassVar[KeyHeader]
    #: Headers every API call carries besides the key (``Accept`` ...); an endpoint's own
    #: headers override them.
    fixed_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        root: str,
        timeout: float,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.root = root
        self._session = HttpSession(
            endpoint_name=endpoint.name,
            root=root,
            timeout=timeout,
            owner=type(self).__name__,
            max_download_bytes=max_download_bytes,
            download_timeout=download_timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint.name} {redact(self.root)}>"

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The exact wire request for ``request``: no I/O (see :class:`~.base.Provider`)."""
        raise NotImplementedError

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned request (see :class:`~.base.Provider`)."""
        raise NotImplementedError

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Plan and send in one go."""
        return await self.send(self.plan(request, spec), spec)

    def _post_wire(
        self, spec: ModelSpec, *, shape: WireShape, path: str, url: str, chosen: dict[str, Any],
        **body: Any,
    ) -> WireRequest:
        """The planned POST of ``spec`` to ``url`` (shown redacted) with ``body``'s parts
        (``json=``, or ``form=`` and ``files=``) and this provider's shown headers."""
        return WireRequest(
            provider=spec.provider,
            model=spec.key,
            shape=shape,
            method="POST",
            url=redact(url),
            path=path,
            headers=self._shown_headers(),
            chosen=chosen,
            **body,
        )

    def _shown_headers(self) -> dict[str, str]:
        """The headers sent besides httpx's own, credentials shown as ``[secure]``."""
        shown = {"User-Agent": USER_AGENT, **self.fixed_headers}
        for name, value in self.endpoint.headers.items():
            shown[name] = "[secure]" if is_secret_header(name) else value
        key = self.key_header
        if not key.given(self.endpoint.headers):
            shown[key.name] = f"{key.prefix}[secure]"
        return shown

    def _credentials(self) -> dict[str, str]:
        """The headers of an API call: the fixed ones, the endpoint's, and the key (for the
        API's own origin only: see :meth:`download`)."""
        headers = {**self.fixed_headers, **self.endpoint.headers}
        key = self.key_header
        if not key.given(headers):
            default = DEFAULTS.get(self.endpoint.name)
            ours = default is not None and default.protocol == self.endpoint.protocol
            env = default.key_env if default is not None and ours else ()
            headers[key.name] = key.prefix + self.endpoint.require_key(*env)
        return headers

    async def download(self, url: str, provider: str | None = None) -> RawImage:
        """Fetch the image at a URL an answer gave, with the pooled client, safely.

        http(s) (and base64 ``data:``) URLs only; at most three redirects, each checked the
        same way; the endpoint's key and headers only to the base URL's own origin; at most
        ``max_download_bytes``, counted while streaming; at most ``download_timeout`` seconds
        in all.
        """
        home = origin(httpx.URL(self.root))
        return await self._session.download(
            url,
            provider or self.endpoint.name,
            lambda target: self._credentials() if origin(target) == home else {},
        )

    async def aclose(self) -> None:
        """Close the pooled connections (the client's context manager calls this)."""
        await self._session.aclose()
