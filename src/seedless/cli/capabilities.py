"""``seedless capabilities``: the capability matrix as a table, JSON or the docs page.

``seedless capabilities flux`` shows the rows whose model, alias or name holds "flux". The
table fits the terminal (the lifecycle detail goes first, then the least needed columns);
piped, it is printed whole unless ``$COLUMNS`` says otherwise. No matching row: a message
and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import date

from .._matrix import TABLE_COLUMNS
from ..capabilities import Matrix, capabilities


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "capabilities",
        help="Show what every model can do (seed, sizes, prices) and its lifecycle.",
        description="Show the capability matrix: operations, seed support, images per call, "
        "sizes, reference images, list prices and lifecycle per provider. MODEL keeps the "
        "rows whose model, alias or name contains it.",
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", help="filter: e.g. flux, imagen")
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
    if args.model:
        word = args.model.lower()
        matrix = matrix.filter(
            lambda r: any(word in text.lower() for text in (r.key, r.name, *r.aliases))
        )
    if not len(matrix):
        print(f"seedless: no model matches {_filters(args)}", file=sys.stderr)
        return 1
    if args.markdown:
        from ..matrix_doc import render_markdown  # lazy: only --markdown renders the page

        print(render_markdown(matrix), end="")
    elif args.json:
        print(json.dumps(matrix.to_json(), indent=2))
    else:
        print(fit_table(matrix, today, _width()))
    return 0


def _filters(args: argparse.Namespace) -> str:
    given = [repr(args.model)] if args.model else []
    given += [f"--{name} {getattr(args, name)}" for name in ("provider", "supports")
              if getattr(args, name)]  # fmt: skip
    if args.active:
        given.append("--active")
    return " and ".join(given) or "(the matrix is empty)"


def _width() -> int | None:
    """The columns to fit: the terminal's, else ``$COLUMNS``, else none (print it whole)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() else None


#: Columns given up, in this order, when the table is wider than the terminal.
_DROPPABLE = ("refs", "n/call", "sizes", "ops")


def fit_table(matrix: Matrix, today: date, width: int | None) -> str:
    """The matrix's table within ``width`` columns: without the lifecycle detail, then
    without the columns of :data:`_DROPPABLE`, while it is too wide; as a last resort each
    line is cut short (marked with an ellipsis)."""
    table = matrix.table(today=today)
    if width is None or _widest(table) <= width:
        return table
    columns = list(TABLE_COLUMNS)
    table = matrix.table(today=today, lifecycle=False)
    for column in _DROPPABLE:
        if _widest(table) <= width:
            return table
        columns.remove(column)
        table = matrix.table(today=today, lifecycle=False, columns=columns)
    return "\n".join(
        line if len(line) <= width else line[: max(1, width - 1)] + "…"
        for line in table.splitlines()
    )


def _widest(table: str) -> int:
    return max((len(line) for line in table.splitlines()), default=0)
