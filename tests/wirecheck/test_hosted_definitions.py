"""BFL's and Stability AI's definitions: the providers' planned requests conform, wrong ones are
named, and the emulators take exactly the fields the definitions define."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless.testing import Emulator, FilePart, RecordedAnswer, RecordedRequest
from seedless.testing._bfl import BFL_INPUTS
from seedless.testing._stability import STABILITY_FIELDS
from wirecheck import DEFINITIONS, Problem, check_exchange, check_planned


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 80)).save(buffer, format="PNG")
    return buffer.getvalue()


def _shown(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in problems]


def _exchange(
    service: str,
    path: str,
    *,
    body: Any = None,
    form: dict[str, Any] | None = None,
    method: str = "POST",
    query: dict[str, str] | None = None,
    status: int = 200,
    content_type: str = "application/json",
    answer: Any = None,
) -> list[tuple[str, str]]:
    request = RecordedRequest(
        service=service, method=method, path=path, query=query or {}, headers={}, body=body,
        form=form,
    )  # fmt: skip
    reply = RecordedAnswer(request, status, content_type, {}, json.dumps(answer).encode())
    return _shown(check_exchange(request, reply))


def test_every_planned_request_conforms(seedless_emulator: Emulator) -> None:
    png = _png()
    requests = [
        seedless.GenerateRequest(prompt="a fox", model=f"bfl:{model}", seed=7)
        for model in BFL_INPUTS
    ]
    requests += [
        seedless.EditRequest(prompt="x", model="bfl:flux-kontext-max", images=[png, png], seed=1),
        seedless.EditRequest(
            prompt="x",
            model="bfl:flux-2-flex",
            images=[png] * 8,
            seed=1,
            options={"steps": 20, "guidance": 4},
        ),
        seedless.GenerateRequest(
            prompt="x",
            model="bfl:flux-pro-1.1-ultra",
            aspect_ratio="21:9",
            options={"raw": True},
            output_mime_type="image/webp",
        ),
        seedless.GenerateRequest(
            prompt="x",
            model="bfl:flux-dev",
            options={"steps": 12, "guidance": 2, "safety_tolerance": 6},
        ),
    ]
    for model in ("stable-image-ultra", "stable-image-core", "sd3.5-large", "sd3.5-medium"):
        requests.append(
            seedless.GenerateRequest(
                prompt="x",
                model=f"stability:{model}",
                seed=4294967294,
                aspect_ratio="9:21",
                negative_prompt="fog",
                output_mime_type="image/jpeg",
                options={"style_preset": "pixel-art"},
            )
        )
    requests += [
        seedless.EditRequest(
            prompt="x",
            model="stability:sd3.5-large-turbo",
            images=[png],
            seed=3,
            options={"strength": 0.5, "cfg_scale": 1},
        ),
        seedless.EditRequest(
            prompt="x", model="stability:stable-image-ultra", images=[png], options={"strength": 1}
        ),
    ]
    with seedless_emulator.client() as client:
        found = {
            request.model: _shown(check_planned(client.prepare(request).calls[0].wire))
            for request in requests
        }
    assert seedless_emulator.requests == []  # planned, not sent
    assert all(problems == [] for problems in found.values()), found


def test_wrong_bfl_bodies_are_named() -> None:
    task = {"id": "T", "polling_url": "https://api.bfl.ai/v1/get_result?id=T"}
    body = {"prompt": "x", "steps": 99, "negative": 1}
    problems = _exchange("bfl", "/v1/flux-dev", body=body, answer=task)
    assert sorted(path for path, _ in problems) == ["$.negative", "$.steps"]
    assert ("$.negative", "unknown field") in problems
    assert _exchange("bfl", "/v1/flux-2-pro", body={"seed": 1}, answer=task) == [
        ("$", "'prompt' is a required property")
    ]
    ((path, message),) = _exchange(
        "bfl", "/v1/flux-2-pro", body={"prompt": "x"}, answer={"id": "T"}
    )
    assert path == "$" and "is a required property" in message  # AsyncResponse or Webhook
    assert _exchange("bfl", "/v1/flux-9", body={"prompt": "x"}) == [("$", "no such operation")]
    assert _exchange(
        "bfl", "/v1/get_result", method="GET", answer={"id": "T", "status": "Lost"}
    ) == [("?id", "required query parameter missing"),
          ("$.status", "'Lost' is not one of ['Task not found', 'Pending', 'Request Moderated', "
                       "'Content Moderated', 'Ready', 'Error']")]  # fmt: skip
    invalid = {"detail": [{"loc": ["body", "width"], "msg": "bad"}]}
    assert _exchange("bfl", "/v1/flux-dev", body={"prompt": "x"}, status=422, answer=invalid) == [
        ("$.detail[0]", "'type' is a required property")
    ]


def test_wrong_stability_forms_and_answers_are_named() -> None:
    form = {"prompt": "x", "aspect_ratio": "4:3", "seed": "7", "image": FilePart(
        "a.png", "image/png", 1, "0", b""), "colour": "red"}  # fmt: skip
    assert sorted(
        _exchange("stability", "/v2beta/stable-image/generate/core", form=form, answer={})
    )[:3] == [
        ("$", "content type 'application/json' is not defined"),
        (
            "$.aspect_ratio",
            "'4:3' is not one of ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', "
            "'2:3', '9:16', '9:21']",
        ),
        ("$.colour", "unknown field"),
    ]
    good = {"prompt": "x"}
    answer = {"image": "aGk=", "seed": 7, "finish_reason": "BLURRED"}
    found = _exchange(
        "stability", "/v2beta/stable-image/generate/ultra", form=good, answer=answer,
        content_type="application/json; type=image/png",
    )  # fmt: skip
    assert found == [("$.finish_reason", "'BLURRED' is not one of ['SUCCESS', 'CONTENT_FILTERED']")]
    moderated = {"id": "x", "name": "content_moderation", "errors": []}
    assert _exchange(
        "stability", "/v2beta/stable-image/generate/sd3", form=good, status=403, answer=moderated
    ) == [("$.errors", "[] should be non-empty")]


@pytest.mark.parametrize("model", sorted(BFL_INPUTS))
def test_the_bfl_emulator_takes_exactly_each_models_inputs(model: str) -> None:
    doc = DEFINITIONS.bfl
    operation = doc.paths[f"/v1/{model}"]["post"]
    schema = doc.resolve(doc.request_schema(operation, "application/json"))
    assert frozenset(schema["properties"]) == BFL_INPUTS[model].fields
    assert schema.get("required", []) == (["prompt"] if BFL_INPUTS[model].prompt_required else [])


@pytest.mark.parametrize("service", sorted(STABILITY_FIELDS))
def test_the_stability_emulator_takes_exactly_each_services_fields(service: str) -> None:
    doc = DEFINITIONS.stability
    operation = doc.paths[f"/v2beta/stable-image/generate/{service}"]["post"]
    schema = doc.request_schema(operation, "multipart/form-data")
    assert frozenset(schema["properties"]) == STABILITY_FIELDS[service]
