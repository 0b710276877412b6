"""The ``comfyui`` provider: a workflow you built in ComfyUI, run on your own ComfyUI server.

The request carries the workflow in ComfyUI's API format (``Export (API)``: node id ->
``{class_type, inputs}``) and a mapping of where the request goes in it::

    options={
        "workflow": {...},
        "mapping": {"prompt": "6.text", "negative_prompt": "7.text", "seed": "3.seed",
                    "width": "5.width", "height": "5.height", "image": "10.image",
                    "steps": "3.steps", "output": "9"},
        "steps": 30,
    }

A target is ``"node.input"`` (or ``[node, input]``), or a list of them that all get the value;
``images`` lists one target per input image, in order (``image`` is the first); ``output`` names
the node whose images come back (default: every ``SaveImage``-style output). Options other
than ``workflow`` and ``mapping`` (``steps``, ``cfg``, ``sampler_name``, ``scheduler``,
``denoise``) go where the mapping says. :meth:`ComfyUIProvider.plan` checks the mapping
against the workflow (a node or input that does not exist, an input wired to another node,
a request value with no place) and refuses, naming it, before anything is uploaded or queued.
The workflow is part of the request: hashed, cached, recorded in results and recipes, so a
replay sends the same graph.

Sending: each input image is uploaded (``POST /upload/image``, under a name made from its
sha256, so the planned graph already names it and a retried upload overwrites the same
file), the graph is queued (``POST /prompt``), and the client polls ``GET /history/{id}``
under its retry policy until the outputs are there; they are downloaded with ``GET /view``.
A workflow the server refuses (400 with ``node_errors``) or fails while running
(``execution_error``) is a :class:`~seedless.WorkflowError` naming each node at fault. The
host fingerprint (ComfyUI and PyTorch versions, the device) comes from ``GET /system_stats``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import (
    NoImageError,
    ProviderError,
    RequestError,
    ServerError,
    WorkflowError,
    redact,
)
from ..images import sniff_mime
from ._http import error_json, error_text, short
from ._selfhosted import DEFAULT_MAX_DOWNLOAD_BYTES, SD_SIZE_RULE, SelfHostedHTTP
from ._sizes import pixel_size
from .base import ProviderReply, RawImage, WireFile, WireRequest

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint
    from ..models import ImageRequest

__all__ = ["DEFAULT_COMFYUI_URL", "ROLES", "ComfyUIProvider", "workflow_options"]

#: Where the ``comfyui`` endpoint goes when neither base_url nor SEEDLESS_COMFYUI_URL is set.
DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
#: Mapping roles filled from the request itself (options fill roles of their own names).
ROLES = ("prompt", "negative_prompt", "seed", "width", "height", "image", "images", "output")
_WORKFLOW_KEYS = frozenset({"workflow", "mapping"})
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}

Target = tuple[str, str]


def workflow_options(
    workflow: Mapping[str, Any] | str | os.PathLike[str],
    mapping: Mapping[str, Any],
    **values: Any,
) -> dict[str, Any]:
    """``options`` for a ComfyUI request: the workflow (a mapping, or the path of a JSON file
    saved with ``Export (API)``), its mapping, and option values (``steps=30`` ...)."""
    graph = (
        json.loads(Path(workflow).read_text(encoding="utf-8"))
        if isinstance(workflow, (str, os.PathLike))
        else dict(workflow)
    )
    return {"workflow": graph, "mapping": dict(mapping), **values}


# ------------------------------------------------------------------------------- the mapping


def _target(role: str, raw: Any) -> Target:
    pair = isinstance(raw, (list, tuple)) and len(raw) == 2
    if pair and all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in raw):
        return str(raw[0]), str(raw[1])
    if isinstance(raw, str) and "." in raw.strip(".") and not raw.endswith("."):
        node, _, name = raw.rpartition(".")
        return node, name
    raise RequestError(
        f"options['mapping'][{role!r}] is {raw!r}: give 'node.input' (e.g. '3.seed') or "
        "[node, input], or a list of them."
    )


def _targets(role: str, raw: Any) -> list[Target]:
    """One target (``"3.seed"``, ``["3", "seed"]``) or a list of them, as a list."""
    if (
        isinstance(raw, (list, tuple))
        and raw
        and all(isinstance(i, (list, tuple)) or (isinstance(i, str) and "." in i) for i in raw)
    ):
        return [_target(role, item) for item in raw]
    return [_target(role, raw)]


class _Workflow:
    """A workflow (API format) and checks of the places a mapping names in it."""

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict) or not raw:
            raise RequestError(
                "options['workflow'] must be a workflow in ComfyUI's API format (in ComfyUI: "
                "Workflow > Export (API)): a mapping of node id -> {class_type, inputs}."
            )
        for node_id, node in raw.items():
            if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
                raise RequestError(
                    f"options['workflow'] node {node_id!r} has no class_type: is it in the API "
                    "format (Export (API)), not the UI's workflow format?"
                )
            if not isinstance(node.get("inputs", {}), dict):
                raise RequestError(f"options['workflow'] node {node_id!r}: inputs is not a mapping")
        self.graph: dict[str, Any] = copy.deepcopy(raw)

    def describe_nodes(self) -> str:
        shown = [f"{k} {v['class_type']}" for k, v in list(self.graph.items())[:12]]
        more = ", ..." if len(self.graph) > 12 else ""
        return ", ".join(shown) + more

    def node(self, role: str, node_id: str) -> dict[str, Any]:
        node = self.graph.get(node_id)
        if node is None:
            raise RequestError(
                f"options['mapping'][{role!r}] names node {node_id!r}, which is not in the "
                f"workflow (its nodes: {self.describe_nodes()}). Nothing was queued."
            )
        return node  # type: ignore[no-any-return]

    def check(self, role: str, target: Target) -> None:
        node_id, name = target
        node = self.node(role, node_id)
        inputs = node.setdefault("inputs", {})
        if name not in inputs:
            known = ", ".join(sorted(inputs)) or "none"
            raise RequestError(
                f"options['mapping'][{role!r}] names input {name!r} of node {node_id!r} "
                f"({node['class_type']}), which has no such input (its inputs: {known}). "
                "Nothing was queued."
            )
        if isinstance(inputs[name], list):
            raise RequestError(
                f"options['mapping'][{role!r}]: input {name!r} of node {node_id!r} "
                f"({node['class_type']}) is wired to node {inputs[name][0]!r}; map the node "
                "that holds the value instead."
            )

    def value(self, target: Target) -> Any:
        return self.graph[target[0]]["inputs"][target[1]]

    def put(self, targets: list[Target], value: Any) -> None:
        for node_id, name in targets:
            self.graph[node_id]["inputs"][name] = value


class _Plan:
    """Where each request value goes, checked (the pure part of planning)."""

    def __init__(self, request: ImageRequest, spec: ModelSpec) -> None:
        options = dict(request.options)
        self.flow = _Workflow(options.get("workflow"))
        raw = options.get("mapping")
        if not isinstance(raw, dict) or not raw:
            raise RequestError(
                "options['mapping'] must say where the request goes in the workflow, e.g. "
                "{'prompt': '6.text', 'seed': '3.seed'} (node id . input name)."
            )
        allowed = set(ROLES) | (set(spec.accepted_options()) - _WORKFLOW_KEYS)
        self.targets: dict[str, list[Target]] = {}
        self.output: str | None = None
        for role, where in raw.items():
            if role not in allowed:
                raise RequestError(
                    f"options['mapping'] has role {role!r}; roles are {', '.join(sorted(allowed))}."
                )
            if role == "output":
                self.output = str(where)
                self.flow.node(role, self.output)
                continue
            self.targets[role] = _targets(role, where)
            for target in self.targets[role]:
                self.flow.check(role, target)
        if "image" in self.targets and "images" in self.targets:
            raise RequestError("options['mapping'] has both 'image' and 'images': give one.")
        self.options = {k: v for k, v in options.items() if k not in _WORKFLOW_KEYS}

    def place(self, role: str, value: Any, *, why: str) -> bool:
        """Put ``value`` where ``role`` goes; refuse a request value that has no place."""
        targets = self.targets.get(role)
        if targets is None:
            raise RequestError(
                f"{why}, and options['mapping'] has no {role!r}: add "
                f"mapping[{role!r}] = 'node.input' (the workflow's nodes: "
                f"{self.flow.describe_nodes()})."
            )
        self.flow.put(targets, value)
        return True


# --------------------------------------------------------------------------------- provider


class ComfyUIProvider:
    """One ComfyUI server: plan the ``/prompt`` body from a workflow and its mapping, upload
    inputs, queue, poll the history, download the outputs.

    Args:
        endpoint: the profile (base URL; ``api_key`` as ``user:password`` when a proxy in
            front of the server asks for HTTP basic auth; headers; timeout).
        max_download_bytes: largest output image read (streamed, refused past it).
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.max_download_bytes = max_download_bytes
        self.http = SelfHostedHTTP(
            endpoint,
            default_url=DEFAULT_COMFYUI_URL,
            owner=type(self).__name__,
            max_download_bytes=max_download_bytes,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"<ComfyUIProvider {self.http!r}>"

    # ------------------------------------------------------------------ planning (no I/O)

    def plan(self, request: ImageRequest, spec: ModelSpec) -> WireRequest:
        """The exact ``POST /prompt`` body (the workflow with the request's values in place)
        and the input images to upload first. No I/O; every mapping problem is refused here."""
        plan = _Plan(request, spec)
        sent: dict[str, Any] = {}
        if request.prompt:
            plan.place("prompt", request.prompt, why="the request has a prompt")
        elif getattr(request, "effect", None) is not None:
            text = str(request.effect.describe())  # type: ignore[union-attr]
            plan.place("prompt", text, why="the edit has an effect to describe")
            sent["prompt_from_effect"] = text
        if request.negative_prompt:
            plan.place("negative_prompt", request.negative_prompt, why="the request has one")
        seed = request.seed
        if seed is not None:
            plan.place("seed", seed, why="the request has a seed")
        elif "seed" in plan.targets:  # the workflow's own seed is the one used: record it
            seed = plan.flow.value(plan.targets["seed"][0])
            sent["seed"] = seed
        dims = pixel_size(request, spec, SD_SIZE_RULE)
        if dims is not None:
            plan.place("width", dims[0], why="the request gives a size")
            plan.place("height", dims[1], why="the request gives a size")
            sent.update(width=dims[0], height=dims[1])
        for name, value in plan.options.items():
            if value is not None:
                plan.place(name, value, why=f"the request has options[{name!r}]")
        files = self._inputs(request, plan)
        if files:
            sent["uploads"] = [part.filename for part in files]
        return WireRequest(
            provider=spec.provider,
            model=spec.key,
            shape="comfy_prompt",
            method="POST",
            url=redact(self.http.url("/prompt")),
            path="/prompt",
            headers=self.http.shown_headers(),
            json={"prompt": plan.flow.graph},
            files=files,
            chosen=sent,
            extensions={"output": plan.output, "seed": seed if isinstance(seed, int) else None},
        )

    @staticmethod
    def _inputs(request: ImageRequest, plan: _Plan) -> tuple[WireFile, ...]:
        """The uploads, named by content, placed where ``image``/``images`` say."""
        images = getattr(request, "images", ())
        if not images:
            return ()
        targets = plan.targets.get("images") or plan.targets.get("image")
        if targets is None:
            raise RequestError(
                "the request has input images, and options['mapping'] has no 'image' (or "
                "'images', one target per image): add e.g. mapping['image'] = '10.image' "
                "(a LoadImage node)."
            )
        if "image" in plan.targets:
            targets = targets[:1]
        if len(images) > len(targets):
            raise RequestError(
                f"the request has {len(images)} input images and options['mapping'] places "
                f"{len(targets)}: list one target per image in mapping['images']."
            )
        files = []
        for image, target in zip(images, targets, strict=False):
            name = f"seedless-{image.sha256[:24]}{_EXTENSIONS.get(image.mime_type, '.png')}"
            plan.flow.put([target], name)
            files.append(WireFile("image", name, image.mime_type, image.data))
        return tuple(files)

    # ------------------------------------------------------------------ sending

    async def send(self, wire: WireRequest, spec: ModelSpec) -> ProviderReply:
        """Upload and queue a planned request (the reply is a history poll to follow), or
        poll one (the reply has the images once the history has the outputs)."""
        if wire.path.startswith("/history/"):
            return await self._poll(wire, spec.provider)
        graph = await self._upload(wire, spec.provider)
        response = await self.http.request(
            "POST", "/prompt", provider=spec.provider, json={**(wire.json or {}), "prompt": graph}
        )
        payload = self._answer(response, spec.provider)
        prompt_id = payload.get("prompt_id") if isinstance(payload, dict) else None
        if not isinstance(prompt_id, str) or not prompt_id:
            raise ServerError(f"{spec.provider} queued the workflow without a prompt_id.")
        follow = WireRequest(
            provider=wire.provider,
            model=wire.model,
            shape="comfy_history",
            method="GET",
            url=redact(self.http.url(f"/history/{prompt_id}")),
            path=f"/history/{prompt_id}",
            headers=wire.headers,
            extensions={**wire.extensions, "prompt_id": prompt_id},
        )
        return ProviderReply(images=[], follow=follow)

    async def _upload(self, wire: WireRequest, provider: str) -> dict[str, Any]:
        """Upload the input images; the graph, with the names the server gave them."""
        graph: dict[str, Any] = copy.deepcopy((wire.json or {}).get("prompt") or {})
        for part in wire.files:
            response = await self.http.request(
                "POST",
                "/upload/image",
                provider=provider,
                form={"type": "input", "overwrite": "true"},
                files=(part,),
            )
            answer = self._answer(response, provider)
            name = answer.get("name") if isinstance(answer, dict) else None
            if not isinstance(name, str) or not name:
                raise ServerError(
                    f"{provider} answered the upload of {part.filename} without a name."
                )
            if answer.get("subfolder"):
                name = f"{answer['subfolder']}/{name}"
            if name != part.filename:  # the server renamed it: point the graph at its name
                for node in graph.values():
                    inputs = node.get("inputs", {})
                    for key, value in inputs.items():
                        if value == part.filename:
                            inputs[key] = name
        return graph

    async def _poll(self, wire: WireRequest, provider: str) -> ProviderReply:
        prompt_id = str(wire.extensions.get("prompt_id") or wire.path.rsplit("/", 1)[-1])
        response = await self.http.request("GET", wire.path, provider=provider)
        history = self._answer(response, provider)
        entry = history.get(prompt_id) if isinstance(history, dict) else None
        if not isinstance(entry, dict):
            return ProviderReply(images=[], follow=wire)  # queued or running
        status = entry.get("status") or {}
        if isinstance(status, dict) and status.get("status_str") == "error":
            raise _execution_error(status, provider)
        images = []
        for item in _outputs(entry.get("outputs"), wire.extensions.get("output")):
            images.append(await self._view(item, provider))
        if not images:
            raise NoImageError(
                f"{provider} ran the workflow and it produced no image: does it end in a "
                "SaveImage node (or does mapping['output'] name the right node)?",
                provider=provider,
            )
        seed = wire.extensions.get("seed")
        return ProviderReply(
            images=images,
            seed=seed if isinstance(seed, int) else None,
            host=await self._host(provider),
            sent={"prompt_id": prompt_id},
        )

    async def _view(self, item: dict[str, Any], provider: str) -> RawImage:
        params = {k: str(item.get(k) or "") for k in ("filename", "subfolder", "type")}
        response = await self.http.download("/view", provider=provider, params=params)
        if response.status_code != 200:
            raise self._error(response, provider)
        data = response.content
        mime = sniff_mime(data)
        if mime == "application/octet-stream":
            raise NoImageError(
                f"{provider} served {params['filename']} as {len(data)} bytes that are not an "
                "image.",
                provider=provider,
            )
        return RawImage(data=data, mime_type=mime)

    # ------------------------------------------------------------------ the server's stack

    async def fingerprint(
        self, spec: ModelSpec, request: ImageRequest | None = None
    ) -> dict[str, Any]:
        """ComfyUI's and PyTorch's versions and the device, from ``GET /system_stats``. (ComfyUI
        does not report checkpoint hashes: the workflow names the checkpoint file.)"""
        return await self._host(spec.provider, strict=True)

    async def _host(self, provider: str, *, strict: bool = False) -> dict[str, Any]:
        try:
            response = await self.http.request("GET", "/system_stats", provider=provider)
            stats = self._answer(response, provider)
        except ProviderError:
            if strict:
                raise
            return {}  # the images are there: a missing fingerprint does not lose them
        system = stats.get("system", {}) if isinstance(stats, dict) else {}
        devices = stats.get("devices", []) if isinstance(stats, dict) else []
        device = devices[0].get("name") if devices and isinstance(devices[0], dict) else None
        found = {
            "version": system.get("comfyui_version"),
            "pytorch": system.get("pytorch_version"),
            "device": device,
        }
        return {key: str(value) for key, value in found.items() if value}

    async def served_models(self) -> list[str]:
        """The checkpoint files on the server (``GET /models/checkpoints``)."""
        response = await self.http.request(
            "GET", "/models/checkpoints", provider=self.endpoint.name
        )
        listed = self._answer(response, self.endpoint.name)
        return sorted(str(name) for name in listed) if isinstance(listed, list) else []

    # ------------------------------------------------------------------ errors

    def _answer(self, response: httpx.Response, provider: str) -> Any:
        if response.status_code >= 300:
            raise self._error(response, provider)
        return self.http.session.json(response, provider)

    def _error(self, response: httpx.Response, provider: str) -> ProviderError:
        status = response.status_code
        payload = error_json(response)
        if isinstance(payload, dict) and "node_errors" in payload:
            return _validation_error(payload, provider, status)
        text = error_text(response)
        if status == 404:
            return ProviderError(
                f"{provider} answered 404 for {response.request.url.path}: {text}. Is "
                f"{redact(self.http.root)} a ComfyUI server?",
                provider=provider,
                status=status,
            )
        return self.http.status_error(response, provider, text, auth_env="SEEDLESS_COMFYUI_AUTH")

    async def aclose(self) -> None:
        """Close the pooled connections (the client's context manager calls this)."""
        await self.http.aclose()


def _validation_error(payload: dict[str, Any], provider: str, status: int) -> WorkflowError:
    """A 400 from ``/prompt``: the error, and each node's errors by node id."""
    error = payload.get("error")
    if isinstance(error, dict):
        headline = str(error.get("message") or "the workflow is not valid")
        details = str(error.get("details") or "")
        if details and error.get("type") != "prompt_outputs_failed_validation":
            headline += f" ({details})"
    else:
        headline = str(error or "the workflow is not valid")
    by_node: dict[str, list[str]] = {}
    nodes = payload.get("node_errors")
    for node_id, info in nodes.items() if isinstance(nodes, dict) else []:
        reasons = info.get("errors", []) if isinstance(info, dict) else []
        by_node[str(node_id)] = [
            f"{r.get('message', '')}: {r.get('details', '')}".strip(": ")
            for r in reasons
            if isinstance(r, dict)
        ]
    lines = [
        f"node {node_id} ({(nodes or {}).get(node_id, {}).get('class_type', '?')}): "
        + "; ".join(reasons)
        for node_id, reasons in by_node.items()
    ]
    return WorkflowError(
        f"{provider} refused the workflow: {headline}."
        + ("".join(f"\n  {line}" for line in lines) if lines else ""),
        node_errors=by_node,
        provider=provider,
        status=status,
        retryable=False,
    )


def _execution_error(status: dict[str, Any], provider: str) -> WorkflowError:
    """A workflow that failed while running: the node and the exception, from the history."""
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            info = message[1] if isinstance(message[1], dict) else {}
            node_id = str(info.get("node_id", "?"))
            text = f"{info.get('exception_type', 'error')}: {info.get('exception_message', '')}"
            return WorkflowError(
                f"{provider} failed running node {node_id} ({info.get('node_type', '?')}): "
                f"{short(text)}",
                node_errors={node_id: [short(text)]},
                provider=provider,
                retryable=False,
            )
    return WorkflowError(
        f"{provider} reported the workflow failed, without saying where.",
        provider=provider,
        retryable=False,
    )


def _outputs(outputs: Any, node: Any) -> list[dict[str, Any]]:
    """The images to download: the named node's, else every saved output (``type`` output),
    else the previews, in node order."""
    if not isinstance(outputs, dict):
        return []
    if node is not None:
        chosen = outputs.get(str(node), {})
        return [i for i in chosen.get("images", []) if isinstance(i, dict)]
    found: dict[str, list[dict[str, Any]]] = {"output": [], "temp": []}
    for node_output in outputs.values():
        for item in node_output.get("images", []) if isinstance(node_output, dict) else []:
            if isinstance(item, dict):
                found.setdefault(str(item.get("type", "output")), []).append(item)
    return found["output"] or found["temp"]
