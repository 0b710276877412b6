"""The client: local edits end to end, validation before any socket, provenance, sync facade."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import seedless
from seedless import Adjust, FunctionProvider, ModelSpec, ProviderReply, RawImage, RetryPolicy
from seedless.client import derive_seed
from seedless.errors import (
    ConfigurationError,
    ModelRetiredError,
    ProviderError,
    UnsupportedCapabilityError,
)
from seedless.models import ImageResult

TODAY = date(2026, 11, 25)


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    opened: list[Any] = []

    def forbidden(*args: Any, **kwargs: Any) -> None:
        opened.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    return opened


def test_local_edit_end_to_end(photos: list[Path]) -> None:
    with seedless.Client(clock=lambda: TODAY) as client:
        out = client.edit(photos[0], effect=Adjust(brightness=0.85))
        again = client.edit(photos[0], effect=Adjust(brightness=0.85))
    image = out.image
    assert image.provider == "local" and image.model == "pillow"
    assert image.seed_mode == "deterministic" and image.cost_usd == 0.0
    assert image.data == again.image.data and image.sha256 == again.image.sha256
    assert image.request_hash == again.image.request_hash
    assert image.request["effect"]["brightness"] == 0.85
    assert image.request["images"][0]["sha256"] == seedless.ImageInput.of(photos[0]).sha256
    from PIL import Image

    with Image.open(photos[0]) as original:
        assert image.to_pil().size == original.size
    assert image._repr_png_().startswith(b"\x89PNG")
    assert "bytes sha256:" in repr(image) and len(repr(image)) < 300


def test_saving_a_result_to_a_new_folder_path(photos: list[Path], tmp_path: Path) -> None:
    with seedless.Client(clock=lambda: TODAY) as client:
        image = client.edit(photos[0], effect=Adjust(brightness=0.85)).image
    written = image.save(f"{tmp_path / 'out'}/")  # as docs/providers/gemini.md writes it
    assert written.parent == tmp_path / "out" and written.read_bytes() == image.data
    assert image.save(tmp_path / "b.jpg") == tmp_path / "b.jpg"


def test_seed_on_gemini_refused_with_no_socket(no_sockets: list[Any]) -> None:
    client = seedless.Client(clock=lambda: TODAY)
    with pytest.raises(UnsupportedCapabilityError) as info:
        client.generate("a fox", model="gemini:gemini-3-pro-image", seed=42)
    assert "seed" in str(info.value) and "gemini:gemini-3-pro-image" in str(info.value)
    assert info.value.alternatives
    for alternative in info.value.alternatives:
        assert alternative in str(info.value)
    # the retired preview id the first issue named is refused as retired, before any socket
    with pytest.raises(ModelRetiredError, match="gemini-3-pro-image"):
        client.generate("a fox", model="gemini:gemini-3-pro-image-preview", seed=42)
    with pytest.raises(UnsupportedCapabilityError):
        client.generate(
            "a fox", model="gemini:gemini-3-pro-image-preview", seed=42, allow_retired=True
        )
    assert no_sockets == []


def test_missing_provider_is_a_configuration_error_not_importerror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    from seedless import _registry

    broken = metadata.EntryPoint("gemini", "seedless.providers.nonexistent:X", _registry.GROUP)
    monkeypatch.setattr(_registry, "_entry_points", lambda: {"gemini": broken})
    client = seedless.Client(clock=lambda: TODAY)
    with pytest.raises(ConfigurationError, match="could not be imported") as info:
        client.generate("a fox", model="gemini:gemini-3-pro-image")
    assert "seedless.providers.nonexistent" in str(info.value)


def test_builtin_providers_register_as_entry_points() -> None:
    from seedless import _registry

    assert {"local", "gemini", "vertex", "openai"} <= set(_registry.known_protocols())
    from seedless.providers.openai import OpenAIProvider

    assert _registry.load_factory("openai") is OpenAIProvider


def _fake_client(**kwargs: Any) -> tuple[seedless.AsyncClient, FunctionProvider]:
    calls: list[Any] = []

    def handler(request: Any, spec: ModelSpec) -> ProviderReply:
        calls.append(request)
        return ProviderReply(
            images=[
                RawImage(data=f"{request.seed}:{i}".encode(), mime_type="image/png")
                for i in range(request.n)
            ],
            usage={"tokens": 1},
        )

    fake = FunctionProvider(handler)
    matrix = seedless.Matrix(
        [
            ModelSpec(
                provider="fake",
                id="seeded",
                operations=frozenset({"generate"}),
                seed="seeded",
                seed_range=(1, 1000),
                images_per_call=4,
                prices={"*": 0.02},
            ),
        ]
    )
    return seedless.AsyncClient(
        providers={"fake": fake}, matrix=matrix, clock=lambda: TODAY, **kwargs
    ), fake


async def test_fan_out_splits_calls_with_recorded_derived_seeds() -> None:
    client, fake = _fake_client()
    out = await client.generate("p", model="fake:seeded", n=6, seed=7)
    assert [call.n for call in fake.calls] == [4, 2]
    seeds = [call.seed for call in fake.calls]
    assert seeds[0] == 7 and seeds[1] == derive_seed(7, 1, (1, 1000)) and 1 <= seeds[1] <= 1000
    assert [image.seed for image in out.images] == [7] * 4 + [seeds[1]] * 2
    assert out.cost_usd == pytest.approx(0.12)
    assert all(image.seed_mode == "seeded" for image in out.images)


async def test_endpoint_price_override_is_used() -> None:
    client, _ = _fake_client(
        endpoints=[seedless.Endpoint(name="fake", protocol="local", prices={"seeded": 0.005})]
    )
    out = await client.generate("p", model="fake:seeded", seed=1)
    assert out.image.cost_usd == 0.005


async def test_cache_serves_seeded_requests_at_zero_cost() -> None:
    store: dict[str, Any] = {}

    class Cache:
        def get(self, key: str) -> Any:
            return store.get(key)

        def put(self, key: str, results: Any) -> None:
            store[key] = list(results)

    client, fake = _fake_client(cache=Cache())
    first = await client.generate("p", model="fake:seeded", seed=3)
    second = await client.generate("p", model="fake:seeded", seed=3)
    assert len(fake.calls) == 1
    assert (
        second.image.cached
        and second.image.cost_usd == 0.0
        and second.image.data == first.image.data
    )
    await client.generate("p", model="fake:seeded")  # no seed: not replayable, not cached
    await client.generate("p", model="fake:seeded")
    assert len(fake.calls) == 3


async def test_a_failed_call_keeps_the_images_the_other_calls_delivered() -> None:
    client, fake = _fake_client()
    failed = asyncio.Event()
    inner = fake.handler

    async def handler(request: Any, spec: ModelSpec) -> ProviderReply:
        if request.seed != 7:  # the second wire call fails first ...
            failed.set()
            raise ProviderError("the host refused", provider="fake", status=400)
        await failed.wait()  # ... and the first answers after it
        reply = inner(request, spec)
        assert isinstance(reply, ProviderReply)
        return reply

    fake.handler = handler
    with pytest.raises(ProviderError, match="the host refused") as info:
        await client.generate("p", model="fake:seeded", n=6, seed=7)
    partial = info.value.partial
    assert [image.seed for image in partial] == [7] * 4
    assert sum(image.cost_usd or 0 for image in partial) == pytest.approx(0.08)
    assert [image.data for image in partial] == [f"7:{i}".encode() for i in range(4)]


def test_sync_client_works_inside_a_running_loop(photos: list[Path]) -> None:
    async def notebook_cell() -> bytes:
        with seedless.Client(clock=lambda: TODAY) as client:
            return client.edit(photos[1], effect=Adjust(contrast=1.2)).image.data

    assert asyncio.run(notebook_cell())


def test_listeners_see_each_call(photos: list[Path]) -> None:
    events: list[str] = []
    with seedless.Client(
        clock=lambda: TODAY, listeners=[lambda e: events.append(e.kind)]
    ) as client:
        client.edit(photos[0], effect=Adjust(gamma=1.2))
    assert events == ["start", "done"]


def test_local_without_effect_is_explained(photos: list[Path]) -> None:
    with (
        seedless.Client(clock=lambda: TODAY) as client,
        pytest.raises(seedless.RequestError, match="effect"),
    ):
        client.edit(photos[0], "make it darker")


def test_explicit_endpoint_keeps_the_environment_key() -> None:
    client = seedless.AsyncClient(
        endpoints=[
            seedless.Endpoint(name="openai", protocol="openai", base_url="http://127.0.0.1:1/v1")
        ],
        environ={"OPENAI_API_KEY": "env-key-123"},
    )
    endpoint = client.endpoints["openai"]
    assert endpoint.base_url == "http://127.0.0.1:1/v1" and endpoint.key() == "env-key-123"


def test_sync_batch_runs_and_resumes(photos: list[Path], tmp_path: Path) -> None:
    jobs = [seedless.Job.edit(p, effect=Adjust(brightness=0.9), output=p.name) for p in photos]
    with seedless.Client(clock=lambda: TODAY) as client:
        first = seedless.run_batch(client, jobs, tmp_path / "out", progress=False)
        again = seedless.run_batch(client, jobs, tmp_path / "out", progress=False)
    assert first.done == len(photos) and again.already_done == len(photos) and again.done == 0
    written = sorted(
        p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith((".", "seedless-"))
    )
    assert written == sorted(p.name for p in photos)


def test_sync_client_is_typed_like_the_async_one() -> None:
    # mypy --strict users see the real signature and return types, not **kwargs: Any / Any
    import inspect
    from typing import get_type_hints

    sync, engine = inspect.signature(seedless.Client), inspect.signature(seedless.AsyncClient)
    assert list(sync.parameters) == list(engine.parameters)
    for name in ("resolve", "prepare", "price", "provider"):
        method = getattr(seedless.Client, name)  # defined, not reached through __getattr__
        assert get_type_hints(method)["return"] == get_type_hints(
            getattr(seedless.AsyncClient, name)
        )["return"]
    for name in ("matrix", "endpoints"):
        assert isinstance(inspect.getattr_static(seedless.Client, name), property)
    client = seedless.Client(clock=lambda: TODAY)
    assert client.resolve("nano-banana-pro").key == "gemini:gemini-3-pro-image"
    assert client.matrix is client.aio.matrix and client.endpoints is client.aio.endpoints


class _Closable(FunctionProvider):
    def __init__(self, handler: Any) -> None:
        super().__init__(handler)
        self.in_flight = 0
        self.closed_with: list[int] = []  # calls in flight at each aclose
        self.close_called = threading.Event()

    async def call(self, request: Any, spec: ModelSpec) -> ProviderReply:
        self.in_flight += 1
        try:
            return await super().call(request, spec)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed_with.append(self.in_flight)
        self.close_called.set()


def _reply(request: Any, spec: ModelSpec) -> ProviderReply:
    return ProviderReply(images=[RawImage(data=b"x", mime_type="image/png")])


_FAKE_MATRIX = seedless.Matrix(
    [ModelSpec(provider="fake", id="m", operations=frozenset({"generate"}), prices={"*": 0.0})]
)


def test_close_closes_a_provider_made_before_any_request() -> None:
    provider = _Closable(_reply)
    client = seedless.Client(providers={"fake": provider}, matrix=_FAKE_MATRIX)
    assert client.provider("fake") is provider
    client.close()
    assert provider.closed_with == [0]


def test_close_from_another_thread_waits_for_a_running_call() -> None:
    started, release = threading.Event(), threading.Event()

    async def slow(request: Any, spec: ModelSpec) -> ProviderReply:
        started.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        return _reply(request, spec)

    provider = _Closable(slow)
    client = seedless.Client(providers={"fake": provider}, matrix=_FAKE_MATRIX, clock=lambda: TODAY)
    results: list[Any] = []
    caller = threading.Thread(
        target=lambda: results.append(client.generate("p", model="fake:m")), daemon=True
    )
    closer = threading.Thread(target=client.close, daemon=True)
    caller.start()
    started.wait()
    closer.start()
    provider.close_called.wait(0.5)  # a close that does not wait gets here at once
    release.set()
    for thread in (caller, closer):
        thread.join(timeout=30)  # a hang guard: a closed loop would never answer the call
        assert not thread.is_alive()
    assert len(results) == 1 and results[0].image.data == b"x"
    assert provider.closed_with == [0]  # closed after the call, not under it


def _image(name: str) -> ImageResult:
    """A bare ImageResult whose bytes are ``name``."""
    data = name.encode()
    return ImageResult(
        data=data,
        mime_type="image/png",
        provider="fake",
        model="m",
        request_hash="h",
        sha256=hashlib.sha256(data).hexdigest(),
    )


async def test_gather_keeping_raises_the_first_failure_with_every_delivered_image() -> None:
    from seedless.client import gather_keeping
    released = asyncio.Event()

    async def ok(name: str) -> list[ImageResult]:
        await released.wait()  # answers after the failure
        return [_image(name)]

    async def fails() -> list[ImageResult]:
        error = ProviderError("refused", provider="fake", status=400)
        error.partial = (_image("own"),)  # a failure that itself delivered part of its images
        released.set()
        raise error

    released.set()
    results = await gather_keeping([ok("a"), ok("b")], images_of=list)
    assert [[i.data for i in batch] for batch in results] == [[b"a"], [b"b"]]
    released.clear()
    with pytest.raises(ProviderError, match="refused") as info:
        await gather_keeping([ok("a"), fails(), ok("b")], images_of=list)
    assert [i.data for i in info.value.partial] == [b"a", b"own", b"b"]


async def test_gather_keeping_cancelled_keeps_the_images_of_the_calls_that_finished() -> None:
    from seedless.client import gather_keeping
    held = asyncio.Event()  # never set: the call still in flight when the caller gives up
    finished: list[str] = []

    async def ok(name: str) -> list[ImageResult]:
        finished.append(name)
        return [_image(name)]

    async def hangs() -> list[ImageResult]:
        await held.wait()
        return [_image("never")]

    async def fails() -> list[ImageResult]:
        error = ProviderError("refused", provider="fake", status=400)
        error.partial = (_image("own"),)
        raise error

    task = asyncio.ensure_future(
        gather_keeping([ok("a"), hangs(), fails(), ok("b")], images_of=list)
    )
    while len(finished) < 2:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await task
    assert [i.data for i in info.value.partial] == [b"a", b"own", b"b"]  # paid for, not lost


async def test_gather_keeping_cancelled_before_its_calls_start_leaves_none_unawaited() -> None:
    """A batch that stops (a full disk, Ctrl-C) can cancel a request the moment its calls are
    scheduled: the calls never run, and none may warn "was never awaited" when collected
    (under ``-W error`` that warning failed a CI run)."""
    import gc
    import warnings

    from seedless.client import gather_keeping

    async def call(name: str) -> list[ImageResult]:
        await asyncio.sleep(1)
        return [_image(name)]

    task = asyncio.ensure_future(gather_keeping([call("a"), call("b")], images_of=list))
    await asyncio.sleep(0)  # the task reached its gather: the calls are scheduled, not started
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await task
    assert info.value.partial == ()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in seen if "never awaited" in str(w.message)]


# ---------------------------------------------------------------- retry policy and polling


class _Polled:
    """A two-phase provider for an asynchronous service: a submission, then polls."""

    def __init__(self, pending: int, fail_first_poll: bool = False) -> None:
        self.pending = pending
        self.fail_first_poll = fail_first_poll
        self.sent: list[str] = []

    def plan(self, request: Any, spec: ModelSpec) -> seedless.WireRequest:
        return seedless.WireRequest(
            provider=spec.provider, model=spec.key, shape="task", method="POST",
            url="https://tasks.example/v1/submit", path="/v1/submit", json={"prompt": "x"},
        )  # fmt: skip

    async def send(self, wire: seedless.WireRequest, spec: ModelSpec) -> ProviderReply:
        self.sent.append(wire.path)
        if wire.path == "/v1/poll" and self.fail_first_poll:
            self.fail_first_poll = False
            raise seedless.ServerError("poll dropped", provider=spec.provider)
        if self.pending > 0:
            self.pending -= 1
            poll = seedless.WireRequest(
                provider=spec.provider, model=spec.key, shape="task", method="GET",
                url="https://tasks.example/v1/poll", path="/v1/poll",
            )  # fmt: skip
            return ProviderReply(images=[], follow=poll, poll_after=0.0)
        return ProviderReply(images=[RawImage(data=b"done", mime_type="image/png")])

    async def aclose(self) -> None:
        return None


def test_an_accepted_task_is_polled_until_ready_and_never_resubmitted() -> None:
    polled = _Polled(pending=2, fail_first_poll=True)
    retry = RetryPolicy(initial=0.001, max_backoff=0.001)
    with seedless.Client(
        providers={"fake": polled}, matrix=_FAKE_MATRIX, clock=lambda: TODAY, retry=retry
    ) as client:
        out = client.generate("x", model="fake:m")
    assert out.image.data == b"done"
    # one submission; the dropped poll was retried as a poll
    assert polled.sent == ["/v1/submit", "/v1/poll", "/v1/poll", "/v1/poll"]


def test_polling_stops_at_the_policys_poll_timeout() -> None:
    polled = _Polled(pending=10**6)
    retry = RetryPolicy(poll_interval=0.01, poll_timeout=0.05)
    with seedless.Client(
        providers={"fake": polled}, matrix=_FAKE_MATRIX, clock=lambda: TODAY, retry=retry
    ) as client, pytest.raises(seedless.TimeoutError, match="poll_timeout"):
        client.generate("x", model="fake:m")
    assert polled.sent.count("/v1/submit") == 1


def test_a_retry_after_longer_than_the_cap_is_not_waited_for() -> None:
    calls: list[int] = []

    def busy(request: Any, spec: ModelSpec) -> ProviderReply:
        calls.append(1)
        raise seedless.RateLimitError("slow down", provider="fake", retry_after=3600)

    retry = RetryPolicy(max_retry_after=60)
    with seedless.Client(
        providers={"fake": FunctionProvider(busy)}, matrix=_FAKE_MATRIX, clock=lambda: TODAY,
        retry=retry,
    ) as client, pytest.raises(seedless.RateLimitError, match="3600s") as info:  # fmt: skip
        client.generate("x", model="fake:m")
    assert len(calls) == 1 and "max_retry_after=60" in str(info.value)


def test_x_should_retry_is_honoured_for_every_provider() -> None:
    from seedless.retry import honour_should_retry

    server = seedless.ServerError("busy", provider="p")
    assert honour_should_retry(server, {"X-Should-Retry": "false"}).retryable is False
    client_error = seedless.ProviderError("bad", provider="p", status=400)
    assert honour_should_retry(client_error, {"x-should-retry": "true"}).retryable is True
    assert honour_should_retry(seedless.ServerError("x"), {}).retryable is True
