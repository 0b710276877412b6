"""The emulated Gemini API's Files API and Batch Mode, as google-genai and REST callers see them.

Paths (``{v}`` is ``v1``, ``v1beta`` or ``v1alpha``)::

    POST   /upload/{v}/files                      resumable upload: start (X-Goog-Upload-
                                                  Command: start) -> x-goog-upload-url
    POST   /upload/{v}/files?upload_id=ID         chunks (upload[, finalize]) -> {"file": File}
    GET    /{v}/files[/ID]    DELETE /{v}/files/ID
    GET    /{v}/files/ID:download?alt=media       the bytes (google-genai's path), streamed
    GET    /download/{v}/files/ID:download?alt=media   the same (the REST guide's path)
    POST   /{v}/models/{model}:batchGenerateContent    {"batch": {displayName, inputConfig:
                                                  {fileName} | {requests: {requests: [...]}}}}
    GET    /{v}/batches[/ID]    POST /{v}/batches/ID:cancel    DELETE /{v}/batches/ID

A batch answers an ``Operation`` whose ``metadata`` is the ``GenerateContentBatch`` (state
``BATCH_STATE_PENDING`` -> ``RUNNING`` -> ``SUCCEEDED`` | ``FAILED`` | ``CANCELLED`` |
``EXPIRED``, ``batchStats`` with int64 counts as strings, ``output.responsesFile`` or
``output.inlinedResponses``). File-mode lines are ``{"key", "request"}``; the results file
holds ``{"key", "response"}`` or ``{"key", "error"}`` per answered line. Each line is
answered by the emulator's own generateContent, so scripted faults apply to it.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from ._batches import BatchEngine, EmulatedBatch, FileStore, StoredFile
from ._google import generate_content, page
from ._server import Incoming, Refusal, Reply, json_reply
from ._surfaces import GEMINI_API

if TYPE_CHECKING:
    from ._gemini import GeminiEmulator

__all__ = ["GeminiBatchMode"]

_V = r"(v1|v1beta|v1alpha)"
_UPLOAD = re.compile(rf"^/upload/{_V}/files$")
_FILES = re.compile(rf"^/{_V}/files/?$")
_FILE = re.compile(rf"^/{_V}/files/([a-z0-9-]+)$")
_DOWNLOAD = re.compile(rf"^(?:/download)?/{_V}/files/([a-z0-9-]+):download$")
_CREATE = re.compile(rf"^/{_V}/models/([^/:]+):batchGenerateContent$")
_BATCHES = re.compile(rf"^/{_V}/batches/?$")
_BATCH = re.compile(rf"^/{_V}/batches/([a-z0-9-]+)(:cancel)?$")
_STATES = {
    "pending": "BATCH_STATE_PENDING",
    "cancelling": "BATCH_STATE_PENDING",
    "running": "BATCH_STATE_RUNNING",
    "succeeded": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "cancelled": "BATCH_STATE_CANCELLED",
    "expired": "BATCH_STATE_EXPIRED",
}
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"


def _time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class GeminiBatchMode:
    """The Files API and Batch Mode of one emulated Gemini API (``emu.gemini.batches``)."""

    def __init__(self, service: GeminiEmulator) -> None:
        self.service = service
        self.files = FileStore()
        self.engine = BatchEngine(
            self.files, lambda: service._stopping, self._process,
            lambda batch, line, state: None, error_file=False,
        )  # fmt: skip

    # -- facade for tests ------------------------------------------------------------------

    @property
    def created(self) -> list[str]:
        """Every batch created (``batches/ID``), in order."""
        return [f"batches/{batch_id}" for batch_id in self.engine.created]

    def close(self) -> None:
        self.engine.join()
        self.files.close()

    # -- routing ---------------------------------------------------------------------------

    def route(self, incoming: Incoming) -> Reply | None:
        """Answer a Files API or Batch Mode request, or None if ``incoming`` is neither."""
        path, method = incoming.path, incoming.method
        if method == "POST" and _UPLOAD.match(path):
            return self._upload(incoming)
        if _FILES.match(path) or _FILE.match(path) or _DOWNLOAD.match(path):
            return self._file_routes(incoming)
        created = _CREATE.match(path)
        if method == "POST" and created:
            self.service._authenticate(incoming)
            return self._create(incoming, created.group(1), created.group(2))
        if _BATCHES.match(path) and method == "GET":
            self.service._authenticate(incoming)
            return self._list(incoming)
        one = _BATCH.match(path)
        if one:
            self.service._authenticate(incoming)
            return self._batch_route(method, one.group(2), bool(one.group(3)))
        return None

    # -- files -----------------------------------------------------------------------------

    def _upload(self, incoming: Incoming) -> Reply:
        upload_id = incoming.query.get("upload_id")
        if upload_id is None:
            self.service._authenticate(incoming)
            return self._start_upload(incoming)
        command = incoming.headers.get("x-goog-upload-command", "")
        try:
            offset = int(incoming.headers.get("x-goog-upload-offset", "0"))
            self.files.append(upload_id, offset, incoming.raw)
        except KeyError:
            return self.service.error(404, "The upload session was not found.")
        except ValueError as exc:
            return self.service.error(400, f"Invalid upload offset: {exc}.")
        if "finalize" not in command:
            return Reply(200, b"", headers={"x-goog-upload-status": "active"})
        stored = self.files.finish(upload_id)
        body = json.dumps({"file": self._file(stored)}).encode()
        return Reply(200, body, headers={"x-goog-upload-status": "final"})

    def _start_upload(self, incoming: Incoming) -> Reply:
        if incoming.headers.get("x-goog-upload-protocol") != "resumable":
            return self.service.error(400, "Only resumable uploads are supported.")
        body = incoming.json_body if incoming.json_ok else None
        meta = (body.get("file") if isinstance(body, dict) else None) or {}
        mime = incoming.headers.get("x-goog-upload-header-content-type") or meta.get("mimeType")
        name = str(meta.get("displayName") or "upload")
        upload_id = self.files.begin(name, "UPLOADED", str(mime or "application/octet-stream"))
        query = f"upload_id={upload_id}&upload_protocol=resumable"
        url = f"{self.service.origin}{incoming.path}?{query}"
        headers = {
            "x-goog-upload-url": url,
            "x-goog-upload-status": "active",
            "x-goog-upload-chunk-granularity": str(8 * 1024 * 1024),
        }
        return Reply(200, b"", headers=headers)

    def _file(self, stored: StoredFile) -> dict[str, Any]:
        created = _time(stored.created)
        return {
            "name": f"files/{stored.id}",
            "displayName": stored.filename,
            "mimeType": stored.mime_type,
            "sizeBytes": str(stored.size),
            "createTime": created,
            "updateTime": created,
            "expirationTime": _time(stored.created + 48 * 3600),
            "sha256Hash": base64.b64encode(bytes.fromhex(stored.sha256)).decode(),
            "uri": f"{self.service.origin}/v1beta/files/{stored.id}",
            "state": "ACTIVE",
            "source": "GENERATED" if stored.purpose == "batch_output" else "UPLOADED",
        }

    def _file_routes(self, incoming: Incoming) -> Reply:
        self.service._authenticate(incoming)
        path, method = incoming.path, incoming.method
        download = _DOWNLOAD.match(path)
        if download and method == "GET":
            stored = self.files.get(download.group(2))
            if stored is None:
                return self.service.error(404, f"File {download.group(2)} not found.")
            if incoming.query.get("alt") != "media":
                return json_reply(200, self._file(stored))
            return Reply(200, content_type="application/octet-stream", path=stored.path)
        one = _FILE.match(path)
        if one:
            stored = self.files.get(one.group(2))
            if stored is None:
                return self.service.error(
                    403, f"You do not have permission to access the File {one.group(2)} or "
                    "it may not exist.",
                )  # fmt: skip
            if method == "DELETE":
                self.files.delete(stored.id)
                return json_reply(200, {})
            return json_reply(200, self._file(stored))
        return json_reply(200, {"files": [self._file(f) for f in self.files.listed()]})

    # -- batches ---------------------------------------------------------------------------

    def _create(self, incoming: Incoming, version: str, model_id: str) -> Reply:
        service = self.service
        model = service.lookup(model_id)
        if model is None or "batchGenerateContent" not in model.methods:
            return service._not_found(model_id, version, "batchGenerateContent")
        body = service.read_json(incoming.json_ok, incoming.json_body)
        batch = body.get("batch")
        if not isinstance(batch, dict) or not isinstance(batch.get("inputConfig"), dict):
            return service.error(400, "* BatchGenerateContentRequest.batch.input_config: "
                                 "input_config is required.\n")  # fmt: skip
        source = batch["inputConfig"]
        inline: list[dict[str, Any]] | None = None
        file_id: str | None = None
        if "fileName" in source:
            file_id = str(source["fileName"]).removeprefix("files/")
            if self.files.get(file_id) is None:
                return service.error(404, f"File {source['fileName']} not found.")
        elif isinstance(source.get("requests"), dict):
            inline = list(source["requests"].get("requests") or [])
        else:
            return service.error(400, "The batch needs inputConfig.fileName or requests.")
        emulated = EmulatedBatch(
            id=secrets.token_hex(8), model=model_id, endpoint=version,
            display_name=str(batch.get("displayName") or ""), metadata={},
            input_file=file_id, inline=inline,
        )  # fmt: skip
        if inline is not None:
            emulated.total = len(inline)
        self.engine.create(emulated)
        return json_reply(200, self._operation(emulated, source))

    def _list(self, incoming: Incoming) -> Reply:
        batches, token = page(self.service, self.engine.listed(), incoming.query)
        payload: dict[str, Any] = {"operations": [self._operation(b) for b in batches]}
        if token:
            payload["nextPageToken"] = token
        return json_reply(200, payload)

    def _batch_route(self, method: str, batch_id: str, cancel: bool) -> Reply:
        batch = self.engine.get(batch_id)
        if batch is None:
            return self.service.error(404, f"Batch batches/{batch_id} not found.")
        if cancel and method == "POST":
            self.engine.cancel(batch_id)
            return json_reply(200, {})
        if method == "DELETE":
            self.engine.delete(batch_id)
            return json_reply(200, {})
        return json_reply(200, self._operation(batch))

    def _operation(self, batch: EmulatedBatch, source: Any = None) -> dict[str, Any]:
        name = f"batches/{batch.id}"
        meta: dict[str, Any] = {
            "@type": _BATCH_TYPE,
            "model": f"models/{batch.model}",
            "displayName": batch.display_name,
            "createTime": _time(batch.created),
            "updateTime": _time(batch.ended or batch.started or batch.created),
            "batchStats": {
                "requestCount": str(batch.total),
                "successfulRequestCount": str(batch.succeeded),
                "failedRequestCount": str(batch.failed),
                "pendingRequestCount": str(batch.pending),
            },
            "state": _STATES[batch.state],
            "name": name,
        }
        if batch.input_file is not None:
            meta["inputConfig"] = {"fileName": f"files/{batch.input_file}"}
        if batch.ended is not None:
            meta["endTime"] = _time(batch.ended)
        output = self._output(batch)
        if output:
            meta["output"] = output
        operation: dict[str, Any] = {"name": name, "metadata": meta, "done": batch.done}
        if batch.done and batch.state == "failed":
            operation["error"] = {"code": 3, "message": batch.fail_message or "The batch failed."}
        elif batch.done and output:
            operation["response"] = {"@type": _OUTPUT_TYPE, **output}
        return operation

    @staticmethod
    def _output(batch: EmulatedBatch) -> dict[str, Any]:
        if batch.output_file is not None:
            return {"responsesFile": f"files/{batch.output_file}"}
        if batch.inline is not None and batch.done and batch.inline_results:
            return {"inlinedResponses": {"inlinedResponses": list(batch.inline_results)}}
        return {}

    # -- answering one line ----------------------------------------------------------------

    def _process(self, batch: EmulatedBatch, line: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """A file line ``{"key", "request"}`` or an inline ``{"request", "metadata"}``."""
        inline = "key" not in line
        request = line.get("request")
        reply = self._answer(batch.model, request)
        payload = json.loads(reply.body) if reply.body else {}
        ok = reply.status < 400 and not reply.drop
        if inline:
            result: dict[str, Any] = {"metadata": line.get("metadata") or {}}
        else:
            result = {"key": line.get("key")}
        if ok:
            result["response"] = payload
        else:
            error = payload.get("error") if isinstance(payload, dict) else None
            result["error"] = error or {"code": 503, "message": "The model is overloaded."}
        return ok, result

    def _answer(self, model_id: str, request: Any) -> Reply:
        service = self.service
        model = service.lookup(model_id)
        if model is None:
            return service.error(404, f"models/{model_id} is not found.")
        try:
            fault = service.take_fault(model.id)
            return generate_content(
                service, model, isinstance(request, dict), request, fault, vertex=False,
                surface=GEMINI_API["v1beta"],
            )  # fmt: skip
        except Refusal as refusal:
            return refusal.reply
