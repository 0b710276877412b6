"""The local provider (``local:pillow``): exact edits with Pillow, no network, no cost.

It applies an effect (an :class:`~seedless.Adjust`, or any object with ``apply(image)``) to
the source image and encodes the result like the source: same format, EXIF (orientation
included), ICC profile, XMP, PNG text, JPEG comment and alpha kept, a JPEG source's
quantisation tables reused. The same input and effect always give the same bytes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..errors import RequestError
from ..images import decode, encode
from .base import ProviderReply, RawImage

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
    """Runs effects in a worker thread so the event loop stays free."""

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self.endpoint = endpoint

    async def call(self, request: ImageRequest, spec: ModelSpec) -> ProviderReply:
        effect = getattr(request, "effect", None)
        if effect is None:
            raise RequestError(
                f"{spec.key} edits with an exact effect, and the request has none: pass "
                "effect=seedless.Adjust(...) (or a fitted effect). To send an instruction to an "
                "AI model instead, choose one, e.g. model='gemini:gemini-3-pro-image'."
            )
        source = request.images[0]  # type: ignore[union-attr]
        image = await asyncio.to_thread(
            apply_effect_bytes, source, effect, request.output_mime_type
        )
        return ProviderReply(images=[image], sent={"effect": effect.kind})

    async def aclose(self) -> None:
        return None
