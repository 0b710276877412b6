"""The emulator takes exactly the request fields the vendored definitions define, per version."""

from __future__ import annotations

import pytest

from seedless.testing._openai import EDIT_PARAMETERS, GENERATION_PARAMETERS
from seedless.testing._surfaces import GEMINI_API, VERTEX, Surface
from wirecheck import DEFINITIONS
from wirecheck.google import GoogleDoc

_MESSAGES = {
    "request": "GenerateContentRequest",
    "generation": "GenerationConfig",
    "image": "ImageConfig",
    "content": "Content",
    "part": "Part",
    "blob": "Blob",
}


def _fields(doc: GoogleDoc, message: str) -> frozenset[str]:
    schema = doc.schemas.get(doc.prefix + message)
    if schema is None and message == "ThinkingConfig":  # aiplatform nests it
        schema = doc.schemas[doc.prefix + "GenerationConfigThinkingConfig"]
    assert schema is not None, message
    return frozenset(schema["properties"])


def _thinking(doc: GoogleDoc) -> dict[str, object]:
    name = "ThinkingConfig" if doc.prefix == "" else "GenerationConfigThinkingConfig"
    return dict(doc.schemas[doc.prefix + name]["properties"])


@pytest.mark.parametrize(
    ("surface", "doc"),
    [
        (GEMINI_API["v1beta"], DEFINITIONS.gemini["v1beta"]),
        (GEMINI_API["v1"], DEFINITIONS.gemini["v1"]),
        (VERTEX["v1"], DEFINITIONS.vertex["v1"]),
        (VERTEX["v1beta1"], DEFINITIONS.vertex["v1beta1"]),
    ],
    ids=["gemini-v1beta", "gemini-v1", "vertex-v1", "vertex-v1beta1"],
)
def test_surfaces_equal_the_definitions(surface: Surface, doc: GoogleDoc) -> None:
    for attribute, message in _MESSAGES.items():
        assert getattr(surface, attribute) == _fields(doc, message), (doc.label, message)
    thinking = _thinking(doc)
    assert surface.thinking == frozenset(thinking)
    level = thinking["thinkingLevel"]
    assert isinstance(level, dict)
    assert set(surface.thinking_levels) == set(level["enum"])


def test_v1alpha_is_served_as_v1beta() -> None:
    assert GEMINI_API["v1alpha"] is GEMINI_API["v1beta"]


def test_openai_parameters_equal_the_definition() -> None:
    schemas = DEFINITIONS.openai.components["schemas"]
    assert frozenset(schemas["CreateImageRequest"]["properties"]) == GENERATION_PARAMETERS
    edit = frozenset(schemas["CreateImageEditRequest"]["properties"])
    assert edit | {"image[]"} == EDIT_PARAMETERS  # image[]: openai-python's array spelling
