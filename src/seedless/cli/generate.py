"""``seedless generate PROMPT -m MODEL``: one text-to-image request, its images written.

Refused before anything is sent when the model cannot do it (a seed on a model without one, a
size it lacks) or ``--budget`` is too small; logged to the calls ledger (``seedless ledger
calls``) unless ``--no-log``.
"""

from __future__ import annotations

import argparse
from datetime import date

from ..client import generate_request
from ._oneshot import add_model_flag, add_request_flags, send, shape


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="Generate image(s) from a prompt with one model; write them, log the call.",
        description="Send one text-to-image request to MODEL and write its image(s) to -o "
        "(a folder, named by hash, or a file name whose extension picks the format). The "
        "request is checked against the capability matrix first; the call is logged to the "
        "calls ledger (`seedless ledger calls`) unless --no-log.",
    )
    parser.add_argument("prompt", metavar="PROMPT", help="what to draw")
    add_model_flag(parser, required=True)
    add_request_flags(parser)
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    request = generate_request(args.prompt, model=args.model, **shape(args))
    return send(args, request, command="generate")
