"""``seedless capabilities``: the capability matrix as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "capabilities",
        help="Show what every model can do (seed, sizes, prices) and its lifecycle.",
        description="Show the capability matrix: operations, seed support, images per call, "
        "sizes, reference images, list prices and lifecycle per provider.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument(
        "--markdown", action="store_true", help="print the docs/capabilities.md page"
    )
    parser.add_argument("--provider", help="only rows of this provider")
    parser.add_argument("--supports", help="only rows that support this (seed, edit, ...)")
    parser.add_argument("--active", action="store_true", help="hide retired models")
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..capabilities import capabilities

    today = args.today or date.today()
    matrix = capabilities()
    if args.provider:
        known = sorted({r.provider for r in matrix})
        if args.provider not in known:
            print(
                f"seedless: --provider: no models of {args.provider!r}; one of {', '.join(known)}",
                file=sys.stderr,
            )
            return 2
        matrix = matrix.filter(lambda r: r.provider == args.provider)
    if args.supports:
        try:
            matrix = matrix.supports(args.supports)
        except ValueError as exc:
            print(f"seedless: {exc}", file=sys.stderr)
            return 2
    if args.active:
        matrix = matrix.active(today)
    if args.markdown:
        from ..matrix_doc import render_markdown

        print(render_markdown(matrix), end="")
    elif args.json:
        print(json.dumps(matrix.to_json(), indent=2))
    else:
        print(matrix.table(today=today))
    return 0
