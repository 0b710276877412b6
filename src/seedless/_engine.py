"""The engine: :class:`AsyncClient` (the request builders its methods share are in
:mod:`seedless._requests`, re-exported here).

Data flows one way: caller -> resolve the model in the matrix -> lifecycle and capability
checks -> split into wire calls (seeds derived) -> each call planned by its provider into the
exact wire request (every refusal raised here, still with no I/O) -> sent, under the client's
one retry policy and concurrency limit -> results with provenance and cost.

:class:`seedless.Client` (:mod:`seedless.client`) is the synchronous facade over it; users
import both from :mod:`seedless` or :mod:`seedless.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from ._calls import (
    CallEvent,
    ExecuteHooks,
    Listener,
    PreparedCall,
    PreparedRequest,
    gather_keeping,
    split_calls,
    wire_results,
)
from ._requests import edit_request, generate_request
from ._specs import BatchEngineName
from ._validate import _caller_stacklevel
from .capabilities import (
    Matrix,
    ModelSpec,
    SeedPolicy,
    capabilities,
    check_available,
    check_lifecycle,
    is_replayable,
    user_endpoints,
    validate,
)
from .config import Endpoint, default_endpoints, merge_endpoints
from .effects import Effect
from .errors import (
    ClientClosedError,
    ConfigurationError,
    ModelNotFoundError,
    SeedlessDeprecationWarning,
)
from .errors import TimeoutError as SeedlessTimeoutError
from .models import (
    Generation,
    ImageLike,
    ImageRequest,
    ImageResult,
    canonical_hash,
)
from .providers import create_provider
from .providers.base import CallProvider, Provider, ProviderReply, WireRequest, as_provider
from .retry import RetryPolicy, call_with_retry

__all__ = [
    "AsyncClient",
    "ResultCache",
    "edit_request",
    "generate_request",
]

#: Convenience methods of earlier releases that now live in the layers above the client.
_MOVED = {
    "best_of": "seedless.best_of(client, request, n=..., scorer=...)",
    "replay": "seedless.replay(client, recipe, images)",
    "batch": "seedless.run_batch(client, jobs, out_dir)",
}


def _moved(owner: str, name: str) -> None:
    if name in _MOVED:
        raise AttributeError(f"{owner}.{name}() moved: use {_MOVED[name]} (see CHANGELOG.md)")


class ResultCache(Protocol):
    """Where results of replayable requests are kept (see :class:`seedless.cache.DiskCache`)."""

    def get(self, key: str) -> list[ImageResult] | None: ...

    def put(self, key: str, results: Sequence[ImageResult]) -> None: ...


class AsyncClient:
    """The asynchronous client: every request goes through here.

    Args:
        endpoints: endpoint profiles; each replaces the built-in endpoint of the same name
            (``gemini``, ``vertex``, ``openai``, ``local``), whose defaults come from the
            environment.
        providers: ready provider objects by endpoint name (tests, custom backends); a
            provider with only ``call`` (the one-phase contract) is wrapped.
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
        env = os.environ if environ is None else environ
        configured = [_endpoint_from_toml(data, env) for data in user_endpoints()]
        self.endpoints = merge_endpoints(
            merge_endpoints(default_endpoints(env), configured), endpoints
        )
        self._providers: dict[str, Provider] = {
            name: as_provider(provider) for name, provider in (providers or {}).items()
        }
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
        self._semaphore: asyncio.Semaphore | None = None
        self._lock = threading.Lock()
        self._closed = False

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            _moved(type(self).__name__, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ configuration

    @property
    def matrix(self) -> Matrix:
        return self._matrix if self._matrix is not None else capabilities()

    def resolve(self, model: str) -> ModelSpec:
        """The matrix row for a model string, as this client's endpoint serves it: addressed
        by the endpoint's name, with the field names the endpoint declares. A model no one
        can call (no public API) is refused here, before any endpoint is looked up."""
        profiles = {name: ep.row_providers() for name, ep in self.endpoints.items()}
        spec = self.matrix.resolve(model, profiles=profiles)
        check_available(spec, self.matrix, today=self.clock())  # before any endpoint is needed
        endpoint = self.endpoints.get(spec.provider)
        if endpoint is None:
            raise ConfigurationError(
                f"No endpoint named {spec.provider!r} is configured for {model!r}. Known: "
                f"{', '.join(sorted(self.endpoints))}."
            )
        if endpoint.field_names:
            spec = spec.model_copy(update={"fields": {**spec.fields, **endpoint.field_names}})
        return spec

    def provider(self, name: str) -> Provider:
        """The provider for endpoint ``name``, created (and its SDK imported) on first use."""
        with self._lock:
            self._check_open()
            provider = self._providers.get(name)
            if provider is None:
                provider = as_provider(create_provider(self.endpoints[name]))
                self._providers[name] = provider
            return provider

    def _follow_alias(self, name: str, spec: ModelSpec, today: date) -> ModelSpec:
        """An alias whose model has shut down names its successor now (with a warning); an
        explicit id keeps its refusal (``check_lifecycle``), so nothing changes silently."""
        if spec.status(today) != "retired" or name.rpartition(":")[2] == spec.id:
            return spec
        chain = self.matrix.successors(spec, today)
        if not chain:
            return spec
        successor = self.resolve(chain[-1])
        if successor.status(today) == "retired":
            return spec
        warnings.warn(
            f"{name!r} named {spec.key}, which was shut down on {spec.lifecycle.shutdown}; "
            f"the alias now follows its successor, {successor.key}. Name a model by its id "
            "to choose it yourself.",
            SeedlessDeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )
        return successor

    def price(self, spec: ModelSpec, size: str | None) -> float | None:
        """Price per image: the endpoint's override for the model, else the matrix's list price."""
        override = self.endpoints[spec.provider].prices.get(spec.id)
        return override if override is not None else spec.price_for(size)

    def batch_engine(self, spec: ModelSpec) -> BatchEngineName | None:
        """The provider batch engine that serves ``spec`` on its endpoint, or None.

        The matrix says which models a batch engine takes (``ModelSpec.batch``); the
        endpoint must speak that engine's protocol, and an OpenAI-style endpoint must be
        OpenAI's own host or declare ``Endpoint(batch_engine=True)`` (relays rarely have
        one). ``Endpoint(batch_engine=False)`` turns it off.
        """
        if spec.batch is None:
            return None
        endpoint = self.endpoints[spec.provider]
        if endpoint.protocol != spec.batch.engine or endpoint.batch_engine is False:
            return None
        openai_itself = endpoint.goes_to_openai
        if endpoint.batch_engine is None and spec.batch.engine == "openai" and not openai_itself:
            return None
        return spec.batch.engine

    def batch_price(self, spec: ModelSpec, size: str | None) -> float | None:
        """Price per image through the provider's batch engine: the endpoint's batch price
        for the model, else the matrix's (half the list price, the endpoint's list-price
        override included)."""
        override = self.endpoints[spec.provider].batch_prices.get(spec.id)
        if override is not None:
            return override
        if spec.batch is None:
            return None
        return spec.batch.price(size or spec.default_size, self.price(spec, size))

    def batch_models(self) -> list[str]:
        """The models this client can send to a provider batch engine (current ones)."""
        today = self.clock()
        found = []
        for spec in self.matrix:
            if spec.provider in self.endpoints and spec.status(today) != "retired":
                with contextlib.suppress(ConfigurationError):
                    if self.batch_engine(self.resolve(spec.key)) is not None:
                        found.append(spec.key)
        return found

    # ------------------------------------------------------------------ preparation (no I/O)

    def prepare(
        self,
        request: ImageRequest,
        *,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> PreparedRequest:
        """Resolve, check lifecycle and capabilities, and plan every wire call. No I/O.

        Every refusal, the matrix's and the provider's, is raised here: nothing is sent and
        nothing spent for a request this method refuses.
        """
        self._check_open()
        if request.model is None:
            raise ConfigurationError(
                "No model given. Name one as 'provider:model' (e.g. 'local:pillow', "
                "'gemini:gemini-3-pro-image'); `seedless capabilities` lists them."
            )
        spec = self.resolve(request.model)
        endpoint = self.endpoints[spec.provider]
        today = self.clock()
        retired_ok = _first(allow_retired, endpoint.allow_retired, self.allow_retired)
        if not retired_ok:
            spec = self._follow_alias(request.model, spec, today)
        check_lifecycle(spec, self.matrix, today=today, allow_retired=retired_ok)
        validate(
            request, spec, self.matrix, seed_policy=seed_policy or self.seed_policy, today=today
        )
        request = request.model_copy(update={"model": spec.key})
        provider = self.provider(spec.provider)
        calls = tuple(
            PreparedCall(request=call, wire=provider.plan(call, spec))
            for call in split_calls(request, spec)
        )
        return PreparedRequest(
            spec=spec, request=request, calls=calls, price=self.price(spec, request.size)
        )

    # ------------------------------------------------------------------ requests

    async def generate(
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
        """Text to image(s): the request of :func:`generate_request`, validated, planned and
        sent. ``seed_policy`` and ``allow_retired`` override the client's for this call."""
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
        return await self.run(request, seed_policy=seed_policy, allow_retired=allow_retired)

    async def edit(
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
        """Edit: ``images[0]`` is the source, further images are references, in order; the
        request of :func:`edit_request`, validated, planned and sent."""
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
        return await self.run(request, seed_policy=seed_policy, allow_retired=allow_retired)

    async def run(
        self,
        request: ImageRequest,
        *,
        seed_policy: SeedPolicy | None = None,
        allow_retired: bool | None = None,
    ) -> Generation:
        """Send a request object: validated and planned first, then its wire calls run
        concurrently."""
        prepared = self.prepare(request, seed_policy=seed_policy, allow_retired=allow_retired)
        return await self.execute(prepared)

    async def execute(
        self, prepared: PreparedRequest, *, hooks: ExecuteHooks | None = None
    ) -> Generation:
        """Send the planned wire calls of a prepared request concurrently; gather the results.

        Every call runs to its end. If one fails (after its retries), the first failure is
        raised once the others are done, with ``.partial`` holding the images they delivered
        (paid for: each has its ``cost_usd``), so no paid image is lost. ``hooks`` observe
        this execution only (see :class:`ExecuteHooks`).
        """
        self._check_open()
        batches = await gather_keeping(
            (self._call(prepared, index, hooks) for index in range(len(prepared.calls))),
            images_of=lambda batch: batch,
        )
        images = tuple(image for batch in batches for image in batch)
        canonical = prepared.request.canonical()
        return Generation(
            images=images[: prepared.request.n],
            request=canonical,
            request_hash=canonical_hash(canonical),
        )

    async def _call(
        self, prepared: PreparedRequest, index: int, hooks: ExecuteHooks | None
    ) -> list[ImageResult]:
        spec, call = prepared.spec, prepared.calls[index]
        # The canonical form is built once per call: with a fitted effect it carries the LUT.
        canonical = call.request.canonical()
        key = canonical_hash(canonical)

        def emit(kind: str, **fields: Any) -> None:
            event = CallEvent(kind, spec.key, key, call=index, seed=call.seed, **fields)
            for listener in (*self.listeners, *(() if hooks is None else (hooks.on_event,))):
                if listener is not None:
                    listener(event)

        replayable = self.cache is not None and is_replayable(spec, call.seed)
        if replayable and self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                emit("done", latency=0.0, cached=True, images=len(cached), cost_usd=0.0)
                return [r.model_copy(update={"cached": True, "cost_usd": 0.0}) for r in cached]
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        async with self._semaphore:
            emit("start")
            started = time.perf_counter()
            try:
                reply = await self._send(prepared, call, hooks, emit)
            except ModelNotFoundError as exc:
                error = self._with_successors(exc, spec)
                emit("error", error=error)
                raise error from exc
            except BaseException as exc:
                emit("error", error=exc)
                raise
            latency = time.perf_counter() - started
        results = wire_results(prepared, call, reply, latency, canonical, key)
        if replayable and self.cache is not None:
            self.cache.put(key, results)
        cost = None if prepared.price is None else prepared.price * call.n
        emit("done", latency=latency, images=len(results), cost_usd=cost)
        return results

    async def _send(
        self,
        prepared: PreparedRequest,
        call: PreparedCall,
        hooks: ExecuteHooks | None,
        emit: Callable[..., None],
    ) -> ProviderReply:
        """Send one planned call under the retry policy; while the service answers with a
        task to poll, poll it (each poll retried, the submission never sent again)."""
        spec, policy = prepared.spec, self.retry
        provider = self.provider(spec.provider)
        endpoint = self.endpoints.get(spec.provider)
        # a deadline for each whole attempt, however slowly an answer trickles in
        attempt_timeout = (endpoint.timeout if endpoint is not None else None) or getattr(
            provider, "timeout", None
        )

        async def attempt(wire: WireRequest) -> ProviderReply:
            if hooks is not None and hooks.before_attempt is not None:
                await hooks.before_attempt(prepared, call)
            return await provider.send(wire, spec)

        def send(wire: WireRequest) -> Awaitable[ProviderReply]:
            return call_with_retry(
                lambda: attempt(wire),
                policy,
                describe=spec.key,
                on_retry=lambda exc, delay: emit("retry", error=exc, delay=delay),
                attempt_timeout=attempt_timeout,
            )

        reply = await send(call.wire)
        deadline = time.monotonic() + policy.poll_timeout
        while reply.follow is not None:
            wait = policy.poll_interval if reply.poll_after is None else reply.poll_after
            if time.monotonic() + wait > deadline:
                raise SeedlessTimeoutError(
                    f"{spec.key} accepted the request but had not finished it after "
                    f"{policy.poll_timeout:g}s of polling; raise RetryPolicy(poll_timeout=...) "
                    "for slow jobs.",
                    provider=spec.provider,
                )
            await asyncio.sleep(wait)
            reply = await send(reply.follow)
        return reply

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

    # ------------------------------------------------------------------ lifetime

    async def aclose(self) -> None:
        """Close every provider's connections. The client sends nothing after this: using it
        raises :class:`~seedless.errors.ClientClosedError` (closing again does nothing)."""
        for provider in self._mark_closed():
            await provider.aclose()

    def _mark_closed(self) -> list[Provider]:
        """Refuse every later use; return the providers still to close."""
        with self._lock:
            self._closed = True
            providers, self._providers = list(self._providers.values()), {}
        return providers

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called (a closed client is never reopened)."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError(
                f"This {type(self).__name__} was closed, so it sends nothing more (a closed "
                "client is not reopened: its connections are gone). Make a new client, or "
                "keep the calls inside its `with` block."
            )

    async def __aenter__(self) -> AsyncClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient endpoints={sorted(self.endpoints)}>"


def _first(*values: bool | None) -> bool:
    for value in values:
        if value is not None:
            return value
    return False


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
