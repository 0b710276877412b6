"""The planned wire request is the request sent: for every provider and shape, what
``prepare()`` shows (path, method, JSON body or multipart form) equals what the emulator
received, byte for byte after decoding."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless.client import edit_request, generate_request
from seedless.models import ImageRequest
from seedless.testing import Emulator


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(buffer, format="PNG")
    return buffer.getvalue()


SOURCE, REFERENCE = _png((200, 120, 80)), _png((90, 160, 210))

CASES: dict[str, tuple[str, ImageRequest, dict[str, Any]]] = {
    "gemini generate": (
        "gemini",
        generate_request(
            "a red fox",
            model="gemini:gemini-3-pro-image",
            seed=7,
            aspect_ratio="16:9",
            size="2K",
            options={
                "temperature": 0.4,
                "thinking_level": "low",
                "include_thoughts": False,
                "system_instruction": "Photorealistic.",
                "safety_settings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
                ],
            },
        ),
        {"seed_policy": "best_effort"},
    ),
    "gemini edit with references": (
        "gemini",
        edit_request([SOURCE, REFERENCE], "make it darker", model="gemini:gemini-3-pro-image"),
        {},
    ),
    "vertex gemini with output options": (
        "vertex",
        generate_request(
            "a red fox",
            model="vertex:gemini-3-pro-image",
            output_mime_type="image/jpeg",
            options={
                "output_compression_quality": 80,
                "person_generation": "ALLOW_ADULT",
                "labels": {"team": "design"},
                "response_modalities": ["TEXT", "IMAGE"],
            },
        ),
        {},
    ),
    "vertex imagen seeded": (
        "vertex",
        generate_request(
            "a red fox",
            model="vertex:imagen-4.0-generate-001",
            n=2,
            seed=11,
            aspect_ratio="3:4",
            output_mime_type="image/jpeg",
            options={"output_compression_quality": 70, "person_generation": "allow_adult"},
        ),
        {"allow_retired": True},
    ),
    "openai flux generate": (
        "openai",
        generate_request(
            "a red fox", model="openai:flux-dev", seed=3, aspect_ratio="4:3", options={"steps": 20}
        ),
        {},
    ),
    "openai gpt-image generate": (
        "openai",
        generate_request(
            "a red fox", model="openai:gpt-image-2", size="1536x864", options={"quality": "high"}
        ),
        {},
    ),
    "openai flux edit (multipart)": (
        "openai",
        edit_request([SOURCE, REFERENCE], "blend", model="openai:flux-2-flex", seed=4),
        {},
    ),
    "forge txt2img": (
        "forge",
        generate_request(
            "a red fox",
            model="forge:checkpoint",
            seed=3,
            aspect_ratio="3:2",
            negative_prompt="blurry",
            options={
                "steps": 20,
                "cfg_scale": 6.5,
                "sampler_name": "Euler a",
                "checkpoint": "sd_xl_base_1.0",
            },
        ),
        {},
    ),
    "forge img2img": (
        "forge",
        edit_request(
            [SOURCE], "darker", model="forge:checkpoint", options={"denoising_strength": 0.3}
        ),
        {},
    ),
    "bfl flux-2 generate": (
        "bfl",
        generate_request(
            "a red fox",
            model="bfl:flux-2-flex",
            seed=3,
            aspect_ratio="4:3",
            output_mime_type="image/png",
            options={"steps": 20, "guidance": 4.5},
        ),
        {},
    ),
    "bfl flux.1 generate": (
        "bfl",
        generate_request(
            "a red fox",
            model="bfl:flux-dev",
            seed=3,
            size="1024x768",
            options={"safety_tolerance": 4},
        ),
        {},
    ),
    "stability sd3 generate (multipart without files)": (
        "stability",
        generate_request(
            "a red fox",
            model="stability:sd3.5-large",
            seed=3,
            aspect_ratio="16:9",
            negative_prompt="fog",
            output_mime_type="image/webp",
            options={"cfg_scale": 4.5, "style_preset": "photographic"},
        ),
        {},
    ),
    "stability ultra image-to-image": (
        "stability",
        edit_request(
            [SOURCE],
            "darker",
            model="stability:stable-image-ultra",
            seed=9,
            options={"strength": 0.4},
        ),
        {},
    ),
    "bfl kontext edit with references": (
        "bfl",
        edit_request(
            [SOURCE, REFERENCE], "blend", model="bfl:flux-kontext-max", seed=4, aspect_ratio="1:1"
        ),
        {},
    ),
}


def _canonical(value: Any, key: str = "") -> Any:
    """A JSON body in the proto3 JSON mapping's canonical form: lowerCamelCase names, and
    ``data`` fields as bytes. google-genai sends nested SDK objects with their Python names
    and URL-safe base64; Google's services read both spellings as the same message."""
    if isinstance(value, dict):
        return {_camel(k): _canonical(v, _camel(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(item, key) for item in value]
    if key == "data" and isinstance(value, str):
        return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_"))
    return value


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in (key, *_keys(item))]
    if isinstance(value, list):
        return [k for item in value for k in _keys(item)]
    return []


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _received(emu: Emulator, service: str) -> list[Any]:
    """The requests that carried the planned bodies (BFL's polls are planned by its send)."""
    if service == "bfl":
        return [r for r in emu.bfl.requests if r.method == "POST"]
    services = {"gemini": emu.gemini, "vertex": emu.vertex, "openai": emu.openai}
    return {**services, "forge": emu.forge, "stability": emu.stability}[service].requests


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_planned_request_is_the_request_sent(
    case: str, make_client: Callable[..., seedless.AsyncClient], emu: Emulator
) -> None:
    service, request, policy = CASES[case]
    client = make_client()
    prepared = client.prepare(request, **policy)
    assert _received(emu, service) == []  # planning sent nothing
    await client.execute(prepared)

    received = _received(emu, service)
    assert len(received) == len(prepared.calls)
    for call, got in zip(prepared.calls, received, strict=True):
        wire = call.wire
        assert (got.method, got.path) == (wire.method, wire.path)
        if wire.shape in ("generate_content", "predict"):  # the plan itself is canonical
            assert not [key for key in _keys(wire.json) if "_" in key]
        if wire.json is not None:
            assert _canonical(got.body) == _canonical(wire.body())
        else:
            files = {part.name: part for part in wire.files}
            form = {k: v for k, v in (got.form or {}).items() if k not in files}
            assert form == dict(wire.form or {})
            if files:
                sent = got.form[next(iter(files))]
                sent = sent if isinstance(sent, list) else [sent]
                assert [f.sha256 for f in sent] == [
                    hashlib.sha256(part.data).hexdigest() for part in wire.files
                ]
        for name, value in wire.headers.items():
            if value != "[secure]":
                assert got.headers[name.lower()] == value


def test_a_printed_plan_shows_the_body_and_no_secret(emu: Emulator) -> None:
    endpoints = [
        e.model_copy(update={"headers": {"X-Relay-Token": "relay-secret-24680"}})
        if e.name == "openai"
        else e
        for e in emu.endpoints()
    ]
    client = seedless.Client(endpoints=endpoints)
    prepared = client.prepare(edit_request([SOURCE], "darker", model="openai:flux-2-flex", seed=5))
    shown = str(prepared.calls[0].wire)
    assert shown.startswith(f"POST {emu.openai.url}/images/edits")
    assert "seed=5" in shown and "prompt=darker" in shown and "image=<" in shown
    assert "Authorization: Bearer [secure]" in shown
    assert "X-Relay-Token: [secure]" in shown
    for secret in ("relay-secret-24680", emu.openai.api_key):
        assert secret not in shown and secret not in repr(prepared)
    client.close()


async def test_the_planned_comfyui_workflow_is_the_one_queued(
    make_client: Callable[..., seedless.AsyncClient], emu: Emulator
) -> None:
    """ComfyUI's plan is the ``/prompt`` body plus the uploads that go first: both as sent."""
    from seedless.providers.comfyui import workflow_options

    workflow = {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "10": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 0, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 0.6, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["11", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "t", "images": ["8", 0]}},
    }  # fmt: skip
    mapping = {"prompt": "6.text", "negative_prompt": "7.text", "seed": "3.seed",
               "image": "10.image", "steps": "3.steps", "output": "9"}  # fmt: skip
    request = edit_request(
        [SOURCE], "darker", model="comfyui:workflow", seed=11, negative_prompt="blur",
        options=workflow_options(workflow, mapping, steps=12),
    )  # fmt: skip
    client = make_client()
    prepared = client.prepare(request)
    assert emu.comfyui.requests == []
    await client.execute(prepared)
    wire = prepared.calls[0].wire
    queued = [r for r in emu.comfyui.requests if r.path == "/prompt"]
    uploads = [r for r in emu.comfyui.requests if r.path == "/upload/image"]
    assert len(queued) == 1 and queued[0].body == wire.body()
    assert [u.form["image"].sha256 for u in uploads] == [p.sha256 for p in wire.files]
    assert [u.form["image"].filename for u in uploads] == [p.filename for p in wire.files]
