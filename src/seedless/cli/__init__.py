"""The ``seedless`` command: nouns and verbs, each in its own module with ``add_parser``.

Each subcommand module registers itself with ``add_parser(subparsers)`` and sets
``func`` on its parser; heavy imports happen inside the handlers, so ``seedless --help``
stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "apply",
    "fit",
    "reproduce",
    "verify",
    "batch",
    "ledger",
    "capabilities",
    "models",
    "emulate",
)


def add_seed_policy(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--seed-policy``, for commands that send seeds (the client's ``seed_policy``)."""
    parser.add_argument(
        "--seed-policy",
        choices=["strict", "best_effort"],
        help="best_effort sends a seed to models that treat it as a hint",
    )


#: How the library's refusal of a best-effort seed names the setting, and how a command does.
SEED_POLICY_WORDING = ("seed_policy='best_effort'", "--seed-policy best_effort")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedless",
        description="Repeatable image edits: exact local edits, seeded models, and measured "
        "best effort on models without a seed.",
    )
    parser.add_argument("--version", action="version", version=f"seedless {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seedless`` command; returns the exit status."""
    from ..errors import SeedlessError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (SeedlessError, OSError) as exc:  # OSError: a missing or unreadable file
        print(f"seedless: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("seedless: interrupted", file=sys.stderr)
        return 130
