"""``seedless models check``: the capability matrix against what your endpoints really serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date

from ..client import AsyncClient
from ..config import SELF_HOSTED, missing_base_url
from ..errors import SeedlessError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="Check the matrix against what endpoints serve.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    check = verbs.add_parser(
        "check",
        help="List what an endpoint serves and print the drift from the matrix.",
        description="Lists the models an endpoint serves (Gemini GET /v1beta/models, "
        "OpenAI-style GET /v1/models, a Forge server's checkpoints, a ComfyUI server's) and "
        "prints served models the matrix lacks, matrix models the endpoint no longer lists, "
        "and rows whose dates have passed. Self-hosted servers are checked when "
        "SEEDLESS_FORGE_URL / SEEDLESS_COMFYUI_URL is set, or named with --provider.",
    )
    check.add_argument(
        "--provider",
        action="append",
        help="endpoint name (gemini, vertex, openai, forge, comfyui or your own); repeatable; "
        "default: all configured remote endpoints",
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    check.set_defaults(func=run)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=usage)


def run(args: argparse.Namespace) -> int:
    from ..drift import check, list_models  # lazy: httpx, loaded when the check runs

    client = AsyncClient()
    today = args.today or date.today()
    names = args.provider or [
        name
        for name, e in client.endpoints.items()
        if e.protocol != "local"
        and (e.protocol not in SELF_HOSTED or e.base_url)
        and missing_base_url(e) is None
    ]  # a self-hosted server or the relay is checked when its address is set (or --provider)
    reports = []
    status = 0
    for name in names:
        endpoint = client.endpoints.get(name)
        if endpoint is None:
            print(f"seedless: no endpoint named {name!r}", file=sys.stderr)
            return 2
        served: list[str] | None
        note = ""
        try:
            served = asyncio.run(list_models(endpoint))
        except SeedlessError as exc:
            served, note = None, str(exc)
        drift = check(client.matrix, endpoint, served, today=today)
        reports.append((drift, note))
        if not drift.clean:
            status = 1
    if args.json:
        print(json.dumps([{**d.to_dict(), "note": n} for d, n in reports], indent=2))
    else:
        for drift, note in reports:
            print(drift.render())
            if note:
                print(f"  (listing unavailable: {note})")
    return status
