"""A ComfyUI workflow as the emulator reads it: the node classes it runs, validation as
ComfyUI's ``execution.validate_prompt`` does it, and running a graph into pictures.

:data:`NODES` holds the core text-to-image and image-to-image nodes with the inputs ComfyUI's
``nodes.py`` gives them (checked against ``tests/definitions/comfyui.openapi.json``).
:class:`GraphChecker` returns what ``validate_prompt`` returns (``invalid_prompt``,
``prompt_no_outputs``, or ``prompt_outputs_failed_validation`` with errors by node:
``required_input_missing``, ``bad_linked_input``, ``return_type_mismatch``,
``invalid_input_type``, ``value_smaller_than_min``, ``value_bigger_than_max``,
``value_not_in_list``, ``custom_validation_failed``, ``exception_during_validation``).
:class:`GraphRunner` evaluates the graph: pictures are deterministic in the sampler's inputs
(seed, steps, cfg, sampler, scheduler, denoise, prompts, size, input image) and the
checkpoint's sha256.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ._images import (
    EditTransform,
    decode,
    encode,
    fit,
    long_side_for,
    ratio_size,
    render,
    seeded_rng,
)

__all__ = ["NODES", "GraphChecker", "GraphRunner", "NodeClass", "NodeFailed", "node_error"]

_MAX_RESOLUTION = 16384
_SAMPLERS = (
    "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
    "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde", "ddpm", "lcm", "ddim", "uni_pc",
)  # fmt: skip
_SCHEDULERS = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
)  # fmt: skip
_LINKED = ("MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK")


@dataclass(frozen=True)
class NodeClass:
    """An emulated node class: its required inputs (name -> ComfyUI type and options, or a
    list of allowed values), its outputs, and whether it is an output node."""

    inputs: dict[str, tuple[Any, dict[str, Any]]]
    returns: tuple[str, ...]
    output: bool = False


#: The node classes the emulator runs, with the inputs ComfyUI's nodes.py defines.
NODES: dict[str, NodeClass] = {
    "CheckpointLoaderSimple": NodeClass(
        {"ckpt_name": ("CHECKPOINTS", {})}, ("MODEL", "CLIP", "VAE")
    ),
    "CLIPTextEncode": NodeClass({"text": ("STRING", {}), "clip": ("CLIP", {})}, ("CONDITIONING",)),
    "EmptyLatentImage": NodeClass(
        {
            "width": ("INT", {"min": 16, "max": _MAX_RESOLUTION}),
            "height": ("INT", {"min": 16, "max": _MAX_RESOLUTION}),
            "batch_size": ("INT", {"min": 1, "max": 4096}),
        },
        ("LATENT",),
    ),
    "KSampler": NodeClass(
        {
            "model": ("MODEL", {}),
            "seed": ("INT", {"min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
            "steps": ("INT", {"min": 1, "max": 10000}),
            "cfg": ("FLOAT", {"min": 0.0, "max": 100.0}),
            "sampler_name": (list(_SAMPLERS), {}),
            "scheduler": (list(_SCHEDULERS), {}),
            "positive": ("CONDITIONING", {}),
            "negative": ("CONDITIONING", {}),
            "latent_image": ("LATENT", {}),
            "denoise": ("FLOAT", {"min": 0.0, "max": 1.0}),
        },
        ("LATENT",),
    ),
    "VAEDecode": NodeClass({"samples": ("LATENT", {}), "vae": ("VAE", {})}, ("IMAGE",)),
    "VAEEncode": NodeClass({"pixels": ("IMAGE", {}), "vae": ("VAE", {})}, ("LATENT",)),
    "LoadImage": NodeClass({"image": ("UPLOADED", {})}, ("IMAGE", "MASK")),
    "SaveImage": NodeClass(
        {"images": ("IMAGE", {}), "filename_prefix": ("STRING", {})}, (), output=True
    ),
    "PreviewImage": NodeClass({"images": ("IMAGE", {})}, (), output=True),
}


@dataclass
class Latent:
    """A latent: its pixel size, what the sampler made of it, and the picture it encodes."""

    size: tuple[int, int]
    key: tuple[Any, ...] = ()
    source: Image.Image | None = field(default=None, repr=False)


def node_error(kind: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    """One of ComfyUI's error objects: type, message, details, extra_info."""
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


class GraphChecker:
    """Validates a workflow against :data:`NODES`, the server's checkpoint files and its input
    files, as ``execution.validate_prompt`` does."""

    def __init__(self, checkpoints: Collection[str], has_input: Callable[[str], bool]) -> None:
        self.checkpoints = checkpoints
        self.has_input = has_input

    def validate(
        self, graph: dict[str, Any]
    ) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
        """(failed, error, good outputs, node_errors), as ``validate_prompt`` returns them."""
        outputs = []
        for node_id, node in graph.items():
            if not isinstance(node, dict) or "class_type" not in node:
                msg = "Cannot execute because a node is missing the class_type property."
                return True, node_error("invalid_prompt", msg, f"Node ID '#{node_id}'"), [], {}
            if node["class_type"] not in NODES:
                msg = f"Cannot execute because node {node['class_type']} does not exist."
                return True, node_error("invalid_prompt", msg, f"Node ID '#{node_id}'"), [], {}
            if NODES[node["class_type"]].output:
                outputs.append(node_id)
        if not outputs:
            return True, node_error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}
        validated: dict[str, tuple[bool, list[dict[str, Any]]]] = {}
        node_errors: dict[str, Any] = {}
        good, reasons_all = [], []
        for output in outputs:
            try:
                ok = self._validate_node(graph, output, validated)
            except KeyError as exc:
                ok = False
                validated[output] = (
                    False,
                    [
                        node_error(
                            "exception_during_validation",
                            "Exception when validating node",
                            str(exc),
                            exception_type="KeyError",
                            traceback=[],
                        )
                    ],
                )
            if ok:
                good.append(output)
                continue
            for node_id, (valid, reasons) in validated.items():
                if not valid and reasons:
                    entry = node_errors.setdefault(
                        node_id,
                        {
                            "errors": reasons,
                            "dependent_outputs": [],
                            "class_type": graph[node_id]["class_type"],
                        },
                    )
                    entry["dependent_outputs"].append(output)
                    reasons_all += [f"{r['message']}: {r['details']}" for r in reasons]
        if not good:
            error = node_error(
                "prompt_outputs_failed_validation",
                "Prompt outputs failed validation",
                "\n".join(dict.fromkeys(reasons_all)),
            )
            return True, error, [], node_errors
        return False, None, good, node_errors

    def _validate_node(
        self, graph: dict[str, Any], node_id: str, validated: dict[str, tuple[bool, list[Any]]]
    ) -> bool:
        if node_id in validated:
            return validated[node_id][0]
        node = graph[node_id]
        spec = NODES[node["class_type"]]
        inputs = node.get("inputs") or {}
        errors: list[dict[str, Any]] = []
        valid = True
        for name, (kind, limits) in spec.inputs.items():
            if name not in inputs:
                errors.append(
                    node_error(
                        "required_input_missing", "Required input is missing", name, input_name=name
                    )
                )
                continue
            value = inputs[name]
            if kind in _LINKED:
                valid &= self._check_link(graph, name, kind, value, errors, validated)
                continue
            problem = self._check_value(name, kind, limits, value)
            if problem is not None:
                errors.append(problem)
        validated[node_id] = (valid and not errors, errors)
        return valid and not errors

    def _check_link(
        self,
        graph: dict[str, Any],
        name: str,
        kind: str,
        value: Any,
        errors: list[dict[str, Any]],
        validated: dict[str, tuple[bool, list[Any]]],
    ) -> bool:
        if not isinstance(value, list) or len(value) != 2:
            errors.append(
                node_error(
                    "bad_linked_input",
                    "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    name,
                    input_name=name,
                    received_value=value,
                )
            )
            return True
        source = graph[str(value[0])]  # a missing node: KeyError, as ComfyUI's
        returns = NODES[source["class_type"]].returns
        received = (
            returns[value[1]] if isinstance(value[1], int) and value[1] < len(returns) else "?"
        )
        if received != kind:
            errors.append(
                node_error(
                    "return_type_mismatch",
                    "Return type mismatch between linked nodes",
                    f"{name}, received_type({received}) mismatch input_type({kind})",
                    input_name=name,
                )
            )
            return True
        return self._validate_node(graph, str(value[0]), validated)

    def _check_value(
        self, name: str, kind: Any, limits: dict[str, Any], value: Any
    ) -> dict[str, Any] | None:
        if kind == "CHECKPOINTS" or isinstance(kind, list):
            allowed = sorted(self.checkpoints) if kind == "CHECKPOINTS" else kind
            if value not in allowed:
                shown = f"(list of length {len(allowed)})" if len(allowed) > 20 else str(allowed)
                return node_error(
                    "value_not_in_list",
                    "Value not in list",
                    f"{name}: '{value}' not in {shown}",
                    input_name=name,
                    received_value=value,
                )
            return None
        if kind == "UPLOADED":
            if not self.has_input(str(value)):
                return node_error(
                    "custom_validation_failed",
                    "Custom validation failed for node",
                    f"{name} - Invalid image file: {value}",
                    input_name=name,
                )
            return None
        try:
            number = {"INT": int, "FLOAT": float, "STRING": str}[kind](value)
        except (TypeError, ValueError) as exc:
            return node_error(
                "invalid_input_type",
                f"Failed to convert an input value to a {kind} value",
                f"{name}, {value}, {exc}",
                input_name=name,
                received_value=value,
            )
        if "min" in limits and number < limits["min"]:
            return node_error(
                "value_smaller_than_min",
                f"Value {number} smaller than min of {limits['min']}",
                name,
                input_name=name,
                received_value=value,
            )
        if "max" in limits and number > limits["max"]:
            return node_error(
                "value_bigger_than_max",
                f"Value {number} bigger than max of {limits['max']}",
                name,
                input_name=name,
                received_value=value,
            )
        return None


class GraphRunner:
    """Runs a validated workflow: ``read_input(name)`` gives an uploaded file's bytes,
    ``save(folder, prefix, png)`` stores an output and returns its file name, ``transform``
    is the emulator's edit of a picture."""

    def __init__(
        self,
        checkpoints: Mapping[str, str],
        read_input: Callable[[str], bytes],
        save: Callable[[str, str, bytes], str],
        transform: EditTransform,
    ) -> None:
        self.checkpoints = checkpoints
        self.read_input = read_input
        self.save = save
        self.transform = transform

    def run(
        self, graph: dict[str, Any], outputs: list[str], failing: tuple[str | None, str] | None
    ) -> dict[str, Any]:
        """The outputs' files by node (``{node: {"images": [...]}}``); raises
        :class:`NodeFailed` for the node ``failing`` names (None: the first KSampler)."""
        results: dict[str, tuple[Any, ...]] = {}
        ui: dict[str, Any] = {}
        for output in outputs:
            self._evaluate(graph, output, results, ui, failing)
        return ui

    def _evaluate(
        self,
        graph: dict[str, Any],
        node_id: str,
        results: dict[str, tuple[Any, ...]],
        ui: dict[str, Any],
        failing: tuple[str | None, str] | None,
    ) -> tuple[Any, ...]:
        if node_id in results:
            return results[node_id]
        node = graph[node_id]
        kind, raw = node["class_type"], node.get("inputs", {})
        values = {
            name: self._evaluate(graph, str(value[0]), results, ui, failing)[value[1]]
            if isinstance(value, list)
            else value
            for name, value in raw.items()
        }
        if failing is not None and (
            failing[0] == node_id or (failing[0] is None and kind == "KSampler")
        ):
            raise NodeFailed(node_id, failing[1])
        try:
            results[node_id] = self._run_node(kind, node_id, values, ui)
        except ValueError as exc:  # an unreadable input image: the node fails, as ComfyUI's
            raise NodeFailed(node_id, str(exc)) from exc
        return results[node_id]

    def _run_node(
        self, kind: str, node_id: str, v: dict[str, Any], ui: dict[str, Any]
    ) -> tuple[Any, ...]:
        if kind == "CheckpointLoaderSimple":
            sha = self.checkpoints[v["ckpt_name"]]
            return (("model", sha), ("clip", sha), ("vae", sha))
        if kind == "CLIPTextEncode":
            return (("cond", v["clip"][1], str(v["text"])),)
        if kind == "EmptyLatentImage":
            return (Latent((int(v["width"]), int(v["height"]))),)
        if kind == "VAEEncode":
            return (Latent(v["pixels"].size, source=v["pixels"]),)
        if kind == "KSampler":
            latent: Latent = v["latent_image"]
            key = (
                v["model"][1],
                int(v["seed"]),
                int(v["steps"]),
                float(v["cfg"]),
                v["sampler_name"],
                v["scheduler"],
                float(v["denoise"]),
                v["positive"][2],
                v["negative"][2],
                latent.size,
                latent.key,
                None if latent.source is None else latent.source.tobytes()[:4096].hex(),
            )
            return (Latent(latent.size, key, latent.source),)
        if kind == "VAEDecode":
            return (self._picture(v["samples"]),)
        if kind == "LoadImage":
            return (decode(self.read_input(str(v["image"]))), None)
        # SaveImage / PreviewImage
        saved = kind == "SaveImage"
        prefix = str(v.get("filename_prefix") or "ComfyUI") if saved else "ComfyUI_temp"
        folder = "output" if saved else "temp"
        name = self.save(folder, prefix, encode(v["images"]))
        ui[node_id] = {"images": [{"filename": name, "subfolder": "", "type": folder}]}
        return ()

    def _picture(self, latent: Latent) -> Image.Image:
        width, height = latent.size
        size = ratio_size((width, height), long_side_for(width, height))
        rng = seeded_rng("comfyui", *latent.key) if latent.key else random.Random(0)
        prompt = str(latent.key[7]) if latent.key else "-"
        if latent.source is None:
            return render(prompt or "-", rng, size)
        return self.transform(fit(latent.source, size), prompt, rng)


class NodeFailed(Exception):
    """A node failed while running (an ``execution_error``)."""

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.message = message
