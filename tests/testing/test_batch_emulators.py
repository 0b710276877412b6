"""The emulated batch engines, driven by the stock SDKs: google-genai's ``client.files`` and
``client.batches``, and the official ``openai`` package's ``client.files`` and
``client.batches``, unmodified."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from seedless.testing import Emulator

genai = pytest.importorskip("google.genai")
openai = pytest.importorskip("openai")
types = genai.types

TERMINAL_GEMINI = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED",
                   "JOB_STATE_EXPIRED"}  # fmt: skip
TERMINAL_OPENAI = {"completed", "failed", "expired", "cancelled"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _gemini(emu: Emulator) -> Any:
    options = types.HttpOptions(base_url=emu.gemini.url, api_version="v1beta")
    return genai.Client(api_key=emu.gemini.api_key, http_options=options)


def _gemini_lines(path: Path, count: int) -> Path:
    with path.open("w") as handle:
        for index in range(count):
            request = {
                "contents": [{"role": "user", "parts": [{"text": f"a fox, take {index}"}]}],
                "generationConfig": {"responseModalities": ["IMAGE"]},
            }
            handle.write(json.dumps({"key": f"k{index}", "request": request}) + "\n")
    return path


def _wait_gemini(client: Any, name: str) -> Any:
    for _ in range(400):
        job = client.batches.get(name=name)
        if job.state.value in TERMINAL_GEMINI:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{name} did not finish")


def test_gemini_file_batch_with_the_stock_sdk(emu: Emulator, tmp_path: Path) -> None:
    client = _gemini(emu)
    emu.gemini.batches.engine.schedule.pending = 0.05
    uploaded = client.files.upload(
        file=_gemini_lines(tmp_path / "in.jsonl", 3),
        config={"mime_type": "application/jsonl", "display_name": "shard-1"},
    )
    assert uploaded.name.startswith("files/") and uploaded.size_bytes > 0
    job = client.batches.create(
        model="gemini-3-pro-image", src=uploaded.name, config={"display_name": "shard-1"}
    )
    assert job.state.value == "JOB_STATE_PENDING" and job.display_name == "shard-1"
    job = _wait_gemini(client, job.name)
    assert job.state.value == "JOB_STATE_SUCCEEDED"
    lines = [
        json.loads(line) for line in client.files.download(file=job.dest.file_name).splitlines()
    ]
    assert [line["key"] for line in lines] == ["k0", "k1", "k2"]
    parts = lines[0]["response"]["candidates"][0]["content"]["parts"]
    assert parts[0]["inlineData"]["mimeType"] == "image/png"
    assert [b.name for b in client.batches.list()] == [job.name]
    assert emu.gemini.batches.created == [job.name]


def test_gemini_inline_batch_cancel_and_line_errors(emu: Emulator) -> None:
    client = _gemini(emu)
    emu.gemini.block_next("IMAGE_SAFETY")
    requests = [
        {"contents": [{"parts": [{"text": f"x{i}"}], "role": "user"}],
         "config": {"response_modalities": ["IMAGE"]}}
        for i in range(2)
    ]  # fmt: skip
    job = _wait_gemini(client, client.batches.create(model="gemini-3-pro-image", src=requests).name)
    answers = job.dest.inlined_responses
    assert [a.response.candidates[0].finish_reason.value for a in answers] == [
        "IMAGE_SAFETY",
        "STOP",
    ]
    emu.gemini.batches.engine.schedule.pending = 5.0
    slow = client.batches.create(model="gemini-3-pro-image", src=requests)
    client.batches.cancel(name=slow.name)
    assert _wait_gemini(client, slow.name).state.value == "JOB_STATE_CANCELLED"


def test_gemini_expired_batch_keeps_what_was_answered(emu: Emulator, tmp_path: Path) -> None:
    client = _gemini(emu)
    emu.gemini.batches.engine.expire_next(0.4)
    emu.gemini.fail_next(503)  # a per-line error, as a direct call would get it
    uploaded = client.files.upload(
        file=_gemini_lines(tmp_path / "in.jsonl", 5), config={"mime_type": "application/jsonl"}
    )
    job = _wait_gemini(client, client.batches.create(model="gemini-3-pro-image",
                                                      src=uploaded.name).name)  # fmt: skip
    assert job.state.value == "JOB_STATE_EXPIRED"
    lines = [
        json.loads(line) for line in client.files.download(file=job.dest.file_name).splitlines()
    ]
    assert [line["key"] for line in lines] == ["k0", "k1"]
    assert lines[0]["error"]["code"] == 503 and "response" in lines[1]


def test_gemini_download_paths_and_auth(emu: Emulator, tmp_path: Path) -> None:
    import httpx

    client = _gemini(emu)
    uploaded = client.files.upload(file=_gemini_lines(tmp_path / "in.jsonl", 1),
                                   config={"mime_type": "application/jsonl"})  # fmt: skip
    job = _wait_gemini(client, client.batches.create(model="gemini-3-pro-image",
                                                      src=uploaded.name).name)  # fmt: skip
    name = job.dest.file_name
    key = {"x-goog-api-key": emu.gemini.api_key}
    rest = httpx.get(f"{emu.gemini.origin}/download/v1beta/{name}:download?alt=media", headers=key)
    assert rest.status_code == 200 and json.loads(rest.content)["key"] == "k0"
    assert rest.content == client.files.download(file=name)
    assert httpx.get(f"{emu.gemini.origin}/v1beta/{name}:download?alt=media").status_code == 403


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def _openai(emu: Emulator) -> Any:
    return openai.OpenAI(api_key=emu.openai.api_key, base_url=emu.openai.url, max_retries=0)


def _wait_openai(client: Any, batch_id: str) -> Any:
    for _ in range(400):
        batch = client.batches.retrieve(batch_id)
        if batch.status in TERMINAL_OPENAI:
            return batch
        time.sleep(0.02)
    raise AssertionError(f"{batch_id} did not finish")


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_openai_batch_of_generations_with_the_stock_sdk(emu: Emulator) -> None:
    client = _openai(emu)
    lines = [
        {"custom_id": f"job-{i}", "method": "POST", "url": "/v1/images/generations",
         "body": {"model": "gpt-image-2", "prompt": f"a fox {i}", "size": "1024x1024"}}
        for i in range(3)
    ]  # fmt: skip
    lines[1]["body"]["seed"] = 7  # OpenAI's models refuse it: a line error, not a batch error
    uploaded = client.files.create(file=("in.jsonl", _jsonl(lines)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes > 0
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/images/generations",
        completion_window="24h", metadata={"seedless_shard": "s1"},
    )  # fmt: skip
    batch = _wait_openai(client, batch.id)
    assert batch.status == "completed" and batch.metadata == {"seedless_shard": "s1"}
    assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 1)
    out = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert [x["custom_id"] for x in out] == ["job-0", "job-2"]
    assert out[0]["response"]["body"]["data"][0]["b64_json"]
    errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert errors[0]["custom_id"] == "job-1" and errors[0]["response"]["status_code"] == 400
    assert [b.id for b in client.batches.list()] == [batch.id] == emu.openai.batches.created


def test_openai_batch_of_json_edits_expires_keeping_answers(emu: Emulator) -> None:
    client = _openai(emu)
    url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    lines = [
        {"custom_id": f"edit-{i}", "method": "POST", "url": "/v1/images/edits",
         "body": {"model": "gpt-image-2", "prompt": "darker", "images": [{"image_url": url}]}}
        for i in range(5)
    ]  # fmt: skip
    uploaded = client.files.create(file=("in.jsonl", _jsonl(lines)), purpose="batch")
    emu.openai.batches.engine.expire_next(0.4)
    batch = _wait_openai(client, client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/images/edits", completion_window="24h"
    ).id)  # fmt: skip
    assert batch.status == "expired" and batch.request_counts.completed == 2
    errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert [e["error"]["code"] for e in errors] == ["batch_expired"] * 3
    assert client.files.delete(uploaded.id).deleted


def test_openai_cancel(emu: Emulator) -> None:
    client = _openai(emu)
    emu.openai.batches.engine.schedule.pending = 5.0
    line = {"custom_id": "a", "method": "POST", "url": "/v1/images/generations",
            "body": {"model": "gpt-image-2", "prompt": "a fox"}}  # fmt: skip
    uploaded = client.files.create(file=("in.jsonl", _jsonl([line])), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/images/generations",
                                  completion_window="24h")  # fmt: skip
    assert client.batches.cancel(batch.id).status == "cancelling"
    done = _wait_openai(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at


def test_openai_direct_json_edit(emu: Emulator) -> None:
    url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    answer = _openai(emu).post(
        "/images/edits",
        body={"model": "gpt-image-2", "prompt": "darker", "images": [{"image_url": url}]},
        cast_to=object,
    )
    assert answer["data"][0]["b64_json"]
