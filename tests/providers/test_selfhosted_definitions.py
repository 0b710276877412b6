"""The self-hosted providers and emulators against the servers' own definitions.

``tests/definitions/sdapi.openapi.json`` is the AUTOMATIC1111/Forge web API as derived from
Forge's sources (``tests/definitions/derive_sdapi.py``). Checked here with jsonschema
(Draft 2020-12), closed-world for requests (the server ignores a field it does not define,
which would silently drop a setting): what the provider plans, what the emulator answers, and
that the emulator's request models are the definition's.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from PIL import Image

import seedless
from seedless.client import edit_request, generate_request
from seedless.testing import Emulator
from seedless.testing._forge import SDAPI_FIELDS

DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"
SDAPI = json.loads((DEFINITIONS / "sdapi.openapi.json").read_text())
SCHEMAS = SDAPI["components"]["schemas"]
REQUESTS = {
    "/sdapi/v1/txt2img": "StableDiffusionProcessingTxt2Img",
    "/sdapi/v1/img2img": "StableDiffusionProcessingImg2Img",
}


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png((120, 80, 40))


def _validator(name: str, *, closed: bool = False) -> Draft202012Validator:
    schema = copy.deepcopy(SCHEMAS[name])
    if closed:
        schema["additionalProperties"] = False
    schema["components"] = SDAPI["components"]  # for $refs
    return Draft202012Validator(schema)


def _problems(name: str, value: Any, *, closed: bool = False) -> list[str]:
    errors = _validator(name, closed=closed).iter_errors(value)
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_the_emulator_defines_the_fields_the_definition_does() -> None:
    for path, name in REQUESTS.items():
        defined = SCHEMAS[name]["properties"]
        assert set(SDAPI_FIELDS[path]) == set(defined), path
        for field, (kind, default) in SDAPI_FIELDS[path].items():
            types = defined[field].get("type")
            assert kind == (types[0] if isinstance(types, list) else types), field
            assert default == defined[field]["default"], field


@pytest.mark.parametrize(
    "request_",
    [
        generate_request("a fox", model="forge:checkpoint"),
        generate_request(
            "a fox", model="forge:checkpoint", seed=4294967295, size="1024x768",
            negative_prompt="blur", options={
                "steps": 30, "cfg_scale": 5, "sampler_name": "DPM++ 2M", "scheduler": "Karras",
                "distilled_cfg_scale": 3.5, "subseed": 5, "subseed_strength": 0.2,
                "styles": ["cinematic"], "restore_faces": False, "tiling": False,
                "checkpoint": "sd_xl_base_1.0", "alwayson_scripts": {},
                "override_settings": {"CLIP_stop_at_last_layers": 2},
            },
        ),
        edit_request([PNG], "darker", model="forge:checkpoint", seed=1,
                     options={"denoising_strength": 0.5, "resize_mode": 1}),
    ],
    ids=["minimal", "every-option", "img2img"],
)  # fmt: skip
def test_planned_bodies_are_defined_fields_of_the_right_types(request_: Any) -> None:
    with seedless.Client() as client:
        wire = client.prepare(request_).calls[0].wire
    assert wire.path in REQUESTS
    assert _problems(REQUESTS[wire.path], wire.body(), closed=True) == []


def test_the_emulator_answers_as_defined(emu: Emulator) -> None:
    url = emu.forge.url
    answer = httpx.post(f"{url}/sdapi/v1/txt2img", json={"prompt": "x", "seed": 3}).json()
    assert _problems("TextToImageResponse", answer) == []
    assert _problems("StableDiffusionProcessingTxt2Img", answer["parameters"], closed=True) == []
    info = json.loads(answer["info"])
    assert (info["seed"], info["all_seeds"], info["sd_model_hash"]) == (3, [3], "6ce0161689")
    models = httpx.get(f"{url}/sdapi/v1/sd-models").json()
    assert [_problems("SDModelItem", item) for item in models] == [[], []]
    assert _problems("Options", httpx.get(f"{url}/sdapi/v1/options").json()) == []
    invalid = httpx.post(f"{url}/sdapi/v1/txt2img", json={"steps": "many", "width": []})
    assert invalid.status_code == 422
    assert _problems("HTTPValidationError", invalid.json()) == []
    assert [e["loc"] for e in invalid.json()["detail"]] == [["body", "steps"], ["body", "width"]]
    missing = httpx.post(f"{url}/sdapi/v1/img2img", json={"prompt": "x"})
    assert missing.status_code == 404 and _problems("HTTPException", missing.json()) == []
    emu.forge.flavour = "a1111"
    missing = httpx.post(f"{url}/sdapi/v1/img2img", json={"prompt": "x"})
    assert _problems("A1111Error", missing.json()) == []
    emu.forge.auth = ("u", "p")
    refused = httpx.get(f"{url}/sdapi/v1/options")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Basic"
    assert _problems("HTTPException", refused.json()) == []


COMFY = json.loads((DEFINITIONS / "comfyui.openapi.json").read_text())


def _comfy(name: str, value: Any, *, closed: bool = False) -> list[str]:
    schema = copy.deepcopy(COMFY["components"]["schemas"][name])
    if closed:
        schema["additionalProperties"] = False
        node = schema["properties"]["prompt"]["additionalProperties"]
        node["additionalProperties"] = False
    schema["components"] = COMFY["components"]
    errors = Draft202012Validator(schema).iter_errors(value)
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_the_emulated_nodes_are_comfyuis() -> None:
    from seedless.testing._comfy_graph import NODES

    defined = COMFY["x-nodes"]
    assert set(NODES) == set(defined)
    for name, node in NODES.items():
        assert list(node.inputs) == list(defined[name]["inputs"]), name
        assert list(node.returns) == defined[name]["returns"], name
        assert node.output == defined[name].get("output_node", False), name


async def test_comfyui_requests_and_answers_are_as_defined(emu: Emulator) -> None:
    from seedless.providers.comfyui import workflow_options

    examples = Path(__file__).resolve().parents[2] / "examples" / "comfyui"
    workflow = json.loads((examples / "img2img.json").read_text())
    mapping = {"prompt": "6.text", "seed": "3.seed", "image": "10.image"}
    request = edit_request([PNG], "dusk", model="comfyui:workflow", seed=2,
                           options=workflow_options(workflow, mapping))  # fmt: skip
    with seedless.Client(endpoints=emu.endpoints()) as client:
        wire = client.prepare(request).calls[0].wire
        assert _comfy("QueuePrompt", wire.body(), closed=True) == []
        client.run(request)
    url = emu.comfyui.url
    answers = [(r.path, r) for r in emu.comfyui.requests]
    assert [path for path, _ in answers][:2] == ["/upload/image", "/prompt"]
    async with httpx.AsyncClient(base_url=url) as http:
        history = (await http.get(answers[-3][0])).json()
        upload = await http.post("/upload/image", files={"image": ("a.png", PNG, "image/png")})
        refused = await http.post("/prompt", json={"prompt": {"1": {"class_type": "SaveImage",
                                                                      "inputs": {}}}})  # fmt: skip
        stats = (await http.get("/system_stats")).json()
        missing = await http.post("/api/prompt", json={"client_id": "x"})
    assert [_comfy("HistoryEntry", entry) for entry in history.values()] == [[]]
    assert _comfy("Uploaded", upload.json()) == [] and upload.json()["name"] == "a.png"
    assert refused.status_code == 400 and _comfy("PromptError", refused.json()) == []
    assert refused.json()["node_errors"]["1"]["errors"][0]["type"] == "required_input_missing"
    assert _comfy("SystemStats", stats) == []
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "no_prompt"
