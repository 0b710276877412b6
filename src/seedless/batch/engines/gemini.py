"""Gemini Batch Mode: shards of generateContent requests, run by the Gemini API itself.

A shard is a JSONL file of ``{"key", "request"}`` lines (``request`` is the planned
``GenerateContentRequest``, camelCase, exactly the body a direct call posts), uploaded with
the Files API's resumable protocol (start, then one ``upload, finalize`` request whose body
streams from disk), then ``models/{model}:batchGenerateContent`` with
``inputConfig.fileName`` and the shard's name as ``displayName`` (how a resumed run finds a
batch it may have created before it was killed). A tiny shard goes inline instead (its
requests in the create call, the answers in the batch's own resource); a large one never
does: a batch's inline answers come back in one response body, which for many images is too
large to return.

Results are streamed from the file's ``:download?alt=media`` URL with httpx, authenticated
as google-genai does (``x-goog-api-key``), into a file on disk 64 KiB at a time, never held
in memory (google-genai's ``files.download`` without a destination returns the whole file as
bytes). Each line is ``{"key", "response"}`` (a ``GenerateContentResponse``, read by the
Gemini provider's own :func:`~seedless.providers.gemini.read_response`) or ``{"key",
"error"}`` (a ``google.rpc.Status``). Batch Mode and the Files API are ``v1beta`` services.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from ...errors import ProviderError, SeedlessError, ServerError, error_for_status, redact
from ...errors import TimeoutError as SeedlessTimeoutError
from ...providers._genai import GenaiClient, import_genai, split_api_version, translate_error
from ...providers.gemini import read_response, sdk_call
from .base import LineResult, RemoteBatch, ShardLimits

if TYPE_CHECKING:
    from ..._calls import PreparedCall
    from ..._specs import ModelSpec
    from ...config import Endpoint

__all__ = ["GEMINI_LIMITS", "GeminiBatchEngine"]

#: Files API: up to 2 GB per file (V: ai.google.dev/gemini-api/docs/files); inline requests up
#: to 20 MB in all (V: the Batch Mode guide). Requests per shard: seedless's choice (1,000),
#: so that a shard's results file stays around a gigabyte at 1K and collection can start
#: while later shards still run; Batch Mode documents no per-batch request count.
GEMINI_LIMITS = ShardLimits(
    max_requests=1000,
    max_bytes=2 * 1000**3 - 64 * 1024**2,
    inline_max_requests=2,
    inline_max_bytes=4 * 1024**2,
)
_API_HOST = "https://generativelanguage.googleapis.com/"
#: Bytes read or written at a time while streaming: small, so that no buffer of a megabyte or
#: more is made and freed over and over (glibc then raises its mmap threshold and the process
#: keeps the memory: measured, docs/decisions.md).
_CHUNK = 64 * 1024
#: google.rpc.Code names and numbers, and the HTTP status Google's JSON APIs pair them with.
_RPC_HTTP = {
    "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409,
    "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503,
    "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}  # fmt: skip
_RPC_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)  # fmt: skip


class GeminiBatchEngine:
    """Gemini Batch Mode for one ``gemini`` endpoint (see the module docstring)."""

    name = "gemini"

    def __init__(self, endpoint: Endpoint, *, limits: ShardLimits = GEMINI_LIMITS) -> None:
        import_genai("gemini")
        self.endpoint = endpoint
        self.limits = limits
        self._client = GenaiClient(endpoint, vertex=False, api_version="v1beta")
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"<GeminiBatchEngine endpoint={self.endpoint.name!r}>"

    # ------------------------------------------------------------------ shards (no I/O)

    def line(self, key: str, call: PreparedCall, spec: ModelSpec) -> bytes:
        """``{"key", "request"}``: the planned GenerateContentRequest as it travels."""
        line = {"key": key, "request": call.wire.body()}
        return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()

    def _inline(self, path: Path, spec: ModelSpec) -> list[Any]:
        """A small shard's lines as google-genai's inlined requests (key in metadata)."""
        types = import_genai().types
        model = self.endpoint.wire_model(spec.id)
        requests = []
        with path.open("rb") as handle:
            for raw in handle:
                if raw.strip():
                    line = json.loads(raw)
                    call = sdk_call(model, line["request"], spec)
                    requests.append(
                        types.InlinedRequest(
                            contents=call["contents"], config=call["config"],
                            metadata={"key": line["key"]},
                        )
                    )  # fmt: skip
        return requests

    # ------------------------------------------------------------------ the API

    def _error(self, exc: BaseException, what: str) -> SeedlessError:
        return translate_error(exc, provider=self.endpoint.name, model=what)

    async def upload(self, path: Path, name: str) -> str:
        """Upload a shard file with the Files API's resumable protocol, as google-genai does
        (``X-Goog-Upload-Protocol: resumable``, start, then ``upload, finalize``), the bytes
        streamed from disk 64 KiB at a time in one finalizing request; the file's name.
        (google-genai's ``files.upload`` reads 8 MB chunks into memory: docs/decisions.md.)"""
        size = path.stat().st_size
        provider = self.endpoint.name
        start = {
            **self._auth(),
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        }
        body = {"file": {"displayName": name, "mimeType": "application/jsonl"}}
        url = f"{self._root()}/upload/{self._client.version()}/files"
        async with self._calling("files.upload"):
            begun = await self._transport().post(url, json=body, headers=start)
            self._check(begun)
            session = begun.headers.get("x-goog-upload-url")
            if not session:
                raise ServerError(f"{provider} started no upload session (no x-goog-upload-url).",
                                  provider=provider)  # fmt: skip
            finish = {
                **self._auth(),
                "X-Goog-Upload-Command": "upload, finalize",
                "X-Goog-Upload-Offset": "0",
                "Content-Length": str(size),
            }
            with path.open("rb") as handle:
                done = await self._transport().post(session, content=_chunks(handle),
                                                    headers=finish)  # fmt: skip
            self._check(done)
        try:
            return str(done.json()["file"]["name"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerError(f"{provider} finished the upload without naming the file.",
                              provider=provider) from exc  # fmt: skip

    def _root(self) -> str:
        return (split_api_version(self.endpoint.base_url)[0] or _API_HOST).rstrip("/")

    def _auth(self) -> dict[str, str]:
        """The headers google-genai sends: the endpoint's own, and the API key."""
        key = self.endpoint.require_key("GEMINI_API_KEY", "GOOGLE_API_KEY")
        return {**self.endpoint.headers, "x-goog-api-key": key}

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            text = redact(response.text[:300])
            raise error_for_status(response.status_code, text, provider=self.endpoint.name)

    @contextlib.asynccontextmanager
    async def _calling(self, what: str) -> AsyncIterator[None]:
        """httpx's timeouts and dropped connections as seedless errors."""
        provider = self.endpoint.name
        try:
            yield
        except httpx.TimeoutException as exc:
            raise SeedlessTimeoutError(f"{provider} did not finish {what} in time.",
                                       provider=provider) from exc  # fmt: skip
        except httpx.TransportError as exc:
            raise ServerError(f"{provider}: {what} failed ({type(exc).__name__}).",
                              provider=provider) from exc  # fmt: skip

    async def create(
        self, shard: str, spec: ModelSpec, operation: str, *, file_id: str | None,
        inline: Path | None,
    ) -> RemoteBatch:  # fmt: skip
        """``batchGenerateContent`` of an uploaded file, or of a small shard's lines inline."""
        model = self.endpoint.wire_model(spec.id)
        source: Any = file_id if inline is None else self._inline(inline, spec)
        try:
            job = await self._client.get().aio.batches.create(
                model=model, src=source, config={"display_name": shard}
            )
        except Exception as exc:
            raise self._error(exc, f"{spec.key} batchGenerateContent") from exc
        return self._remote(job)

    async def find(self, shard: str) -> RemoteBatch | None:
        """The batch named ``shard``, if this key's batches hold one."""
        try:
            pager = await self._client.get().aio.batches.list(config={"page_size": 100})
            async for job in pager:
                if job.display_name == shard:
                    return self._remote(job)
        except Exception as exc:
            raise self._error(exc, "batches.list") from exc
        return None

    async def get(self, batch_id: str) -> RemoteBatch:
        try:
            job = await self._client.get().aio.batches.get(name=batch_id)
        except Exception as exc:
            raise self._error(exc, f"batches.get {batch_id}") from exc
        return self._remote(job)

    async def cancel(self, batch_id: str) -> None:
        try:
            await self._client.get().aio.batches.cancel(name=batch_id)
        except Exception as exc:
            raise self._error(exc, f"batches.cancel {batch_id}") from exc

    @staticmethod
    def _remote(job: Any) -> RemoteBatch:
        word = str(getattr(job.state, "value", job.state) or "JOB_STATE_PENDING")
        state = word.removeprefix("JOB_STATE_").removeprefix("BATCH_STATE_").lower()
        state = {"queued": "pending", "unspecified": "pending", "paused": "running",
                 "partially_succeeded": "succeeded", "cancelling": "cancelling"}.get(
            state, state)  # fmt: skip
        files = (job.dest.file_name,) if job.dest is not None and job.dest.file_name else ()
        error = job.error.message if job.error is not None else None
        return RemoteBatch(
            id=str(job.name), state=state, provider_state=word, results=files, error=error,
            raw=job,
        )  # fmt: skip

    # ------------------------------------------------------------------ results

    def _transport(self) -> httpx.AsyncClient:
        if self._http is None:
            timeout = self.endpoint.timeout or 600.0
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=15.0))
        return self._http

    async def download(self, batch: RemoteBatch, handle: BinaryIO) -> int:
        """The batch's answers as JSONL lines into ``handle``: its results file streamed
        (64 KiB at a time), or its inline answers written out as the same lines."""
        if not batch.results:
            return self._write_inline(batch, handle)
        url = f"{self._root()}/{self._client.version()}/{batch.results[0]}:download"
        written = 0
        request = self._transport().stream(
            "GET", url, params={"alt": "media"}, headers=self._auth()
        )
        async with self._calling(f"downloading {batch.results[0]}"), request as response:
            if response.status_code >= 400:
                await response.aread()
                self._check(response)
            async for chunk in response.aiter_bytes(_CHUNK):
                handle.write(chunk)
                written += len(chunk)
        return written

    async def aclose(self) -> None:
        """Close the SDK client and the download connections."""
        await self._client.aclose()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    @staticmethod
    def _write_inline(batch: RemoteBatch, handle: BinaryIO) -> int:
        dest = getattr(batch.raw, "dest", None)
        written = 0
        for answer in getattr(dest, "inlined_responses", None) or []:
            line: dict[str, Any] = {"key": (answer.metadata or {}).get("key")}
            if answer.response is not None:
                line["response"] = answer.response.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                )
            else:
                error = answer.error
                line["error"] = {} if error is None else error.model_dump(
                    mode="json", exclude_none=True)  # fmt: skip
            data = json.dumps(line, separators=(",", ":")).encode() + b"\n"
            handle.write(data)
            written += len(data)
        return written

    async def parse(self, raw: bytes, spec: ModelSpec) -> LineResult:
        """One results line: the reply (images, text, usage) or the error it carries."""
        line = json.loads(raw)
        key = str(line.get("key") or (line.get("metadata") or {}).get("key") or "")
        provider = self.endpoint.name
        if isinstance(line.get("response"), dict):
            types = import_genai().types
            try:
                response = types.GenerateContentResponse.model_validate(line["response"])
                return LineResult(key, reply=read_response(response, spec, provider=provider))
            except SeedlessError as exc:
                return LineResult(key, error=exc)
            except ValueError as exc:
                error = ServerError(f"{provider} sent an unreadable answer: {exc}",
                                    provider=provider)  # fmt: skip
                return LineResult(key, error=error)
        status = line.get("error") or line.get("status") or {}
        return LineResult(key, error=_line_error(status, provider))


def _line_error(status: Any, provider: str) -> ProviderError:
    """The seedless error of a line's ``google.rpc.Status`` (gRPC or HTTP code)."""
    status = status if isinstance(status, dict) else {}
    message = str(status.get("message") or "the batch answered this request with an error")
    code = status.get("code")
    name = status.get("status")
    if not isinstance(name, str) and isinstance(code, int) and 0 < code < len(_RPC_NAMES):
        name = _RPC_NAMES[code]
    http = _RPC_HTTP.get(str(name)) if name else None
    if http is None:
        http = code if isinstance(code, int) and code >= 100 else 500
    return error_for_status(http, redact(message), provider=provider)


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """A file's bytes, :data:`_CHUNK` at a time (an upload's body, streamed from disk)."""
    while block := handle.read(_CHUNK):
        yield block
