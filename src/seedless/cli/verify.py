"""``seedless verify``: run one request k times and check the matrix's reproducibility class.

Prints the pixel and structural distances between the results and whether they behave as the
matrix says (exact, seeded, or none). Exits 1 when the backend disagrees with the matrix.
``--recipe`` verifies a saved recipe's request instead, and first warns when the server's
fingerprint (checkpoint, version, device) is not the one the recipe was made on.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from ..client import Client, edit_request, generate_request
from ..effects import Effect
from ..errors import BudgetExceededError
from ..models import ImageRequest
from ..strategies import Recipe, measure_reproducibility
from ..strategies.replay import check_host
from . import listeners
from ._options import (
    add_adjust_flags,
    add_budget,
    add_model,
    add_request_policy,
    client_options,
    effect_from_args,
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="Send one request k times and check how reproducible the backend really is.",
        description="Send the same request --trials times and measure how far apart the "
        "results are (pixel and structural distance), then compare with the matrix's "
        "reproducibility class for --model. Every trial is a billed call.",
    )
    parser.add_argument(
        "prompt", metavar="PROMPT", nargs="?", help="the prompt or edit instruction"
    )
    add_model(parser, '"provider:model" or an alias (required unless --recipe)')
    parser.add_argument(
        "--recipe",
        type=Path,
        help="verify this recipe.json's request (local or seeded) instead of PROMPT and "
        "--model; warns first when the server is not the stack the recipe was made on",
    )
    parser.add_argument("-k", "--trials", type=int, default=3, help="how many runs (default 3)")
    parser.add_argument("--seed", type=int, help="send this seed (seeded models)")
    parser.add_argument("--size", help='image size: a size class ("1K") or "WxH"')
    parser.add_argument("--aspect-ratio", help='aspect ratio, e.g. "16:9"')
    parser.add_argument(
        "--image", type=Path, action="append", help="edit this image (repeat for references)"
    )
    parser.add_argument("--effect", type=Path, help="effect file, for local:pillow")
    add_adjust_flags(parser)
    add_request_policy(parser)
    add_budget(parser)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run, words={"prompt": "a PROMPT"})


def _request(
    args: argparse.Namespace, effect: Effect | None
) -> tuple[ImageRequest, Recipe | None] | str:
    """The request to verify (a recipe's own, or PROMPT and --model's), or what is wrong with
    the command line."""
    recipe = Recipe.load(args.recipe) if args.recipe else None
    if recipe is not None:
        if recipe.strategy == "anchored" or args.prompt is not None or args.model is not None:
            return (
                "--recipe verifies a local or seeded recipe's own request: drop PROMPT and "
                "--model (an anchored recipe has no single request to repeat)"
            )
        return recipe.request_for(args.image[0] if args.image else None), recipe
    if args.model is None or args.prompt is None:
        return "give PROMPT and --model MODEL, or --recipe FILE"
    shape = {"seed": args.seed, "size": args.size, "aspect_ratio": args.aspect_ratio}
    if args.image:
        request = edit_request(
            args.image, args.prompt or None, model=args.model, effect=effect, **shape
        )
        return request, None
    return generate_request(args.prompt, model=args.model, **shape), None


def run(args: argparse.Namespace) -> int:
    if args.trials < 2:
        print("seedless: --trials must be at least 2 to compare results", file=sys.stderr)
        return 2
    found = _request(args, effect_from_args(args, required=False))
    if isinstance(found, str):
        print(f"seedless: {found}", file=sys.stderr)
        return 2
    request, recipe = found
    today = args.today
    clock = (lambda: today) if today else None
    with Client(clock=clock, listeners=listeners(args), **client_options(args)) as client:
        if recipe is not None:
            for change in client._run(check_host(client, recipe, request, warn=False)):
                print(
                    f"seedless: warning: the server is not the stack the recipe was made on "
                    f"({change}); the same seed may give other images",
                    file=sys.stderr,
                )
        prepared = client.prepare(request.model_copy(update={"n": 1}))
        price = prepared.estimate_cost()
        total = None if price is None else price * args.trials
        if args.budget is not None and (total is None or total > args.budget):
            cost = "an unknown cost" if total is None else f"${total:.4f}"
            raise BudgetExceededError(
                f"{args.trials} calls to {prepared.spec.key} would cost {cost}, over --budget "
                f"${args.budget:.4f}: raise --budget or lower --trials",
                spent=0.0,
                cap=args.budget,
                next_cost=total if total is not None else float("inf"),
            )
        cost = "unknown cost" if total is None else f"about ${total:.4f}"
        print(f"verifying {prepared.spec.key}: {args.trials} calls, {cost}", file=sys.stderr)
        report = measure_reproducibility(client, request, args.trials)
    if args.json:
        data = {
            "model": report.model,
            "expected": report.expected,
            "observed": report.observed,
            "agrees": report.agrees,
            "trials": report.trials,
            "unique_outputs": report.unique_outputs,
            "pixel_mean": report.pixel_mean,
            "pixel_max": report.pixel_max,
            "structural_mean": report.structural_mean,
            "structural_max": report.structural_max,
            "seeded_request": report.seeded_request,
            "cost_usd": report.cost_usd,
        }
        print(json.dumps(data, indent=2))
    else:
        print(report.summary())
    return 1 if report.agrees is False else 0
