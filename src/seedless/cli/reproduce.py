"""``seedless reproduce``: give more photos the edit that turned an original into an approved one.

Plans first (exact local replay for a global edit, seeded replay, or anchored best-of-N) and
prints why; ``--dry-run`` stops there, so nothing is spent, and ``--budget`` refuses a plan
whose worst case costs more. A run shows its progress, writes one output per input (named
after it), ``recipe.json``, and for the anchored path a contact sheet per input; it ends with
a summary and exits 1 when a candidate was blocked or failed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from .._progress import progress_bar
from ..client import Client
from ..effects import load_effect
from ..errors import BudgetExceededError, ConfigurationError
from ..strategies import Recipe, plan
from . import listeners
from ._options import (
    add_best_of,
    add_budget,
    add_model,
    add_out,
    add_request_policy,
    client_options,
)
from .apply import collect_inputs, look_warning


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="Reproduce an approved edit on more photos (plans first; --dry-run to only plan).",
        description="Give IMAGES the edit that turned --original into --approved. seedless "
        "picks the path and says why before anything is spent: a global colour/tone edit "
        "replays exactly and free on the local provider; a seeded recipe replays by seed; "
        "anything else runs anchored best-of-N on the model that made the approved image.",
    )
    parser.add_argument("images", nargs="+", type=Path, help="photos (files or folders)")
    parser.add_argument("--original", type=Path, help="the photo before the approved edit")
    parser.add_argument("--approved", type=Path, help="the approved result")
    add_out(parser, "output folder")
    add_model(parser, "the model that made the approved image (for the anchored path)")
    parser.add_argument("--prompt", help="the edit in words, sent on the anchored path")
    parser.add_argument("--recipe", type=Path, help="follow a saved recipe.json")
    parser.add_argument("--effect", type=Path, help="use this exact effect (.json or .cube)")
    add_best_of(parser, "candidates per photo on the anchored path (default 4)", default=4)
    parser.add_argument(
        "--threshold", type=float, help="stop drawing candidates once one scores this (0-1)"
    )
    add_budget(parser)
    add_request_policy(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and the estimate; send nothing"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress or summary")
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _files(args: argparse.Namespace) -> list[Path]:
    """The photos to treat; refuses, before anything is planned, to write over an input."""

    files = collect_inputs(args.images)
    if not files:
        raise ConfigurationError("no image files found in the inputs")
    if args.recipe is None and args.effect is None and None in (args.original, args.approved):
        raise ConfigurationError("give --original and --approved (or a --recipe, or an --effect)")
    named = (args.original, args.approved, args.recipe, args.effect)
    inputs = {f.resolve() for f in files} | {p.resolve() for p in named if p is not None}
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        raise ConfigurationError("two inputs share a file name; reproduce them separately")
    out: Path = args.out
    if out.exists() and any(p.resolve() in inputs for p in out.iterdir()):
        raise ConfigurationError(
            f"refusing to write into {out}, which holds inputs: choose another output folder"
        )
    return files


def run(args: argparse.Namespace) -> int:
    files = _files(args)
    recipe = Recipe.load(args.recipe) if args.recipe else None
    effect = load_effect(args.effect) if args.effect else None
    today = args.today
    clock = (lambda: today) if today else None
    tick = _Tick()
    client = Client(clock=clock, listeners=[*listeners(args), tick], **client_options(args))
    try:
        chosen = plan(
            original=args.original,
            approved=args.approved,
            images=files,
            model=args.model,
            instruction=args.prompt,
            effect=effect,
            recipe=recipe,
            n=args.best_of,
            threshold=args.threshold,
            client=client,
        )
        print(chosen.explain())
        if chosen.path == "local":
            for file in files:
                warning = look_warning(chosen.effect, file)
                if warning is not None:
                    print(f"seedless: warning: {warning}", file=sys.stderr)
        estimate = chosen.estimate()
        _check_budget(estimate, args.budget)
        if args.dry_run:
            print("dry run: nothing was sent", file=sys.stderr)
            return 0
        with progress_bar(
            estimate.calls, desc="seedless reproduce", unit="call", enabled=not args.quiet
        ) as tick.bar:
            done = chosen.run()
    finally:
        client.close()
    return _write(args, files, done)


class _Tick:
    """A client listener that moves the progress bar on at the end of every wire call."""

    bar: Any = None

    def __call__(self, event: Any) -> None:
        if self.bar is not None and event.kind in ("done", "error"):
            self.bar.update(1)


def _check_budget(estimate: Any, budget: float | None) -> None:
    """Refuse a plan whose worst case costs more than ``--budget`` (or an unknown amount)."""

    if budget is None or (estimate.cost_usd is not None and estimate.cost_usd <= budget):
        return
    cost = "an unknown amount" if estimate.cost_usd is None else f"${estimate.cost_usd:.4f}"
    raise BudgetExceededError(
        f"the plan may cost {cost}, over --budget ${budget:.4f}: lower --best-of, set a "
        "--threshold, or raise --budget",
        spent=0.0,
        cap=budget,
        next_cost=estimate.cost_usd if estimate.cost_usd is not None else float("inf"),
    )


def _write(args: argparse.Namespace, files: list[Path], done: Any) -> int:
    """Save images, recipe and contact sheets; print the summary; 1 if a candidate failed."""
    out: Path = args.out
    paths = done.save(out)
    problems: list[str] = []
    for image, ranked in zip(files, done.ranked, strict=False):
        shown = {"original": args.original, "approved": args.approved, "source": image}
        sheet = ranked.contact_sheet(
            references={label: path for label, path in shown.items() if path is not None}
        )
        sheet.save(out / "sheets" / f"{image.stem}.png")
        kinds: dict[str, int] = {}
        for error in ranked.errors:
            kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
        if kinds:
            counts = ", ".join(f"{count} {name}" for name, count in sorted(kinds.items()))
            problems.append(
                f"{image.name}: {len(ranked)} of {ranked.n} candidate(s) made it; {counts} "
                f"(first: {ranked.errors[0]})"
            )
    cost = done.cost_usd
    spent = "unknown cost" if cost is None else f"${cost:.4f}"
    sheets = f"; contact sheets in {out / 'sheets'}" if done.ranked else ""
    if not args.quiet:
        print(
            f"wrote {len(paths)} image(s) and recipe.json to {out} ({spent}){sheets}",
            file=sys.stderr,
        )
    for problem in problems:
        print(f"seedless: {problem}", file=sys.stderr)
    return 1 if problems else 0
