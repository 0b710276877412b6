"""Anchored requests: the source first, then the approved pair, and a bounded instruction."""

from __future__ import annotations

import pytest
from strategy_helpers import brighten, small_photo

import seedless
from seedless.strategies import anchor_prompt, anchored_request, parse_anchor_prompt


def test_three_images_in_order_with_a_quantified_bounded_instruction() -> None:
    source, original = small_photo("cat.jpg"), small_photo("coffee.jpg")
    approved = brighten(original, 0.8)
    look = seedless.Adjust(brightness=0.8, warmth=0.2)
    request = anchored_request(
        source, original=original, approved=approved, model="gemini:gemini-3-pro-image",
        instruction="warmer   and\ndarker", effect=look, tolerance=0.05, size="2K",
    )  # fmt: skip
    assert isinstance(request, seedless.EditRequest) and request.effect is None
    assert [i.sha256 for i in request.images] == [
        seedless.ImageInput.of(x).sha256 for x in (source, original, approved)
    ]
    assert request.source.sha256 == seedless.ImageInput.of(source).sha256
    assert (request.size, request.n, request.seed) == ("2K", 1, None)
    prompt = request.prompt or ""
    for line in (
        "Image 1: the photo to edit.",
        "Image 2: a different photo, BEFORE an approved edit.",
        "Image 3: the same photo as image 2, AFTER the approved edit.",
        "Instruction: warmer and darker",
        "Measured edit: brightness at 80% of the original",
        "within ±5%",
        "Images 2 and 3 only show the edit: do not bring their scene into image 1.",
    ):
        assert line in prompt
    assert parse_anchor_prompt(prompt) == {
        "instruction": "warmer and darker",
        "measured": look.describe().removesuffix(
            " Keep composition, content and framing exactly as they are."
        ),
    }


def test_the_original_itself_is_sent_once() -> None:
    original = small_photo("coffee.jpg")
    approved = brighten(original, 0.8)
    request = anchored_request(original, original=original, approved=approved, model="x:y")
    assert len(request.images) == 2
    assert "Two images are attached" in (request.prompt or "")
    assert "Image 2: the approved result of an earlier edit of image 1." in (request.prompt or "")
    assert parse_anchor_prompt(request.prompt or "") == {"instruction": ""}


def test_measured_text_stands_in_for_an_effect_and_tolerance_is_checked() -> None:
    text = anchor_prompt(measured="brightness at 70%", tolerance=0.2)
    assert "Measured edit: brightness at 70%" in text and "±20%" in text
    assert "Instruction:" not in text
    with pytest.raises(ValueError, match="fraction"):
        anchor_prompt(tolerance=10)


def test_models_with_too_few_reference_images_refuse_before_sending() -> None:
    seedless.register_model(
        {"provider": "tiny", "id": "one", "operations": ["edit"], "seed": "none",
         "max_reference_images": 1}
    )  # fmt: skip
    client = seedless.AsyncClient(
        providers={"tiny": seedless.FunctionProvider(lambda r, s: None)}  # type: ignore[arg-type, return-value]
    )
    original = small_photo("coffee.jpg")
    request = anchored_request(
        small_photo("cat.jpg"), original=original, approved=brighten(original, 0.8),
        model="tiny:one",
    )  # fmt: skip
    with pytest.raises(seedless.UnsupportedCapabilityError, match="at most 1 input image"):
        client.prepare(request)
