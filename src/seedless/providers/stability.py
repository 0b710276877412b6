"""The ``stability`` provider: Stability AI's Stable Image API (REST v2beta), spoken with httpx.

Three services generate: ``POST /v2beta/stable-image/generate/ultra`` (Stable Image Ultra),
``/core`` (Stable Image Core) and ``/sd3`` (the Stable Diffusion 3.5 models, chosen with the
``model`` field). Every request is ``multipart/form-data`` (text fields and, for
image-to-image, the ``image`` file) with ``Authorization: Bearer KEY``; seedless asks for
``Accept: application/json`` so the answer carries the seed used and the ``finish_reason``
beside the base64 image (with ``image/*`` they would travel as headers).

A matrix row ``stable-image-X`` goes to the ``X`` service; any other row (``sd3.5-large``,
a user's ``sd3.5-flash``) goes to ``sd3`` with its id as ``model``. Fields (Stability's
OpenAPI description): ``prompt``, ``negative_prompt``, ``aspect_ratio``, ``seed``
(0..4294967294, where 0 means "pick one at random": the matrix's range starts at 1 so a seed
always replays), ``output_format``, ``style_preset``, ``cfg_scale`` (sd3), and for an edit the
``image`` with ``strength`` (required: how far the result may move from the input), plus
``mode=image-to-image`` on sd3.

Errors (``{"id", "name", "errors": [...]}``): 403 ``content_moderation`` and a 200 whose
``finish_reason`` is ``CONTENT_FILTERED`` (the image came back blurred) raise
:class:`~seedless.errors.ContentBlockedError`; 413 (a body over 10 MiB) and 422 (well-formed
but refused: a public figure, a language other than English ...) are not retried; 429 (more
than 150 requests in 10 seconds: the account is then timed out for 60 s) is retried after
the wait the service asks for, or 60 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from .._version import __version__
from ..errors import (
    ContentBlockedError,
    NoImageError,
    ProviderError,
    RateLimitError,
    UnsupportedCapabilityError,
    error_for_status,
)
from ..retry import honour_should_retry, parse_retry_after
from ._hosted import HttpProvider, KeyHeader
from ._http import decode_base64, error_json, error_text, form_value, image_mime, short
from .base import ProviderReply, RawImage, WireFile, WireRequest, instruction, used_seed

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "RATE_LIMIT_TIMEOUT",
    "StabilityProvider",
    "service_of",
]

#: Where the default ``stability`` endpoint goes when neither base_url nor the environment says.
DEFAULT_BASE_URL = "https://api.stability.ai"
#: Seconds a generation may take (Ultra can take tens of seconds).
DEFAULT_TIMEOUT = 180.0
#: Seconds Stability times an account out after more than 150 requests in 10 seconds.
RATE_LIMIT_TIMEOUT = 60.0
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_PATH = "/v2beta/stable-image/generate/"


def service_of(model_id: str) -> tuple[str, str | None]:
    """(service, ``model`` field): ``stable-image-ultra`` -> (ultra, None); any other id
    (``sd3.5-large``) -> (sd3, the id)."""
    if model_id.startswith("stable-image-"):
        return model_id.removeprefix("stable-image-"), None
    return "sd3", model_id


class StabilityProvider(HttpProvider):
    """One Stability AI endpoint: a pooled httpx client, its key and its base URL.

    Args:
        endpoint: the profile (key, base URL, headers, timeout).
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    key_header: ClassVar[KeyHeader] = KeyHeader("Authorization", "Bearer ")
    fixed_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "stability-client-id": "seedless",
        "stability-client-version": __version__,
    }

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            endpoint,
            root=(endpoint.base_url or DEFAULT_BASE_URL).strip().rstrip("/"),
            timeout=endpoint.timeout or DEFAULT_TIMEOUT,
            transport=transport,
        )

    # ------------------------------------------------------------------ planning (no I/O)

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The multipart request for ``request`` (validated by the client): no I/O."""
        options = dict(request.options)
        chosen: dict[str, Any] = {}
        service, model = service_of(self.endpoint.wire_model(spec.id))
        form: dict[str, Any] = dict(self.endpoint.extra_fields)
        form["prompt"] = instruction(request, chosen)
        if model is not None:
            form["model"] = model
        files: tuple[WireFile, ...] = ()
        if request.operation == "edit":
            files = self._edit(request, spec, service, form, options)
        if request.negative_prompt:
            form["negative_prompt"] = request.negative_prompt
        if request.aspect_ratio is not None:
            form["aspect_ratio"] = request.aspect_ratio
        if request.seed is not None:
            form["seed"] = request.seed
        if request.output_mime_type is not None:
            form["output_format"] = _FORMATS[request.output_mime_type.lower()]
        form.update({name: value for name, value in options.items() if value is not None})
        path = _PATH + service
        return self._post_wire(
            spec,
            shape="stable_image",
            path=path,
            url=self.root + path,
            chosen=chosen,
            form={name: form_value(value) for name, value in form.items()},
            files=files,
        )

    def _edit(
        self,
        request: ImageRequest,
        spec: ModelSpec,
        service: str,
        form: dict[str, Any],
        options: dict[str, Any],
    ) -> tuple[WireFile, ...]:
        """Image-to-image: the input file, ``strength`` (required), ``mode`` on sd3."""
        if options.get("strength") is None:
            raise UnsupportedCapabilityError(
                f"{spec.key} edits need options={{'strength': 0..1}}: how far the result may "
                "move from the input image (0 keeps it, 1 ignores it; try 0.35 for a light "
                "touch).",
                model=spec.key,
                capability="strength",
            )
        if service == "sd3":
            form["mode"] = "image-to-image"
            if request.aspect_ratio is not None:
                raise UnsupportedCapabilityError(
                    f"{spec.key} takes aspect_ratio for text-to-image only: an image-to-image "
                    "result keeps the input's shape. Drop aspect_ratio, or crop the input.",
                    model=spec.key,
                    capability="aspect_ratio",
                )
        image = request.images[0]  # type: ignore[union-attr]
        name = image.name or "image" + _EXTENSIONS.get(image.mime_type, "")
        return (WireFile("image", name, image.mime_type, image.data),)

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned request and return its image, with the seed Stability used."""
        provider = spec.provider
        response = await self._session.send(
            "POST",
            self.root + wire.path,
            headers=self._credentials(),
            provider=provider,
            error=lambda answer: self._error(answer, provider),
            form=wire.form,
            files=wire.files,
            multipart=True,
        )
        payload = self._session.json_object(response, provider)
        finish = payload.get("finish_reason")
        usage: dict[str, Any] = {"finish_reason": finish}
        seed = payload.get("seed")
        if isinstance(seed, (int, float)) and not isinstance(seed, bool):
            usage["seed"] = int(seed)
        if finish == "CONTENT_FILTERED":
            raise ContentBlockedError(
                f"{provider}'s content moderation filtered the generated image "
                "(finish_reason CONTENT_FILTERED): it came back blurred, and was billed. "
                "Rephrase the prompt.",
                reason="CONTENT_FILTERED",
                provider=provider,
                status=response.status_code,
            )
        image = self._image(payload, response, provider)
        return ProviderReply(images=[image], usage=usage, seed=used_seed(usage.get("seed"), spec))

    def _image(self, payload: dict[str, Any], response: httpx.Response, provider: str) -> RawImage:
        encoded = payload.get("image")
        if not isinstance(encoded, str) or not encoded:
            raise NoImageError(
                f"{provider} answered without an image (finish_reason "
                f"{payload.get('finish_reason')!r}). Try again.",
                provider=provider,
                status=response.status_code,
            )
        data = decode_base64(encoded, provider, "an image")
        declared = response.headers.get("content-type", "").partition("type=")[2].strip()
        return RawImage(data=data, mime_type=image_mime(data, declared or None, provider))

    def _error(self, response: httpx.Response, provider: str) -> ProviderError:
        """The seedless error for an error answer (``{"id", "name", "errors"}``)."""
        status = response.status_code
        name, message = _error_fields(response)
        retry_after = parse_retry_after(response.headers)
        exc: ProviderError
        if name == "content_moderation" or (status == 403 and "moderation" in message):
            exc = ContentBlockedError(
                f"{provider}'s content moderation refused the request: {message} (not billed). "
                "Rephrase the prompt or change the input image.",
                reason=name or "content_moderation",
                provider=provider,
                status=status,
            )
        elif status == 422 and name in ("public_figure", "copyrighted_content"):
            exc = ContentBlockedError(
                f"{provider} refused the request ({name}): {message}",
                reason=name,
                provider=provider,
                status=status,
            )
        elif status == 413:
            exc = ProviderError(
                f"{provider} refused a request larger than 10 MiB (HTTP 413): {message} Send a "
                "smaller input image.",
                provider=provider,
                status=status,
            )
        elif status == 429:
            exc = RateLimitError(
                f"{provider} answered HTTP 429: {message} (Stability allows 150 requests in 10 "
                "seconds, then times the account out for 60 seconds.)",
                provider=provider,
                status=status,
                retry_after=RATE_LIMIT_TIMEOUT if retry_after is None else retry_after,
            )
        else:
            exc = error_for_status(status, message, provider=provider, retry_after=retry_after)
        return honour_should_retry(exc, response.headers)


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    """(name, message) of an error answer, tolerant of any body shape."""
    payload = error_json(response)
    if isinstance(payload, dict):
        name = payload.get("name")
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            message = "; ".join(str(e) for e in errors)
        else:
            message = str(payload.get("message") or "")
        if message:
            return (str(name) if name else None), short(message)
    return None, error_text(response)
