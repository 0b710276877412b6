"""``seedless ledger``: what a batch run did (counts, cost, failures, its rows exported), and
the calls ledger of ``seedless generate`` and ``edit`` (``calls``, ``path``).

``RUN`` is a batch's output folder (or its ``seedless-ledger.sqlite``), or a run's name in
the ledger of ``--dir`` (default: the current folder). A folder holding several runs shows
the most recent unless ``--run`` names one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import ConfigurationError
from ._options import add_out

if TYPE_CHECKING:
    from ..batch.ledger import Ledger


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ledger",
        help="Browse the calls of generate/edit, or what a batch run did (counts, cost).",
        description="Read the ledger a batch keeps beside its outputs: a summary of a run "
        "(jobs by status, cost, failures by error class), its runs, or every row as JSONL/CSV.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("target", metavar="RUN", help="output folder, ledger file, or run name")
        sub.add_argument("--run", help="the run's name, when the ledger holds several")
        sub.add_argument(
            "--dir", type=Path, default=Path("."), help="where to find RUN by name (default .)"
        )

    show = verbs.add_parser("show", help="Counts, cost and failures by class of one run.")
    common(show)
    show.add_argument("--failures", type=int, default=10, metavar="N", help="list N failures")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(func=run_show)

    export = verbs.add_parser("export", help="Every job (or attempt) row as JSONL or CSV.")
    common(export)
    export.add_argument(
        "--format", choices=["jsonl", "csv"], default="jsonl", help="jsonl (default) or csv"
    )
    export.add_argument("--attempts", action="store_true", help="export attempt rows instead")
    add_out(export, "write to this file (default: stdout)", required=False)
    export.set_defaults(func=run_export)

    runs = verbs.add_parser("runs", help="The runs a folder's ledger holds.")
    runs.add_argument("target", metavar="DIR", help="output folder or ledger file")
    runs.set_defaults(func=run_runs)

    calls = verbs.add_parser(
        "calls", help="The latest requests of seedless generate and edit (the calls ledger)."
    )
    calls.add_argument("-n", type=int, default=20, help="how many, newest first (default 20)")
    calls.add_argument("-m", "--model", help="only this model's (provider:model)")
    calls.add_argument("--json", action="store_true", help="print JSON lines")
    calls.set_defaults(func=run_calls)

    path = verbs.add_parser("path", help="Where the calls ledger is (a SQLite file).")
    path.set_defaults(func=run_path)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=usage)


def _open(args: argparse.Namespace) -> tuple[Ledger, str]:
    from ..batch.ledger import Ledger  # lazy: seedless.batch and sqlite3 load when a command runs

    target = Path(args.target)
    name = args.run
    if target.exists():
        ledger = Ledger.find(target)
        try:
            return ledger, ledger.resolve_run(name)
        except BaseException:
            ledger.close()
            raise
    name = name or args.target
    missing = f"no such folder or ledger file: {target}"
    try:
        ledger = Ledger.find(args.dir)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"{missing} (nor a ledger in {args.dir} holding a run of that name)"
        ) from exc
    try:
        runs = [str(row["run"]) for row in ledger.runs()]
        if name not in runs:
            raise ConfigurationError(
                f"{missing} (nor a run of that name in {ledger.path}, which holds: "
                f"{', '.join(runs) or 'no runs'})"
            )
        return ledger, name
    except BaseException:
        ledger.close()
        raise


#: What ``ledger show --json`` says of each provider batch of a run.
_SHARD_FIELDS = ("batch_id", "engine", "model", "state", "provider_state", "requests",
                 "submitted_at")  # fmt: skip


def run_show(args: argparse.Namespace) -> int:
    ledger, run = _open(args)
    with ledger:
        summary = ledger.summary(run)
        failures = [
            row
            for row in ledger.rows(run)
            if row["status"] not in ("done", "running", "writing", "submitted")
        ][: max(0, args.failures)]
        shards = [row for row in ledger.shards(run) if row["state"] != "abandoned"]
    if args.json:
        data = {
            "run": summary.run,
            "jobs": summary.jobs,
            "by_status": summary.by_status,
            "cost_usd": summary.cost_usd,
            "spent_usd": summary.spent_usd,
            "cached": summary.cached,
            "attempts": summary.attempts,
            "retries": summary.retries,
            "failures": summary.failures,
            "provider_batches": [{key: row[key] for key in _SHARD_FIELDS} for row in shards],
            "ledger": str(ledger.path),
        }
        print(json.dumps(data, indent=2))
        return 0
    print(summary)
    if failures:
        print("  not done:")
        for row in failures:
            print(
                f"    {row['job_id']}: {row['status']}: {row['error_class']}: "
                f"{row['error_message']}"
            )
    if shards:
        print("  provider batches (as last seen; `seedless batch --status -o OUT` asks again):")
        for row in shards:
            said = f", provider: {row['provider_state']}" if row["provider_state"] else ""
            print(
                f"    {row['batch_id'] or row['shard']}: {row['engine']}, {row['model']}, "
                f"{row['requests']} request(s): {row['state']}{said}"
            )
    print(f"  ledger: {ledger.path}")
    return 0


def _write_csv(rows: Iterator[dict[str, Any]], out: TextIO, columns: list[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()  # a run with no rows still exports its header
    for row in rows:
        writer.writerow(row)


def run_export(args: argparse.Namespace) -> int:
    ledger, run = _open(args)
    with ledger:
        rows = ledger.attempt_rows(run) if args.attempts else ledger.rows(run)
        handle = (
            args.out.open("w", encoding="utf-8", errors="surrogateescape", newline="")
            if args.out is not None
            else sys.stdout
        )
        try:
            if args.format == "csv":
                _write_csv(rows, handle, ledger.columns("attempts" if args.attempts else "jobs"))
            else:
                for row in rows:
                    handle.write(json.dumps(row, sort_keys=True) + "\n")
        except BrokenPipeError:  # `| head`: the reader has seen enough
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit quiet
        finally:
            if handle is not sys.stdout:
                handle.close()
    return 0


def run_runs(args: argparse.Namespace) -> int:
    from ..batch.ledger import Ledger  # lazy: seedless.batch and sqlite3 load when a command runs

    with Ledger.find(args.target) as ledger:
        for row in ledger.runs():
            print(f"{row['run']}\t{row['jobs']} job(s)\tupdated {row['updated_at']}")
    return 0


def run_calls(args: argparse.Namespace) -> int:
    from ._calllog import ledger_path, read_calls  # lazy: sqlite3, loaded when a command runs

    rows = read_calls(ledger_path(), limit=max(0, args.n), model=args.model)
    for row in rows:
        if args.json:
            print(json.dumps(row, sort_keys=True))
            continue
        cost = "?" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
        outcome = row["status"] if row["status"] == "done" else f"{row['error_class']}"
        prompt = (row["prompt"] or "").replace("\n", " ")
        prompt = prompt if len(prompt) <= 60 else prompt[:59] + "…"
        print(
            f"{row['at']}  {row['command']:<8} {row['model']}  {row['images']} image(s) "
            f"{cost}  {outcome}  {prompt!r}"
        )
        for output in row["outputs"]:
            print(f"    {output}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    from ._calllog import ledger_path  # lazy: sqlite3, loaded when a command runs

    print(ledger_path())
    return 0
