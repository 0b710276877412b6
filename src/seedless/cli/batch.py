"""``seedless batch``: run a folder plus a recipe, or a JSONL/CSV job file, resumably.

Outputs, and the ledger (``seedless-ledger.sqlite``), go to ``--out``. Running the same
command again resumes: done jobs are skipped, failed-retryable ones run again, nothing is
paid twice. The estimate is printed before anything is sent; ``--dry-run`` stops there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ..cache import DiskCache
from ..client import AsyncClient
from ..errors import ConfigurationError
from . import listeners
from ._options import (
    add_adjust_flags,
    add_best_of,
    add_budget,
    add_model,
    add_out,
    add_request_policy,
    adjust_settings,
    client_options,
    effect_from_args,
)


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
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="folders or files of images (with what to do with them), or .jsonl/.csv job files "
        "(none with --status or --cancel)",
    )
    add_out(parser, "output folder (the ledger goes there too)")
    _add_recipe_flags(parser)
    _add_run_flags(parser)
    _add_engine_flags(parser)
    parser.set_defaults(func=main, job_file_words=True)


def _add_recipe_flags(parser: argparse.ArgumentParser) -> None:
    """What to do with each image of a folder (not with job files)."""
    recipe = parser.add_argument_group("what to do with images (not with job files)")
    recipe.add_argument(
        "--recipe", type=Path, help="a saved recipe, effect file, or JSON object of job fields"
    )
    recipe.add_argument("--effect", type=Path, help="an effect file (.json or .cube): local edit")
    add_adjust_flags(recipe)
    add_model(recipe, '"provider:model" for an AI edit of each image')
    recipe.add_argument("--prompt", help="the edit instruction for --model")
    recipe.add_argument("--seed", type=int, help="seed (seeded models)")
    recipe.add_argument("--size", help='image size: a size class ("1K") or "WxH"')
    recipe.add_argument("--aspect-ratio", help='aspect ratio, e.g. "16:9"')
    recipe.add_argument("--original", type=Path, help="approved pair, before (anchored edits)")
    recipe.add_argument("--approved", type=Path, help="approved pair, after (anchored edits)")
    add_best_of(recipe, "draw N candidates per image, keep the best")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """How to run: the ledger's run name, budget, limits, prices, cache."""
    run = parser.add_argument_group("how to run")
    run.add_argument("--run", help="the run's name in the ledger (default: the folder's name)")
    add_budget(run)
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
    add_request_policy(run)
    run.add_argument("--cache-dir", type=Path, help="result cache folder (default: user cache)")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    run.add_argument("--retry-failed", action="store_true", help="also retry final failures")
    run.add_argument("--dry-run", action="store_true", help="print the estimate and stop")
    run.add_argument("--quiet", action="store_true", help="no estimate, bar or summary")


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """The providers' own batch engines: choosing one, shards, waiting, --status, --cancel."""
    engines = parser.add_argument_group(
        "the providers' own batch engines (Gemini Batch Mode, the OpenAI Batch API)"
    )
    engines.add_argument(
        "--engine",
        choices=["direct", "provider", "auto"],
        default="direct",
        help="direct: every call from this machine (default); provider: the providers' batch "
        "engines at half price, results within 24 h (jobs no engine takes are refused); "
        "auto: those jobs run direct",
    )
    engines.add_argument(
        "--shard-size", type=int, metavar="N", help="at most N requests per provider batch"
    )
    engines.add_argument(
        "--no-wait",
        action="store_true",
        help="submit the provider batches and return; the same command later collects them",
    )
    engines.add_argument(
        "--poll-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between polls of the provider batches (default 30)",
    )
    engines.add_argument(
        "--status", action="store_true", help="show the provider batches of the run in --out"
    )
    engines.add_argument(
        "--cancel", action="store_true", help="cancel the live provider batches of the run"
    )


def _folder_recipe(args: argparse.Namespace) -> Any:
    """What to do with each image: --recipe, --effect or Adjust flags, or --model flags."""
    flags = {
        "model": args.model,
        "prompt": args.prompt,
        "seed": args.seed,
        "size": args.size,
        "aspect_ratio": args.aspect_ratio,
        "best_of": args.best_of,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    effect = effect_from_args(args, required=False)
    chosen = [name for name, value in (("--recipe", args.recipe), ("--effect", effect)) if value]
    if len(chosen) > 1 or (chosen and given):
        raise ConfigurationError(
            "give one of --recipe, --effect (or Adjust flags), or --model with --prompt"
        )
    if args.recipe is not None:
        return args.recipe
    if effect is not None:
        return effect
    if "model" not in given:
        raise ConfigurationError(
            "say what to do with each image: --recipe FILE, --effect FILE, Adjust flags "
            "(--brightness ...), or --model with --prompt"
        )
    return given


def _sources(args: argparse.Namespace) -> Any:
    """The jobs of every input: job files as they are, images through the folder recipe."""
    from ..batch import load_jobs  # lazy: keeps --help quick
    from ..batch.jobs import IMAGE_SUFFIXES, JobSource  # lazy: keeps --help quick

    files = [p for p in args.inputs if p.suffix.lower() in (".jsonl", ".ndjson", ".csv")]
    images = [p for p in args.inputs if p not in files]
    if files and images:
        raise ConfigurationError("give job files or images (and folders of them), not both")
    for path in images:
        if not path.is_dir() and path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ConfigurationError(f"{path}: not a folder, an image, or a .jsonl/.csv job file")
        if path.is_dir() and args.out.resolve() == path.resolve():
            raise ConfigurationError(
                "refusing to write outputs over their inputs: choose an output folder apart "
                f"from {path}"
            )
    if images:
        recipe = _folder_recipe(args)
    else:
        recipe = None
        named = [flag for flag, value in _recipe_flags(args).items() if value is not None]
        if named:
            raise ConfigurationError(
                f"{', '.join(named)} say(s) what to do with images; a job file says it in each "
                "job's fields"
            )
    sources = []
    for path in files:
        sources.append(load_jobs(path))
    folders: dict[Path, set[str] | None] = {}
    for path in images:
        if path.is_dir():
            folders[path] = None
        elif not path.is_file():
            raise ConfigurationError(f"no such file or folder: {path}")
        elif folders.get(path.parent, set()) is not None:
            folders.setdefault(path.parent, set()).add(path.name)  # type: ignore[union-attr]
    for folder, names in folders.items():
        jobs = load_jobs(folder, recipe=recipe, original=args.original, approved=args.approved)
        if names is not None:
            jobs = _only(jobs, names)
        sources.append(jobs)
    if len(sources) == 1:
        return sources[0]
    return JobSource(
        lambda: (job for source in sources for job in source),
        " + ".join(getattr(s, "description", str(s)) for s in sources),
    )


def _recipe_flags(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        f"--{name.replace('_', '-')}": getattr(args, name)
        for name in (
            "recipe", "effect", "model", "prompt", "seed", "size", "aspect_ratio", "original",
            "approved", "best_of",
        )
    }  # fmt: skip
    flags.update({f"--{name.replace('_', '-')}": v for name, v in adjust_settings(args).items()})
    return flags


def _only(source: Any, names: set[str]) -> Any:
    """The jobs of a folder source for the named files only (their ids are the file names)."""
    from ..batch.jobs import JobSource  # lazy: keeps --help quick

    return JobSource(
        lambda: (job for job in source if job.id in names),
        f"{', '.join(sorted(names))} of {source.description}",
    )


def _client(args: argparse.Namespace) -> Any:
    cache = None if args.no_cache else DiskCache(args.cache_dir)
    options: dict[str, Any] = {
        "max_concurrency": max(1, args.jobs),
        "cache": cache,
        "listeners": listeners(args),
        **client_options(args),
    }
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
    limits: dict[str, Any] = {}
    for name, value in pairs:
        try:
            limits[name] = kind(value)
        except ValueError as exc:
            raise ConfigurationError(f"{flag} {name}={value}: not a number") from exc
    return limits


def _provider_batches(args: argparse.Namespace) -> int:
    """``--status`` / ``--cancel``: the run's provider batches, asked for their state."""
    from ..batch import (  # lazy: keeps --help quick
        cancel_provider_batches_async,
        provider_status_async,
    )

    client = _client(args)

    async def go() -> int:
        try:
            if args.cancel:
                found = await cancel_provider_batches_async(client, args.out, run=args.run)
            else:
                found = await provider_status_async(client, args.out, run=args.run)
        finally:
            await client.aclose()
        if not found:
            print(f"no provider batches in {args.out} (the run used --engine direct)")
        for status in found:
            print(status)
        waiting = sum(status.waiting for status in found)
        if waiting:
            print(f"{waiting} job(s) out with a provider: run the same batch again to collect")
        return 0

    return asyncio.run(go())


def main(args: argparse.Namespace) -> int:
    from ..batch import estimate, run_batch  # lazy: keeps --help quick

    if args.status or args.cancel:
        return _provider_batches(args)
    if not args.inputs:
        raise ConfigurationError(
            "give the INPUT to run (folders, images or job files), or --status / --cancel "
            "to look at the provider batches of --out"
        )
    jobs = _sources(args)
    per_provider = _limits(args.per_provider, "--per-provider", int)
    rpm = _limits(args.rpm, "--rpm", float)
    client = _client(args)
    if args.model is not None:
        client.resolve(args.model)  # a mistyped --model: refused before anything is made

    async def go() -> int:
        try:
            if args.dry_run:
                result = estimate(client, jobs, out_dir=args.out, run=args.run,
                                  budget=args.budget, engine=args.engine)  # fmt: skip
                print(result)
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
                engine=args.engine,
                shard_size=args.shard_size,
                wait=not args.no_wait,
                poll_interval=args.poll_interval,
            )
            if not args.quiet:
                print(report, file=sys.stderr)
            return 0 if report.ok else 1
        finally:
            await client.aclose()

    return asyncio.run(go())
