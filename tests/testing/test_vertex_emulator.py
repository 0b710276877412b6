"""The Vertex AI emulator (Imagen :predict, Gemini :generateContent) via google-genai."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from seedless.testing import RAI_FILTERED_REASON, Emulator, static_credentials

genai = pytest.importorskip("google.genai")
types = genai.types
errors = genai.errors

IMAGEN = "imagen-4.0-generate-001"
PREFIX = "/v1beta1/projects/test-project/locations/us-central1/publishers/google/models"


def _imagen(client: Any, prompt: str = "a cat", **config: Any) -> Any:
    with warnings.catch_warnings():  # generate_images is deprecated in google-genai 3.x
        warnings.simplefilter("ignore")
        return client.models.generate_images(
            model=config.pop("model", IMAGEN),
            prompt=prompt,
            config=types.GenerateImagesConfig(**config),
        )


def _bytes(response: Any) -> list[bytes]:
    return [g.image.image_bytes for g in response.generated_images]


def test_generate_images_returns_seeded_images_and_records_the_body(
    emu: Emulator, vertex: Any, open_image: Callable[[bytes], Image.Image]
) -> None:
    response = _imagen(
        vertex, seed=42, add_watermark=False, number_of_images=2, aspect_ratio="16:9"
    )

    images = response.generated_images
    assert len(images) == 2
    assert all(g.image.mime_type == "image/png" for g in images)
    assert [open_image(b).size for b in _bytes(response)] == [(128, 72), (128, 72)]
    assert images[0].image.image_bytes != images[1].image.image_bytes  # two samples differ

    (recorded,) = emu.vertex.requests
    assert recorded.path == f"{PREFIX}/{IMAGEN}:predict"
    assert recorded.headers["authorization"] == "Bearer [secure]"
    assert recorded.body == json.loads(recorded.raw)
    assert recorded.body == {
        "instances": [{"prompt": "a cat"}],
        "parameters": {"sampleCount": 2, "aspectRatio": "16:9", "seed": 42, "addWatermark": False},
    }


def test_imagen_is_deterministic_in_prompt_seed_and_parameters(vertex: Any) -> None:
    first = _bytes(_imagen(vertex, seed=42, add_watermark=False))
    assert _bytes(_imagen(vertex, seed=42, add_watermark=False)) == first
    assert _bytes(_imagen(vertex, seed=43, add_watermark=False)) != first
    assert _bytes(_imagen(vertex, "a dog", seed=42, add_watermark=False)) != first
    assert _bytes(_imagen(vertex, seed=42, add_watermark=False, aspect_ratio="4:3")) != first


def test_imagen_without_seed_is_fresh_every_call(vertex: Any) -> None:
    assert _bytes(_imagen(vertex)) != _bytes(_imagen(vertex))


def test_seed_with_watermark_is_refused_as_vertex_does(vertex: Any) -> None:
    with pytest.raises(errors.ClientError) as caught:
        _imagen(vertex, seed=42)
    assert caught.value.code == 400
    assert "Seed is not supported when watermark is enabled." in caught.value.message


def test_output_mime_type_and_image_size(
    vertex: Any, open_image: Callable[[bytes], Image.Image]
) -> None:
    response = _imagen(vertex, output_mime_type="image/jpeg", image_size="2K", aspect_ratio="9:16")
    (image,) = response.generated_images
    assert image.image.mime_type == "image/jpeg"
    decoded = open_image(image.image.image_bytes)
    assert (decoded.format, decoded.size) == ("JPEG", (108, 192))


def test_rai_filtered_shape(emu: Emulator, vertex: Any) -> None:
    emu.vertex.block_next()
    filtered = _imagen(vertex, include_rai_reason=True)
    (only,) = filtered.generated_images
    assert only.image is None or only.image.image_bytes is None
    assert only.rai_filtered_reason == RAI_FILTERED_REASON

    emu.vertex.block_next()
    silent = _imagen(vertex)
    assert not silent.generated_images


def test_imagen_no_image_answer_is_empty(emu: Emulator, vertex: Any) -> None:
    emu.vertex.no_image_next()
    assert not _imagen(vertex).generated_images


def test_gemini_on_vertex(
    emu: Emulator, vertex: Any, open_image: Callable[[bytes], Image.Image]
) -> None:
    response = vertex.models.generate_content(
        model="gemini-3-pro-image",
        contents=["a red fox"],
        config=types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="4:3", output_mime_type="image/jpeg"),
        ),
    )
    (part,) = response.candidates[0].content.parts
    assert part.inline_data.mime_type == "image/jpeg"
    assert open_image(part.inline_data.data).size == (128, 96)
    (recorded,) = emu.vertex.requests
    assert recorded.path == f"{PREFIX}/gemini-3-pro-image:generateContent"
    assert recorded.body["generationConfig"]["imageConfig"] == {
        "aspectRatio": "4:3",
        "imageOutputOptions": {"mimeType": "image/jpeg"},
    }

    emu.vertex.block_next("IMAGE_PROHIBITED_CONTENT")
    blocked = vertex.models.generate_content(model="gemini-3-pro-image", contents=["x"])
    assert blocked.candidates[0].finish_reason == types.FinishReason.IMAGE_PROHIBITED_CONTENT


@pytest.mark.parametrize(
    ("status", "error_type", "status_name"),
    [(429, "ClientError", "RESOURCE_EXHAUSTED"), (503, "ServerError", "UNAVAILABLE")],
)
def test_status_faults(
    emu: Emulator, vertex: Any, status: int, error_type: str, status_name: str
) -> None:
    emu.vertex.fail_next(status, model=IMAGEN)
    with pytest.raises(getattr(errors, error_type)) as caught:
        _imagen(vertex)
    assert (caught.value.code, caught.value.status) == (status, status_name)
    assert len(_imagen(vertex).generated_images) == 1


def test_unknown_and_retired_models(emu: Emulator, vertex: Any) -> None:
    emu.vertex.retired.add(IMAGEN)
    with pytest.raises(errors.ClientError) as caught:
        _imagen(vertex)
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert caught.value.message.startswith(
        f"Publisher Model `projects/test-project/locations/us-central1/publishers/google/models/"
        f"{IMAGEN}` was not found or your project does not have access to it."
    )
    names = [m.name for m in vertex.models.list()]
    assert f"publishers/google/models/{IMAGEN}" not in names
    assert "publishers/google/models/imagen-3.0-generate-002" in names


def test_predict_on_a_gemini_model_is_refused(vertex: Any) -> None:
    with pytest.raises(errors.ClientError) as caught:
        _imagen(vertex, model="gemini-3-pro-image")
    assert caught.value.code == 400
    assert "Gemini cannot be accessed through Vertex Predict" in caught.value.message


def test_wrong_token_and_wrong_project(emu: Emulator) -> None:
    for credentials, project, code in (
        (static_credentials("stale-token"), "test-project", 401),
        (static_credentials(emu.vertex.token), "someone-elses-project", 403),
    ):
        client = genai.Client(
            vertexai=True,
            project=project,
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=emu.vertex.url),
        )
        try:
            with pytest.raises(errors.ClientError) as caught:
                client.models.generate_content(model="gemini-3-pro-image", contents=["x"])
        finally:
            client.close()
        assert caught.value.code == code
    missing = httpx.post(f"{emu.vertex.url}{PREFIX}/{IMAGEN}:predict", json={})
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert missing.json()["error"]["details"][0]["reason"] == "CREDENTIALS_MISSING"


def test_env_points_unmodified_sdk_code_at_the_emulator(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    gemini = genai.Client()
    # Vertex mode reads the base URL and ADC file from the environment, but google-genai treats
    # an env-only custom base URL as a bare gateway: pass project and location explicitly.
    vertex = genai.Client(
        vertexai=True,
        project=emu.vertex.project,
        location=emu.vertex.location,
    )
    try:
        assert gemini.models.generate_content(model="gemini-3-pro-image", contents=["x"]).parts
        assert _imagen(vertex).generated_images
    finally:
        gemini.close()
        vertex.close()
    assert [r.service for r in emu.requests] == ["gemini", "vertex"]
    assert emu.vertex.requests[0].headers["authorization"] == "Bearer [secure]"
