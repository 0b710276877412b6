"""Wire calls as the client plans and runs them: prepared requests, call events, hooks, and
the results (with provenance) a call's answer gives.

A request becomes one or more wire calls (``n`` split by the model's images per call, later
calls with derived seeds), each planned by its provider into a :class:`WireRequest` before any
I/O: a :class:`PreparedRequest` holds them all, so an estimate, a dry run or a budget knows
exactly what will be sent. Running them reports :class:`CallEvent` objects (start, retry,
done with cost and image count, error) to the client's listeners and to the
:class:`ExecuteHooks` of one execution (a batch runner's rate gates and ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._specs import ModelSpec, is_replayable
from .models import ImageRequest, ImageResult, SeedMode, canonical_hash

if TYPE_CHECKING:
    from .providers.base import ProviderReply, WireRequest

__all__ = [
    "CallEvent",
    "ExecuteHooks",
    "Listener",
    "PreparedCall",
    "PreparedRequest",
    "call_results",
    "derive_seed",
    "gather_keeping",
    "split_calls",
    "wire_results",
]

T = TypeVar("T")


@dataclass(frozen=True)
class PreparedCall:
    """One wire call of a prepared request: its own request (``n``, derived seed) and the
    :class:`~seedless.providers.base.WireRequest` its provider planned for it."""

    request: ImageRequest
    wire: WireRequest

    @property
    def n(self) -> int:
        return self.request.n

    @property
    def seed(self) -> int | None:
        return self.request.seed

    def request_hash(self) -> str:
        """The hash of this call's request (what caches and ledgers know it by)."""
        return self.request.request_hash()


@dataclass(frozen=True)
class PreparedRequest:
    """A validated request: its matrix row, and the planned wire calls it will make (no I/O
    yet). ``print(prepared.calls[0].wire)`` shows the first body that will be sent."""

    spec: ModelSpec
    request: ImageRequest
    calls: tuple[PreparedCall, ...]
    price: float | None

    def estimate_cost(self) -> float | None:
        """Price of all images this request will produce (None if the price is unknown)."""
        return None if self.price is None else self.price * sum(call.n for call in self.calls)

    def replayable(self, call: PreparedCall) -> bool:
        """Whether ``call`` gives the same image again (exact, or seeded with a seed)."""
        return is_replayable(self.spec, call.seed)

    def __str__(self) -> str:
        price = "unknown" if self.price is None else f"${self.price:.4f}/image"
        lines = [f"{self.spec.key}: {len(self.calls)} wire call(s), {price}"]
        for index, call in enumerate(self.calls):
            lines += [f"--- call {index} (n={call.n}, seed={call.seed})", str(call.wire)]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # a notebook shows the text
        printer.text(str(self))


@dataclass(frozen=True)
class CallEvent:
    """What happened to one wire call: ``start``; ``retry`` (with the error and the delay);
    ``done`` (latency, images delivered, their cost: 0 when served from the cache, None when
    the price is unknown); ``error``. ``call`` is the call's index in the prepared request."""

    kind: str
    model: str
    request_hash: str
    call: int = 0
    seed: int | None = None
    error: BaseException | None = None
    delay: float | None = None
    latency: float | None = None
    cached: bool = False
    images: int = 0
    cost_usd: float | None = None


Listener = Callable[[CallEvent], None]


@dataclass(frozen=True)
class ExecuteHooks:
    """Callbacks for one :meth:`~seedless.AsyncClient.execute`.

    ``before_attempt(prepared, call)`` is awaited before every attempt of every wire call,
    retries included (a batch's request rates); cached calls make no attempt. ``on_event``
    receives the same :class:`CallEvent` objects as the client's listeners.
    """

    before_attempt: Callable[[PreparedRequest, PreparedCall], Awaitable[None]] | None = None
    on_event: Listener | None = None


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


def split_calls(request: ImageRequest, spec: ModelSpec) -> list[ImageRequest]:
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
    pending = list(aws)
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
            *(keeping(index, aw) for index, aw in enumerate(pending)), return_exceptions=True
        )
    except asyncio.CancelledError as cancelled:
        with contextlib.suppress(AttributeError, TypeError):
            cancelled.partial = delivered()  # type: ignore[attr-defined]
        raise
    finally:
        _close_unstarted(pending)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if not failures:
        return outcomes  # type: ignore[return-value]
    first = failures[0]
    if isinstance(first, (Exception, asyncio.CancelledError)):
        with contextlib.suppress(AttributeError, TypeError):
            first.partial = delivered()  # type: ignore[union-attr]
    raise first


def _close_unstarted(aws: Iterable[Awaitable[Any]]) -> None:
    """Close the coroutines a cancellation stopped before their first step.

    A task cancelled before it first runs never awaits what it wraps: left alone, such a
    coroutine warns "was never awaited" when it is collected (an error under
    ``-W error``). Closing it says it was dropped on purpose.
    """
    for aw in aws:
        if inspect.iscoroutine(aw) and inspect.getcoroutinestate(aw) == inspect.CORO_CREATED:
            aw.close()


def wire_results(
    prepared: PreparedRequest,
    call: PreparedCall,
    reply: ProviderReply,
    latency: float,
    canonical: dict[str, Any],
    request_hash: str,
) -> list[ImageResult]:
    """ImageResults with provenance for the images of one wire call."""
    spec = prepared.spec
    seed = reply.seed if reply.seed is not None else call.seed  # what the service says it used
    seed_mode = _seed_mode(spec, seed)
    sent = {**call.wire.chosen, **reply.sent}
    return [
        ImageResult(
            data=image.data,
            mime_type=image.mime_type,
            provider=spec.provider,
            model=spec.id,
            seed=seed,
            seed_mode=seed_mode,
            request=canonical,
            request_hash=request_hash,
            cost_usd=prepared.price,
            latency_s=latency,
            sha256=hashlib.sha256(image.data).hexdigest(),
            text=reply.text,
            usage=reply.usage,
            sent=sent,
            host=reply.host,
            index=index,
        )
        for index, image in enumerate(reply.images)
    ]


def call_results(
    prepared: PreparedRequest, index: int, reply: ProviderReply, *, latency: float
) -> list[ImageResult]:
    """The :class:`ImageResult` objects (provenance, ``prepared.price`` each) that wire call
    ``index`` of ``prepared`` gives for ``reply``: what :meth:`AsyncClient.execute` makes of
    an answer, for answers that arrive another way (a provider's batch engine)."""
    call = prepared.calls[index]
    canonical = call.request.canonical()
    return wire_results(prepared, call, reply, latency, canonical, canonical_hash(canonical))


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
