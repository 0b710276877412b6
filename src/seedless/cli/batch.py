"""``seedless batch``: run a folder plus a recipe, or a JSONL/CSV job file, resumably.

Outputs, and the ledger (``seedless-ledger.sqlite``), go to ``--out``. Running the same
command again resumes: done jobs are skipped, failed-retryable ones run again, nothing is
paid twice. The estimate is printed before anything is sent; ``--dry-run`` stops there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import SEED_POLICY_WORDING, add_seed_policy


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.rpartition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="Run many jobs (a folder plus a recipe, or a JSONL/CSV file) with a ledger.",
        description="Run a batch: every image of a folder through a recipe, or the jobs of a "
        "JSONL/CSV file (generate, edit, best-of-N and local jobs, mixed). Concurrency and "
        "request-rate limits, a budget cap checked before every call, a content-addressed "
        "cache, atomic outputs and a SQLite ledger beside them: run the same command again to "
        "resume after a failure, Ctrl-C or a crash.",
    )
    parser.add_argument("input", type=Path, help="a folder of images, or a .jsonl/.csv job file")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    recipe = parser.add_argument_group("what to do with a folder")
    recipe.add_argument(
        "--recipe", type=Path, help="a saved recipe, effect file, or JSON object of job fields"
    )
    recipe.add_argument("--effect", type=Path, help="an effect file (.json or .cube): local edit")
    recipe.add_argument("--model", help='"provider:model" for an AI edit of each image')
    recipe.add_argument("--prompt", help="the edit instruction for --model")
    recipe.add_argument("--seed", type=int, help="seed (seeded models)")
    recipe.add_argument("--size", help='size class or "WxH"')
    recipe.add_argument("--original", type=Path, help="approved pair, before (anchored edits)")
    recipe.add_argument("--approved", type=Path, help="approved pair, after (anchored edits)")
    recipe.add_argument("--best-of", type=int, metavar="N", help="draw N, keep the best")
    run = parser.add_argument_group("how to run")
    run.add_argument("--run", help="the run's name in the ledger (default: the folder's name)")
    run.add_argument("--budget", type=float, metavar="USD", help="hard cap for the whole run")
    run.add_argument("-j", "--jobs", type=int, default=8, help="jobs in flight (default 8)")
    run.add_argument(
        "--per-provider",
        type=_pair,
        action="append",
        default=[],
        metavar="ENDPOINT=N",
        help="jobs in flight for one endpoint (repeatable)",
    )
    run.add_argument(
        "--rpm",
        type=_pair,
        action="append",
        default=[],
        metavar="ENDPOINT=N",
        help="wire calls per minute for one endpoint (repeatable)",
    )
    run.add_argument(
        "--price",
        type=_pair,
        action="append",
        default=[],
        metavar="ENDPOINT:MODEL=USD",
        help="price per image on an endpoint, e.g. a relay's (repeatable)",
    )
    add_seed_policy(run)
    run.add_argument("--cache-dir", type=Path, help="result cache folder (default: user cache)")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    run.add_argument("--retry-failed", action="store_true", help="also retry final failures")
    run.add_argument("--dry-run", action="store_true", help="print the estimate and stop")
    run.add_argument("--quiet", action="store_true", help="no estimate, bar or summary")
    parser.set_defaults(func=main)


def _folder_recipe(args: argparse.Namespace) -> Any:
    from ..errors import ConfigurationError

    flags = {
        "model": args.model,
        "prompt": args.prompt,
        "seed": args.seed,
        "size": args.size,
        "best_of": args.best_of,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    chosen = [name for name in ("recipe", "effect") if getattr(args, name) is not None]
    if len(chosen) > 1 or (chosen and given):
        raise ConfigurationError("give one of --recipe, --effect, or --model/--prompt flags")
    if args.recipe is not None:
        return args.recipe
    if args.effect is not None:
        from ..effects import load_effect

        return load_effect(args.effect)
    if "model" not in given:
        raise ConfigurationError(
            f"{args.input} is a folder: say what to do with each image (--recipe FILE, "
            "--effect FILE, or --model with --prompt)"
        )
    return given


def _client(args: argparse.Namespace) -> Any:
    from ..cache import DiskCache
    from ..client import AsyncClient
    from ..errors import ConfigurationError

    cache = None if args.no_cache else DiskCache(args.cache_dir)
    options: dict[str, Any] = {"max_concurrency": max(1, args.jobs), "cache": cache}
    if args.seed_policy:
        options["seed_policy"] = args.seed_policy
    if not args.price:
        return AsyncClient(**options)
    base = AsyncClient(**options)
    endpoints = dict(base.endpoints)
    for target, value in args.price:
        try:
            usd = float(value)
        except ValueError as exc:
            raise ConfigurationError(f"--price {target}={value}: not a number") from exc
        spec = base.resolve(target)
        endpoint = endpoints[spec.provider]
        endpoints[spec.provider] = endpoint.model_copy(
            update={"prices": {**endpoint.prices, spec.id: usd}}
        )
    return AsyncClient(endpoints=endpoints.values(), **options)


def _limits(pairs: list[tuple[str, str]], flag: str, kind: type) -> dict[str, Any]:
    from ..errors import ConfigurationError

    limits: dict[str, Any] = {}
    for name, value in pairs:
        try:
            limits[name] = kind(value)
        except ValueError as exc:
            raise ConfigurationError(f"{flag} {name}={value}: not a number") from exc
    return limits


def main(args: argparse.Namespace) -> int:
    import asyncio

    from ..batch import estimate, load_jobs, run_batch
    from ..errors import ConfigurationError

    source = args.input
    recipe = None
    if source.is_dir():
        if args.out.resolve() == source.resolve():
            raise ConfigurationError(
                "refusing to write outputs over their inputs: choose an output folder apart "
                f"from {source}"
            )
        recipe = _folder_recipe(args)
    jobs = load_jobs(source, recipe=recipe, original=args.original, approved=args.approved)
    per_provider = _limits(args.per_provider, "--per-provider", int)
    rpm = _limits(args.rpm, "--rpm", float)
    client = _client(args)

    async def go() -> int:
        try:
            if args.dry_run:
                result = estimate(client, jobs, out_dir=args.out, run=args.run, budget=args.budget)
                print(str(result).replace(*SEED_POLICY_WORDING))
                return 0
            report = await run_batch(
                client,
                jobs,
                args.out,
                run=args.run,
                budget=args.budget,
                max_concurrency=max(1, args.jobs),
                per_provider=per_provider,
                rpm=rpm,
                progress=not args.quiet,
                retry_failed=args.retry_failed,
            )
            if not args.quiet:
                print(str(report).replace(*SEED_POLICY_WORDING), file=sys.stderr)
            return 0 if report.ok else 1
        finally:
            await client.aclose()

    return asyncio.run(go())
