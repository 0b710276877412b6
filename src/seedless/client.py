"""``Client``, the synchronous facade over :class:`AsyncClient` (the engine, in
:mod:`seedless._engine`), and every name of the client layer users import.

``Client`` validates and plans in the caller's thread, then drives the engine's coroutines on
a private event-loop thread, so it works in plain scripts and inside a running event loop (a
Jupyter cell) alike; it never calls ``asyncio.run`` inside a running loop.

Strategies and batches build on the client from the layers above it:
:func:`seedless.best_of`, :func:`seedless.replay`, :func:`seedless.run_batch`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from ._calls import (
    CallEvent,
    ExecuteHooks,
    Listener,
    PreparedCall,
    PreparedRequest,
    call_results,
    derive_seed,
    gather_keeping,
)
from ._engine import AsyncClient, ResultCache, _moved, edit_request, generate_request
from .capabilities import Matrix, ModelSpec, SeedPolicy
from .config import Endpoint
from .effects import Effect
from .models import Generation, ImageLike, ImageRequest
from .providers.base import CallProvider, Provider
from .retry import RetryPolicy

__all__ = [
    "AsyncClient",
    "CallEvent",
    "Client",
    "ExecuteHooks",
    "PreparedCall",
    "PreparedRequest",
    "ResultCache",
    "call_results",
    "derive_seed",
    "edit_request",
    "gather_keeping",
    "generate_request",
]

T = TypeVar("T")


#: Seconds a cancelled sync call may take to unwind (finish writing, commit its ledger).
_CANCEL_GRACE = 30.0


class _LoopThread:
    """A private event loop on a daemon thread, so sync calls work inside a running loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="seedless-loop", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # Ctrl-C in the caller cancels the work on the loop, and waits (briefly) for it to
            # unwind, so that a batch's ledger is settled before the caller sees the interrupt.
            future.cancel()
            with contextlib.suppress(BaseException):
                concurrent.futures.wait([future], timeout=_CANCEL_GRACE)
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class Client:
    """The synchronous client: the same arguments and methods as :class:`AsyncClient`.

    Use it as a context manager, or call :meth:`close`, to release connections::

        with seedless.Client() as client:
            out = client.edit("photo.jpg", effect=seedless.Adjust(brightness=0.85))
    """

    def __init__(
        self,
        *,
        endpoints: Iterable[Endpoint] = (),
        providers: Mapping[str, Provider | CallProvider] | None = None,
        matrix: Matrix | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
        seed_policy: SeedPolicy = "strict",
        allow_retired: bool = False,
        clock: Callable[[], date] | None = None,
        environ: Mapping[str, str] | None = None,
        cache: ResultCache | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self._async = AsyncClient(
            endpoints=endpoints,
            providers=providers,
            matrix=matrix,
            retry=retry,
            max_concurrency=max_concurrency,
            seed_policy=seed_policy,
            allow_retired=allow_retired,
            clock=clock,
            environ=environ,
            cache=cache,
            listeners=listeners,
        )
        self._loop: _LoopThread | None = None
        self._loop_lock = threading.Lock()
        self._idle = threading.Condition(self._loop_lock)  # notified when a call ends
        self._running = 0  # calls running on the loop, from any thread
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False

    @property
    def aio(self) -> AsyncClient:
        """The underlying :class:`AsyncClient`."""
        return self._async

    # configuration and no-I/O methods, typed as the engine's (see AsyncClient)

    @property
    def matrix(self) -> Matrix:
        return self._async.matrix

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self._async.endpoints

    def resolve(self, model: str) -> ModelSpec:
        """The matrix row for a model string; see :meth:`AsyncClient.resolve`."""
        return self._async.resolve(model)

    def prepare(
        self,
        request: ImageRequest,
        *,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> PreparedRequest:
        """Validate and plan a request, no I/O; see :meth:`AsyncClient.prepare`."""
        return self._async.prepare(request, seed_policy=seed_policy, allow_retired=allow_retired)

    def price(self, spec: ModelSpec, size: str | None) -> float | None:
        """Price per image; see :meth:`AsyncClient.price`."""
        return self._async.price(spec, size)

    def provider(self, name: str) -> Provider:
        """The provider for endpoint ``name``; see :meth:`AsyncClient.provider`."""
        return self._async.provider(name)

    def execute(
        self, prepared: PreparedRequest, *, hooks: ExecuteHooks | None = None
    ) -> Generation:
        """Run a prepared request's wire calls; see :meth:`AsyncClient.execute`."""
        return self._run(self._async.execute(prepared, hooks=hooks))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._loop_lock:
            if self._closed:
                coro.close()
                self._async._check_open()  # raises: the engine is closed too
            if self._loop is None:
                self._loop = _LoopThread()
                self._finalizer = weakref.finalize(self, self._loop.close)
            loop = self._loop
            self._running += 1
        try:
            return loop.run(coro)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    if not TYPE_CHECKING:  # other engine attributes (retry, clock ...), untyped, at run time

        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            _moved(type(self).__name__, name)
            return getattr(self._async, name)

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        n: int = 1,
        seed: int | None = None,
        aspect_ratio: str | None = None,
        size: str | None = None,
        negative_prompt: str | None = None,
        add_watermark: bool | None = None,
        output_mime_type: str | None = None,
        options: Mapping[str, Any] | None = None,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> Generation:
        """Text to image(s); see :meth:`AsyncClient.generate`."""
        request = generate_request(
            prompt,
            model=model,
            n=n,
            seed=seed,
            aspect_ratio=aspect_ratio,
            size=size,
            negative_prompt=negative_prompt,
            add_watermark=add_watermark,
            output_mime_type=output_mime_type,
            options=options,
        )
        return self.run(request, seed_policy=seed_policy, allow_retired=allow_retired)

    def edit(
        self,
        images: ImageLike | Sequence[ImageLike],
        prompt: str | None = None,
        *,
        model: str = "local:pillow",
        effect: Effect | None = None,
        n: int = 1,
        seed: int | None = None,
        aspect_ratio: str | None = None,
        size: str | None = None,
        negative_prompt: str | None = None,
        add_watermark: bool | None = None,
        output_mime_type: str | None = None,
        options: Mapping[str, Any] | None = None,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> Generation:
        """Edit images; see :meth:`AsyncClient.edit`."""
        request = edit_request(
            images,
            prompt,
            model=model,
            effect=effect,
            n=n,
            seed=seed,
            aspect_ratio=aspect_ratio,
            size=size,
            negative_prompt=negative_prompt,
            add_watermark=add_watermark,
            output_mime_type=output_mime_type,
            options=options,
        )
        return self.run(request, seed_policy=seed_policy, allow_retired=allow_retired)

    def run(
        self,
        request: ImageRequest,
        *,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> Generation:
        """Send a request object; see :meth:`AsyncClient.run`. Validation runs in the caller's
        thread, before the private loop is even started."""
        prepared = self._async.prepare(
            request, seed_policy=seed_policy, allow_retired=allow_retired
        )
        return self._run(self._async.execute(prepared))

    def close(self) -> None:
        """Close connections and stop the private loop thread.

        Calls running in other threads are waited for; afterwards the client sends nothing
        (using it raises :class:`~seedless.errors.ClientClosedError`; closing again does
        nothing). Providers made before any request are closed too.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0)
            if self._closed:
                return
            self._closed = True
            loop, self._loop = self._loop, None
            finalizer, self._finalizer = self._finalizer, None
            if loop is None:
                if not self._async._providers:
                    self._async._mark_closed()  # no connection was ever made
                    return
                loop = _LoopThread()  # a provider exists, but no request started the loop
            try:
                loop.run(self._async.aclose())
            finally:
                if finalizer is not None:
                    finalizer()
                else:
                    loop.close()

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called (a closed client is never reopened)."""
        return self._closed

    def __enter__(self) -> Client:
        self._async._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client endpoints={sorted(self._async.endpoints)}>"
