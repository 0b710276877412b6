"""The emulated ComfyUI server: workflows in the API format, queued, run, and downloaded.

Paths (:attr:`ComfyUIEmulator.url` is the server's root, as ``SEEDLESS_COMFYUI_URL`` is;
every path is served under ``/api`` too, as ComfyUI does)::

    POST /prompt            {prompt: {node id: {class_type, inputs}}, client_id?, ...}
                            -> {prompt_id, number, node_errors} or 400 {error, node_errors}
    GET  /history/{id}      {} while queued or running, then {id: {prompt, outputs, status, meta}}
    GET  /view              ?filename=&subfolder=&type= -> the image bytes
    POST /upload/image      multipart image (+ type, subfolder, overwrite)
                            -> {name, subfolder, type}
    GET  /system_stats      {system: {comfyui_version, pytorch_version, ...}, devices: [...]}
    GET  /models/checkpoints  the checkpoint files

It runs the core text-to-image and image-to-image nodes (``_comfy_graph.NODES``: checkpoint
loader, CLIP text encode, empty latent, KSampler, VAE decode/encode, LoadImage, SaveImage,
PreviewImage) and validates a workflow as ``execution.validate_prompt`` does, with the same
error types by node (``required_input_missing``, ``value_not_in_list``,
``value_bigger_than_max``, ``return_type_mismatch``, ``custom_validation_failed`` ...).
Pictures are deterministic in the graph's values and the checkpoint's sha256. A prompt's
history appears after :attr:`~ComfyUIEmulator.pending_polls` empty polls;
:meth:`~ComfyUIEmulator.fail_node_next` makes the next run fail in a node. The fingerprint
(:attr:`~ComfyUIEmulator.version`, :attr:`~ComfyUIEmulator.device`,
:attr:`~ComfyUIEmulator.pytorch_version`) is settable.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from ._comfy_graph import GraphChecker, GraphRunner, NodeFailed, node_error
from ._server import FilePart, Incoming, Reply, ServiceEmulator, json_reply, retry_headers

__all__ = ["ComfyUIEmulator"]


@dataclass
class _Run:
    """One queued prompt: its outcome, shown once enough polls have asked."""

    entry: dict[str, Any]
    polls_left: int


class ComfyUIEmulator(ServiceEmulator):
    """A ComfyUI server (no auth: ComfyUI has none of its own)."""

    name: ClassVar[str] = "comfyui"
    url_path: ClassVar[str] = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(models={}, **kwargs)
        #: Checkpoint files in models/checkpoints: name -> sha256 (swap one to change pictures).
        self.checkpoints: dict[str, str] = {
            "v1-5-pruned-emaonly.safetensors": hashlib.sha256(b"sd15").hexdigest(),
            "sd_xl_base_1.0.safetensors": hashlib.sha256(b"sdxl").hexdigest(),
        }
        #: What ``/system_stats`` reports: the fingerprint.
        self.version = "0.3.64"
        self.pytorch_version = "2.8.0+cu128"
        self.device = "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"
        #: Empty ``/history/{id}`` answers before a prompt's outcome shows.
        self.pending_polls = 1
        self._runs: dict[str, _Run] = {}
        self._files: dict[tuple[str, str, str], bytes] = {}  # (type, subfolder, name) -> bytes
        self._fail_nodes: list[tuple[str | None, str]] = []
        self._counter = 0
        self._number = 0
        self._state = threading.Lock()

    # -- scripting -------------------------------------------------------------------------

    def fail_node_next(
        self, node_id: str | None = None, message: str = "CUDA out of memory"
    ) -> None:
        """Make the next run fail while executing ``node_id`` (None: its first sampler)."""
        with self._state:
            self._fail_nodes.append((node_id, message))

    @property
    def files(self) -> dict[tuple[str, str, str], bytes]:
        """Every file on the server: ``(type, subfolder, name) -> bytes`` (a copy)."""
        with self._state:
            return dict(self._files)

    # -- errors ----------------------------------------------------------------------------

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        **extra: Any,
    ) -> Reply:
        """aiohttp's plain answers (``500: Internal Server Error``) for scripted faults."""
        text = message or f"{status}: {'Internal Server Error' if status >= 500 else 'Error'}"
        return Reply(
            status,
            text.encode(),
            content_type="text/plain; charset=utf-8",
            headers=retry_headers(retry_after),
        )

    # -- routing ---------------------------------------------------------------------------

    def route(self, incoming: Incoming) -> Reply:
        path = incoming.path.removeprefix("/api") or "/"
        method = incoming.method
        if method == "POST" and path == "/prompt":
            return self._queue(incoming)
        if method == "GET" and path.startswith("/history/"):
            return self._history(path.removeprefix("/history/"))
        if method == "GET" and path == "/view":
            return self._view(incoming.query)
        if method == "POST" and path == "/upload/image":
            return self._upload(incoming)
        if method == "GET" and path == "/system_stats":
            return json_reply(200, self._stats())
        if method == "GET" and path == "/models/checkpoints":
            return json_reply(200, sorted(self.checkpoints))
        if method == "GET" and path == "/models":
            return json_reply(200, ["checkpoints", "loras", "vae"])
        return Reply(404, b"404: Not Found", content_type="text/plain; charset=utf-8")

    def _stats(self) -> dict[str, Any]:
        return {
            "system": {
                "os": "posix",
                "ram_total": 67108864000,
                "ram_free": 50331648000,
                "comfyui_version": self.version,
                "required_frontend_version": "1.28.6",
                "installed_templates_version": "0.1.95",
                "required_templates_version": "0.1.95",
                "python_version": "3.12.3 (main) [GCC 13.2.0]",
                "pytorch_version": self.pytorch_version,
                "embedded_python": False,
                "argv": ["main.py", "--listen"],
            },
            "devices": [
                {
                    "name": self.device,
                    "type": "cuda",
                    "index": 0,
                    "vram_total": 25386352640,
                    "vram_free": 24000000000,
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            ],
        }

    # -- uploads and downloads -------------------------------------------------------------

    def _upload(self, incoming: Incoming) -> Reply:
        form = incoming.form or {}
        image = form.get("image")
        if not isinstance(image, FilePart) or not image.filename:
            return Reply(400, b"", content_type="text/plain; charset=utf-8")
        kind = str(form.get("type") or "input")
        subfolder = str(form.get("subfolder") or "")
        if kind not in ("input", "temp", "output") or ".." in subfolder or "/" in image.filename:
            return Reply(400, b"", content_type="text/plain; charset=utf-8")
        name = image.filename
        overwrite = str(form.get("overwrite") or "") in ("true", "1")
        with self._state:
            stem, dot, ext = name.rpartition(".")
            counter = 1
            while not overwrite and (kind, subfolder, name) in self._files:
                if self._files[(kind, subfolder, name)] == image.data:
                    break  # the same bytes: a duplicate, kept under its name
                name = f"{stem} ({counter}){dot}{ext}" if dot else f"{name} ({counter})"
                counter += 1
            self._files[(kind, subfolder, name)] = image.data
        return json_reply(200, {"name": name, "subfolder": subfolder, "type": kind})

    def _view(self, query: dict[str, str]) -> Reply:
        name = query.get("filename", "")
        if not name or name.startswith("/") or ".." in name:
            return Reply(400, b"", content_type="text/plain; charset=utf-8")
        key = (query.get("type") or "output", query.get("subfolder") or "", name)
        with self._state:
            data = self._files.get(key)
        if data is None:
            return Reply(404, b"", content_type="text/plain; charset=utf-8")
        headers = {"Content-Disposition": f'filename="{name}"'}
        return Reply(200, data, content_type="image/png", headers=headers)

    def _has_input(self, name: str) -> bool:
        with self._state:
            return ("input", "", name) in self._files

    def _read_input(self, name: str) -> bytes:
        with self._state:
            return self._files[("input", "", name)]

    def _save(self, folder: str, prefix: str, data: bytes) -> str:
        with self._state:
            self._counter += 1
            name = f"{prefix}_{self._counter:05}_.png"
            self._files[(folder, "", name)] = data
        return name

    # -- queueing --------------------------------------------------------------------------

    def _queue(self, incoming: Incoming) -> Reply:
        body = incoming.json_body if incoming.json_ok else None
        if not isinstance(body, dict):
            return Reply(500, b"500 Internal Server Error", content_type="text/plain")
        fault = self.take_fault(None)
        if "prompt" not in body or not isinstance(body["prompt"], dict):
            missing = node_error("no_prompt", "No prompt provided", "No prompt provided")
            return json_reply(400, {"error": missing, "node_errors": {}})
        graph: dict[str, Any] = body["prompt"]
        checker = GraphChecker(list(self.checkpoints), self._has_input)
        failed, error, good, node_errors = checker.validate(graph)
        if failed:
            return json_reply(400, {"error": error, "node_errors": node_errors})
        with self._state:
            number = self._number
            self._number += 1
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        entry = self._execute(prompt_id, number, graph, body, good, fault)
        with self._state:
            self._runs[prompt_id] = _Run(entry, self.pending_polls)
        reply = json_reply(
            200, {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        )
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply

    def _history(self, prompt_id: str) -> Reply:
        with self._state:
            run = self._runs.get(prompt_id)
            if run is None or run.polls_left > 0:
                if run is not None:
                    run.polls_left -= 1
                return json_reply(200, {})
            return json_reply(200, {prompt_id: run.entry})

    # -- running ---------------------------------------------------------------------------

    def _execute(
        self,
        prompt_id: str,
        number: int,
        graph: dict[str, Any],
        body: dict[str, Any],
        outputs: list[str],
        fault: Any,
    ) -> dict[str, Any]:
        """Run the graph; the history entry (outputs, or the execution error)."""
        with self._state:
            failing = self._fail_nodes.pop(0) if self._fail_nodes else None
        started = int(time.time() * 1000)
        messages: list[list[Any]] = [
            ["execution_start", {"prompt_id": prompt_id, "timestamp": started}],
            ["execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": started}],
        ]
        entry: dict[str, Any] = {
            "prompt": [number, prompt_id, graph, body.get("extra_data", {}), outputs],
            "outputs": {},
            "meta": {},
        }
        runner = GraphRunner(self.checkpoints, self._read_input, self._save, self.transform)
        try:
            ui = runner.run(graph, outputs, failing)
        except NodeFailed as failed:
            messages.append(["execution_error", _failure(prompt_id, graph, failed, started)])
            entry["status"] = {"status_str": "error", "completed": False, "messages": messages}
            return entry
        if fault is not None and fault.kind in ("no_image", "block"):
            ui = {}
        messages.append(["execution_success", {"prompt_id": prompt_id, "timestamp": started}])
        entry["outputs"] = ui
        entry["meta"] = {
            node_id: {
                "node_id": node_id,
                "display_node": node_id,
                "parent_node": None,
                "real_node_id": node_id,
            }
            for node_id in ui
        }
        entry["status"] = {"status_str": "success", "completed": True, "messages": messages}
        return entry


def _failure(
    prompt_id: str, graph: dict[str, Any], failed: NodeFailed, started: int
) -> dict[str, Any]:
    """An ``execution_error`` message, as ``PromptExecutor.handle_execution_error`` sends it."""
    return {
        "prompt_id": prompt_id,
        "node_id": failed.node_id,
        "node_type": graph[failed.node_id]["class_type"],
        "executed": [],
        "exception_message": failed.message,
        "exception_type": "torch.OutOfMemoryError",
        "traceback": ["Traceback (most recent call last):\n"],
        "current_inputs": {},
        "current_outputs": [],
        "timestamp": started,
    }
