"""``measure_reproducibility``: send the same request k times and measure how far apart the
results are, to check the matrix's reproducibility class against what a backend really does.

The matrix says each model is ``exact`` (local), ``seeded`` (same seed, same image) or
``none`` (best effort at most). Hosts differ: fp8 kernels, "go fast" modes or prompt
rewriting can break a seeded model's promise, and a relay may cache. The report gives pixel
distance (mean absolute difference, in 8-bit levels) and structural distance (1 - SSIM on
luma) between every pair of results, and whether that agrees with the matrix.

Results served from the client's cache are not measurements; the report counts them and
gives no verdict when there are any (measure with a client without a cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, overload

from ..capabilities import SeedPolicy
from ..client import AsyncClient, Client, gather_keeping
from ..images import thumbnail_png
from ..models import ImageRequest, ImageResult
from ._run import AnyClient, aio
from .scorers import STRUCTURE_SIZE, to_rgb

__all__ = [
    "Reproducibility",
    "measure_reproducibility",
    "measure_reproducibility_async",
]

#: Largest long side, in pixels, pixel distances are measured at.
PIXEL_SIZE = 512


@dataclass(frozen=True)
class Reproducibility:
    """How far apart ``trials`` results of one request are, and whether the matrix is right."""

    model: str
    expected: Literal["exact", "seeded", "none"]
    seeded_request: bool
    results: tuple[ImageResult, ...]
    unique_outputs: int
    identical_pixels: bool
    pixel_mean: float
    pixel_max: float
    structural_mean: float
    structural_max: float
    cached: int = 0

    @property
    def trials(self) -> int:
        return len(self.results)

    @property
    def observed(self) -> Literal["identical", "varies"]:
        return "identical" if self.identical_pixels else "varies"

    @property
    def agrees(self) -> bool | None:
        """Whether the results behave as the matrix says (None when it cannot be told)."""
        if self.cached or self.trials < 2:
            return None
        if self.expected == "exact":
            return self.identical_pixels
        if self.expected == "seeded":
            return self.identical_pixels if self.seeded_request else None
        return not self.identical_pixels

    @property
    def cost_usd(self) -> float | None:
        costs = [r.cost_usd for r in self.results]
        return None if any(c is None for c in costs) else float(sum(c or 0.0 for c in costs))

    def summary(self) -> str:
        """A few lines for people: the numbers, and the verdict."""
        lines = [
            f"{self.model}: {self.trials} trials, {self.unique_outputs} distinct output(s); "
            f"matrix class: {self.expected}",
            f"pixel distance (mean abs, levels 0-255): mean {self.pixel_mean:.2f}, "
            f"max {self.pixel_max:.2f}",
            f"structural distance (1 - SSIM): mean {self.structural_mean:.4f}, "
            f"max {self.structural_max:.4f}",
        ]
        verdict = self.agrees
        if self.cached:
            lines.append(
                f"no verdict: {self.cached} result(s) came from the cache; measure with a "
                "client without a cache"
            )
        elif self.trials < 2:
            lines.append("no verdict: run at least 2 trials")
        elif verdict is None:
            lines.append("no verdict: a seeded model is only checked with a seed; pass one")
        elif verdict:
            state = "are identical" if self.identical_pixels else "vary"
            lines.append(f"agrees with the matrix: the results {state}")
        elif self.identical_pixels:
            lines.append(
                "DISAGREES with the matrix: the results are identical, more repeatable than "
                f"the class {self.expected!r} promises"
            )
        else:
            lines.append(
                f"DISAGREES with the matrix: the results vary although the class is "
                f"{self.expected!r}; this backend does not replay seeds exactly"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_png_(self) -> bytes:
        return thumbnail_png([r.to_pil() for r in self.results])


def _compare(results: tuple[ImageResult, ...]) -> tuple[bool, list[float], list[float]]:
    """(identical pixels, pairwise pixel distances, pairwise structural distances)."""
    from ._pixels import pairwise_distances  # lazy: numpy, kept out of `import seedless`

    images = [to_rgb(r.to_pil()) for r in results]
    return pairwise_distances(images, pixel_size=PIXEL_SIZE, structure_size=STRUCTURE_SIZE)


async def measure_reproducibility_async(
    client: AnyClient,
    request: ImageRequest,
    trials: int = 3,
    *,
    seed_policy: SeedPolicy | None = None,
) -> Reproducibility:
    """Send ``request`` (with ``n=1``) ``trials`` times at once and measure the spread.

    If a trial fails, the first failure is raised once the others have ended, with
    ``.partial`` holding the images they delivered (paid for, so not lost).
    """
    from ._pixels import mean  # lazy: numpy, kept out of `import seedless`

    if trials < 1:
        raise ValueError("trials must be at least 1")
    engine = aio(client)
    single = request.model_copy(update={"n": 1})
    prepared = engine.prepare(single, seed_policy=seed_policy)
    generations = await gather_keeping(
        (engine.execute(prepared) for _ in range(trials)), images_of=lambda g: g.images
    )
    results = tuple(g.image for g in generations)
    identical, pixels, structures = await asyncio.to_thread(_compare, results)
    return Reproducibility(
        model=prepared.spec.key,
        expected=prepared.spec.reproducibility,
        seeded_request=prepared.request.seed is not None,
        results=results,
        unique_outputs=len({r.sha256 for r in results}),
        identical_pixels=identical,
        pixel_mean=mean(pixels),
        pixel_max=max(pixels, default=0.0),
        structural_mean=mean(structures),
        structural_max=max(structures, default=0.0),
        cached=sum(r.cached for r in results),
    )


@overload
def measure_reproducibility(
    client: Client, request: ImageRequest, trials: int = 3, *, seed_policy: SeedPolicy | None = None
) -> Reproducibility: ...


@overload
def measure_reproducibility(
    client: AsyncClient,
    request: ImageRequest,
    trials: int = 3,
    *,
    seed_policy: SeedPolicy | None = None,
) -> Coroutine[Any, Any, Reproducibility]: ...


def measure_reproducibility(
    client: AnyClient,
    request: ImageRequest,
    trials: int = 3,
    *,
    seed_policy: SeedPolicy | None = None,
) -> Reproducibility | Coroutine[Any, Any, Reproducibility]:
    """Run ``request`` ``trials`` times and report how far apart the results are.

    With a :class:`~seedless.Client` it returns the :class:`Reproducibility` report; with an
    :class:`~seedless.AsyncClient` it returns an awaitable of it::

        report = seedless.measure_reproducibility(client, request, trials=5)
        report = await seedless.measure_reproducibility(async_client, request, trials=5)

    The request is validated first (a seed on a best-effort model needs
    ``seed_policy="best_effort"``); ``trials`` calls are billed.
    """
    coro = measure_reproducibility_async(client, request, trials, seed_policy=seed_policy)
    if isinstance(client, Client):
        return client._run(coro)
    return coro
