"""``AsyncClient`` (the engine) and ``Client`` (its synchronous facade).

Data flows one way: caller -> resolve the model in the matrix -> lifecycle and capability
checks (no I/O) -> split into wire calls (seeds derived and recorded) -> provider, under the
client's one retry policy and concurrency limit -> results with provenance and cost.

``Client`` validates in the caller's thread, then drives the same coroutines on a private
event-loop thread, so it works in plain scripts and inside a running event loop (a Jupyter
cell) alike; it never calls ``asyncio.run`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import SecretStr

from .capabilities import (
    Matrix,
    ModelSpec,
    SeedPolicy,
    capabilities,
    check_lifecycle,
    user_endpoints,
    validate,
)
from .config import Endpoint, default_endpoints, merge_endpoints
from .effects import Effect
from .errors import ConfigurationError, ModelNotFoundError
from .models import (
    EditRequest,
    GenerateRequest,
    Generation,
    ImageLike,
    ImageRequest,
    ImageResult,
    SeedMode,
    as_inputs,
    canonical_hash,
)
from .providers import create_provider
from .providers.base import Provider, ProviderReply
from .retry import RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from .batch.jobs import Job
    from .batch.runner import BatchReport
    from .strategies.best_of import Ranked
    from .strategies.recipe import Recipe

__all__ = [
    "AsyncClient",
    "CallEvent",
    "Client",
    "PreparedRequest",
    "ResultCache",
    "derive_seed",
    "edit_request",
    "generate_request",
]

T = TypeVar("T")


class ResultCache(Protocol):
    """Where results of replayable requests are kept (see :class:`seedless.cache.DiskCache`)."""

    def get(self, key: str) -> list[ImageResult] | None: ...

    def put(self, key: str, results: Sequence[ImageResult]) -> None: ...


@dataclass(frozen=True)
class CallEvent:
    """What happened to one wire call: "start", "retry" (with error and delay), "done", "error"."""

    kind: str
    model: str
    request_hash: str
    error: BaseException | None = None
    delay: float | None = None
    latency: float | None = None
    cached: bool = False


Listener = Callable[[CallEvent], None]


async def gather_keeping(
    aws: Iterable[Awaitable[T]], *, images_of: Callable[[T], Iterable[ImageResult]]
) -> list[T]:
    """Await every one of ``aws`` to its end and return their results in order.

    If any failed, the first failure is raised once all are done, with ``.partial`` holding
    every image the others delivered (``images_of`` finds them in a result) and the failures'
    own partial images: they were paid for, so none is lost. Cancellation (Ctrl-C) cancels
    the unfinished ones and raises ``CancelledError`` with ``.partial`` holding the images of
    those that had finished (and the partial images of the cancelled and failed ones).
    ``KeyboardInterrupt`` is raised as it is.
    """
    ended: dict[int, tuple[bool, Any]] = {}  # index -> (succeeded, result or exception)

    async def keeping(index: int, aw: Awaitable[T]) -> T:
        try:
            result = await aw
        except BaseException as exc:
            ended[index] = (False, exc)
            raise
        ended[index] = (True, result)
        return result

    def delivered() -> tuple[ImageResult, ...]:
        images: list[ImageResult] = []
        for index in sorted(ended):
            succeeded, outcome = ended[index]
            images.extend(images_of(outcome) if succeeded else getattr(outcome, "partial", ()))
        return tuple(images)

    try:
        outcomes = await asyncio.gather(
            *(keeping(index, aw) for index, aw in enumerate(aws)), return_exceptions=True
        )
    except asyncio.CancelledError as cancelled:
        with contextlib.suppress(AttributeError, TypeError):
            cancelled.partial = delivered()  # type: ignore[attr-defined]
        raise
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if not failures:
        return outcomes  # type: ignore[return-value]
    first = failures[0]
    if isinstance(first, (Exception, asyncio.CancelledError)):
        with contextlib.suppress(AttributeError, TypeError):
            first.partial = delivered()  # type: ignore[union-attr]
    raise first


def derive_seed(seed: int, index: int, seed_range: tuple[int, int] | None) -> int:
    """The seed of wire call ``index`` of a request asking for ``seed``; call 0 uses ``seed``.

    Later calls get seeds derived by hashing, inside the model's range, so they differ from
    each other and from the neighbouring seeds a user might try next.
    """
    if index == 0:
        return seed
    low, high = seed_range or (0, 2**31 - 1)
    digest = hashlib.sha256(f"seedless:{seed}:{index}".encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def generate_request(
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
) -> GenerateRequest:
    """Build a :class:`GenerateRequest` from keyword arguments."""
    return GenerateRequest(
        prompt=prompt,
        model=model,
        n=n,
        seed=seed,
        aspect_ratio=aspect_ratio,
        size=size,
        negative_prompt=negative_prompt,
        add_watermark=add_watermark,
        output_mime_type=output_mime_type,
        options=dict(options or {}),
    )


def edit_request(
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
) -> EditRequest:
    """Build an :class:`EditRequest`; ``images`` may be paths, bytes, PIL images or results."""
    return EditRequest(
        images=as_inputs(images),
        prompt=prompt,
        effect=effect,
        model=model,
        n=n,
        seed=seed,
        aspect_ratio=aspect_ratio,
        size=size,
        negative_prompt=negative_prompt,
        add_watermark=add_watermark,
        output_mime_type=output_mime_type,
        options=dict(options or {}),
    )


@dataclass(frozen=True)
class PreparedRequest:
    """A validated request: its matrix row, and the wire calls it will make (no I/O yet)."""

    spec: ModelSpec
    request: ImageRequest
    calls: tuple[ImageRequest, ...]
    price: float | None

    def estimate_cost(self) -> float | None:
        """Price of all images this request will produce (None if the price is unknown)."""
        return None if self.price is None else self.price * self.request.n


class AsyncClient:
    """The asynchronous client: every request goes through here.

    Args:
        endpoints: endpoint profiles; each replaces the built-in endpoint of the same name
            (``gemini``, ``vertex``, ``openai``, ``local``), whose defaults come from the
            environment.
        providers: ready provider objects by endpoint name (tests, custom backends).
        matrix: the capability matrix (defaults to :func:`seedless.capabilities`).
        retry: the retry policy for remote calls.
        max_concurrency: wire calls in flight at once, across all providers.
        seed_policy: "strict" refuses a seed on best-effort models; "best_effort" sends it.
        allow_retired: let requests reach models past their shutdown date.
        clock: returns today's date for lifecycle checks (tests pin it).
        environ: the environment to read keys from (defaults to ``os.environ``).
        cache: a result cache; exact and seeded requests found there are served from it at
            zero cost and marked ``cached`` (re-running a notebook cell does not re-bill).
        listeners: functions called with a :class:`CallEvent` for every wire call's start,
            retries, end and failure (progress bars, ledgers, logs).
    """

    def __init__(
        self,
        *,
        endpoints: Iterable[Endpoint] = (),
        providers: Mapping[str, Provider] | None = None,
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
        env = os.environ if environ is None else environ
        configured = [_endpoint_from_toml(data, env) for data in user_endpoints()]
        self.endpoints = merge_endpoints(
            merge_endpoints(default_endpoints(env), configured), endpoints
        )
        self._providers: dict[str, Provider] = dict(providers or {})
        for name in self._providers:
            if name not in self.endpoints:
                self.endpoints[name] = Endpoint(name=name, protocol="local")
        self._matrix = matrix
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        self.seed_policy: SeedPolicy = seed_policy
        self.allow_retired = allow_retired
        self.clock = clock or date.today
        self.cache = cache
        self.listeners: list[Listener] = list(listeners)
        # awaited before every wire call, retries included (a batch's request rates)
        self._gates: list[Callable[[ModelSpec], Awaitable[None]]] = []
        self._semaphore: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ configuration

    @property
    def matrix(self) -> Matrix:
        return self._matrix if self._matrix is not None else capabilities()

    def resolve(self, model: str) -> ModelSpec:
        """The matrix row for a model string, addressed through this client's endpoints."""
        protocols = {name: ep.protocol for name, ep in self.endpoints.items()}
        spec = self.matrix.resolve(model, protocols=protocols)
        if spec.provider not in self.endpoints:
            raise ConfigurationError(
                f"No endpoint named {spec.provider!r} is configured for {model!r}. Known: "
                f"{', '.join(sorted(self.endpoints))}."
            )
        return spec

    def provider(self, name: str) -> Provider:
        """The provider for endpoint ``name``, created (and its SDK imported) on first use."""
        with self._lock:
            provider = self._providers.get(name)
            if provider is None:
                provider = create_provider(self.endpoints[name])
                self._providers[name] = provider
            return provider

    def price(self, spec: ModelSpec, size: str | None) -> float | None:
        """Price per image: the endpoint's override for the model, else the matrix's list price."""
        override = self.endpoints[spec.provider].prices.get(spec.id)
        return override if override is not None else spec.price_for(size)

    # ------------------------------------------------------------------ preparation (no I/O)

    def prepare(
        self,
        request: ImageRequest,
        *,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> PreparedRequest:
        """Resolve, check lifecycle and capabilities, and plan the wire calls. No I/O."""
        if request.model is None:
            raise ConfigurationError(
                "No model given. Name one as 'provider:model' (e.g. 'local:pillow', "
                "'gemini:gemini-3-pro-image'); `seedless capabilities` lists them."
            )
        spec = self.resolve(request.model)
        endpoint = self.endpoints[spec.provider]
        today = self.clock()
        retired_ok = _first(allow_retired, endpoint.allow_retired, self.allow_retired)
        check_lifecycle(spec, self.matrix, today=today, allow_retired=retired_ok)
        validate(
            request, spec, self.matrix, seed_policy=seed_policy or self.seed_policy, today=today
        )
        request = request.model_copy(update={"model": spec.key})
        return PreparedRequest(
            spec=spec,
            request=request,
            calls=tuple(_split(request, spec)),
            price=self.price(spec, request.size),
        )

    # ------------------------------------------------------------------ requests

    async def generate(self, prompt: str, **kwargs: Any) -> Generation:
        """Text to image(s). Keywords: those of :func:`generate_request` (``model``, ``n``,
        ``seed``, ``aspect_ratio``, ``size``, ...), plus ``seed_policy`` and ``allow_retired``."""
        policy = _pop_policy(kwargs)
        return await self.run(generate_request(prompt, **kwargs), **policy)

    async def edit(
        self,
        images: ImageLike | Sequence[ImageLike],
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Generation:
        """Edit: ``images[0]`` is the source, further images are references, in order.
        Keywords: those of :func:`edit_request` (``model``, ``effect``, ``n``, ...), plus
        ``seed_policy`` and ``allow_retired``."""
        policy = _pop_policy(kwargs)
        return await self.run(edit_request(images, prompt, **kwargs), **policy)

    async def run(
        self,
        request: ImageRequest,
        *,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> Generation:
        """Send a request object: validated first, then its wire calls run concurrently."""
        prepared = self.prepare(request, seed_policy=seed_policy, allow_retired=allow_retired)
        return await self.execute(prepared)

    async def execute(self, prepared: PreparedRequest) -> Generation:
        """Run the wire calls of a prepared request concurrently and gather the results.

        Every call runs to its end. If one fails (after its retries), the first failure is
        raised once the others are done, with ``.partial`` holding the images they delivered
        (paid for: each has its ``cost_usd``), so no paid image is lost.
        """
        batches = await gather_keeping(
            (self._call(prepared, call) for call in prepared.calls), images_of=lambda batch: batch
        )
        images = tuple(image for batch in batches for image in batch)
        canonical = prepared.request.canonical()
        return Generation(
            images=images[: prepared.request.n],
            request=canonical,
            request_hash=canonical_hash(canonical),
        )

    async def _call(self, prepared: PreparedRequest, call: ImageRequest) -> list[ImageResult]:
        spec = prepared.spec
        # The canonical form is built once per call: with a fitted effect it carries the LUT.
        canonical = call.canonical()
        key = canonical_hash(canonical)
        replayable = self.cache is not None and (
            spec.seed == "deterministic" or (spec.seed == "seeded" and call.seed is not None)
        )
        if replayable and self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self._emit(CallEvent("done", spec.key, key, latency=0.0, cached=True))
                return [r.model_copy(update={"cached": True, "cost_usd": 0.0}) for r in cached]
        provider = self.provider(spec.provider)
        sent = 0

        async def send() -> ProviderReply:
            nonlocal sent
            sent += 1
            if sent > 1:  # a retry is a wire call too (the first passed the gates below)
                await self._pass_gates(spec)
            return await provider.call(call, spec)

        await self._pass_gates(spec)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        async with self._semaphore:
            self._emit(CallEvent("start", spec.key, key))
            started = time.perf_counter()
            try:
                reply = await call_with_retry(
                    send,
                    self.retry,
                    describe=spec.key,
                    on_retry=lambda exc, delay: self._emit(
                        CallEvent("retry", spec.key, key, error=exc, delay=delay)
                    ),
                )
            except ModelNotFoundError as exc:
                error = self._with_successors(exc, spec)
                self._emit(CallEvent("error", spec.key, key, error=error))
                raise error from exc
            except BaseException as exc:
                self._emit(CallEvent("error", spec.key, key, error=exc))
                raise
            latency = time.perf_counter() - started
        results = _results(prepared, call, reply, latency, canonical, key)
        if replayable and self.cache is not None:
            self.cache.put(key, results)
        self._emit(CallEvent("done", spec.key, key, latency=latency))
        return results

    async def _pass_gates(self, spec: ModelSpec) -> None:
        for gate in self._gates:
            await gate(spec)

    def _emit(self, event: CallEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def _with_successors(self, exc: ModelNotFoundError, spec: ModelSpec) -> ModelNotFoundError:
        """A 404 from the backend, told what the matrix knows: lifecycle and what to use."""
        today = self.clock()
        operation = "generate" if "generate" in spec.operations else "edit"
        successors = self.matrix.successors(spec, today) or self.matrix.alternatives(
            spec, capability=operation, operation=operation, today=today, limit=3
        )
        hint = f" Try {', '.join(successors)}." if successors else ""
        life = spec.lifecycle
        known = (
            f" The matrix says: {life.summary(today)}." if life.shutdown or life.deprecated else ""
        )
        return ModelNotFoundError(
            f"{exc}{known}{hint}", successors=successors, provider=exc.provider, status=exc.status
        )

    # ------------------------------------------------------------------ strategies

    async def best_of(
        self,
        request: ImageRequest,
        *,
        n: int = 4,
        scorer: Any,
        threshold: float | None = None,
        concurrency: int | None = None,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> Ranked:
        """``n`` candidates generated concurrently, scored and ranked; see
        :func:`seedless.strategies.best_of`."""
        from .strategies.best_of import best_of

        return await best_of(
            self,
            request,
            n=n,
            scorer=scorer,
            threshold=threshold,
            concurrency=concurrency,
            seed_policy=seed_policy,
            allow_retired=allow_retired,
        )

    async def replay(
        self, recipe: Recipe, images: Sequence[ImageLike] = (), **kwargs: Any
    ) -> list[ImageResult]:
        """Replay a :class:`~seedless.Recipe` on ``images``; see
        :func:`seedless.strategies.replay`."""
        from .strategies.recipe import replay

        return await replay(self, recipe, images, **kwargs)

    async def batch(
        self,
        jobs: Iterable[Job] | str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        **kwargs: Any,
    ) -> BatchReport:
        """Run many jobs into ``out_dir`` with limits, a budget, a ledger and resume; see
        :func:`seedless.batch.run_batch` for the keywords (``run``, ``budget``,
        ``max_concurrency``, ``per_provider``, ``rpm``, ``progress``, ``retry_failed``)."""
        from .batch.runner import run_batch

        return await run_batch(self, jobs, out_dir, **kwargs)

    # ------------------------------------------------------------------ lifetime

    async def aclose(self) -> None:
        """Close every provider's connections."""
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient endpoints={sorted(self.endpoints)}>"


def _results(
    prepared: PreparedRequest,
    call: ImageRequest,
    reply: ProviderReply,
    latency: float,
    canonical: dict[str, Any],
    request_hash: str,
) -> list[ImageResult]:
    """ImageResults with provenance for the images of one wire call."""
    spec = prepared.spec
    seed_mode = _seed_mode(spec, call.seed)
    return [
        ImageResult(
            data=image.data,
            mime_type=image.mime_type,
            provider=spec.provider,
            model=spec.id,
            seed=call.seed,
            seed_mode=seed_mode,
            request=canonical,
            request_hash=request_hash,
            cost_usd=prepared.price,
            latency_s=latency,
            sha256=hashlib.sha256(image.data).hexdigest(),
            text=reply.text,
            usage=reply.usage,
            sent=reply.sent,
            index=index,
        )
        for index, image in enumerate(reply.images)
    ]


def _pop_policy(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs.pop(key) for key in ("seed_policy", "allow_retired") if key in kwargs}


def _first(*values: bool | None) -> bool:
    for value in values:
        if value is not None:
            return value
    return False


def _seed_mode(spec: ModelSpec, seed: int | None) -> SeedMode | None:
    if spec.seed == "deterministic":
        return "deterministic"
    if seed is None:
        return None
    if spec.seed == "seeded":
        return "seeded"
    if spec.seed == "best_effort":
        return "best_effort"
    return None


def _split(request: ImageRequest, spec: ModelSpec) -> list[ImageRequest]:
    """One wire call per ``images_per_call`` images; later calls get derived seeds."""
    calls: list[ImageRequest] = []
    remaining, index = request.n, 0
    while remaining > 0:
        count = min(spec.images_per_call, remaining)
        update: dict[str, Any] = {"n": count}
        if request.seed is not None:
            update["seed"] = derive_seed(request.seed, index, spec.seed_range)
        calls.append(request.model_copy(update=update))
        remaining -= count
        index += 1
    return calls


def _endpoint_from_toml(data: Mapping[str, Any], env: Mapping[str, str]) -> Endpoint:
    """An ``[[endpoint]]`` table: ``api_key_env`` names the variable that holds the key."""
    values = dict(data)
    key_env = values.pop("api_key_env", None)
    if key_env:
        key = env.get(str(key_env))
        values["api_key"] = SecretStr(key) if key else None
    try:
        return Endpoint(**values)
    except ValueError as exc:
        raise ConfigurationError(f"invalid [[endpoint]] {values.get('name')!r}: {exc}") from exc


# ---------------------------------------------------------------------- the sync facade


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
        providers: Mapping[str, Provider] | None = None,
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

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._loop_lock:
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
            return getattr(self._async, name)

    def generate(self, prompt: str, **kwargs: Any) -> Generation:
        """Text to image(s); see :meth:`AsyncClient.generate`."""
        policy = _pop_policy(kwargs)
        return self.run(generate_request(prompt, **kwargs), **policy)

    def edit(
        self,
        images: ImageLike | Sequence[ImageLike],
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Generation:
        """Edit images; see :meth:`AsyncClient.edit`."""
        policy = _pop_policy(kwargs)
        return self.run(edit_request(images, prompt, **kwargs), **policy)

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

    def best_of(self, request: ImageRequest, **kwargs: Any) -> Ranked:
        """Best-of-N; see :meth:`AsyncClient.best_of`."""
        return self._run(self._async.best_of(request, **kwargs))

    def replay(
        self, recipe: Recipe, images: Sequence[ImageLike] = (), **kwargs: Any
    ) -> list[ImageResult]:
        """Replay a recipe; see :meth:`AsyncClient.replay`."""
        return self._run(self._async.replay(recipe, images, **kwargs))

    def batch(
        self,
        jobs: Iterable[Job] | str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        **kwargs: Any,
    ) -> BatchReport:
        """Run a batch; see :meth:`AsyncClient.batch`. Ctrl-C stops dispatching and leaves
        the ledger consistent; running the same batch again resumes it."""
        return self._run(self._async.batch(jobs, out_dir, **kwargs))

    def close(self) -> None:
        """Close connections and stop the private loop thread.

        Calls running in other threads are waited for, and calls made meanwhile wait for the
        close (then start afresh). Providers made before any request are closed too.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0)
            loop, self._loop = self._loop, None
            finalizer, self._finalizer = self._finalizer, None
            if loop is None:
                if not self._async._providers:
                    return
                loop = _LoopThread()  # a provider exists, but no request started the loop
            try:
                loop.run(self._async.aclose())
            finally:
                if finalizer is not None:
                    finalizer()
                else:
                    loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client endpoints={sorted(self._async.endpoints)}>"
