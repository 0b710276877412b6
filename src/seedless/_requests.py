"""Requests from keyword arguments: :func:`generate_request` and :func:`edit_request`.

The client's ``generate`` and ``edit`` methods and the CLI build their requests here, so
the keywords mean the same everywhere; :mod:`seedless.client` re-exports both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .effects import Effect
from .models import EditRequest, GenerateRequest, ImageLike, as_inputs

__all__ = ["edit_request", "generate_request"]


def generate_request(
    prompt: str,
    *,
    model: str,
    n: int = 1,
    seed: int | None = None,
    aspect_ratio: str | None = None,
    size: str | None = None,
    negative_prompt: str | None = None,
    add_watermark: bool | None = None,
    output_mime_type: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> GenerateRequest:
    """Build a :class:`GenerateRequest` from keyword arguments."""
    return GenerateRequest(
        prompt=prompt,
        model=model,
        n=n,
        seed=seed,
        aspect_ratio=aspect_ratio,
        size=size,
        negative_prompt=negative_prompt,
        add_watermark=add_watermark,
        output_mime_type=output_mime_type,
        options=dict(options or {}),
    )


def edit_request(
    images: ImageLike | Sequence[ImageLike],
    prompt: str | None = None,
    *,
    model: str = "local:pillow",
    effect: Effect | None = None,
    n: int = 1,
    seed: int | None = None,
    aspect_ratio: str | None = None,
    size: str | None = None,
    negative_prompt: str | None = None,
    add_watermark: bool | None = None,
    output_mime_type: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> EditRequest:
    """Build an :class:`EditRequest`; ``images`` may be paths, bytes, PIL images or results."""
    return EditRequest(
        images=as_inputs(images),
        prompt=prompt,
        effect=effect,
        model=model,
        n=n,
        seed=seed,
        aspect_ratio=aspect_ratio,
        size=size,
        negative_prompt=negative_prompt,
        add_watermark=add_watermark,
        output_mime_type=output_mime_type,
        options=dict(options or {}),
    )
