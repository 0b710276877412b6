"""``seedless.plan``: pick the way to reproduce an approved edit, and say why, before spending.

Given the original photo, the approved result and the photos to treat, :func:`plan` chooses:

1. **local**: the edit is a global colour/tone change, possibly with a vignette, blur,
   sharpening or grain (an exact effect was given, the approved result came from the local
   provider, or a look fitted on the pair reproduces it: verdict "global" or "global +
   spatial"), so it replays exactly with the local Pillow provider: bit-identical, $0.
2. **seeded**: the approved result came from a seeded model with a recorded seed (or a seeded
   recipe was given), so the same prompt, seed and parameters are sent again.
3. **anchored**: anything else: anchored best-of-N on the model that made the approved result,
   each candidate scored against the approved change.

Every request is built and validated against the capability matrix when the plan is made (no
network I/O), so a refusal comes before anything is spent. :meth:`Plan.explain` says what will
happen and why, :meth:`Plan.estimate` counts the calls and the cost, :meth:`Plan.run` does it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..client import PreparedRequest, gather_keeping
from ..errors import ConfigurationError, Remedy
from ..images import extension_for, thumbnail_png
from ..models import EditRequest, ImageInput, ImageLike, ImageRequest, ImageResult, as_inputs
from ._run import AnyClient, aio, run_sync
from .anchoring import anchored_request
from .best_of import Ranked, best_of_async
from .recipe import Recipe, check_anchor
from .replay import check_host
from .scorers import MatchEffect, ScorerLike, scorer_name, to_rgb

if TYPE_CHECKING:
    from ..effects.fit import FittedEffect

__all__ = ["Estimate", "Plan", "PlanResult", "plan"]

PathName = Literal["local", "seeded", "anchored"]

LOCAL_MODEL = "local:pillow"

_HEADLINE = {
    "local": "exact, bit-identical, $0",
    "seeded": "seeded: same seed and request, same image",
    "anchored": "best effort, scored",
}


@dataclass(frozen=True)
class Estimate:
    """What a plan will cost: wire ``calls`` and ``cost_usd`` (None when a price is unknown).

    With ``at_most`` set (best-of-N with an early-stop threshold) both are upper bounds.
    """

    calls: int
    cost_usd: float | None
    images: int
    at_most: bool = False

    def __str__(self) -> str:
        bound = "up to " if self.at_most else ""
        cost = "unknown cost" if self.cost_usd is None else f"{bound}${self.cost_usd:.4f}"
        return f"{bound}{self.calls} call(s) for {self.images} image(s), {cost}"


@dataclass(frozen=True)
class PlanResult:
    """What :meth:`Plan.run` made: one result per image, the ranked candidates (anchored), the
    recipe, and the cost."""

    plan: Plan
    results: tuple[ImageResult, ...]
    recipe: Recipe
    ranked: tuple[Ranked, ...] = ()

    @property
    def cost_usd(self) -> float | None:
        if self.ranked:
            costs = [r.cost_usd for r in self.ranked]
        else:
            costs = [r.cost_usd for r in self.results]
        return None if any(c is None for c in costs) else float(sum(c or 0.0 for c in costs))

    def save(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write each result under its input's file name (extension from the result's type)
        and ``recipe.json`` into ``directory``; returns the image paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, (image, result) in enumerate(zip(self.plan.images, self.results, strict=False)):
            stem = Path(image.name).stem if image.name else f"image-{index + 1:03d}"
            paths.append(result.save(folder / f"{stem}{extension_for(result.mime_type)}"))
        self.recipe.save(folder / "recipe.json")
        return paths

    def _repr_png_(self) -> bytes:
        return thumbnail_png([r.to_pil() for r in self.results])


@dataclass
class Plan:
    """A chosen path with its reason, its validated requests, and ways to inspect and run it."""

    path: PathName
    reason: str
    model: str
    images: tuple[ImageInput, ...]
    original: ImageInput | None
    approved: ImageInput | None
    client: AnyClient = field(repr=False)
    effect: Any = None
    recipe: Recipe | None = None
    instruction: str | None = None
    n: int = 1
    threshold: float | None = None
    scorer: ScorerLike | None = field(default=None, repr=False)
    prepared: tuple[PreparedRequest, ...] = field(default=(), repr=False)

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> tuple[ImageRequest, ...]:
        return tuple(p.request for p in self.prepared)

    def estimate(self) -> Estimate:
        """Calls and cost, from the matrix's prices (or the endpoint's), before any I/O."""
        calls = sum(len(p.calls) for p in self.prepared)
        costs = [p.estimate_cost() for p in self.prepared]
        cost = None if any(c is None for c in costs) else float(sum(c or 0.0 for c in costs))
        return Estimate(
            calls=calls,
            cost_usd=cost,
            images=len(self.prepared),
            at_most=self.path == "anchored" and self.threshold is not None,
        )

    def explain(self) -> str:
        """What will happen, why, what it costs and how reproducible it is, in plain words."""
        count = len(self.images)
        lines = [
            f"Path: {self.path} on {self.model} ({_HEADLINE[self.path]})",
            f"Why: {self.reason}",
        ]
        if self.path == "local":
            effect = self.effect.describe() if self.effect is not None else "the recorded effect"
            lines.append(f"What: apply the effect to {count} image(s) on {self.model}: {effect}")
            lines.append("Reproducibility: exact; replaying the recipe gives identical bytes.")
        elif self.path == "seeded":
            assert self.recipe is not None
            what = (
                "generate again with"
                if self.recipe.operation == "generate"
                else f"edit {count} image(s) with"
            )
            lines.append(
                f"What: {what} the recorded prompt, seed {self.recipe.seed} and parameters."
            )
            lines.append(
                "Reproducibility: seeded; the same seed and request give the same image on "
                "this backend (`seedless verify` measures it)."
            )
        else:
            lines.append(
                f"What: for each of {count} image(s), send it with the approved before/after "
                f"pair and a bounded, quantified instruction; draw {self.n} candidate(s) and "
                f"keep the one closest to the approved change ({scorer_name(self.scorer)})."
                + (
                    f" Stop early once one scores {self.threshold}."
                    if self.threshold is not None
                    else ""
                )
            )
            lines.append(
                "Reproducibility: best effort; the model has no seed, so each run differs. "
                "Check the contact sheets."
            )
        lines.append(f"Estimate: {self.estimate()}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()

    # ------------------------------------------------------------------ running

    def run(self) -> PlanResult:
        """Carry the plan out (sync). Needs a :class:`~seedless.Client`; see :meth:`arun`."""
        return run_sync(self.client, self.arun(), name="Plan.run")

    async def arun(self) -> PlanResult:
        """Carry the plan out on the async engine."""
        client = aio(self.client)
        if self.path in ("local", "seeded"):
            if self.recipe is not None:
                # warns when the server is not the stack the recipe was made on
                await check_host(client, self.recipe, self.prepared[0].request)
            generations = await gather_keeping(
                (client.execute(p) for p in self.prepared), images_of=lambda g: g.images
            )
            results = tuple(g.image for g in generations)
            return PlanResult(self, results, self._recipe(results[0]))
        assert self.scorer is not None
        ranked = await gather_keeping(
            (
                best_of_async(
                    client, p.request, n=self.n, scorer=self.scorer, threshold=self.threshold
                )
                for p in self.prepared
            ),
            images_of=lambda r: (c.result for c in r),
        )
        results = tuple(r.result for r in ranked)
        recipe = ranked[0].recipe(**self._anchor_fields())
        return PlanResult(self, results, recipe, tuple(ranked))

    def _anchor_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.original is not None and self.approved is not None:
            fields["anchors"] = {"original": self.original.sha256, "approved": self.approved.sha256}
            fields["source"] = self.original.sha256
            fields["result"] = self.approved.sha256
        return fields

    def _recipe(self, first: ImageResult) -> Recipe:
        if self.path == "seeded" and self.recipe is not None:
            return self.recipe
        return Recipe.from_result(first, **self._anchor_fields())


# ---------------------------------------------------------------------- choosing


def _fit(original: ImageInput, approved: ImageInput) -> FittedEffect:
    """A look fitted on the pair, with its verdict: global, global + spatial parts, or not
    reproducible locally."""
    from ..effects.fit import fit_effect  # lazy: numpy, only when a pair is fitted

    return fit_effect(to_rgb(original), to_rgb(approved))


def _seeded_recipe(approved: ImageLike | None, recipe: Recipe | None) -> Recipe | None:
    if recipe is not None:
        return recipe
    if isinstance(approved, ImageResult) and approved.seed_mode in ("seeded", "deterministic"):
        return Recipe.from_result(approved)
    return None


def plan(
    *,
    original: ImageLike | None = None,
    approved: ImageLike | None = None,
    images: Sequence[ImageLike] | ImageLike,
    model: str | None = None,
    instruction: str | None = None,
    effect: Any = None,
    recipe: Recipe | None = None,
    n: int = 4,
    threshold: float | None = None,
    scorer: ScorerLike | None = None,
    tolerance: float = 0.1,
    client: AnyClient,
    fit: bool = True,
) -> Plan:
    """Choose how to give ``images`` the edit that turned ``original`` into ``approved``.

    Args:
        original: the photo before the approved edit.
        approved: the approved result: a file, bytes, or the ``ImageResult`` itself (whose
            provenance tells the model, the seed and the effect).
        images: the photos to treat.
        model: the model that made ``approved`` (needed for the anchored path when
            ``approved`` is not an ``ImageResult``).
        instruction: the edit in words, sent to the model on the anchored path.
        effect: an exact effect to use (forces the local path).
        recipe: a saved recipe to follow (its strategy decides the path).
        n, threshold, scorer, tolerance: best-of-N settings for the anchored path.
        client: the client to validate and run with (required: plan() makes no client of
            its own, whose connections you could not close).
        fit: try fitting a LUT on the pair to detect a global edit.

    No network I/O happens here: requests are built and validated against the matrix, so an
    impossible plan is refused now, before anything is spent.
    """
    if client is None:
        raise ConfigurationError(
            "plan() validates and runs with the client you give it and makes none of its own: "
            "pass client=seedless.Client() (and close it, or use it in a `with` block)."
        )
    the_client: AnyClient = client
    ctx = _Context(
        client=the_client,
        images=as_inputs(images),
        before=ImageInput.of(original) if original is not None else None,
        after=ImageInput.of(approved) if approved is not None else None,
    )
    # 1. an exact effect, given or recorded
    if effect is not None:
        return ctx.local("an exact effect was given.", effect)
    known = _seeded_recipe(approved, recipe)
    if known is not None and known.strategy == "local":
        return ctx.local(
            "the approved result was made by the local provider with an exact effect.",
            known.effect_object(),
        )
    # 2. a look a fit reproduces locally (verdict "global" or "global + spatial"), unless a
    #    recipe was given to follow
    fitted: FittedEffect | None = None
    if fit and ctx.before is not None and ctx.after is not None and recipe is None:
        fitted = _fit(ctx.before, ctx.after)
        report = fitted.report
        if report is not None and report.reproducible:
            return ctx.local(f"the approved edit is {report.reason}", fitted)
    # 3. a seeded recipe
    if known is not None and known.strategy == "seeded":
        return ctx.seeded(known)
    # 4. anchored best-of-N on the original model
    anchored = _Anchored(model, instruction, n, threshold, scorer, tolerance, fitted)
    if known is not None and known.strategy == "anchored" and recipe is not None:
        ctx.before = check_anchor(recipe, "original", original)
        ctx.after = check_anchor(recipe, "approved", approved)
        anchored.follow(known)
    if anchored.model is None and isinstance(approved, ImageResult):
        anchored.model = approved.model_key
    return ctx.anchored(anchored, known, recipe)


@dataclass
class _Anchored:
    """The anchored path's settings: the caller's, completed from a recipe to follow."""

    model: str | None
    instruction: str | None
    n: int
    threshold: float | None
    scorer: ScorerLike | None
    tolerance: float
    fitted: FittedEffect | None

    def follow(self, known: Recipe) -> None:
        """Take the recipe's model, instruction and N where the caller gave none."""
        self.model = self.model or known.model
        self.instruction = self.instruction or known.instruction
        if known.best_of is not None and self.n == 4:
            self.n = known.best_of.n

    def why(self, key: str, seed: str) -> str:
        report = self.fitted.report if self.fitted is not None else None
        if report is not None:
            why = f"the approved edit is {report.reason.rstrip('.')}"
        else:
            why = "the approved edit is not known to be a global colour change"
        note = "has no seed" if seed in ("none", "best_effort") else "has no recorded seed here"
        return f"{why}, and {key} {note}: anchored best-of-{self.n} is the closest repeatable path."


@dataclass
class _Context:
    """What every path of :func:`plan` is built from: the client, the photos, the pair."""

    client: AnyClient
    images: tuple[ImageInput, ...]
    before: ImageInput | None
    after: ImageInput | None

    def _plan(self, path: PathName, why: str, model: str, **fields: Any) -> Plan:
        return Plan(
            path, why, model, images=self.images, original=self.before, approved=self.after,
            client=self.client, **fields,
        )  # fmt: skip

    def local(self, why: str, chosen: Any) -> Plan:
        """The exact path: ``chosen`` applied by the local provider to every photo."""
        engine = aio(self.client)
        prepared = tuple(
            engine.prepare(EditRequest(images=(image,), effect=chosen, model=LOCAL_MODEL))
            for image in self.images
        )
        return self._plan("local", why, LOCAL_MODEL, effect=chosen, prepared=prepared)

    def seeded(self, known: Recipe) -> Plan:
        """The seeded path: the recipe's request again (once, or per photo for an edit)."""
        engine = aio(self.client)
        if known.operation == "generate":
            requests: list[ImageRequest] = [known.request_for()]
        else:
            requests = [known.request_for(image) for image in self.images]
        return self._plan(
            "seeded",
            f"the approved result came from {known.model}, a seeded model, with seed "
            f"{known.seed} recorded: the same request replays it.",
            known.model,
            recipe=known,
            instruction=known.instruction,
            prepared=tuple(engine.prepare(r) for r in requests),
        )

    def anchored(self, how: _Anchored, known: Recipe | None, recipe: Recipe | None) -> Plan:
        """The anchored path: best-of-N on the model, each request carrying the pair."""
        if how.model is None:
            raise ConfigurationError(
                "The approved edit is not a global colour change, so it needs the model that "
                "made it.",
                remedy=Remedy("Pass {}, e.g. gemini:gemini-3-pro-image.", model="provider:model"),
            )
        before, after = self.before, self.after
        if before is None or after is None:
            raise ConfigurationError(
                "The anchored path sends the approved before/after pair with each photo.",
                remedy=Remedy("Give both: {} and {}.", original="before.jpg", approved="after.jpg"),
            )
        engine = aio(self.client)
        spec = engine.resolve(how.model)
        measured = known.measured if known is not None and how.fitted is None else None
        requests = [
            anchored_request(
                image, original=before, approved=after, model=spec.key,
                instruction=how.instruction, effect=how.fitted, measured=measured,
                tolerance=how.tolerance,
            )
            for image in self.images
        ]  # fmt: skip
        return self._plan(
            "anchored",
            how.why(spec.key, spec.seed),
            spec.key,
            instruction=how.instruction,
            n=how.n,
            threshold=how.threshold,
            scorer=how.scorer or MatchEffect(before, after),
            prepared=tuple(engine.prepare(r.model_copy(update={"n": how.n})) for r in requests),
            recipe=recipe,
        )
