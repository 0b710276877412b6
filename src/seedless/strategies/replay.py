"""Replaying a :class:`~seedless.Recipe`: make the approved result again, on new images.

``local`` and ``seeded`` recipes send the recorded request again (exact, or the same seed);
``anchored`` recipes run anchored best-of-N for each image, with the original and approved
images checked against the recipe's anchor hashes. Every request is validated and planned
before anything is sent.

A recipe made on a self-hosted server records the server's fingerprint (checkpoint hash,
server version, device). Before sending, :func:`check_host` asks the server for its
fingerprint now and warns (:class:`~seedless.HostChangedWarning`) when it differs; the
replay still runs. The fingerprints the results carry are compared too, afterwards, for
what a server only tells with its answers.
"""

from __future__ import annotations

import warnings
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, overload

from ..client import AsyncClient, Client, gather_keeping
from ..errors import HostChangedWarning, RequestError
from ..models import ImageLike, ImageRequest, ImageResult
from ..retry import call_with_retry
from ._run import AnyClient, aio
from .anchoring import anchored_request
from .best_of import best_of_async
from .recipe import BestOfSettings, Recipe, check_anchor
from .scorers import MatchEffect, ScorerLike

__all__ = ["check_host", "replay", "replay_async"]


async def replay_async(
    client: AnyClient,
    recipe: Recipe,
    images: Sequence[ImageLike] = (),
    *,
    original: ImageLike | None = None,
    approved: ImageLike | None = None,
    n: int | None = None,
    scorer: ScorerLike | None = None,
    threshold: float | None = None,
) -> list[ImageResult]:
    """Make the recipe's result again, on each of ``images``; one result per image, in order.

    ``local`` and ``seeded`` recipes send the recorded request again (a ``generate`` recipe
    ignores ``images`` and returns one image). ``anchored`` recipes run anchored best-of-N
    for each image with the ``original`` and ``approved`` images, which must match the
    recipe's anchor hashes, and return each image's best candidate (``n``, ``scorer`` and
    ``threshold`` default to the recipe's best-of settings and :class:`MatchEffect`).
    Every request is validated before anything is sent.
    """
    engine = aio(client)
    if recipe.strategy != "anchored":
        return await _replay_request(engine, recipe, images)

    before = check_anchor(recipe, "original", original)
    after = check_anchor(recipe, "approved", approved)
    if not images:
        raise RequestError("replay needs at least one image to edit")
    effect = recipe.effect_object()
    settings = recipe.best_of or BestOfSettings()
    count = n or settings.n
    limit = threshold if threshold is not None else settings.threshold
    judge: ScorerLike = scorer or MatchEffect(before, after, effect=effect)
    params = dict(recipe.parameters)
    params.pop("negative_prompt", None)
    params.pop("add_watermark", None)
    requests = [
        anchored_request(
            image,
            original=before,
            approved=after,
            model=recipe.model,
            instruction=recipe.instruction,
            effect=effect,
            measured=None if effect is not None else recipe.measured,
            **params,
        )
        for image in images
    ]
    for request in requests:  # refuse before anything is sent
        engine.prepare(request.model_copy(update={"n": count}))
    ranked = await gather_keeping(
        (best_of_async(engine, r, n=count, scorer=judge, threshold=limit) for r in requests),
        images_of=lambda r: (c.result for c in r),
    )
    return [r.result for r in ranked]


async def _replay_request(
    engine: AsyncClient, recipe: Recipe, images: Sequence[ImageLike]
) -> list[ImageResult]:
    """A local or seeded recipe: its recorded request again (on each image, for an edit),
    with the server's fingerprint checked before and after."""
    if recipe.operation == "generate":
        requests = [recipe.request_for()]
    else:
        if not images:
            raise RequestError("replay needs at least one image to edit")
        requests = [recipe.request_for(image) for image in images]
    prepared = [engine.prepare(request) for request in requests]
    warned = bool(await check_host(engine, recipe, requests[0]))
    generations = await gather_keeping(
        (engine.execute(p) for p in prepared), images_of=lambda g: g.images
    )
    results = [generation.image for generation in generations]
    if not warned:
        _warn_changes(recipe, _answered_changes(recipe, results), when="answered from")
    return results


async def check_host(
    client: AnyClient,
    recipe: Recipe,
    request: ImageRequest | None = None,
    *,
    warn: bool = True,
) -> list[str]:
    """Compare ``recipe``'s host fingerprint with the server's now, before anything is sent.

    Asks the provider of the recipe's model for the fingerprint of the stack ``request`` (the
    replay's request, which may name a checkpoint) would run on (providers that can tell:
    see :class:`~seedless.providers.base.Fingerprinting`; the ask is retried under the
    client's retry policy) and warns with :class:`~seedless.HostChangedWarning` naming each
    key that changed (unless ``warn`` is false). Returns the changes (``"key: recorded ->
    now"``); empty when nothing changed, the recipe recorded no host, or the provider cannot
    tell.
    """
    if not recipe.host:
        return []
    engine = aio(client)
    spec = engine.resolve(recipe.model)
    probe = getattr(engine.provider(spec.provider), "fingerprint", None)
    if probe is None:
        return []
    current = await call_with_retry(
        lambda: probe(spec, request), engine.retry, describe=f"{spec.key} fingerprint"
    )
    changes = recipe.host_changes(current)
    if warn:
        _warn_changes(recipe, changes, when="reports")
    return changes


def _answered_changes(recipe: Recipe, results: Iterable[ImageResult]) -> list[str]:
    for result in results:
        changes = recipe.host_changes(result.host)
        if changes:
            return changes
    return []


def _warn_changes(recipe: Recipe, changes: list[str], *, when: str) -> None:
    if not changes:
        return
    warnings.warn(
        HostChangedWarning(
            f"{recipe.model} {when} a different stack from the one the recipe was made on "
            f"({'; '.join(changes)}): the same seed may give other images. Restore the "
            "recipe's checkpoint and server to replay it exactly."
        ),
        stacklevel=3,
    )


@overload
def replay(
    client: Client,
    recipe: Recipe,
    images: Sequence[ImageLike] = (),
    *,
    original: ImageLike | None = None,
    approved: ImageLike | None = None,
    n: int | None = None,
    scorer: ScorerLike | None = None,
    threshold: float | None = None,
) -> list[ImageResult]: ...


@overload
def replay(
    client: AsyncClient,
    recipe: Recipe,
    images: Sequence[ImageLike] = (),
    *,
    original: ImageLike | None = None,
    approved: ImageLike | None = None,
    n: int | None = None,
    scorer: ScorerLike | None = None,
    threshold: float | None = None,
) -> Coroutine[Any, Any, list[ImageResult]]: ...


def replay(
    client: AnyClient,
    recipe: Recipe,
    images: Sequence[ImageLike] = (),
    *,
    original: ImageLike | None = None,
    approved: ImageLike | None = None,
    n: int | None = None,
    scorer: ScorerLike | None = None,
    threshold: float | None = None,
) -> list[ImageResult] | Coroutine[Any, Any, list[ImageResult]]:
    """Make ``recipe``'s result again on each of ``images`` (see :func:`replay_async`).

    With a :class:`~seedless.Client` it returns the results; with an
    :class:`~seedless.AsyncClient` an awaitable of them::

        again = seedless.replay(client, seedless.Recipe.load("look.json"), ["cat.jpg"])
    """
    coro = replay_async(
        client, recipe, images, original=original, approved=approved, n=n, scorer=scorer,
        threshold=threshold,
    )  # fmt: skip
    if isinstance(client, Client):
        return client._run(coro)
    return coro
