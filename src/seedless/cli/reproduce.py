"""``seedless reproduce``: give more photos the edit that turned an original into an approved one.

Plans first (exact local replay for a global edit, seeded replay, or anchored best-of-N) and
prints why; ``--dry-run`` stops there, so nothing is spent. A run writes one output per input
(named after it), ``recipe.json``, and for the anchored path a contact sheet per input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


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
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--model", help="the model that made the approved image (for the anchored path)"
    )
    parser.add_argument("--instruction", help="the edit in words, sent on the anchored path")
    parser.add_argument("--recipe", type=Path, help="follow a saved recipe.json")
    parser.add_argument("--effect", type=Path, help="use this exact effect (.json or .cube)")
    parser.add_argument("-n", type=int, default=4, help="candidates per photo (anchored)")
    parser.add_argument(
        "--threshold", type=float, help="stop drawing candidates once one scores this (0-1)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and the estimate; send nothing"
    )
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..client import Client
    from ..effects import load_effect
    from ..errors import ConfigurationError
    from ..strategies import Recipe, plan
    from .apply import collect_inputs, coverage_warning

    files = collect_inputs(args.images)
    if not files:
        raise ConfigurationError("no image files found in the inputs")
    recipe = Recipe.load(args.recipe) if args.recipe else None
    effect = load_effect(args.effect) if args.effect else None
    if recipe is None and effect is None and (args.original is None or args.approved is None):
        raise ConfigurationError("give --original and --approved (or a --recipe, or an --effect)")
    out: Path = args.out
    named = (args.original, args.approved, args.recipe, args.effect)
    inputs = {f.resolve() for f in files} | {p.resolve() for p in named if p is not None}
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        raise ConfigurationError("two inputs share a file name; reproduce them separately")
    if out.exists() and any(p.resolve() in inputs for p in out.iterdir()):
        raise ConfigurationError(
            f"refusing to write into {out}, which holds inputs: choose another output folder"
        )
    today = args.today
    client = Client(clock=(lambda: today) if today else None)
    try:
        chosen = plan(
            original=args.original,
            approved=args.approved,
            images=files,
            model=args.model,
            instruction=args.instruction,
            effect=effect,
            recipe=recipe,
            n=args.n,
            threshold=args.threshold,
            client=client,
        )
        print(chosen.explain())
        if chosen.path == "local":
            for file in files:
                warning = coverage_warning(chosen.effect, file)
                if warning is not None:
                    print(f"seedless: warning: {warning}", file=sys.stderr)
        if args.dry_run:
            print("dry run: nothing was sent", file=sys.stderr)
            return 0
        done = chosen.run()
    finally:
        client.close()
    paths = done.save(out)
    for image, ranked in zip(files, done.ranked, strict=False):
        shown = {"original": args.original, "approved": args.approved, "source": image}
        sheet = ranked.contact_sheet(
            references={label: path for label, path in shown.items() if path is not None}
        )
        sheet.save(out / "sheets" / f"{image.stem}.png")
    cost = done.cost_usd
    spent = "unknown cost" if cost is None else f"${cost:.4f}"
    sheets = f"; contact sheets in {out / 'sheets'}" if done.ranked else ""
    print(
        f"wrote {len(paths)} image(s) and recipe.json to {out} ({spent}){sheets}",
        file=sys.stderr,
    )
    return 0
