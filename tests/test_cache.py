"""DiskCache: content-addressed storage of results, shared safely, damaged entries are misses."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless import FunctionProvider, ModelSpec, ProviderReply, RawImage
from seedless.cache import DiskCache, default_cache_dir
from seedless.models import ImageResult

TODAY = date(2026, 11, 25)


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value % 256, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _result(data: bytes, **fields: Any) -> ImageResult:
    return ImageResult(
        data=data,
        mime_type="image/png",
        provider="fake",
        model="seeded",
        seed=fields.pop("seed", 7),
        request_hash="ab" * 32,
        request={"prompt": "a fox", "seed": 7},
        cost_usd=0.02,
        sha256=hashlib.sha256(data).hexdigest(),
        **fields,
    )


def test_round_trip_keeps_bytes_and_provenance(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    key = "cd" * 32
    assert cache.get(key) is None and not cache.contains(key) and len(cache) == 0
    results = [_result(_png(1)), _result(_png(2), index=1)]
    cache.put(key, results)
    back = cache.get(key)
    assert back is not None and key in cache and len(cache) == 1
    assert [r.data for r in back] == [r.data for r in results]
    assert [r.index for r in back] == [0, 1]
    assert back[0].request == results[0].request and back[0].seed == 7
    assert back[0].created_at == results[0].created_at
    # bytes are stored once, under their hash, apart from the metadata
    blob = tmp_path / "v1" / "blobs" / results[0].sha256[:2] / results[0].sha256
    assert blob.read_bytes() == results[0].data
    entry = next((tmp_path / "v1" / "entries").glob("*/*.json"))
    assert "data" not in json.loads(entry.read_text())["results"][0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_damaged_or_missing_blob_is_a_miss(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    result = _result(_png(3))
    cache.put("ef" * 32, [result])
    blob = tmp_path / "v1" / "blobs" / result.sha256[:2] / result.sha256
    blob.write_bytes(b"not the image")
    assert cache.get("ef" * 32) is None
    assert not blob.exists()  # the damaged blob is dropped
    cache.put("ef" * 32, [result])
    assert cache.get("ef" * 32) is not None
    entry = next((tmp_path / "v1" / "entries").glob("*/*.json"))
    entry.write_text("{ torn")
    assert cache.get("ef" * 32) is None


def test_contains_agrees_with_get_when_a_blob_is_gone(tmp_path: Path) -> None:
    # the batch budgets a job the cache "contains" at $0: it must then be served from it
    cache = DiskCache(tmp_path)
    results = [_result(_png(4)), _result(_png(5), index=1)]
    cache.put("ab" * 32, results)
    assert cache.contains("ab" * 32)
    (tmp_path / "v1" / "blobs" / results[1].sha256[:2] / results[1].sha256).unlink()
    assert cache.get("ab" * 32) is None and not cache.contains("ab" * 32)
    assert "ab" * 32 not in cache
    entry = next((tmp_path / "v1" / "entries").glob("*/*.json"))
    entry.write_text("{ torn")
    assert not cache.contains("ab" * 32)


def test_odd_keys_are_hashed_into_safe_names(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put("../../etc/passwd", [_result(_png(4))])
    assert cache.get("../../etc/passwd") is not None
    assert all(tmp_path in p.parents for p in tmp_path.rglob("*"))


def test_concurrent_writers_and_readers_never_see_partial_entries(tmp_path: Path) -> None:
    key = "12" * 32
    results = [_result(_png(i), index=i) for i in range(3)]
    seen: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        for _ in range(20):
            DiskCache(tmp_path).put(key, results)

    def reader() -> None:
        try:
            for _ in range(200):
                got = DiskCache(tmp_path).get(key)
                if got is not None:
                    assert [r.data for r in got] == [r.data for r in results]
                    seen.append(len(got))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    DiskCache(tmp_path).put(key, results)
    threads = [threading.Thread(target=writer) for _ in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen and set(seen) == {3}


def test_write_failures_never_fail_the_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    cache = DiskCache(blocker)
    cache.put("34" * 32, [_result(_png(5))])
    assert cache.get("34" * 32) is None
    assert "could not store" in caplog.text


def test_default_directory_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_cache_dir({"SEEDLESS_CACHE_DIR": str(tmp_path)}) == tmp_path
    import sys

    if sys.platform.startswith("linux"):  # platformdirs reads the XDG variables
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert default_cache_dir({}) == tmp_path / "seedless"
    cache = DiskCache()
    assert isinstance(cache.directory, Path)


async def test_client_serves_a_seeded_rerun_from_disk_at_zero_cost(tmp_path: Path) -> None:
    def handler(request: Any, spec: ModelSpec) -> ProviderReply:
        return ProviderReply(images=[RawImage(_png(request.seed or 0), "image/png")])

    matrix = seedless.Matrix(
        [ModelSpec(provider="fake", id="seeded", operations=frozenset({"generate"}), seed="seeded",
                   prices={"*": 0.04})]
    )  # fmt: skip
    provider = FunctionProvider(handler)

    def client() -> seedless.AsyncClient:
        # a fresh client and cache object each time: only the folder is shared
        return seedless.AsyncClient(
            providers={"fake": provider}, matrix=matrix, clock=lambda: TODAY,
            cache=DiskCache(tmp_path),
        )  # fmt: skip

    first = await client().generate("a fox", model="fake:seeded", seed=11)
    again = await client().generate("a fox", model="fake:seeded", seed=11)
    assert len(provider.calls) == 1
    assert not first.image.cached and first.image.cost_usd == 0.04
    assert again.image.cached and again.image.cost_usd == 0.0
    assert again.image.data == first.image.data and again.image.seed == 11
    await client().generate("a fox", model="fake:seeded")  # no seed: never cached
    await client().generate("a fox", model="fake:seeded")
    assert len(provider.calls) == 3
