"""The emulator takes exactly the request fields the vendored definitions define, per version."""

from __future__ import annotations

import pytest

from seedless.testing._surfaces import (
    DEEPINFRA_IMAGES,
    EDIT_PARAMETERS,
    GEMINI_API,
    GENERATION_PARAMETERS,
    RELAY_EXTENSIONS,
    RELAY_IMAGES,
    TOGETHER_IMAGES,
    VERTEX,
    ImagesSurface,
    Surface,
)
from wirecheck import DEFINITIONS
from wirecheck.definitions import _load
from wirecheck.google import GoogleDoc
from wirecheck.openapi import OpenAPIDoc

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


def _request(doc: OpenAPIDoc, path: str, content: str = "application/json") -> dict[str, object]:
    route = doc.route("POST", path)
    assert route is not None, path
    return doc.resolve(doc.request_schema(route[1], content))


def _enum(schema: dict[str, object], name: str) -> tuple[str, ...]:
    props = schema["properties"]
    assert isinstance(props, dict)
    return tuple(props[name]["enum"])


def test_relay_fields_are_openais_plus_the_overlay() -> None:
    overlay = _load("relay.overlay.json")["properties"]
    assert frozenset(overlay["CreateImageRequest"]) == RELAY_EXTENSIONS
    assert frozenset(overlay["CreateImageEditRequest"]) == RELAY_EXTENSIONS
    relay = DEFINITIONS.relay
    generation = _request(relay, "/v1/images/generations")
    edit = _request(relay, "/v1/images/edits", "multipart/form-data")
    assert frozenset(generation["properties"]) == RELAY_IMAGES.generation  # type: ignore[arg-type]
    assert RELAY_IMAGES.edit is not None
    assert frozenset(edit["properties"]) | {"image[]"} == RELAY_IMAGES.edit  # type: ignore[arg-type]
    assert set(_enum(generation, "response_format")) == set(RELAY_IMAGES.response_formats)
    assert set(_enum(generation, "output_format")) == set(RELAY_IMAGES.output_formats)


@pytest.mark.parametrize(
    ("surface", "doc", "path"),
    [
        (TOGETHER_IMAGES, DEFINITIONS.together, "/v1/images/generations"),
        (DEEPINFRA_IMAGES, DEFINITIONS.deepinfra, "/v1/openai/images/generations"),
    ],
    ids=["together", "deepinfra"],
)
def test_flux_hosts_equal_their_definitions(
    surface: ImagesSurface, doc: OpenAPIDoc, path: str
) -> None:
    schema = _request(doc, path)
    assert frozenset(schema["properties"]) == surface.generation  # type: ignore[arg-type]
    assert set(_enum(schema, "response_format")) == set(surface.response_formats)
    assert surface.edit is None and doc.route("POST", path.replace("generations", "edits")) is None
    if "output_format" in surface.generation:
        assert set(_enum(schema, "output_format")) == set(surface.output_formats)


def test_the_revisions_the_emulator_names_are_the_vendored_ones() -> None:
    """seedless.testing.REVISIONS (what users read) names the files the wire check reads."""
    from seedless.testing import REVISIONS

    vendored = {
        "gemini": _load("generativelanguage.v1beta.json")["x-vendored"]["commit"][:8],
        "vertex": _load("aiplatform.v1.json")["x-vendored"]["revision"],
        "openai": _load("openai.openapi.json")["x-vendored"]["commit"][:8],
        "together": _load("together.openapi.json")["x-vendored"]["commit"][:8],
        "deepinfra": _load("deepinfra.openapi.json")["x-vendored"]["retrieved"],
    }
    for api, revision in vendored.items():
        assert revision in REVISIONS[api], (api, revision)
    assert _load("relay.overlay.json")["x-vendored"]["revision"] in REVISIONS["openai"]


def _host_fields(provider: str, operation: str) -> frozenset[str]:
    """The request fields the definition of ``provider``'s host takes for ``operation``."""
    if provider == "together":
        return frozenset(_request(DEFINITIONS.together, "/v1/images/generations")["properties"])  # type: ignore[arg-type]
    if provider == "deepinfra":
        path = "/v1/openai/images/generations"
        return frozenset(_request(DEFINITIONS.deepinfra, path)["properties"])  # type: ignore[arg-type]
    doc = DEFINITIONS.relay if provider == "relay" else DEFINITIONS.openai
    if operation == "generate":
        return frozenset(_request(doc, "/v1/images/generations")["properties"])  # type: ignore[arg-type]
    edit = _request(doc, "/v1/images/edits", "multipart/form-data")
    return frozenset(edit["properties"])  # type: ignore[arg-type]


def test_the_matrix_options_of_images_rows_are_their_hosts_fields() -> None:
    """Every option an images row accepts, and every request field it renames, travels under a
    name its host's definition defines for that operation (the option sets are taken from the
    definitions; the emulator takes the same sets)."""
    import seedless

    checked = 0
    for row in seedless.capabilities():
        if row.wire != "images" or row.provider not in ("openai", "relay", "together", "deepinfra"):
            continue
        for operation in sorted(row.operations):
            as_generation = operation == "generate" or row.image_input in (
                "image_url",
                "reference_images",
            )
            fields = _host_fields(row.provider, "generate" if as_generation else "edit")
            names = {row.fields.get(name, name) for name in row.accepted_options(operation)}
            names |= {host for host in row.fields.values() if host}
            if row.image_input in ("image_url", "reference_images"):
                names.add(row.image_input)
            assert names <= fields, (row.key, operation, sorted(names - fields))
            checked += 1
    assert checked > 40
