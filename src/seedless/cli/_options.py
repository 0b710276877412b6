"""The one flag vocabulary of the ``seedless`` command, shared by its subcommands.

- ``-o/--out``: where the output goes (a folder, or a file where the command makes one);
- ``-m/--model``: the model, ``provider:model`` or an alias;
- ``--prompt`` (or a ``PROMPT`` argument): the words sent to the model;
- ``--size``, ``--aspect-ratio``, ``--seed``: the image asked for;
- ``--best-of N``: candidates drawn, the best one kept;
- ``--budget USD``, ``--seed-policy``, ``--allow-retired``, ``--json``, ``--quiet``;
- the Adjust flags (``--brightness`` ...) of an exact local edit.

The library's refusals carry the settings that would help as a structured
:class:`~seedless.errors.Remedy`; :func:`remedy_namer` names each as this command's flag, so a
message never tells a command-line user to ``pass allow_retired=True``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..effects import Adjust, load_effect, validation_message
from ..errors import Code, ConfigurationError, keyword

Parser = argparse.ArgumentParser | argparse._ArgumentGroup

#: The command's words for the library's settings (keyword arguments, job-file fields).
FLAGS: dict[str, str] = {
    "allow_retired": "--allow-retired",
    "seed_policy": "--seed-policy {value}",
    "model": "--model {value}",
    "endpoints": "an [[endpoint]] table with api_key_env in your models.toml",
    "original": "--original FILE",
    "approved": "--approved FILE",
    "effect": "--effect FILE (or Adjust flags such as --brightness 0.85)",
    "prompt": "--prompt TEXT",
}

#: Settings a job file may set per job, as the field of the same name.
JOB_FIELDS = frozenset({"allow_retired", "model", "effect", "original", "approved", "prompt"})

ADJUST_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("brightness", float, "factor, 1.0 = unchanged (ImageEnhance semantics)"),
    ("contrast", float, "factor, 1.0 = unchanged"),
    ("saturation", float, "factor, 1.0 = unchanged"),
    ("sharpness", float, "factor, 1.0 = unchanged"),
    ("gamma", float, ">1 lifts midtones, <1 deepens them"),
    ("warmth", float, "-1..1, + warmer"),
    ("tint", float, "-1..1, + magenta"),
    ("grain", float, "0..1 film grain opacity"),
    ("grain-seed", int, "seed of the grain pattern"),
    ("vignette", float, "0..1 corner darkening"),
)


def remedy_namer(
    *, job_file: bool = False, words: Mapping[str, str] | None = None
) -> Callable[[str, object], str]:
    """Name a remedy's setting as this command's flag (and job-file field, for ``batch``);
    ``words`` are a command's own (``PROMPT`` where the prompt is an argument)."""

    def name(setting: str, value: object) -> str:
        template = (words or {}).get(setting) or FLAGS.get(setting)
        if template is None:
            return keyword(setting, value)
        flag = template.format(value=value)
        if job_file and setting in JOB_FIELDS:
            shown = "..." if isinstance(value, Code) else json.dumps(value)
            return f'{flag} (or "{setting}": {shown} in a job file)'
        return flag

    return name


def add_out(parser: Parser, help: str, *, required: bool = True) -> None:
    parser.add_argument("-o", "--out", type=Path, required=required, help=help)


def add_model(parser: Parser, help: str, *, required: bool = False) -> None:
    parser.add_argument("-m", "--model", required=required, help=help)


def add_request_policy(parser: Parser) -> None:
    """``--seed-policy`` and ``--allow-retired``: the client's ``seed_policy`` and
    ``allow_retired``, for every command that sends requests."""
    parser.add_argument(
        "--seed-policy",
        choices=["strict", "best_effort"],
        help="best_effort sends a seed to models that treat it as a hint",
    )
    parser.add_argument(
        "--allow-retired",
        action="store_true",
        help="send requests to models past their shutdown date (a project or relay that "
        "still serves them)",
    )


def add_budget(parser: Parser) -> None:
    parser.add_argument(
        "--budget", type=float, metavar="USD", help="hard cap: refuse to spend more than this"
    )


def add_best_of(parser: Parser, help: str, *, default: int | None = None) -> None:
    parser.add_argument("--best-of", type=int, metavar="N", default=default, help=help)


def add_adjust_flags(parser: Parser) -> None:
    for flag, kind, text in ADJUST_FLAGS:
        parser.add_argument(f"--{flag}", type=kind, help=text)


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The client keywords of ``--seed-policy`` and ``--allow-retired`` (given ones only)."""
    options: dict[str, Any] = {}
    if getattr(args, "seed_policy", None):
        options["seed_policy"] = args.seed_policy
    if getattr(args, "allow_retired", False):
        options["allow_retired"] = True
    return options


def adjust_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The Adjust flags given on the command line, as ``Adjust`` keywords."""
    names = (flag.replace("-", "_") for flag, _, _ in ADJUST_FLAGS)
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def effect_from_args(args: argparse.Namespace, *, required: bool = True) -> Any:
    """The effect of ``--effect FILE`` or of the Adjust flags (None if neither and not
    ``required``); a bad value names its flag."""
    settings = adjust_settings(args)
    if args.effect and settings:
        raise ConfigurationError("give either --effect or Adjust flags, not both")
    if args.effect:
        return load_effect(args.effect)
    if not settings:
        if not required:
            return None
        raise ConfigurationError(
            "nothing to apply: give Adjust flags (e.g. --brightness 0.85) or --effect FILE"
        )
    try:
        return Adjust(**settings)
    except ValidationError as exc:
        where, _, what = validation_message(exc).partition(": ")
        raise ConfigurationError(f"--{where.replace('_', '-')}: {what}") from exc
