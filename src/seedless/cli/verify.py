"""``seedless verify``: run one request k times and check the matrix's reproducibility class.

Prints the pixel and structural distances between the results and whether they behave as the
matrix says (exact, seeded, or none). Exits 1 when the backend disagrees with the matrix.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from . import SEED_POLICY_WORDING, add_seed_policy


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="Send one request k times and check how reproducible the backend really is.",
        description="Send the same request --trials times and measure how far apart the "
        "results are (pixel and structural distance), then compare with the matrix's "
        "reproducibility class for MODEL. Every trial is a billed call.",
    )
    parser.add_argument("model", metavar="MODEL", help='"provider:model" or an alias')
    parser.add_argument("prompt", metavar="PROMPT", help="the prompt or edit instruction")
    parser.add_argument("-k", "--trials", type=int, default=3, help="how many runs (default 3)")
    parser.add_argument("--seed", type=int, help="send this seed (seeded models)")
    parser.add_argument(
        "--image", type=Path, action="append", help="edit this image (repeat for references)"
    )
    parser.add_argument("--effect", type=Path, help="effect file, for local:pillow")
    add_seed_policy(parser)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..client import Client, edit_request, generate_request
    from ..effects import load_effect
    from ..errors import UnsupportedCapabilityError
    from ..models import ImageRequest
    from ..strategies import measure_reproducibility

    if args.trials < 2:
        print("seedless: --trials must be at least 2 to compare results", file=sys.stderr)
        return 2
    effect = load_effect(args.effect) if args.effect else None
    request: ImageRequest
    if args.image:
        request = edit_request(
            args.image, args.prompt or None, model=args.model, seed=args.seed, effect=effect
        )
    else:
        request = generate_request(args.prompt, model=args.model, seed=args.seed)
    today = args.today
    with Client(clock=(lambda: today) if today else None) as client:
        try:
            prepared = client.prepare(
                request.model_copy(update={"n": 1}), seed_policy=args.seed_policy
            )
        except UnsupportedCapabilityError as exc:
            if exc.capability != "seed" or SEED_POLICY_WORDING[0] not in str(exc):
                raise
            # The library names its keyword; here the way to send the seed is the flag.
            raise UnsupportedCapabilityError(
                str(exc).replace(*SEED_POLICY_WORDING),
                model=exc.model,
                capability=exc.capability,
                alternatives=exc.alternatives,
            ) from exc
        price = prepared.estimate_cost()
        cost = "unknown cost" if price is None else f"about ${price * args.trials:.4f}"
        print(f"verifying {prepared.spec.key}: {args.trials} calls, {cost}", file=sys.stderr)
        report = measure_reproducibility(client, request, args.trials, seed_policy=args.seed_policy)
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
