"""The ``seedless`` command: nouns and verbs, each in its own module with ``add_parser``.

Each subcommand module registers itself with ``add_parser(subparsers)`` and sets
``func`` on its parser; heavy imports happen inside the handlers, so ``seedless --help``
stays quick. The flags shared by several subcommands are defined once, in ``_options``.
A mistyped subcommand or flag is answered with "did you mean"; ``-v`` (or
``SEEDLESS_LOG=info|debug``) logs every wire call, secrets redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from .._logs import log_call_event, verbose
from .._version import __version__
from ..errors import SeedlessError, naming
from ._options import remedy_namer

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "generate",
    "edit",
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


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that answers a mistyped choice or flag with "did you mean"."""

    def error(self, message: str) -> NoReturn:
        super().error(message + self._suggestion(message))

    def _suggestion(self, message: str) -> str:
        choice = re.search(r"invalid choice: '([^']*)'", message)
        if choice:
            known = [str(c) for a in self._actions if a.choices for c in a.choices]
            return _did_you_mean(choice.group(1), known)
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            flags = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    hint = _did_you_mean(word.split("=", 1)[0], flags)
                    if hint:
                        return hint
        return ""


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="seedless",
        description="Repeatable image edits: exact local edits, seeded models, and measured "
        "best effort on models without a seed.",
        epilog="-v logs every wire call (and retry) to stderr, secrets redacted; -vv adds "
        "details. SEEDLESS_LOG=info|debug does the same for any program using seedless.",
    )
    parser.add_argument("--version", action="version", version=f"seedless {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log wire calls (-vv: details)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    for leaf in _leaves(parser):
        if leaf is not parser:
            leaf.set_defaults(parser=leaf)
            leaf.add_argument(
                "-v",
                "--verbose",
                action="count",
                default=argparse.SUPPRESS,
                help="log wire calls (-vv: details)",
            )
    return parser


def _leaves(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser of the tree (the root, the nouns, the verbs)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from _leaves(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seedless`` command; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        owner: argparse.ArgumentParser = getattr(args, "parser", parser)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with contextlib.ExitStack() as stack:
        if args.verbose:
            stack.enter_context(verbose("info" if args.verbose == 1 else "debug"))
        # the library's refusals name their remedies as this command's flags
        namer = remedy_namer(
            job_file=getattr(args, "job_file_words", False), words=getattr(args, "words", None)
        )
        stack.enter_context(naming(namer))
        stack.enter_context(_raw_file_names(sys.stdout))
        try:
            return int(args.func(args) or 0)
        except BrokenPipeError:  # `| head`: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except (SeedlessError, OSError) as exc:  # OSError: a missing or unreadable file
            print(f"seedless: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("seedless: interrupted", file=sys.stderr)
            if argv is None:  # the process's own command line: it is about to exit
                _ignore_further_interrupts()
            return 130
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _raw_file_names(stream: Any) -> Iterator[None]:
    """Print file names that are not UTF-8 as the bytes they are (as ``ls`` does), instead of
    failing on them, while a command runs: stdout's ``errors`` becomes ``surrogateescape``."""
    errors = getattr(stream, "errors", None)
    reconfigure = getattr(stream, "reconfigure", None)
    if errors != "strict" or not callable(reconfigure):
        yield
        return
    reconfigure(errors="surrogateescape")
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # the stream was closed meanwhile
            reconfigure(errors=errors)


def _ignore_further_interrupts() -> None:
    """After Ctrl-C was handled, another one must not cut the exit short: Python would end
    by the signal (status -2, not 130) while it waits for threads and worker processes."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def listeners(args: argparse.Namespace) -> list[Any]:
    """The client listeners a command's flags ask for: wire-call logging under ``-v``."""
    return [log_call_event] if getattr(args, "verbose", 0) else []
