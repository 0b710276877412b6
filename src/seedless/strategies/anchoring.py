"""Anchoring: an edit request for models without a seed, pinned to an approved before/after pair.

A reference image alone is read by image models as a loose style hint. An anchored request
gives the model much more to hold on to: the photo to edit, then the approved before/after
pair as inline images, and an instruction that says what each image is, states the edit in
numbers (from an :class:`~seedless.Adjust` or a fitted effect's ``describe()``), and bounds
how far the model may go. It is an ordinary :class:`~seedless.EditRequest` (``images[0]`` is
the source, the pair follows), so every provider that edits can send it; models that take
fewer reference images are refused before any network I/O by the capability matrix.

Best-of-N (:mod:`seedless.strategies.best_of`) then picks the candidate whose change matches
the approved change best.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import EditRequest, ImageInput, ImageLike

__all__ = ["anchor_prompt", "anchored_request", "parse_anchor_prompt"]

_INSTRUCTION = "Instruction: "
_MEASURED = "Measured edit: "
_KEEP_TAILS = ("Keep composition, content and framing exactly as they are.",)


#: How the request's images are introduced: the photo and the approved result of its own
#: edit (two images), or the photo and an approved pair made on another (three).
_SAME_SOURCE_OPENING = (
    "Edit image 1. Two images are attached, in this order:",
    "- Image 1: the photo to edit.",
    "- Image 2: the approved result of an earlier edit of image 1.",
    "Edit image 1 so that it matches image 2: the same edit, with the same strength, "
    "no stronger and no weaker.",
)
_PAIR_OPENING = (
    "Edit image 1. Three images are attached, in this order:",
    "- Image 1: the photo to edit.",
    "- Image 2: a different photo, BEFORE an approved edit. It is only an example "
    "that defines the edit.",
    "- Image 3: the same photo as image 2, AFTER the approved edit.",
    "Apply to image 1 the same edit that turns image 2 into image 3, with the same "
    "strength: no stronger and no weaker.",
)


def _measured_text(measured: str) -> str:
    """The edit in numbers on one line, without a closing "keep the framing" sentence."""
    measured = " ".join(measured.split())
    # Adjust.describe() closes with "Keep composition, content and framing ..."; the
    # bounds of anchor_prompt say it in a way that also holds for edits that change content.
    for tail in _KEEP_TAILS:
        if measured.endswith(tail):
            measured = measured[: -len(tail)].rstrip()
    return measured


def anchor_prompt(
    *,
    instruction: str | None = None,
    effect: Any = None,
    measured: str | None = None,
    same_source: bool = False,
    tolerance: float = 0.1,
) -> str:
    """The text of an anchored request.

    Args:
        instruction: the edit in the user's words ("darker and moodier, add a wooden table").
        effect: an effect with ``describe()`` (``Adjust``, a fitted LUT): the edit in numbers.
        measured: the edit in numbers as text, when there is no effect object (a recipe's).
        same_source: the photo to edit is the original of the pair (two images are sent).
        tolerance: how far, as a fraction, each stated amount may be missed (0.1 = ±10%).
    """
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError("tolerance is a fraction between 0 and 1 (0.1 means ±10%)")
    lines = list(_SAME_SOURCE_OPENING if same_source else _PAIR_OPENING)
    if instruction:
        lines.append(_INSTRUCTION + " ".join(instruction.split()))
    if effect is not None:
        measured = str(effect.describe())
    if measured:
        lines.append(_MEASURED + _measured_text(measured))
    lines.append(
        f"Bounds: match the strength of every stated change within ±{tolerance * 100:.0f}%. "
        "Change only what the approved edit changed; keep the composition, framing, subjects, "
        "faces and text of image 1 as they are."
        + (
            ""
            if same_source
            else " Images 2 and 3 only show the edit: do not bring their scene into image 1."
        )
    )
    lines.append("Return one image: image 1 edited, with its framing and aspect ratio.")
    return "\n".join(lines)


def parse_anchor_prompt(prompt: str) -> dict[str, str]:
    """The parts of a prompt made by :func:`anchor_prompt`: ``instruction`` and ``measured``.

    Returns an empty dict for any other prompt.
    """
    if not prompt.startswith("Edit image 1. ") or "\nBounds: " not in prompt:
        return {}
    parts: dict[str, str] = {}
    for line in prompt.splitlines():
        if line.startswith(_INSTRUCTION):
            parts["instruction"] = line[len(_INSTRUCTION) :]
        elif line.startswith(_MEASURED):
            parts["measured"] = line[len(_MEASURED) :]
    parts.setdefault("instruction", "")
    return parts


def anchored_request(
    source: ImageLike,
    *,
    original: ImageLike,
    approved: ImageLike,
    model: str,
    instruction: str | None = None,
    effect: Any = None,
    measured: str | None = None,
    tolerance: float = 0.1,
    n: int = 1,
    aspect_ratio: str | None = None,
    size: str | None = None,
    output_mime_type: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> EditRequest:
    """An edit request for ``model`` that carries the approved pair and a bounded instruction.

    ``images`` are ``(source, original, approved)``, or ``(source, approved)`` when the source
    is the original itself. Give ``instruction`` (words), ``effect`` (numbers: an ``Adjust`` or
    a fitted effect, through its ``describe()``; or ``measured``, that text itself), or both;
    with neither, the pair alone defines the edit. The request carries no ``effect`` field:
    the model gets words and pictures.
    """
    src, before, after = ImageInput.of(source), ImageInput.of(original), ImageInput.of(approved)
    same = src.sha256 == before.sha256
    images = (src, after) if same else (src, before, after)
    prompt = anchor_prompt(
        instruction=instruction,
        effect=effect,
        measured=measured,
        same_source=same,
        tolerance=tolerance,
    )
    return EditRequest(
        images=images,
        prompt=prompt,
        model=model,
        n=n,
        aspect_ratio=aspect_ratio,
        size=size,
        output_mime_type=output_mime_type,
        options=dict(options or {}),
    )
