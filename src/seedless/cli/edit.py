"""``seedless edit IMAGE... PROMPT -m MODEL``: one edit request, its images written.

``IMAGE...`` are the source and, after it, reference images in order. With ``--effect FILE``
or Adjust flags (``--brightness 0.85`` ...) instead of a prompt, the edit is the exact local
one (``local:pillow``). Logged to the calls ledger unless ``--no-log``.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from ..client import edit_request
from ..errors import ConfigurationError
from ._oneshot import add_model_flag, add_request_flags, send, shape
from ._options import add_adjust_flags, effect_from_args


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "edit",
        usage="%(prog)s IMAGE... PROMPT -m MODEL [options]\n"
        "       %(prog)s IMAGE... (--effect FILE | Adjust flags) [options]",
        help="Edit image(s) with one model (or an exact local effect); write, log the call.",
        description="Send one edit request: the first IMAGE is the source, the others are "
        "references, PROMPT (the last argument) is the instruction. With --effect or Adjust "
        "flags instead of a prompt, the exact local edit (local:pillow, $0).",
    )
    parser.add_argument("items", nargs="+", metavar="IMAGE... PROMPT",
                        help="source image, reference images, then the prompt")  # fmt: skip
    add_model_flag(parser, required=False)
    parser.add_argument("--effect", type=Path, help="an effect file (.json or .cube): local edit")
    add_adjust_flags(parser)
    add_request_flags(parser)
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.set_defaults(func=run, words={"prompt": "a PROMPT (the last argument)"})


def run(args: argparse.Namespace) -> int:
    effect = effect_from_args(args, required=False)
    if effect is not None:
        images, prompt = [Path(item) for item in args.items], None
        model = args.model or "local:pillow"
    else:
        if len(args.items) < 2:
            raise ConfigurationError(
                "give IMAGE... PROMPT (the prompt last), or --effect FILE / Adjust flags "
                "for an exact local edit"
            )
        images, prompt = [Path(item) for item in args.items[:-1]], args.items[-1]
        if args.model is None:
            raise ConfigurationError(
                "name the model that edits from a prompt: -m PROVIDER:MODEL "
                "(`seedless capabilities --supports edit` lists them)"
            )
        model = args.model
    request = edit_request(images, prompt, model=model, effect=effect, **shape(args))
    return send(args, request, command="edit")
