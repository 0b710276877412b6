"""The wire check itself: deliberately wrong bodies fail, naming the field path and schema."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

import seedless
from seedless.retry import RetryPolicy
from seedless.testing import Emulator, RecordedAnswer, RecordedRequest, _openai
from wirecheck import DEFINITIONS, Problem, check_exchange, check_planned
from wirecheck.plugin import new_problems

GENERATE = "/v1beta/models/gemini-3-pro-image:generateContent"
NO_RETRY = RetryPolicy(max_attempts=1)


def _exchange(
    service: str,
    path: str,
    body: Any = None,
    *,
    method: str = "POST",
    status: int = 200,
    answer: Any = None,
    form: dict[str, Any] | None = None,
    model: str | None = None,
) -> list[Problem]:
    request = RecordedRequest(
        service=service, method=method, path=path, query={}, headers={},
        body=body, form=form, model=model,
    )  # fmt: skip
    reply = RecordedAnswer(
        request, status, "application/json", {}, json.dumps(answer or {}).encode()
    )
    return check_exchange(request, reply)


def _shown(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in problems]


def _gemini(body: dict[str, Any], **kwargs: Any) -> list[Problem]:
    return _exchange("gemini", GENERATE, body, **kwargs)


def _contents(text: str = "a fox") -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"text": text}]}]


def test_a_conforming_gemini_request_has_no_problem() -> None:
    body = {
        "contents": _contents(),
        "generationConfig": {
            "seed": 7,
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "thinkingConfig": {"thinkingLevel": "HIGH"},
        },
    }
    assert _gemini(body) == []


def test_unknown_fields_name_the_path_and_the_schema() -> None:
    body = {
        "contents": _contents(),
        "labels": {"team": "x"},
        "generationConfig": {"imageConfig": {"personGeneration": "ALLOW_ALL"}},
    }
    problems = _gemini(body)
    assert _shown(problems) == [
        ("$.labels", "unknown field"),
        ("$.generationConfig.imageConfig.personGeneration", "unknown field"),
    ]
    assert problems[1].definition.startswith("generativelanguage v1beta (googleapis/googleapis@")
    assert problems[1].definition.endswith(" ImageConfig")
    assert "personGeneration: unknown field" in str(problems[1])
    assert str(problems[1]).startswith(f"request POST {GENERATE}: ")


def test_wrong_casing_types_enums_and_missing_fields() -> None:
    body = {
        "generation_config": {"seed": "seven"},
        "generationConfig": {"seed": 2**40, "responseModalities": ["PICTURE"]},
        "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "!"}}]},
    }
    assert _shown(_gemini(body)) == [
        ("$.generation_config",
         "wrong casing: the wire name is 'generationConfig' (proto3 JSON names)"),
        ("$.generationConfig.seed", "1099511627776 is out of range for int32"),
        ("$.generationConfig.responseModalities[0]",
         "'PICTURE' is not one of the enum values (MODALITY_UNSPECIFIED, TEXT, IMAGE, AUDIO)"),
        ("$.systemInstruction.parts[0].inlineData.data", "not base64 (format byte)"),
        ("$.contents", "missing required field"),
    ]  # fmt: skip


def test_proto_names_pass_when_allowed() -> None:
    body = {"contents": _contents(), "generation_config": {"image_config": {"aspect_ratio": "1:1"}}}
    request = RecordedRequest("gemini", "POST", GENERATE, {}, {}, body)
    answer = RecordedAnswer(request, 200, "application/json", {}, b'{"candidates": []}')
    assert check_exchange(request, answer, casing="proto") == []
    assert _shown(check_exchange(request, answer))[0][0] == "$.generation_config"


def test_paths_methods_and_versions() -> None:
    assert _shown(_gemini({}, method="PUT")) == [("$", "no such method in the definition")]
    v1alpha = _exchange("gemini", "/v1alpha/models/x:generateContent", {"contents": _contents()})
    assert v1alpha == []  # checked against v1beta (its own protos lag the service)
    v1alpha = _exchange("gemini", "/v1alpha/models/x:generateContent", {"labels": {}})
    assert v1alpha[0].definition.startswith("generativelanguage v1alpha checked as v1beta")
    v2 = _exchange("gemini", "/v2/models/x:generateContent", {"contents": _contents()})
    assert v2[0].definition == "generativelanguage (no vendored definition of this version)"
    # a refusal of what the definition lacks is the emulator being strict: no problem
    assert _gemini({"labels": {}}, status=400, answer=_google_error(400)) == []


def _google_error(code: int) -> dict[str, Any]:
    return {"error": {"code": code, "message": "no", "status": "INVALID_ARGUMENT"}}


def test_answers_are_checked_too() -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "DONE"}]}
    problems = _gemini({"contents": _contents()}, answer=answer)
    assert [(p.side, p.path) for p in problems] == [("answer", "$.candidates[0].finishReason")]
    bad_error = {"error": {"code": 429, "message": "slow down", "status": "TOO_MANY", "why": 1}}
    shown = _shown(_gemini({}, status=400, answer=bad_error))
    assert ("$.error.why", "unknown field") in shown
    assert ("$.error.status", "not a google.rpc.Code name") in shown
    assert ("$.error.code", "differs from the HTTP status") in shown


def test_vertex_fields_are_vertex_s() -> None:
    path = (
        "/v1beta1/projects/p/locations/l/publishers/google/models/gemini-3-pro-image"
        ":generateContent"
    )
    body = {"contents": _contents(), "labels": {"team": "x"}, "store": True}
    problems = _exchange("vertex", path, body)
    assert _shown(problems) == [("$.store", "unknown field")]
    assert problems[0].definition == (
        "aiplatform v1beta1 (rev 20261106) GoogleCloudAiplatformV1beta1GenerateContentRequest"
    )


def test_openai_option_sets_differ_per_operation() -> None:
    problems = _exchange(
        "openai", "/v1/images/generations", model="gpt-image-2",
        body={"model": "gpt-image-2", "prompt": "a fox", "input_fidelity": "high", "n": 11},
        answer={"created": 1, "data": []},
    )  # fmt: skip
    assert _shown(problems) == [
        ("$.n", "11 is greater than the maximum of 10"),
        ("$.input_fidelity", "unknown field"),
    ]
    assert problems[1].definition.startswith("openai-openapi (openai/openai-openapi@f85dbe2)")
    assert problems[1].definition.endswith("CreateImageRequest")
    form = {"model": "gpt-image-2", "prompt": "a fox", "image[]": ["a", "b"], "moderation": "low"}
    edit = _exchange(
        "openai", "/v1/images/edits", form=form, model="gpt-image-2", answer={"created": 1}
    )
    assert _shown(edit) == [("$.moderation", "unknown field")]
    assert edit[0].definition.endswith("CreateImageEditRequest")


def test_flux_requests_follow_their_hosts_definitions() -> None:
    """Together's requests and answers follow Together's description; a relay's, OpenAI's plus
    the relay's extension fields (edits too: no host publishes Flux edits); DeepInfra's, its
    transcribed page."""
    body = {"model": "black-forest-labs/FLUX.1-dev", "prompt": "a fox", "seed": 7,
            "width": 1024, "height": 768, "steps": 28, "guidance_scale": 3.5,
            "response_format": "base64"}  # fmt: skip
    answer = {"id": "x", "model": body["model"], "object": "list",
              "data": [{"index": 0, "b64_json": "AAAA", "type": "b64_json"}]}  # fmt: skip
    assert _exchange("together", "/v1/images/generations", body, answer=answer) == []
    body.update(response_format="b64_json", output_format="webp")
    problems = _exchange("together", "/v1/images/generations", body, answer={"created": 1})
    assert _shown(problems)[:2] == [
        ("$.response_format", "'b64_json' is not one of ['base64', 'url']"),
        ("$.output_format", "'webp' is not one of ['jpeg', 'png']"),
    ]
    assert problems[0].definition.startswith("together openapi (togethercomputer/openapi@090263a)")
    # OpenAI's answer shape is not Together's ImageResponse
    assert ("answer", "$.created", "unknown field") in [
        (p.side, p.path, p.message) for p in problems
    ]
    relay = {"model": "flux-dev", "prompt": "a fox", "seed": 7, "width": 1024, "height": 768,
             "steps": 28, "guidance_scale": 3.5, "response_format": "b64_json"}  # fmt: skip
    ok = _exchange("openai", "/v1/images/generations", relay, model="flux-dev",
                   answer={"created": 1})  # fmt: skip
    assert ok == []
    relay["guidance"] = 3.5
    (wrong,) = _exchange(
        "openai", "/v1/images/generations", relay, model="flux-dev", answer={"created": 1}
    )
    assert (wrong.path, wrong.message) == ("$.guidance", "unknown field")
    assert "relay.overlay" in wrong.definition
    edit = _exchange("openai", "/v1/images/edits", form={"prompt": "x", "anything": "goes"},
                     model="flux-2-pro", answer={"created": 1})  # fmt: skip
    assert _shown(edit) == [
        ("$", "'image' is a required property"),
        ("$.anything", "unknown field"),
    ]
    deepinfra = {"model": "black-forest-labs/FLUX-1-dev", "prompt": "x", "size": "1024x768",
                 "seed": 1}  # fmt: skip
    (seed,) = _exchange("deepinfra", "/v1/openai/images/generations", deepinfra,
                        answer={"created": 1, "data": [{"b64_json": "AAAA"}]})  # fmt: skip
    assert (seed.path, seed.message) == ("$.seed", "unknown field")
    assert seed.definition.startswith("deepinfra (transcribed")


def test_openai_errors_follow_error_response() -> None:
    error = {"error": {"message": "no", "type": "invalid_request_error", "param": None}}
    problems = _exchange("openai", "/v1/images/generations", {}, status=400, answer=error)
    assert _shown(problems) == [("$.error", "'code' is a required property")]


def test_definitions_carry_their_sources() -> None:
    assert DEFINITIONS.vertex["v1"].label == "aiplatform v1 (rev 20261106)"
    assert DEFINITIONS.together.base == "/v1"
    assert DEFINITIONS.openai.route("POST", "/v1/batches") is not None


@pytest.mark.wire(skip="this test checks the wire check's findings itself")
async def test_a_wrong_field_in_a_provider_is_named(
    seedless_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field OpenAI's generations lack, sent through seedless, is named twice: by the
    emulator (400 unknown_parameter, as OpenAI answers) and, were the emulator lax, by the
    wire check (issue 15)."""
    endpoint = seedless.Endpoint(
        name="openai", protocol="openai", base_url=seedless_emulator.openai.url,
        api_key=SecretStr(seedless_emulator.openai.api_key),
        extra_fields={"input_fidelity": "high"},  # a deliberately wrong field
    )  # fmt: skip
    async with seedless.AsyncClient(endpoints=[endpoint], retry=NO_RETRY) as client:
        with pytest.raises(seedless.SeedlessError, match="input_fidelity"):
            await client.generate("a fox", model="openai:gpt-image-2")
        new_problems()  # the emulator refused it: nothing for the wire check to add
        surface = _openai.OPENAI_IMAGES
        lax = replace(surface, generation=surface.generation | {"input_fidelity"})
        monkeypatch.setattr(_openai, "OPENAI_IMAGES", lax)
        await client.generate("a fox", model="openai:gpt-image-2")
    problems = new_problems()
    assert [(p.side, p.path, p.message) for p in problems] == [
        ("request", "$.input_fidelity", "unknown field")
    ]
    assert problems[0].definition.endswith("CreateImageRequest")
    assert "openai-openapi (openai/openai-openapi@f85dbe2)" in str(problems[0])


def test_planned_wire_requests_are_checked_before_io(seedless_emulator: Emulator) -> None:
    """client.prepare()'s WireRequests, for every shape, against the definitions (no I/O)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 80)).save(buffer, format="PNG")
    requests = [
        seedless.GenerateRequest(prompt="a fox", model="gemini:gemini-3-pro-image", size="2K"),
        seedless.GenerateRequest(prompt="a fox", model="vertex:imagen-4.0-generate-001", seed=7),
        seedless.GenerateRequest(prompt="a fox", model="openai:gpt-image-2"),
        seedless.EditRequest(
            prompt="darker", model="openai:gpt-image-2", images=[buffer.getvalue()],
            options={"input_fidelity": "high"},
        ),
        seedless.GenerateRequest(prompt="a fox", model="openai:flux-dev", seed=7),
        seedless.GenerateRequest(prompt="a fox", model="together:flux-dev", seed=7),
        seedless.EditRequest(
            prompt="darker", model="together:flux-kontext-pro", images=[buffer.getvalue()]
        ),
        seedless.GenerateRequest(prompt="a fox", model="deepinfra:flux-dev", size="1K"),
        seedless.EditRequest(
            prompt="darker", model="relay:flux-2-pro", images=[buffer.getvalue()] * 2, seed=3
        ),
    ]  # fmt: skip
    with seedless_emulator.client() as client:
        found = [
            _shown(check_planned(client.prepare(r, allow_retired=True).calls[0].wire))
            for r in requests
        ]
    assert seedless_emulator.requests == []  # planned, not sent
    assert found == [[]] * len(requests)


def test_the_allowed_deviations_are_narrow() -> None:
    """The SDK's proto names are allowed where google-genai puts them, and nowhere else: a
    snake_case field seedless itself sent would still fail."""
    from wirecheck.deviations import explained_by

    def casing(path: str) -> Problem:
        message = "wrong casing: the wire name is 'x' (proto3 JSON names)"
        return Problem("request", f"POST {GENERATE}", path, message, "generativelanguage v1")

    assert explained_by(casing("$.contents[0].parts[1].inlineData.mime_type")) is not None
    assert explained_by(casing("$.generationConfig.thinkingConfig.thinking_level")) is not None
    assert explained_by(casing("$.generation_config")) is None
    assert explained_by(casing("$.generationConfig.image_config")) is None
