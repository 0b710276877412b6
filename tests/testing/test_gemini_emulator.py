"""The Gemini API emulator, driven by the real google-genai SDK (raw httpx where it cannot)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image, ImageOps

from seedless.testing import DARKEN_JITTER, DARKEN_TARGET, MASK, Emulator

genai = pytest.importorskip("google.genai")
types = genai.types
errors = genai.errors

MODEL = "gemini-3-pro-image"


def _image_parts(response: Any) -> list[Any]:
    return [p for p in response.candidates[0].content.parts if p.inline_data is not None]


def test_generate_content_returns_an_image_and_records_what_the_sdk_sent(
    emu: Emulator, gemini: Any, open_image: Callable[[bytes], Image.Image]
) -> None:
    response = gemini.models.generate_content(
        model=MODEL,
        contents=["a red fox in the snow"],
        config=types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
            seed=42,
        ),
    )

    (part,) = _image_parts(response)
    assert part.inline_data.mime_type == "image/png"
    assert open_image(part.inline_data.data).size == (192, 108)  # 2K class, 16:9 kept
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.candidates_token_count == 1680
    assert response.model_version == MODEL

    (recorded,) = emu.gemini.requests
    assert recorded.method == "POST"
    assert recorded.path == f"/v1/models/{MODEL}:generateContent"
    assert recorded.headers["x-goog-api-key"] == MASK
    assert recorded.model == MODEL
    assert recorded.body == json.loads(recorded.raw)
    assert recorded.body == {
        "contents": [{"parts": [{"text": "a red fox in the snow"}], "role": "user"}],
        "generationConfig": {
            "seed": 42,
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
        },
    }
    assert emu.gemini.api_key.encode() not in repr(recorded).encode()


def test_gemini_accepts_a_seed_and_ignores_it(gemini: Any) -> None:
    config = types.GenerateContentConfig(response_modalities=["IMAGE"], seed=7)
    first = gemini.models.generate_content(model=MODEL, contents=["a lighthouse"], config=config)
    second = gemini.models.generate_content(model=MODEL, contents=["a lighthouse"], config=config)
    assert _image_parts(first)[0].inline_data.data != _image_parts(second)[0].inline_data.data


@pytest.mark.parametrize(
    ("ratio", "size", "expected"),
    [("1:1", "512", (64, 64)), ("9:16", "4K", (144, 256)), ("21:9", "1K", (128, 55))],
)
def test_aspect_ratio_and_size_class_hold(
    gemini: Any,
    open_image: Callable[[bytes], Image.Image],
    ratio: str,
    size: str,
    expected: tuple[int, int],
) -> None:
    config = types.GenerateContentConfig(
        image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size)
    )
    response = gemini.models.generate_content(model=MODEL, contents=["a bridge"], config=config)
    assert open_image(_image_parts(response)[0].inline_data.data).size == expected


def test_edit_darkens_the_input_image_by_a_random_strength(
    gemini: Any, make_png: Callable[..., bytes], open_image: Callable[[bytes], Image.Image]
) -> None:
    source = make_png((300, 200), (200, 120, 60))
    factors = []
    for _ in range(5):
        response = gemini.models.generate_content(
            model=MODEL,
            contents=["make it darker", types.Part.from_bytes(data=source, mime_type="image/png")],
        )
        texts = [p.text for p in response.candidates[0].content.parts if p.text]
        assert texts  # no responseModalities: text and image, as the models answer
        edited = open_image(_image_parts(response)[0].inline_data.data)
        assert edited.size == (128, 85)  # the input's 3:2 ratio, 1K class
        red = edited.convert("RGB").getpixel((10, 10))[0]
        factors.append(red / 200)
    for factor in factors:
        assert (
            DARKEN_TARGET - DARKEN_JITTER - 0.01 <= factor <= DARKEN_TARGET + DARKEN_JITTER + 0.01
        )
    # No seed: each edit draws its own strength. The red level is an integer, so two draws
    # share a value about one time in 40 (a CI run once failed on two); five all alike would
    # be one time in 40**4.
    assert len(set(factors)) > 1


def test_edit_transform_is_pluggable(
    emu: Emulator,
    gemini: Any,
    make_png: Callable[..., bytes],
    open_image: Callable[[bytes], Image.Image],
) -> None:
    seen: list[str] = []

    def invert(image: Image.Image, instruction: str, rng: Any) -> Image.Image:
        seen.append(instruction)
        return ImageOps.invert(image)

    emu.gemini.edit_transform = invert
    response = gemini.models.generate_content(
        model=MODEL,
        contents=[
            "invert it",
            types.Part.from_bytes(data=make_png(colour=(200, 120, 60)), mime_type="image/png"),
            types.Part.from_bytes(data=make_png(colour=(0, 0, 0)), mime_type="image/png"),
        ],
        config=types.GenerateContentConfig(response_modalities=["IMAGE"]),
    )
    edited = open_image(_image_parts(response)[0].inline_data.data).convert("RGB")
    assert edited.getpixel((5, 5)) == (55, 135, 195)  # the first image, inverted
    assert seen == ["invert it"]


def test_candidate_count_gives_several_candidates(gemini: Any) -> None:
    config = types.GenerateContentConfig(candidate_count=2, response_modalities=["IMAGE"])
    response = gemini.models.generate_content(model=MODEL, contents=["a kite"], config=config)
    assert len(response.candidates) == 2


def test_v1beta_and_streaming_paths(emu: Emulator) -> None:
    client = genai.Client(
        api_key=emu.gemini.api_key,
        http_options=types.HttpOptions(base_url=emu.gemini.url, api_version="v1beta"),
    )
    try:
        chunks = list(client.models.generate_content_stream(model=MODEL, contents=["a boat"]))
    finally:
        client.close()
    assert any(p.inline_data for c in chunks for p in c.candidates[0].content.parts)
    (recorded,) = emu.gemini.requests
    assert recorded.path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert recorded.query == {"alt": "sse"}


@pytest.mark.parametrize(
    ("status", "error_type", "status_name"),
    [
        (429, "ClientError", "RESOURCE_EXHAUSTED"),
        (500, "ServerError", "INTERNAL"),
        (503, "ServerError", "UNAVAILABLE"),
    ],
)
def test_scripted_status_faults_reach_the_sdk_as_api_errors(
    emu: Emulator, gemini: Any, status: int, error_type: str, status_name: str
) -> None:
    emu.gemini.fail_next(status, times=2, retry_after=3)
    for _ in range(2):
        with pytest.raises(getattr(errors, error_type)) as caught:
            gemini.models.generate_content(model=MODEL, contents=["x"])
        assert caught.value.code == status
        assert caught.value.status == status_name
        assert caught.value.response.headers["retry-after"] == "3"
        details = caught.value.details["error"]["details"]
        assert details == [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
        ]
    assert _image_parts(gemini.models.generate_content(model=MODEL, contents=["x"]))
    assert emu.gemini.pending_faults == []


def test_faults_can_target_one_model(emu: Emulator, gemini: Any) -> None:
    emu.gemini.fail_next(500, model="gemini-2.5-flash-image")
    assert _image_parts(gemini.models.generate_content(model=MODEL, contents=["x"]))
    with pytest.raises(errors.ServerError):
        gemini.models.generate_content(model="gemini-2.5-flash-image", contents=["x"])


def test_dropped_connection_and_truncated_body_break_the_transport(
    emu: Emulator, gemini: Any
) -> None:
    emu.gemini.drop_next()
    with pytest.raises(Exception, match=r"without sending a response|disconnected") as dropped:
        gemini.models.generate_content(model=MODEL, contents=["x"])
    assert type(dropped.value).__name__ == "RemoteProtocolError"

    emu.gemini.truncate_next()
    with pytest.raises(Exception, match=r"incomplete|complete message body") as truncated:
        gemini.models.generate_content(model=MODEL, contents=["x"])
    assert type(truncated.value).__name__ == "RemoteProtocolError"

    assert _image_parts(gemini.models.generate_content(model=MODEL, contents=["x"]))
    assert len(emu.gemini.requests) == 3


def test_slow_answer_hits_the_sdk_timeout(emu: Emulator) -> None:
    emu.gemini.slow_next(2.0)
    client = genai.Client(
        api_key=emu.gemini.api_key,
        http_options=types.HttpOptions(base_url=emu.gemini.url, timeout=200),  # milliseconds
    )
    try:
        with pytest.raises(Exception, match="timed out") as caught:
            client.models.generate_content(model=MODEL, contents=["x"])
    finally:
        client.close()
    assert "Timeout" in type(caught.value).__name__


def test_safety_blocks(emu: Emulator, gemini: Any) -> None:
    emu.gemini.block_next()
    blocked = gemini.models.generate_content(model=MODEL, contents=["x"])
    assert blocked.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    assert blocked.parts is None

    emu.gemini.block_next("PROHIBITED_CONTENT", prompt=True)
    refused = gemini.models.generate_content(model=MODEL, contents=["x"])
    assert refused.candidates is None
    assert refused.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


def test_answer_with_text_and_no_image(emu: Emulator, gemini: Any) -> None:
    emu.gemini.no_image_next("I cannot draw that.")
    response = gemini.models.generate_content(model=MODEL, contents=["x"])
    assert response.text == "I cannot draw that."
    assert _image_parts(response) == []
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_unknown_and_retired_models_answer_404(emu: Emulator, gemini: Any) -> None:
    with pytest.raises(errors.ClientError) as unknown:
        gemini.models.generate_content(model="gemini-9-image", contents=["x"])
    assert unknown.value.code == 404
    assert unknown.value.status == "NOT_FOUND"
    assert unknown.value.message.startswith(
        "models/gemini-9-image is not found for API version v1, or is not supported for "
        "generateContent."
    )

    emu.gemini.retired.add("gemini-2.5-flash-image")
    with pytest.raises(errors.ClientError) as retired:
        gemini.models.generate_content(model="gemini-2.5-flash-image", contents=["x"])
    assert retired.value.code == 404
    names = [m.name for m in gemini.models.list()]
    assert "models/gemini-2.5-flash-image" not in names
    assert f"models/{MODEL}" in names


def test_wrong_key_and_missing_key(emu: Emulator) -> None:
    client = genai.Client(
        api_key="not-the-key", http_options=types.HttpOptions(base_url=emu.gemini.url)
    )
    try:
        with pytest.raises(errors.ClientError) as wrong:
            client.models.generate_content(model=MODEL, contents=["x"])
    finally:
        client.close()
    assert (wrong.value.code, wrong.value.status) == (400, "INVALID_ARGUMENT")
    assert wrong.value.message == "API key not valid. Please pass a valid API key."
    assert wrong.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"

    missing = httpx.post(f"{emu.gemini.url}/v1beta/models/{MODEL}:generateContent", json={})
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Invalid JSON payload received."),
        (b"[]", 'Unknown name "": Root element must be a message.'),
        (b'{"contnts": []}', 'Unknown name "contnts": Cannot find field.'),
        (b"{}", "contents is not specified"),
        (
            b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"imageConfig":'
            b' {"aspectRatio": "7:3"}}}',
            "Unsupported aspect ratio",
        ),
        (
            b'{"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "@@"}}]}]}',
            "Base64 decoding failed",
        ),
        (
            b'{"contents": [{"parts": [{"inlineData": {"mimeType": "image/png",'
            b' "data": "AAAA"}}]}]}',
            "Unable to process input image",
        ),
    ],
)
def test_malformed_bodies_answer_400(emu: Emulator, content: bytes, message: str) -> None:
    response = httpx.post(
        f"{emu.gemini.url}/v1beta/models/{MODEL}:generateContent",
        content=content,
        headers={"x-goog-api-key": emu.gemini.api_key, "content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


@pytest.mark.wire(casing="proto")  # proto field names on purpose: the service accepts them
def test_snake_case_fields_and_key_in_query_are_accepted(emu: Emulator) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "a tree"}]}],
        "generation_config": {
            "response_modalities": ["IMAGE"],
            "image_config": {"aspect_ratio": "3:4"},
        },
    }
    response = httpx.post(
        f"{emu.gemini.url}/v1beta/models/{MODEL}:generateContent",
        params={"key": emu.gemini.api_key},
        json=body,
    )
    assert response.status_code == 200
    data = response.json()["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    assert base64.b64decode(data).startswith(b"\x89PNG")
    assert emu.gemini.requests[-1].query == {"key": MASK}


def test_model_listing_pages_and_get(emu: Emulator, gemini: Any) -> None:
    headers = {"x-goog-api-key": emu.gemini.api_key}
    first = httpx.get(f"{emu.gemini.url}/v1beta/models", params={"pageSize": 3}, headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert len(page["models"]) == 3
    item = page["models"][0]
    assert item["name"].startswith("models/")
    assert {"displayName", "supportedGenerationMethods", "inputTokenLimit"} <= set(item)
    assert "generateContent" in item["supportedGenerationMethods"]
    names = [m["name"] for m in page["models"]]
    token = page["nextPageToken"]
    while token:
        more = httpx.get(
            f"{emu.gemini.url}/v1beta/models",
            params={"pageSize": 3, "pageToken": token},
            headers=headers,
        ).json()
        names += [m["name"] for m in more["models"]]
        token = more.get("nextPageToken")
    assert names == [f"models/{m}" for m in emu.gemini.models]
    assert [m.name for m in gemini.models.list(config={"page_size": 2})] == names

    model = gemini.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}"
    assert model.display_name == "Nano Banana Pro"


def _post_gemini(
    emu: Emulator, body: dict[str, Any], version: str = "v1beta", vertex: bool = False
) -> httpx.Response:
    if vertex:
        path = (
            f"/{version}/projects/{emu.vertex.project}/locations/{emu.vertex.location}"
            f"/publishers/google/models/{MODEL}:generateContent"
        )
        headers = {"Authorization": f"Bearer {emu.vertex.token}"}
    else:
        path = f"/{version}/models/{MODEL}:generateContent"
        headers = {"x-goog-api-key": emu.gemini.api_key}
    return httpx.post(emu.gemini.origin + path, headers=headers, json=body)


_PROMPT = [{"role": "user", "parts": [{"text": "a tree"}]}]


@pytest.mark.parametrize(
    ("extra", "unknown", "where"),
    [
        ({"labels": {"team": "x"}}, "labels", ""),
        ({"generationConfig": {"imageConfig": {"personGeneration": "ALLOW_ALL"}}},
         "personGeneration", "generation_config.image_config"),
        ({"generationConfig": {"imageConfig": {"prominentPeople": "BLOCK_PROMINENT_PEOPLE"}}},
         "prominentPeople", "generation_config.image_config"),
        ({"generationConfig": {"routingConfig": {}}}, "routingConfig", "generation_config"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_vertex_only_fields_are_unknown_to_the_gemini_api(
    emu: Emulator, extra: dict[str, Any], unknown: str, where: str, version: str
) -> None:
    refused = _post_gemini(emu, {"contents": _PROMPT, **extra}, version)
    assert refused.status_code == 400
    at = f" at '{where}'" if where else ""
    message = f'Unknown name "{unknown}"{at}: Cannot find field.'
    assert message in refused.json()["error"]["message"]
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert _post_gemini(emu, {"contents": _PROMPT, **extra}, "v1", vertex=True).status_code == 200


def test_thinking_levels_are_checked_per_service(emu: Emulator) -> None:
    def body(level: str) -> dict[str, Any]:
        return {
            "contents": _PROMPT,
            "generationConfig": {"thinkingConfig": {"thinkingLevel": level}},
        }

    assert _post_gemini(emu, body("HIGH")).status_code == 200
    assert _post_gemini(emu, body("XHIGH")).status_code == 200  # google-genai's ThinkingLevel
    refused = _post_gemini(emu, body("ULTRA"))
    assert refused.status_code == 400
    assert "generation_config.thinking_config.thinking_level" in refused.json()["error"]["message"]
    vertex = _post_gemini(emu, body("XHIGH"), "v1beta1", vertex=True)  # not in aiplatform's enum
    assert vertex.status_code == 400 and "ThinkingLevel" in vertex.json()["error"]["message"]


def test_unknown_part_and_blob_fields_are_refused(emu: Emulator) -> None:
    part = {"text": "a tree", "colour": "red"}
    refused = _post_gemini(emu, {"contents": [{"role": "user", "parts": [part]}]})
    assert "Unknown name \"colour\" at 'contents[0].parts[0]'" in refused.json()["error"]["message"]
    blob = {"inlineData": {"mimeType": "image/png", "data": "AAAA", "displayName": "x"}}
    refused = _post_gemini(emu, {"contents": [{"role": "user", "parts": [blob]}]})
    assert refused.status_code == 400 and '"displayName"' in refused.json()["error"]["message"]
