"""What ``seedless generate`` and ``seedless edit`` share: the request flags, the budget check,
sending through the client's execution hook, writing the images, the calls ledger.

``-o`` is a folder (existing, or ending in ``/``; images named by their hash, the default
being the current folder) or a file name (its extension picks the format; with several images
``name-1.png``, ``name-2.png`` ...). An output never replaces an input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .._calls import ExecuteHooks
from ..client import Client
from ..errors import BudgetExceededError, ConfigurationError
from . import listeners
from ._options import add_budget, add_model, add_request_policy, client_options


def add_request_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of one request, shared by ``generate`` and ``edit``."""
    parser.add_argument(
        "-o", "--out", type=Path, default=Path("."),
        help="a folder (default: here; names from the image hash) or a file name",
    )  # fmt: skip
    parser.add_argument("-n", type=int, default=1, help="how many images (default 1)")
    parser.add_argument("--seed", type=int, help="seed (seeded models)")
    parser.add_argument("--size", help='image size: a size class ("1K") or "WxH"')
    parser.add_argument("--aspect-ratio", help='aspect ratio, e.g. "16:9"')
    parser.add_argument("--negative-prompt", help="what to keep out (models that take one)")
    add_request_policy(parser)
    add_budget(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--no-log", action="store_true", help="keep this call out of the calls ledger"
    )


def add_model_flag(parser: argparse.ArgumentParser, *, required: bool) -> None:
    add_model(parser, '"provider:model" or an alias (`seedless capabilities` lists them)',
              required=required)  # fmt: skip


def shape(args: argparse.Namespace) -> dict[str, Any]:
    """The request keywords the flags give."""
    return {
        "n": args.n,
        "seed": args.seed,
        "size": args.size,
        "aspect_ratio": args.aspect_ratio,
        "negative_prompt": args.negative_prompt,
    }


def send(args: argparse.Namespace, request: Any, *, command: str) -> int:
    """Prepare (every refusal here), check the budget, send, write, record, print."""
    from . import _calllog  # lazy: sqlite3, loaded when a command runs, not for --help

    log_to = None if args.no_log or not _calllog.enabled() else _calllog.ledger_path()
    today = getattr(args, "today", None)
    clock = (lambda: today) if today else None
    with Client(clock=clock, listeners=listeners(args), **client_options(args)) as client:
        prepared = client.prepare(request)
        _check_budget(prepared, args.budget)
        targets = _targets(args.out, prepared.request.n, getattr(request, "images", ()))
        recorder = _calllog.Recorder()
        try:
            done = client.execute(prepared, hooks=ExecuteHooks(on_event=recorder.on_event))
            paths = [image.save(target) for image, target in zip(done, targets, strict=False)]
        except BaseException as exc:
            if log_to is not None and isinstance(exc, Exception):
                _calllog.record(
                    log_to, command=command, prepared=prepared, recorder=recorder, error=exc
                )
            raise
    if log_to is not None:
        _calllog.record(
            log_to, command=command, prepared=prepared, recorder=recorder, outputs=paths
        )
    _print(args, done, paths, recorder)
    return 0


def _check_budget(prepared: Any, budget: float | None) -> None:
    cost = prepared.estimate_cost()
    if budget is None or (cost is not None and cost <= budget):
        return
    shown = "an unknown amount" if cost is None else f"${cost:.4f}"
    raise BudgetExceededError(
        f"{prepared.spec.key} would cost {shown} for {prepared.request.n} image(s), over "
        f"--budget ${budget:.4f}: lower -n or raise --budget",
        spent=0.0,
        cap=budget,
        next_cost=cost if cost is not None else float("inf"),
    )


def _targets(out: Path, n: int, inputs: Any) -> list[Path]:
    """Where each of ``n`` images goes; refuses, before anything is sent, to replace an input."""
    if out.is_dir() or os.fspath(out).endswith(("/", os.sep)):
        return [out] * n  # ImageResult.save names each by its hash
    targets = [out] if n == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}")
                                    for i in range(1, n + 1)]  # fmt: skip
    named = {Path(image.name).name for image in inputs if getattr(image, "name", None)}
    for target in targets:
        if target.exists() and target.name in named:
            raise ConfigurationError(
                f"refusing to write over {target}, an input: choose another -o/--out"
            )
    return targets


def _print(args: argparse.Namespace, done: Any, paths: list[Path], recorder: Any) -> None:
    if args.json:
        rows = [
            {
                "path": str(path),
                "model": image.model_key,
                "seed": image.seed,
                "cost_usd": image.cost_usd,
                "sha256": image.sha256,
                "request_hash": image.request_hash,
            }
            for image, path in zip(done, paths, strict=False)
        ]
        print(json.dumps(rows, indent=2))
        return
    for path in paths:
        print(path)
    cost = "unknown cost" if recorder.cost_usd is None else f"${recorder.cost_usd:.4f}"
    print(f"{len(paths)} image(s) from {done.image.model_key}, {cost}", file=sys.stderr)
