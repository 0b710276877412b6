"""The ``comfyui`` provider, end to end through its emulator: a workflow with a mapping runs
(upload, queue, history polls, download); the same seed gives the same bytes; a bad mapping
is refused before anything is queued; the server's refusals and failures name the node."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import seedless
from seedless import HostChangedWarning, Recipe, WorkflowError
from seedless.client import edit_request, generate_request
from seedless.drift import check, list_models
from seedless.errors import RequestError
from seedless.providers.comfyui import workflow_options
from seedless.strategies import replay
from seedless.testing import Emulator

TODAY = date(2026, 11, 25)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "comfyui"
TXT2IMG = json.loads((EXAMPLES / "txt2img.json").read_text())
IMG2IMG = json.loads((EXAMPLES / "img2img.json").read_text())
MAPPING = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "seed": "3.seed",
    "width": "5.width",
    "height": "5.height",
}
ClientFactory = Callable[..., seedless.AsyncClient]


def _ask(mapping: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    return {
        "model": "comfyui:workflow",
        "options": workflow_options(TXT2IMG, mapping or MAPPING, **options),
    }


async def test_a_workflow_with_a_mapping_runs(client: seedless.AsyncClient, emu: Emulator) -> None:
    prepared = client.prepare(generate_request("a red fox", seed=42, size="768x512", **_ask()))
    graph = prepared.calls[0].wire.json["prompt"]
    assert graph["6"]["inputs"]["text"] == "a red fox" and graph["3"]["inputs"]["seed"] == 42
    assert (graph["5"]["inputs"]["width"], graph["5"]["inputs"]["height"]) == (768, 512)
    assert graph["3"]["inputs"]["model"] == ["4", 0]  # links untouched
    assert emu.comfyui.requests == []  # planning sends nothing
    image = (await client.execute(prepared)).image
    asked = [(r.method, r.path) for r in emu.comfyui.requests]
    prompt_id = emu.comfyui.requests[1].path.rsplit("/", 1)[-1]
    assert asked == [
        ("POST", "/prompt"),
        ("GET", f"/history/{prompt_id}"),  # queued: {}
        ("GET", f"/history/{prompt_id}"),  # done
        ("GET", "/view"),
        ("GET", "/system_stats"),
    ]
    assert emu.comfyui.requests[3].query == {
        "filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"
    }  # fmt: skip
    assert (image.seed, image.seed_mode, image.cost_usd, image.mime_type) == (
        42, "seeded", 0.0, "image/png",
    )  # fmt: skip
    assert image.host == {
        "version": "0.3.64",
        "pytorch": "2.8.0+cu128",
        "device": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
    }
    assert image.sent["prompt_id"] == prompt_id and image.request["options"]["workflow"] == TXT2IMG


async def test_the_same_seed_twice_gives_identical_bytes(client: seedless.AsyncClient) -> None:
    first = (await client.generate("a red fox", seed=7, **_ask())).image
    second = (await client.generate("a red fox", seed=7, **_ask())).image
    other = (await client.generate("a red fox", seed=8, **_ask())).image
    assert first.data == second.data and other.data != first.data


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({**MAPPING, "seed": "30.seed"}, "names node '30', which is not in the workflow"),
        ({**MAPPING, "seed": "3.sed"}, "names input 'sed' of node '3' \\(KSampler\\)"),
        ({**MAPPING, "prompt": "3.positive"}, "is wired to node '6'"),
        ({**MAPPING, "colour": "3.cfg"}, "has role 'colour'"),
        ({**MAPPING, "output": "99"}, "names node '99'"),
        ({"prompt": "6.text"}, "has a seed, and options\\['mapping'\\] has no 'seed'"),
        ({**MAPPING, "seed": "three"}, "give 'node.input'"),
    ],
)
def test_a_bad_mapping_is_refused_before_anything_is_queued(
    client: seedless.AsyncClient, emu: Emulator, mapping: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestError, match=message):
        client.prepare(generate_request("a fox", seed=1, **_ask(mapping)))
    assert emu.comfyui.requests == []


def test_request_values_need_a_place(client: seedless.AsyncClient) -> None:
    small = {"prompt": "6.text", "seed": "3.seed"}
    with pytest.raises(RequestError, match=r"gives a size, and .* has no 'width'"):
        client.prepare(generate_request("x", size="512x512", **_ask(small)))
    with pytest.raises(RequestError, match=r"options\['steps'\].* has no 'steps'"):
        client.prepare(generate_request("x", **_ask(small, steps=30)))
    with pytest.raises(RequestError, match="API format"):
        not_api = {"workflow": {"1": {"inputs": {}}}, "mapping": small}
        client.prepare(generate_request("x", model="comfyui:workflow", options=not_api))
    with pytest.raises(seedless.UnsupportedCapabilityError, match="option 'steps' takes at most"):
        client.prepare(generate_request("x", **_ask({**small, "steps": "3.steps"}, steps=10**6)))
    mapped = client.prepare(generate_request("x", **_ask({**small, "steps": "3.steps"}, steps=30)))
    assert mapped.calls[0].wire.json["prompt"]["3"]["inputs"]["steps"] == 30


async def test_an_edit_uploads_its_input_and_replays(
    client: seedless.AsyncClient, emu: Emulator, pictures: tuple[bytes, bytes, bytes]
) -> None:
    source = pictures[0]
    options = workflow_options(IMG2IMG, {**MAPPING, "image": "10.image"}, denoise=0.5)
    del options["mapping"]["width"], options["mapping"]["height"]
    options["mapping"]["denoise"] = "3.denoise"
    ask = {"model": "comfyui:workflow", "seed": 5, "options": options}
    prepared = client.prepare(edit_request([source], "moody dusk", **ask))
    wire = prepared.calls[0].wire
    name = wire.files[0].filename
    assert name.startswith("seedless-") and wire.json["prompt"]["10"]["inputs"]["image"] == name
    assert f"image=<{name}: image/png" in str(wire)
    first = (await client.execute(prepared)).image
    second = (await client.edit([source], "moody dusk", **ask)).image
    assert first.data == second.data
    uploads = [r for r in emu.comfyui.requests if r.path == "/upload/image"]
    assert len(uploads) == 2 and uploads[0].form["overwrite"] == "true"
    assert emu.comfyui.files[("input", "", name)] == source
    with pytest.raises(RequestError, match=r"has 2 input images .* places 1"):
        client.prepare(edit_request([source, pictures[1]], "x", **ask))
    with pytest.raises(RequestError, match="has no 'image'"):
        client.prepare(edit_request([source], "x", seed=1, **_ask()))


async def test_the_servers_refusal_names_the_node(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    mapping = {**MAPPING, "sampler_name": "3.sampler_name"}
    with pytest.raises(WorkflowError, match=r"node 3 \(KSampler\): Value not in list") as caught:
        await client.generate("x", seed=1, **_ask(mapping, sampler_name="euler_b"))
    assert list(caught.value.node_errors) == ["3"] and not caught.value.retryable
    assert [r.path for r in emu.comfyui.requests] == ["/prompt"]  # refused once, not retried
    broken = json.loads(json.dumps(TXT2IMG))
    broken["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    with pytest.raises(WorkflowError, match=r"node 4 \(CheckpointLoaderSimple\)") as caught:
        await client.generate("x", model="comfyui:workflow", seed=1,
                              options=workflow_options(broken, MAPPING))  # fmt: skip
    assert "missing.safetensors" in caught.value.node_errors["4"][0]


async def test_a_failure_while_running_names_the_node(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    emu.comfyui.fail_node_next("3", "CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(WorkflowError, match=r"failed running node 3 \(KSampler\).*out of memory"):
        await client.generate("x", seed=1, **_ask())
    assert (await client.generate("x", seed=1, **_ask())).image.seed == 1  # the next one runs


async def test_without_a_seed_the_workflows_own_is_recorded_and_replayed(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    made = (await client.generate("a kite", **_ask())).image
    assert made.seed == TXT2IMG["3"]["inputs"]["seed"] and made.sent["seed"] == made.seed
    recipe = Recipe.from_result(made)
    assert recipe.parameters["options"]["workflow"] == TXT2IMG  # the graph travels in the recipe
    sent = len(emu.comfyui.requests)
    again = await replay(client, recipe)
    assert again[0].data == made.data
    queued = [r for r in emu.comfyui.requests[sent:] if r.path == "/prompt"]
    assert queued[0].body == next(r for r in emu.comfyui.requests if r.path == "/prompt").body


async def test_a_replay_on_another_comfyui_warns(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    recipe = Recipe.from_result((await client.generate("a kite", seed=3, **_ask())).image)
    emu.comfyui.version = "0.3.70"
    emu.comfyui.device = "cuda:0 NVIDIA H100"
    with pytest.warns(HostChangedWarning, match=r"device: .*4090.* -> cuda:0 NVIDIA H100") as seen:
        await replay(client, recipe)
    assert "version: 0.3.64 -> 0.3.70" in str(seen[0].message)


def test_workflow_options_reads_a_file() -> None:
    options = workflow_options(str(EXAMPLES / "txt2img.json"), MAPPING, steps=30)
    assert options == {"workflow": TXT2IMG, "mapping": MAPPING, "steps": 30}


async def test_models_check_lists_the_checkpoint_files(emu: Emulator) -> None:
    endpoint = next(e for e in emu.endpoints() if e.name == "comfyui")
    served = await list_models(endpoint)
    assert served == ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
    assert check(seedless.capabilities(), endpoint, served, today=TODAY).clean


async def test_an_output_larger_than_the_cap_is_refused(
    emu: Emulator, make_client: ClientFactory
) -> None:
    from seedless.errors import ProviderError
    from seedless.providers.comfyui import ComfyUIProvider

    endpoint = next(e for e in emu.endpoints() if e.name == "comfyui")
    client = make_client(providers={"comfyui": ComfyUIProvider(endpoint, max_download_bytes=100)})
    with pytest.raises(ProviderError, match="served more than 100 bytes for /view"):
        await client.generate("x", seed=1, **_ask())
