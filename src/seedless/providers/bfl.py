"""The ``bfl`` provider: Black Forest Labs' own API (FLUX.1, Kontext, FLUX.2), spoken with httpx.

BFL's API is asynchronous. A generation is submitted as ``POST {base}/v1/{model}`` with the
key in the ``x-key`` header and a JSON body (``prompt``, ``seed``, ``width``/``height`` or
``aspect_ratio``, ``input_image`` ... ``input_image_8`` as base64, ``output_format``,
``safety_tolerance``, ``prompt_upsampling``, the model's own ``steps``, ``guidance``,
``raw``); the answer names a task (``id``) and the URL to poll (``polling_url``). Polling
``GET`` it answers ``{"status": ...}``: ``Pending`` until the task ends, then ``Ready`` with
``result.sample``, the URL of the image, or ``Error``, ``Content Moderated``, ``Request
Moderated`` or ``Task not found`` (BFL's OpenAPI description, ``StatusResponse``).

The provider only translates. :meth:`BFLProvider.plan` builds the submission without I/O;
:meth:`~BFLProvider.send` submits it and replies with ``follow``, the planned poll, which the
client sends at its retry policy's poll interval until the task ends (a failed poll is
retried, the submission never resent; the provider never sleeps). The ``Ready`` reply
downloads ``result.sample`` at once (it expires after about ten minutes and lives on another
host: no key travels there). The key goes to the base URL's origin, and to a polling URL on
the same site (``api.eu2.bfl.ai`` for ``api.bfl.ai``); a polling URL anywhere else is not
trusted with it, and the base URL's ``/v1/get_result?id=`` is polled instead.

``prompt_upsampling`` (BFL rewrites the prompt) breaks seed replay: the matrix lists it in
``seed_requires_off``, so it is refused as true with a seed and sent as false unless the
caller sets it. Regional base URLs: ``Endpoint(location="eu")`` or ``"us"`` (``"global"``
is the default, with automatic failover), or any ``base_url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx

from ..capabilities import check_size_rule
from ..errors import (
    ConfigurationError,
    ContentBlockedError,
    ModelNotFoundError,
    NoImageError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    error_for_status,
    redact,
)
from ..retry import honour_should_retry, parse_retry_after
from ._hosted import HttpProvider, KeyHeader
from ._http import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    error_json,
    error_text,
    fastapi_detail,
    origin,
    short,
)
from ._sizes import size_fields
from .base import ProviderReply, WireRequest, instruction, used_seed

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["DEFAULT_TIMEOUT", "REGIONS", "STATUSES", "BFLProvider", "bfl_root"]

#: BFL's documented base URLs by region: global (automatic failover), EU and US residency.
REGIONS: dict[str, str] = {
    "global": "https://api.bfl.ai",
    "eu": "https://api.eu.bfl.ai",
    "us": "https://api.us.bfl.ai",
}
#: Seconds one submission or poll may take (the generation itself is waited for by polling).
DEFAULT_TIMEOUT = 60.0
#: The task statuses of BFL's ``StatusResponse``.
STATUSES = (
    "Task not found",
    "Pending",
    "Request Moderated",
    "Content Moderated",
    "Ready",
    "Error",
)
_MODERATED = {
    "Request Moderated": "the prompt or an input image",
    "Content Moderated": "the generated image",
}
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_GET_RESULT = "/v1/get_result"


def bfl_root(endpoint: Endpoint) -> str:
    """The URL ``/v1/{model}`` is appended to: the endpoint's base URL, else its region's."""
    base = endpoint.base_url
    if base is None:
        region = (endpoint.location or "global").lower()
        if region not in REGIONS:
            raise ConfigurationError(
                f"Endpoint {endpoint.name!r}: BFL has no region {endpoint.location!r}; use "
                f"location={' or '.join(map(repr, REGIONS))}, or give base_url."
            )
        base = REGIONS[region]
    return base.strip().rstrip("/").removesuffix("/v1")


def _site(host: str) -> str | None:
    """The last two labels of a DNS name (``bfl.ai``); None for an IP address."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) < 2 or all(label.isdigit() for label in labels) or ":" in host:
        return None
    return ".".join(labels[-2:])


class BFLProvider(HttpProvider):
    """One BFL endpoint: a pooled httpx client, its key and its base URL.

    Args:
        endpoint: the profile (key, base URL or region, headers, timeout).
        max_download_bytes: largest image a ``result.sample`` URL may deliver.
        download_timeout: seconds that download may take, redirects included.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    key_header: ClassVar[KeyHeader] = KeyHeader("x-key", "")
    fixed_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            endpoint,
            root=bfl_root(endpoint),
            timeout=endpoint.timeout or DEFAULT_TIMEOUT,
            max_download_bytes=max_download_bytes,
            download_timeout=download_timeout,
            transport=transport,
        )

    # ------------------------------------------------------------------ planning (no I/O)

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The submission for ``request`` (validated by the client): no I/O."""
        options = dict(request.options)
        chosen: dict[str, Any] = {}
        body: dict[str, Any] = dict(self.endpoint.extra_fields)
        body["prompt"] = instruction(request, chosen)
        dims = self._size_fields(request, spec, options)
        body.update(dims)
        chosen.update(dims)
        if request.seed is not None:
            body["seed"] = request.seed
        for name in spec.seed_requires_off:  # off unless the caller asks (refused with a seed)
            if options.get(name) is None:
                options.pop(name, None)
                body[name] = chosen[name] = False
        for index, image in enumerate(getattr(request, "images", ())):
            body["input_image" if index == 0 else f"input_image_{index + 1}"] = image.data
        if request.output_mime_type is not None:
            body["output_format"] = _FORMATS[request.output_mime_type.lower()]
        body.update({name: value for name, value in options.items() if value is not None})
        model = self.endpoint.wire_model(spec.id)
        if model != spec.id:
            chosen["model"] = model
        path = f"/v1/{model}"
        return self._post_wire(
            spec, shape="bfl", path=path, url=self.root + path, chosen=chosen, json=body
        )

    def _size_fields(
        self, request: ImageRequest, spec: ModelSpec, options: dict[str, Any]
    ) -> dict[str, Any]:
        """``width``/``height`` for a model that takes pixels (a size class becomes about
        that many pixels at the ratio, within the matrix's size rule), else ``aspect_ratio``.
        An edit with neither a size nor a ratio lets BFL follow the input image."""
        if "width" not in spec.fields or "height" not in spec.fields:
            return {} if request.aspect_ratio is None else {"aspect_ratio": request.aspect_ratio}
        names = {"width": "width", "height": "height"}
        edit = request.operation == "edit"
        fields = size_fields(request, spec, names, options, default=not edit)
        if fields:
            check_size_rule(spec, fields["width"], fields["height"])
        return fields

    def _poll_wire(
        self, submitted: WireRequest, task: str, polling_url: Any, usage: dict[str, Any]
    ) -> WireRequest:
        """The planned poll of ``task``: its polling URL when on the API's own site, else the
        base URL's ``/v1/get_result?id=`` (the key is never sent elsewhere)."""
        url = polling_url if isinstance(polling_url, str) and self._trusted(polling_url) else ""
        if not url:
            url = f"{self.root}{_GET_RESULT}?id={quote(task, safe='')}"
        return WireRequest(
            provider=submitted.provider,
            model=submitted.model,
            shape="bfl",
            method="GET",
            url=redact(url),
            path=httpx.URL(url).path,
            headers={k: v for k, v in submitted.headers.items()},
            chosen=submitted.chosen,
            extensions={"url": url, "task": task, "usage": usage},
        )

    def _trusted(self, url: str) -> bool:
        """Whether ``url`` may receive the key: the API's origin, or https on its site."""
        try:
            target, home = httpx.URL(url), httpx.URL(self.root)
        except httpx.InvalidURL:
            return False
        if origin(target) == origin(home):
            return True
        site = _site(home.host)
        return (
            target.scheme == home.scheme == "https"
            and site is not None
            and _site(target.host) == site
        )

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Submit a planned generation (the reply says what to poll), or send a planned poll
        (the reply carries the image once the task is ready)."""
        if wire.method == "GET":
            return await self._poll(wire, spec)
        provider = spec.provider
        response = await self._session.send(
            "POST",
            self.root + wire.path,
            headers=self._credentials(),
            provider=provider,
            error=lambda answer: self._error(answer, provider, submitting=True),
            json_body=wire.body(),
        )
        payload = self._session.json_object(response, provider)
        task = payload.get("id")
        if not isinstance(task, str) or not task:
            raise ServerError(
                f"{provider} accepted the request but named no task to poll.",
                provider=provider,
                status=response.status_code,
            )
        usage: dict[str, Any] = {"task_id": task}
        for name, key in (("cost", "cost_credits"), ("input_mp", "input_mp")):
            if isinstance(payload.get(name), (int, float)):
                usage[key] = payload[name]
        if isinstance(payload.get("output_mp"), (int, float)):
            usage["output_mp"] = payload["output_mp"]
        follow = self._poll_wire(wire, task, payload.get("polling_url"), usage)
        return ProviderReply(images=[], usage=usage, follow=follow)

    async def _poll(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        provider = spec.provider
        url = str(wire.extensions["url"])
        response = await self._session.send(
            "GET",
            url,
            headers=self._credentials(),
            provider=provider,
            error=lambda answer: self._error(answer, provider, submitting=False),
        )
        payload = self._session.json_object(response, provider)
        status = payload.get("status")
        usage = dict(wire.extensions["usage"])
        if status == "Ready":
            return await self._ready(payload, usage, spec)
        if status in STATUSES and status != "Pending":
            raise self._ended(str(status), payload, str(wire.extensions["task"]), provider)
        # Pending, or a status this version does not know: the task has not ended yet.
        return ProviderReply(images=[], usage=usage, follow=wire)

    async def _ready(
        self, payload: dict[str, Any], usage: dict[str, Any], spec: ModelSpec
    ) -> ProviderReply:
        provider = spec.provider
        result = payload.get("result")
        sample = result.get("sample") if isinstance(result, dict) else None
        if not isinstance(sample, str) or not sample:
            raise NoImageError(
                f"{provider} reported the task Ready without an image URL (result.sample).",
                provider=provider,
            )
        image = await self.download(sample, provider)
        assert isinstance(result, dict)
        seed = result.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            usage["seed"] = seed
        return ProviderReply(images=[image], usage=usage, seed=used_seed(seed, spec))

    def _ended(
        self, status: str, payload: dict[str, Any], task: str, provider: str
    ) -> ProviderError:
        """The error for a task that ended without an image."""
        details = payload.get("details")
        said = f" ({short(str(details), 300)})" if details else ""
        if status in _MODERATED:
            return ContentBlockedError(
                f"{provider}'s moderation blocked {_MODERATED[status]} ({status}){said}. "
                "Rephrase the prompt or change the input; options={'safety_tolerance': N} sets "
                "how strict BFL is.",
                reason=status,
                provider=provider,
            )
        if status == "Task not found":
            return ProviderError(
                f"{provider} no longer knows task {task} ('Task not found'): its result has "
                "expired or the polling URL is wrong. Send the request again.",
                provider=provider,
            )
        return ProviderError(
            f"{provider} could not generate the image (task {task}: {status}){said}. Send the "
            "request again; seedless does not resubmit a task by itself.",
            provider=provider,
        )

    def _error(self, response: httpx.Response, provider: str, *, submitting: bool) -> ProviderError:
        """The seedless error for an error answer (FastAPI's ``{"detail": ...}`` bodies)."""
        status = response.status_code
        message = _detail(response)
        retry_after = parse_retry_after(response.headers)
        exc: ProviderError
        if status == 402:
            exc = QuotaExceededError(
                f"{provider} answered HTTP 402: {message} The account is out of credits: add "
                "credits in BFL's dashboard. Not retried.",
                provider=provider,
                status=status,
            )
        elif status == 429:
            exc = RateLimitError(
                f"{provider} answered HTTP 429: {message} BFL limits active tasks (24; 6 for "
                "FLUX.1 Kontext [max]); lower the concurrency.",
                provider=provider,
                status=status,
                retry_after=retry_after,
            )
        elif status == 404 and submitting:
            exc = ModelNotFoundError(
                f"{provider} answered HTTP 404 for {response.request.url.path}: {message}",
                provider=provider,
                status=status,
            )
        elif status == 422:
            exc = ProviderError(
                f"{provider} refused the request (HTTP 422): {message}",
                provider=provider,
                status=status,
            )
        else:
            exc = error_for_status(status, message, provider=provider, retry_after=retry_after)
        return honour_should_retry(exc, response.headers)


def _detail(response: httpx.Response) -> str:
    """FastAPI's error ``detail`` (text, or validation errors as ``loc: msg``), else the body."""
    detail = fastapi_detail(error_json(response))
    return short(detail) if detail is not None else error_text(response)
