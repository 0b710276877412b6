"""The ``forge`` provider: Stable Diffusion (and Flux) on your own GPU behind the AUTOMATIC1111
web API, as AUTOMATIC1111's stable-diffusion-webui and lllyasviel's Forge serve it.

::

    POST /sdapi/v1/txt2img    {prompt, negative_prompt, seed, sampler_name, scheduler, steps,
                               cfg_scale, width, height, override_settings, ...}
    POST /sdapi/v1/img2img    the same, plus init_images [base64] and denoising_strength
    GET  /sdapi/v1/options    the loaded checkpoint (the fingerprint asked before sending)
    GET  /sdapi/v1/sd-models  the checkpoints on the server (``seedless models check``)

The server must be started with ``--api`` (and ``--api-auth user:password`` if it asks for
HTTP basic auth). An answer is ``{images: [base64], parameters: {...}, info: "<JSON>"}``: the
``info`` block says which seed was used (the server picks one for ``-1``), which checkpoint
(name and short hash) and which server version, recorded in each result (``seed``, ``host``).

Which checkpoint: the one the server has loaded (row ``forge:checkpoint``), or one named per
request with ``options={"checkpoint": "..."}`` (sent as ``override_settings
.sd_model_checkpoint``; also what a row of your own for a checkpoint sends, its id mapped with
``Endpoint.model_ids``). The server silently ignores a checkpoint it does not have, so the
answer's ``info`` is checked: a result made with another checkpoint is refused.

Errors: A1111 answers ``{"error", "detail", "body", "errors"}``, Forge FastAPI's ``{"detail"}``
(a list for a 422 validation error); both map onto :mod:`seedless.errors`, and a 404 on the
API's own paths says to start the server with ``--api``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import NoImageError, ProviderError, RequestError, redact
from ._http import decode_base64, error_json, error_text, fastapi_detail, image_mime, short
from ._selfhosted import SD_SIZE_RULE, SelfHostedHTTP
from ._sizes import pixel_size
from .base import ProviderReply, RawImage, WireRequest, instruction

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["DEFAULT_FORGE_URL", "GENERIC_ROW", "ForgeProvider"]

#: Where the ``forge`` endpoint goes when neither base_url nor SEEDLESS_FORGE_URL is set.
DEFAULT_FORGE_URL = "http://127.0.0.1:7860"
#: The matrix row that means "whatever checkpoint the server has loaded".
GENERIC_ROW = "checkpoint"
_TXT2IMG, _IMG2IMG = "/sdapi/v1/txt2img", "/sdapi/v1/img2img"
#: Options sent under their own names (the rest of a request's options are refused by the
#: matrix before this provider sees them).
_NOT_SENT = frozenset({"checkpoint"})
#: What ``info`` says about the stack, as host fingerprint keys.
_INFO_HOST = {
    "sd_model_name": "checkpoint",
    "sd_model_hash": "checkpoint_hash",
    "version": "version",
}
#: Settings the server fills in when a request leaves them out, recorded from ``info``.
_INFO_SENT = ("sampler_name", "steps", "cfg_scale", "width", "height")


class ForgeProvider:
    """One AUTOMATIC1111-style server (Forge or A1111): plan the body, send it, read ``info``.

    Args:
        endpoint: the profile (base URL, ``api_key`` as ``user:password`` for basic auth,
            headers, extra fields, timeout).
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self, endpoint: Endpoint, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.endpoint = endpoint
        self.http = SelfHostedHTTP(
            endpoint, default_url=DEFAULT_FORGE_URL, owner=type(self).__name__, transport=transport
        )

    def __repr__(self) -> str:
        return f"<ForgeProvider {self.http!r}>"

    # ------------------------------------------------------------------ planning (no I/O)

    def checkpoint(self, request: ImageRequest, spec: ModelSpec) -> str | None:
        """The checkpoint ``request`` names (its ``checkpoint`` option, or a row of its own),
        or None for the one the server has loaded."""
        named = request.options.get("checkpoint")
        row = None if spec.id == GENERIC_ROW else self.endpoint.wire_model(spec.id)
        if named is not None and row is not None and named != row:
            raise RequestError(
                f"{spec.key} is checkpoint {row!r}, and the request names checkpoint "
                f"{named!r}: drop options['checkpoint'] or use model='{spec.provider}:"
                f"{GENERIC_ROW}'."
            )
        return named if named is not None else row

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The exact ``/sdapi/v1/txt2img`` or ``img2img`` request for ``request``: no I/O.

        The seed is always sent (``-1`` asks the server to pick one, which the answer
        reports); width and height only when the request gives a size or aspect ratio.
        """
        sent: dict[str, Any] = {}
        body: dict[str, Any] = dict(self.endpoint.extra_fields)
        body["prompt"] = instruction(request, sent)
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        body["seed"] = request.seed if request.seed is not None else -1
        dims = pixel_size(request, spec, SD_SIZE_RULE)
        if dims is not None:
            body["width"], body["height"] = dims
            sent.update(width=dims[0], height=dims[1])
        for name, value in request.options.items():
            if value is not None and name not in _NOT_SENT:
                body[name] = value
        checkpoint = self.checkpoint(request, spec)
        if checkpoint is not None:
            overrides = dict(body.get("override_settings") or {})
            overrides["sd_model_checkpoint"] = checkpoint
            body["override_settings"] = overrides
            sent["checkpoint"] = checkpoint
        path = _TXT2IMG
        if request.operation == "edit":
            path = _IMG2IMG
            body["init_images"] = [image.data for image in getattr(request, "images", ())]
        return WireRequest(
            provider=spec.provider,
            model=spec.key,
            shape="sdapi",
            method="POST",
            url=redact(self.http.url(path)),
            path=path,
            headers=self.http.shown_headers(),
            json=body,
            chosen=sent,
        )

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Send one planned request; the images, the seed used and the host from ``info``."""
        provider = spec.provider
        response = await self.http.request("POST", wire.path, provider=provider, json=wire.body())
        if response.status_code >= 300:
            raise self._error(response, provider)
        payload = self.http.session.json_object(response, provider)
        info = _info(payload.get("info"))
        _check_checkpoint(wire.chosen.get("checkpoint"), info, provider)
        images = _images(payload.get("images"), info, provider)
        if not images:
            raise NoImageError(
                f"{provider} answered without an image (send_images off, or a script took "
                "them?). Check the server's console.",
                provider=provider,
                status=response.status_code,
            )
        seed = info.get("seed")
        body = wire.json if isinstance(wire.json, dict) else {}
        return ProviderReply(
            images=images,
            seed=seed if isinstance(seed, int) and seed >= 0 else None,
            host=_host(info),
            sent={k: info[k] for k in _INFO_SENT if k not in body and info.get(k) is not None},
        )

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Plan and send in one go."""
        return await self.send(self.plan(request, spec), spec)

    # ------------------------------------------------------------------ the server's stack

    async def fingerprint(
        self, spec: ModelSpec, request: ImageRequest | None = None
    ) -> dict[str, Any]:
        """The checkpoint (name and short hash) ``request`` would run on now: the one it names
        (looked up in ``/sdapi/v1/sd-models``), else the loaded one (``/sdapi/v1/options``).
        The server version is only in answers: a replay compares it afterwards."""
        named = self.checkpoint(request, spec) if request is not None else None
        if named is None and spec.id != GENERIC_ROW:
            named = self.endpoint.wire_model(spec.id)
        if named is not None:
            for item in await self.checkpoints(spec.provider):
                if _names_checkpoint(named, item):
                    return {"checkpoint": _stem(str(item.get("title", ""))),
                            "checkpoint_hash": str(item.get("hash") or "")}  # fmt: skip
            return {"checkpoint": _stem(named), "checkpoint_hash": "(not on the server)"}
        options = await self._get("/sdapi/v1/options", spec.provider)
        title = str(options.get("sd_model_checkpoint") or "") if isinstance(options, dict) else ""
        full = str(options.get("sd_checkpoint_hash") or "") if isinstance(options, dict) else ""
        found = {"checkpoint": _stem(title), "checkpoint_hash": full[:10] or _title_hash(title)}
        return {key: value for key, value in found.items() if value}

    async def checkpoints(self, provider: str | None = None) -> list[dict[str, Any]]:
        """The server's checkpoints as ``/sdapi/v1/sd-models`` lists them (title, model_name,
        hash, sha256, filename)."""
        listed = await self._get("/sdapi/v1/sd-models", provider or self.endpoint.name)
        return (
            [item for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []
        )

    async def served_models(self) -> list[str]:
        """The names of the server's checkpoints, as answers name them (``seedless models
        check``)."""
        return sorted({_stem(str(item.get("title") or "")) for item in await self.checkpoints()})

    async def _get(self, path: str, provider: str) -> Any:
        response = await self.http.request("GET", path, provider=provider)
        if response.status_code >= 300:
            raise self._error(response, provider)
        return self.http.session.json(response, provider)

    # ------------------------------------------------------------------ errors

    def _error(self, response: httpx.Response, provider: str) -> ProviderError:
        """The seedless error for an A1111 or Forge error answer."""
        status = response.status_code
        message = _error_text(response)
        if status == 404:  # not a 404 about a model: the API's routes are not there
            hint = (
                ""
                if message == "Init image not found"
                else f" Is the server started with --api, and is {redact(self.http.root)} "
                "its address?"
            )
            return ProviderError(
                f"{provider} answered 404 for {response.request.url.path}: {message}.{hint}",
                provider=provider,
                status=status,
            )
        return self.http.status_error(response, provider, message, auth_env="SEEDLESS_FORGE_AUTH")

    async def aclose(self) -> None:
        """Close the pooled connections (the client's context manager calls this)."""
        await self.http.aclose()


def _info(raw: Any) -> dict[str, Any]:
    """The ``info`` block: a JSON object in a string (an object itself on some forks)."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _host(info: dict[str, Any]) -> dict[str, Any]:
    return {key: info[name] for name, key in _INFO_HOST.items() if info.get(name)}


def _images(raw: Any, info: dict[str, Any], provider: str) -> list[RawImage]:
    """The generated images: the first ``len(all_seeds)`` (scripts append their own after)."""
    if not isinstance(raw, list):
        return []
    seeds = info.get("all_seeds")
    count = len(seeds) if isinstance(seeds, list) and seeds else len(raw)
    found = []
    for item in raw[:count]:
        if not isinstance(item, str):
            continue
        encoded = item.split(",", 1)[1] if item.startswith("data:") else item
        data = decode_base64(encoded, provider, "an image")
        found.append(RawImage(data=data, mime_type=image_mime(data, None, provider)))
    return found


def _stem(name: str) -> str:
    """A checkpoint's name as ``info`` gives it: no `` [hash]``, folder or extension."""
    name = name.split(" [", 1)[0].replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return (
        stem if dot and ext.lower() in ("safetensors", "ckpt", "pt", "pth", "gguf", "bin") else name
    )


def _title_hash(title: str) -> str:
    head, bracket, rest = title.rpartition(" [")
    return rest.rstrip("]") if bracket and head else ""


def _names_checkpoint(named: str, item: dict[str, Any]) -> bool:
    """Whether ``named`` (what a request asked for) is the checkpoint ``item`` of sd-models."""
    names = {str(item.get(k) or "") for k in ("title", "model_name", "hash", "sha256")}
    names |= {_stem(str(item.get("title") or "")), _stem(str(item.get("filename") or ""))}
    return named in names or _stem(named) in names


def _check_checkpoint(named: Any, info: dict[str, Any], provider: str) -> None:
    """Refuse an answer made with another checkpoint than the request named (the server
    ignores a checkpoint it does not have, and generates with the loaded one)."""
    if not isinstance(named, str) or not info.get("sd_model_name"):
        return
    used = {str(info.get("sd_model_name")), str(info.get("sd_model_hash") or "")}
    short_hash = _title_hash(named)
    if _stem(named) in used or named in used or (short_hash and short_hash in used):
        return
    raise ProviderError(
        f"{provider} was asked for checkpoint {named!r} but generated with "
        f"{info.get('sd_model_name')!r} [{info.get('sd_model_hash')}]: it has no checkpoint by "
        "that name. `seedless models check --provider forge` lists the ones it has.",
        provider=provider,
        retryable=False,
    )


def _error_text(response: httpx.Response) -> str:
    """The message of an error answer: FastAPI's ``detail`` (a list of validation errors for
    a 422), A1111's ``errors``/``error``, else the body."""
    payload = error_json(response)
    detail = fastapi_detail(payload)
    if detail is not None:
        return short(detail)
    for key in ("errors", "error"):
        if isinstance(payload, dict) and isinstance(payload.get(key), str) and payload[key]:
            return short(payload[key])
    return error_text(response)
