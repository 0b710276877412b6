"""The local provider (``local:pillow``): exact edits with Pillow, no network, no cost.

It applies an effect (an :class:`~seedless.Adjust`, or any object with ``apply(image)``) to
the source image and encodes the result like the source: same format, EXIF (orientation
included), ICC profile, XMP, PNG text, JPEG comment and alpha kept, a JPEG source's
quantisation tables reused. The same input and effect always give the same bytes.

Its plan is the effect's canonical form and the source image's digest (shape ``local``);
sending runs the effect in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..images import check_editable, decode, encode, inspect
from .base import ProviderReply, RawImage, WireFile, WireRequest

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageInput, ImageRequest

__all__ = ["LocalProvider", "apply_effect_bytes"]


def apply_effect_bytes(source: ImageInput, effect: object, mime: str | None = None) -> RawImage:
    """Decode ``source``, apply ``effect`` and encode like the source (pure, thread-safe)."""
    image = decode(source.data, name=source.name)
    edited = effect.apply(image)  # type: ignore[attr-defined]
    data, mime_type = encode(edited, mime, like=image)
    return RawImage(data=data, mime_type=mime_type)


class LocalProvider:
    """Exact edits in-process: plan records the effect, send applies it in a worker thread."""

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self.endpoint = endpoint

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The edit to make (validation has made sure it has an effect and one image); an
        image in a mode the effects do not edit (CMYK, 16-bit ...) is refused here, from its
        header, naming the file."""
        effect: Any = getattr(request, "effect", None)
        source: ImageInput = request.images[0]  # type: ignore[union-attr]
        check_editable(inspect(source.data, name=source.name).mode, name=source.name)
        body: dict[str, Any] = {"effect": effect.kind if effect is not None else None}
        if request.output_mime_type:
            body["output_mime_type"] = request.output_mime_type
        return WireRequest(
            provider=spec.provider,
            model=spec.key,
            shape="local",
            method="APPLY",
            url=f"{spec.key}",
            path="",
            json=body,
            files=(WireFile("image", source.name or "source", source.mime_type, source.data),),
            chosen={"effect": body["effect"]},
            extensions={"effect": effect, "source": source},
        )

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        image = await asyncio.to_thread(
            apply_effect_bytes,
            wire.extensions["source"],
            wire.extensions["effect"],
            wire.json.get("output_mime_type"),
        )
        return ProviderReply(images=[image])

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        """Plan and send in one go."""
        return await self.send(self.plan(request, spec), spec)

    async def aclose(self) -> None:
        return None
