"""The OpenAI-style images emulator, driven by plain httpx as a user's own code would."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from seedless.testing import MASK, Emulator, FilePart


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    """An httpx client with the emulator's key and base URL (the OpenAI SDK's shape)."""
    with httpx.Client(
        base_url=emu.openai.url, headers={"Authorization": f"Bearer {emu.openai.api_key}"}
    ) as client:
        yield client


def _generate(http: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", "flux-dev")
    body.setdefault("prompt", "a red fox")
    return http.post("/images/generations", json=body)


def _first_image(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["data"][0]["b64_json"])


def test_seeded_flux_is_deterministic_in_prompt_seed_and_size(
    http: httpx.Client, open_image: Callable[[bytes], Image.Image]
) -> None:
    first = _first_image(_generate(http, seed=7))
    assert _first_image(_generate(http, seed=7)) == first
    assert _first_image(_generate(http, seed=8)) != first
    assert _first_image(_generate(http, seed=7, prompt="a blue fox")) != first
    assert _first_image(_generate(http, seed=7, size="1024x768")) != first
    assert open_image(first).size == (128, 128)  # default 1024x1024, scaled down
    assert _first_image(_generate(http)) != _first_image(_generate(http))  # no seed: fresh


def test_answer_shape_and_recorded_request(emu: Emulator, http: httpx.Client) -> None:
    response = _generate(
        http, seed=7, n=2, width=1536, height=1024, steps=28, guidance_scale=3.5
    )
    assert response.status_code == 200
    answer = response.json()
    assert isinstance(answer["created"], int)
    assert [sorted(item) for item in answer["data"]] == [["b64_json"], ["b64_json"]]
    (recorded,) = emu.openai.requests
    assert recorded.path == "/v1/images/generations"
    assert recorded.headers["authorization"] == f"Bearer {MASK}"
    assert recorded.model == "flux-dev"
    assert recorded.body == {
        "model": "flux-dev",
        "prompt": "a red fox",
        "seed": 7,
        "n": 2,
        "width": 1536,
        "height": 1024,
        "steps": 28,
        "guidance_scale": 3.5,
    }


@pytest.mark.parametrize("field", ["guidance", "num_inference_steps", "image_url", "foo"])
def test_a_relay_takes_its_fields_and_no_others(http: httpx.Client, field: str) -> None:
    """A Flux model behind the relay takes OpenAI's fields plus seed, width/height, steps and
    guidance_scale; another host's spelling is an unknown parameter, as on the services."""
    response = _generate(http, **{field: 1})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_parameter"
    assert response.json()["error"]["param"] == field


def test_width_and_height_keep_the_ratio(
    http: httpx.Client, open_image: Callable[[bytes], Image.Image]
) -> None:
    assert open_image(_first_image(_generate(http, width=1536, height=1024))).size == (192, 128)
    assert open_image(_first_image(_generate(http, size="1024x1792"))).size == (110, 192)


def test_response_format_url_serves_a_downloadable_image(emu: Emulator, http: httpx.Client) -> None:
    response = _generate(http, seed=3, response_format="url")
    url = response.json()["data"][0]["url"]
    assert url.startswith(emu.openai.origin + "/")
    download = httpx.get(url)  # no key, like a signed URL
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content == _first_image(_generate(http, seed=3))


def test_gpt_image_models_have_no_seed(http: httpx.Client) -> None:
    first = _first_image(_generate(http, model="gpt-image-2"))
    assert _first_image(_generate(http, model="gpt-image-2")) != first
    refused = _generate(http, model="gpt-image-2", seed=7)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "message": "Unknown parameter: 'seed'.",
            "type": "invalid_request_error",
            "param": "seed",
            "code": "unknown_parameter",
        }
    }
    assert "usage" in _generate(http, model="gpt-image-2").json()


def test_edit_returns_a_transform_of_the_input(
    emu: Emulator,
    http: httpx.Client,
    make_png: Callable[..., bytes],
    open_image: Callable[[bytes], Image.Image],
) -> None:
    source = make_png((400, 300), (200, 120, 60))

    def edit(seed: int) -> bytes:
        response = http.post(
            "/images/edits",
            data={"model": "flux-kontext-pro", "prompt": "make it darker", "seed": str(seed)},
            files={"image": ("photo.png", source, "image/png")},
        )
        return _first_image(response)

    first = edit(5)
    assert edit(5) == first  # seeded: same strength for the same seed
    assert edit(6) != first
    picture = open_image(first).convert("RGB")
    assert picture.size == (128, 96)  # the input's 4:3
    red = picture.getpixel((10, 10))[0]
    assert 0.6 * 200 <= red <= 0.9 * 200

    recorded = emu.openai.requests[0]
    assert recorded.body is None
    assert recorded.form is not None
    assert recorded.form["prompt"] == "make it darker"
    image = recorded.form["image"]
    assert isinstance(image, FilePart)
    assert (image.filename, image.content_type, image.size) == (
        "photo.png",
        "image/png",
        len(source),
    )
    assert image.data == source
    assert "data=" not in repr(image)


def test_edit_needs_multipart_and_an_image(http: httpx.Client) -> None:
    as_json = http.post("/images/edits", json={"model": "flux-kontext-pro", "prompt": "x"})
    assert as_json.status_code == 400
    missing = http.post("/images/edits", data={"model": "flux-kontext-pro", "prompt": "x"})
    # httpx sends a form without files as urlencoded: still not multipart
    assert missing.status_code == 400
    no_image = http.post(
        "/images/edits",
        data={"model": "flux-kontext-pro", "prompt": "x"},
        files={"mask": ("m.png", b"\x89PNG", "image/png")},
    )
    assert no_image.status_code == 400
    assert no_image.json()["error"]["param"] == "image"


def test_unknown_and_retired_models_answer_404(emu: Emulator, http: httpx.Client) -> None:
    emu.openai.retired.add("dall-e-3")
    for model in ("dall-e-3", "flux-9"):
        response = _generate(http, model=model)
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "message": f"The model `{model}` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        }


def test_model_listing(emu: Emulator, http: httpx.Client) -> None:
    emu.openai.retired.add("gpt-image-1")
    listing = http.get("/models").json()
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert "gpt-image-1" not in ids
    assert {"flux-2-pro", "gpt-image-2"} <= set(ids)
    assert set(listing["data"][0]) == {"id", "object", "created", "owned_by"}
    one = http.get("/models/flux-2-pro")
    assert one.json()["id"] == "flux-2-pro"
    assert http.get("/models/gpt-image-1").status_code == 404


def test_credentials(emu: Emulator) -> None:
    url = f"{emu.openai.url}/images/generations"
    body = {"model": "flux-dev", "prompt": "x"}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("You didn't provide an API key.")
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-wrong-key-1234"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong-key-1234" not in wrong.text


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "flux-dev"}, "prompt"),
        ({"model": "flux-dev", "prompt": "x", "n": 11}, "n"),
        ({"model": "flux-dev", "prompt": "x", "size": "huge"}, "size"),
        ({"model": "flux-dev", "prompt": "x", "seed": "seven"}, "seed"),
        ({"model": "flux-dev", "prompt": "x", "response_format": "gif"}, "response_format"),
    ],
)
def test_invalid_parameters_answer_400(
    http: httpx.Client, body: dict[str, Any], param: str
) -> None:
    response = http.post("/images/generations", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_malformed_json_answers_400(http: httpx.Client) -> None:
    response = http.post(
        "/images/generations", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "could not parse the JSON body" in response.json()["error"]["message"]


def test_faults(emu: Emulator, http: httpx.Client) -> None:
    emu.openai.fail_next(429, retry_after=1.5)
    limited = _generate(http)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1.5"
    assert limited.headers["retry-after-ms"] == "1500"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"

    emu.openai.fail_next(500)
    assert _generate(http).json()["error"]["type"] == "server_error"

    emu.openai.block_next()
    blocked = _generate(http)
    assert blocked.status_code == 400
    assert blocked.json()["error"]["code"] == "content_policy_violation"

    emu.openai.block_next()
    assert _generate(http, model="gpt-image-2").json()["error"]["code"] == "moderation_blocked"

    emu.openai.no_image_next()
    assert _generate(http).json()["data"] == []

    emu.openai.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        _generate(http)

    emu.openai.truncate_next()
    with pytest.raises(httpx.RemoteProtocolError):
        _generate(http)

    assert _generate(http).status_code == 200
    assert emu.openai.pending_faults == []


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1"])
def test_gpt_image_models_refuse_response_format_as_openai_does(
    http: httpx.Client, model: str
) -> None:
    response = _generate(http, model=model, response_format="b64_json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Unknown parameter: 'response_format'.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": "unknown_parameter",
    }
    assert _generate(http, model="dall-e-3", response_format="b64_json").status_code == 200


def test_gpt_image_fields_are_per_operation_as_openai_defines_them(
    http: httpx.Client, make_png: Callable[..., bytes]
) -> None:
    generation = _generate(http, model="gpt-image-2", input_fidelity="high")
    assert generation.status_code == 400
    assert generation.json()["error"]["param"] == "input_fidelity"
    assert generation.json()["error"]["code"] == "unknown_parameter"
    assert _generate(http, model="gpt-image-2", moderation="low").status_code == 200

    def edit(**fields: str) -> httpx.Response:
        data = {"model": "gpt-image-2", "prompt": "darker", **fields}
        return http.post(
            "/images/edits", data=data, files=[("image[]", ("a.png", make_png(), "image/png"))]
        )

    assert edit(input_fidelity="high").status_code == 200
    refused = edit(moderation="low")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "moderation"
    assert edit(style="vivid").json()["error"]["param"] == "style"
