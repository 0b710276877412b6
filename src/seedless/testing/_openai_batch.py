"""The emulated OpenAI Files and Batch APIs, as the ``openai`` package and REST callers see them.

Paths::

    POST /v1/files                  multipart: file, purpose (batch) -> OpenAIFile
    GET  /v1/files[/ID]   DELETE /v1/files/ID   GET /v1/files/ID/content (streamed)
    POST /v1/batches                {input_file_id, endpoint, completion_window, metadata}
    GET  /v1/batches[/ID]   POST /v1/batches/ID/cancel

Input lines are ``{"custom_id", "method", "url", "body"}`` for ``/v1/images/generations`` or
``/v1/images/edits`` (the JSON form: ``images`` as ``{"image_url": "data:..."}`` or
``{"file_id"}``). Answered lines go to the output file
(``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}``)
or, with a status of 400 or more, to the error file; lines a batch left undone when it
expired or was cancelled go to the error file with ``error.code`` ``batch_expired`` or
``batch_cancelled``. Status: ``validating`` -> ``in_progress`` -> ``completed`` (or
``failed``, ``expired``, ``cancelling`` -> ``cancelled``), with the times of each.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from ._batches import BatchEngine, EmulatedBatch, FileStore, StoredFile
from ._server import FilePart, Incoming, Refusal, Reply, json_reply

if TYPE_CHECKING:
    from ._openai import OpenAIEmulator

__all__ = ["OpenAIBatchAPI"]

_FILE = re.compile(r"^/v1/files/(file-[a-z0-9]+)(/content)?$")
_BATCH = re.compile(r"^/v1/batches/(batch_[a-z0-9]+)(/cancel)?$")
_ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
_STATUS = {
    "pending": "validating",
    "cancelling": "cancelling",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}
_UNFINISHED = {
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    "cancelled": (
        "batch_cancelled",
        "This request was not executed because the batch was cancelled.",
    ),
    "failed": ("batch_failed", "This request was not executed because the batch failed."),
}
_WINDOW = 24 * 3600


class OpenAIBatchAPI:
    """``/v1/files`` and ``/v1/batches`` of one emulated OpenAI-style service."""

    def __init__(self, service: OpenAIEmulator) -> None:
        self.service = service
        self.files = FileStore()
        self.engine = BatchEngine(
            self.files, lambda: service._stopping, self._process, self._unfinished,
            error_file=True,
        )  # fmt: skip
        self._endpoints: dict[str, str] = {}

    @property
    def created(self) -> list[str]:
        """Every batch created (``batch_...``), in order."""
        return [f"batch_{batch_id}" for batch_id in self.engine.created]

    def close(self) -> None:
        self.engine.join()
        self.files.close()

    # -- routing ---------------------------------------------------------------------------

    def route(self, incoming: Incoming) -> Reply | None:
        """Answer a files or batches request, or None if ``incoming`` is neither."""
        path, method = incoming.path, incoming.method
        if not (path.startswith("/v1/files") or path.startswith("/v1/batches")):
            return None
        self.service._authenticate(incoming)
        if path in ("/v1/files", "/v1/files/"):
            return self._upload(incoming) if method == "POST" else self._list_files()
        if path in ("/v1/batches", "/v1/batches/"):
            return self._create(incoming) if method == "POST" else self._list(incoming)
        one = _FILE.match(path)
        if one:
            return self._file_route(method, one.group(1), bool(one.group(2)))
        batch = _BATCH.match(path)
        if batch:
            return self._batch_route(method, batch.group(1), bool(batch.group(2)))
        return self.service.error(404, f"Invalid URL ({method} {path})")

    # -- files -----------------------------------------------------------------------------

    def _upload(self, incoming: Incoming) -> Reply:
        form = incoming.form or {}
        part = form.get("file")
        purpose = form.get("purpose")
        if not isinstance(part, FilePart):
            raise self.service.refuse(400, "Missing required parameter: 'file'.", param="file")
        if purpose not in ("batch", "assistants", "fine-tune", "vision", "user_data", "evals"):
            raise self.service.refuse(
                400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose",
                code="invalid_value",
            )  # fmt: skip
        stored = self.files.put(part.data, part.filename or "upload", str(purpose),
                                part.content_type)  # fmt: skip
        return json_reply(200, self._file(stored))

    @staticmethod
    def _file(stored: StoredFile) -> dict[str, Any]:
        return {
            "id": f"file-{stored.id}",
            "object": "file",
            "bytes": stored.size,
            "created_at": int(stored.created),
            "expires_at": int(stored.created) + 30 * 24 * 3600,
            "filename": stored.filename,
            "purpose": stored.purpose,
            "status": "processed",
        }

    def _list_files(self) -> Reply:
        data = [self._file(f) for f in self.files.listed()]
        first = data[0]["id"] if data else ""
        last = data[-1]["id"] if data else ""
        payload = {"object": "list", "data": data, "first_id": first, "last_id": last,
                   "has_more": False}  # fmt: skip
        return json_reply(200, payload)

    def _file_route(self, method: str, file_id: str, content: bool) -> Reply:
        stored = self.files.get(file_id.removeprefix("file-"))
        if stored is None:
            raise self.service.refuse(404, f"No such File object: {file_id}", param="id")
        if method == "DELETE":
            self.files.delete(stored.id)
            return json_reply(200, {"id": file_id, "object": "file", "deleted": True})
        if content:
            return Reply(200, content_type="application/octet-stream", path=stored.path)
        return json_reply(200, self._file(stored))

    # -- batches ---------------------------------------------------------------------------

    def _create(self, incoming: Incoming) -> Reply:
        body = incoming.json_body if incoming.json_ok else None
        if not isinstance(body, dict):
            raise self.service.refuse(400, "We could not parse the JSON body of your request.")
        endpoint = body.get("endpoint")
        if endpoint not in _ENDPOINTS:
            raise self.service.refuse(
                400, f"Invalid value for 'endpoint': {endpoint!r}; this emulator batches "
                f"{' and '.join(_ENDPOINTS)}.", param="endpoint", code="invalid_value",
            )  # fmt: skip
        if body.get("completion_window") != "24h":
            raise self.service.refuse(
                400, "Invalid value for 'completion_window': only '24h' is supported.",
                param="completion_window", code="invalid_value",
            )  # fmt: skip
        file_id = str(body.get("input_file_id", ""))
        stored = self.files.get(file_id.removeprefix("file-"))
        if stored is None or stored.purpose != "batch":
            raise self.service.refuse(
                400, f"Invalid 'input_file_id': {file_id!r} is not a file of purpose 'batch'.",
                param="input_file_id", code="invalid_value",
            )  # fmt: skip
        metadata = body.get("metadata") or {}
        batch = EmulatedBatch(
            id=secrets.token_hex(8), model="", endpoint=str(endpoint), display_name="",
            metadata={str(k): str(v) for k, v in metadata.items()}, input_file=stored.id,
            inline=None,
        )  # fmt: skip
        self.engine.create(batch)
        return json_reply(200, self._batch(batch))

    def _list(self, incoming: Incoming) -> Reply:
        batches = self.engine.listed()
        after = incoming.query.get("after")
        if after:
            ids = [f"batch_{b.id}" for b in batches]
            batches = batches[ids.index(after) + 1 :] if after in ids else []
        limit = int(incoming.query.get("limit") or 20)
        page, more = batches[:limit], len(batches) > limit
        data = [self._batch(b) for b in page]
        payload: dict[str, Any] = {"object": "list", "data": data, "has_more": more}
        if data:
            payload.update(first_id=data[0]["id"], last_id=data[-1]["id"])
        return json_reply(200, payload)

    def _batch_route(self, method: str, batch_id: str, cancel: bool) -> Reply:
        batch = self.engine.get(batch_id.removeprefix("batch_"))
        if batch is None:
            raise self.service.refuse(404, f"No batch found with id '{batch_id}'.")
        if cancel and method == "POST":
            self.engine.cancel(batch.id)
        return json_reply(200, self._batch(batch))

    def _batch(self, batch: EmulatedBatch) -> dict[str, Any]:
        status = _STATUS[batch.state]
        if batch.cancel_asked is not None and not batch.done:
            status = "cancelling"
        created = int(batch.created)
        payload: dict[str, Any] = {
            "id": f"batch_{batch.id}",
            "object": "batch",
            "endpoint": batch.endpoint,
            "input_file_id": f"file-{batch.input_file}",
            "completion_window": "24h",
            "status": status,
            "created_at": created,
            "expires_at": created + _WINDOW,
            "request_counts": {
                "total": batch.total,
                "completed": batch.succeeded,
                "failed": batch.failed,
            },
            "metadata": dict(batch.metadata),
        }
        if batch.started is not None:
            payload["in_progress_at"] = int(batch.started)
        if batch.cancel_asked is not None:
            payload["cancelling_at"] = int(batch.cancel_asked)
        if batch.done and batch.ended is not None:
            stamp = {"succeeded": "completed_at", "failed": "failed_at",
                     "expired": "expired_at", "cancelled": "cancelled_at"}[batch.state]  # fmt: skip
            payload[stamp] = int(batch.ended)
            if batch.state == "succeeded":
                payload["finalizing_at"] = int(batch.ended)
        if batch.output_file is not None:
            payload["output_file_id"] = f"file-{batch.output_file}"
        if batch.error_file is not None:
            payload["error_file_id"] = f"file-{batch.error_file}"
        if batch.errors:
            payload["errors"] = {"object": "list", "data": list(batch.errors)}
        return payload

    # -- answering one line ----------------------------------------------------------------

    def _process(self, batch: EmulatedBatch, line: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        reply = self._answer(batch, line)
        status = 503 if reply.drop else reply.status
        body = json.loads(reply.body) if reply.body else {"error": {"message": "dropped"}}
        result = {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": line.get("custom_id"),
            "response": {
                "status_code": status,
                "request_id": "req_" + secrets.token_hex(16),
                "body": body,
            },
            "error": None,
        }
        return status < 400, result

    def _answer(self, batch: EmulatedBatch, line: dict[str, Any]) -> Reply:
        service = self.service
        try:
            if line.get("url") != batch.endpoint or line.get("method") != "POST":
                raise service.refuse(
                    400, f"The line's url {line.get('url')!r} is not the batch's endpoint "
                    f"{batch.endpoint!r}.", code="invalid_url",
                )  # fmt: skip
            body = line.get("body")
            if not isinstance(body, dict):
                raise service.refuse(400, "The line has no JSON body.")
            if batch.endpoint.endswith("/generations"):
                return service.generate_json(body)
            return service.edit_json(body, self._file_bytes)
        except Refusal as refusal:
            return refusal.reply

    def _file_bytes(self, file_id: str) -> bytes | None:
        stored = self.files.get(file_id.removeprefix("file-"))
        if stored is None:
            return None
        with open(stored.path, "rb") as handle:
            return handle.read()

    @staticmethod
    def _unfinished(
        batch: EmulatedBatch, line: dict[str, Any], state: str
    ) -> dict[str, Any] | None:
        code, message = _UNFINISHED.get(state, _UNFINISHED["failed"])
        return {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": line.get("custom_id"),
            "response": None,
            "error": {"code": code, "message": message},
        }


def data_url_bytes(url: str) -> bytes | None:
    """The bytes of a base64 ``data:`` URL, or None if it is not one."""
    header, _, encoded = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
