"""The OpenAI Batch API: shards of image requests, run by OpenAI itself.

A shard is a JSONL file of ``{"custom_id", "method": "POST", "url", "body"}`` lines, one
endpoint per shard (``/v1/images/generations``, or ``/v1/images/edits`` in its JSON form:
the openai provider's :meth:`~seedless.providers.openai.OpenAIProvider.plan_json`, images as
base64 ``data:`` URLs) and one model per shard (OpenAI's rule). It is uploaded to
``/v1/files`` (purpose ``batch``, streamed from disk), then ``/v1/batches`` is created with
``completion_window: 24h`` and the shard's name in ``metadata.seedless_shard`` (how a resumed
run finds a batch it may have created before it was killed). ``custom_id`` is the job's id
(with ``#N``, the index of its first output, when the job needs several wire calls).

Results: ``output_file_id`` and then ``error_file_id`` are streamed from
``/v1/files/{id}/content`` into a file on disk. Each output line's ``response`` (status
code and body) is read by the openai provider's own
:meth:`~seedless.providers.openai.OpenAIProvider.read_answer`, as a direct call's answer
is; error lines (``batch_expired``, ``batch_cancelled`` ...) become retryable errors.
Everything goes through the provider's pooled httpx client and key: the engine adds no SDK.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from ...errors import ProviderError, SeedlessError, ServerError, redact
from .base import LineResult, RemoteBatch, ShardLimits

if TYPE_CHECKING:
    from ..._calls import PreparedCall
    from ..._specs import ModelSpec
    from ...providers.openai import OpenAIProvider

__all__ = ["OPENAI_LIMITS", "OpenAIBatchEngine"]

#: OpenAI: "up to 50,000 requests, and up to 200 MB" per input file (V: CreateBatchRequest
#: in openai/openai-openapi). seedless's default shard is smaller (1,000 requests), as for
#: Gemini; OpenAI's Batch API has no inline input.
OPENAI_LIMITS = ShardLimits(max_requests=1000, max_bytes=200 * 1000**2 - 1024**2)
_STATES = {
    "validating": "pending",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "cancelling",
    "completed": "succeeded",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}
_PAGES = 50


class OpenAIBatchEngine:
    """The OpenAI Batch API for one ``openai`` endpoint (see the module docstring)."""

    name = "openai"

    def __init__(self, provider: OpenAIProvider, *, limits: ShardLimits = OPENAI_LIMITS) -> None:
        self.provider = provider
        self.limits = limits

    def __repr__(self) -> str:
        return f"<OpenAIBatchEngine endpoint={self.provider.endpoint.name!r}>"

    def line(self, key: str, call: PreparedCall, spec: ModelSpec) -> bytes:
        """``{"custom_id", "method", "url", "body"}``: the planned JSON body of the call."""
        wire = self.provider.plan_json(call.request, spec)
        line = {"custom_id": key, "method": "POST", "url": wire.path, "body": wire.body()}
        return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()

    async def upload(self, path: Path, name: str) -> str:
        """``POST /files`` (purpose ``batch``), the file streamed from disk; its id."""
        with path.open("rb") as handle:
            answer = await self.provider.api(
                "POST", "/files", data={"purpose": "batch"},
                files={"file": (f"{name}.jsonl", handle, "application/jsonl")},
            )  # fmt: skip
        return str(answer["id"])

    async def create(
        self, shard: str, spec: ModelSpec, operation: str, *, file_id: str | None,
        inline: Path | None,
    ) -> RemoteBatch:  # fmt: skip
        """``POST /batches`` for an uploaded shard file."""
        if file_id is None:
            raise ValueError("the OpenAI Batch API takes uploaded files only")
        body = {
            "input_file_id": file_id,
            "endpoint": operation,
            "completion_window": "24h",
            "metadata": {"seedless_shard": shard, "seedless_model": spec.key},
        }
        return self._remote(await self.provider.api("POST", "/batches", json=body))

    async def find(self, shard: str) -> RemoteBatch | None:
        """The batch whose metadata names ``shard``, among this key's recent batches."""
        params: dict[str, Any] = {"limit": 100}
        for _ in range(_PAGES):
            page = await self.provider.api("GET", "/batches", params=params)
            for item in page.get("data") or []:
                if (item.get("metadata") or {}).get("seedless_shard") == shard:
                    return self._remote(item)
            if not page.get("has_more") or not page.get("data"):
                return None
            params["after"] = page["data"][-1]["id"]
        return None

    async def get(self, batch_id: str) -> RemoteBatch:
        return self._remote(await self.provider.api("GET", f"/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> None:
        await self.provider.api("POST", f"/batches/{batch_id}/cancel")

    async def aclose(self) -> None:
        """Nothing of its own: the provider's connections close with the client."""

    @staticmethod
    def _remote(item: dict[str, Any]) -> RemoteBatch:
        word = str(item.get("status") or "validating")
        counts = item.get("request_counts") or {}
        files = tuple(
            str(item[name]) for name in ("output_file_id", "error_file_id") if item.get(name)
        )
        errors = (item.get("errors") or {}).get("data") or []
        error = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or None
        return RemoteBatch(
            id=str(item["id"]), state=_STATES.get(word, "running"), provider_state=word,
            results=files, total=counts.get("total"), succeeded=counts.get("completed"),
            failed=counts.get("failed"), error=error, raw=item,
        )  # fmt: skip

    async def download(self, batch: RemoteBatch, handle: BinaryIO) -> int:
        """The output file, then the error file, streamed into ``handle``."""
        written = 0
        for file_id in batch.results:
            written += await self.provider.download_to(f"/files/{file_id}/content", handle)
            handle.write(b"\n")  # a file may end without a newline
        return written

    async def parse(self, raw: bytes, spec: ModelSpec) -> LineResult:
        line = json.loads(raw)
        key = str(line.get("custom_id") or "")
        name = self.provider.endpoint.name
        response = line.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            answer = httpx.Response(
                response["status_code"], json=response.get("body"),
                request=httpx.Request("POST", self.provider.root),
            )  # fmt: skip
            try:
                return LineResult(key, reply=await self.provider.read_answer(answer, spec))
            except SeedlessError as exc:
                return LineResult(key, error=exc)
        error = line.get("error") if isinstance(line.get("error"), dict) else {}
        code = str(error.get("code") or "batch_error")
        message = redact(str(error.get("message") or "the batch did not answer this request"))
        cls = ServerError if code in ("batch_expired", "batch_cancelled", "batch_failed") else (
            ProviderError)  # fmt: skip
        return LineResult(key, error=cls(f"{name}: {code}: {message}", provider=name,
                                         retryable=True))  # fmt: skip
