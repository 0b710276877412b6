"""``seedless fit``: fit a look to approved before/after pairs, save it, optionally apply it."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, SeedlessError
from ..images import atomic_write, decode, encode, read_source
from ._options import add_out
from .apply import collect_inputs

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="Fit a look (.json, or a .cube LUT) to approved before/after pairs; say whether "
        "it reproduces the edit.",
        description="Fit the look that turns ORIGINAL into EDITED (and each --pair BEFORE "
        "AFTER into its edit): a colour/tone table, plus a vignette, blur, sharpening or "
        "grain when the edit has them. Save it as a seedless .json effect (the whole look) "
        "or an Adobe .cube LUT (the colour table only), print how well it explains the "
        "pairs, the verdict (global; global + spatial parts; not reproducible locally) and "
        "the edit in numbers. With --apply, write edited copies of other photos to "
        "--apply-out. Exits 1 when the edit is not reproducible locally (a content change: "
        "the look, saved all the same, reproduces only its colour part).",
    )
    parser.add_argument("original", type=Path, help="the photo before the edit")
    parser.add_argument("edited", type=Path, help="the approved edit (any size)")
    add_out(
        parser,
        "where to save the look: .json (the whole look) or .cube (its colour table, for "
        "Resolve, Premiere, ffmpeg lut3d)",
    )
    parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="another approved pair of the same edit (repeatable): one look for all pairs",
    )
    parser.add_argument(
        "--points", type=int, default=33, help="LUT points per axis, 2..65 (default 33)"
    )
    parser.add_argument("--title", default="", help="TITLE written into the .cube file")
    parser.add_argument(
        "--apply", nargs="+", type=Path, metavar="IMAGE", help="images or folders to edit"
    )
    parser.add_argument("--apply-out", type=Path, help="output folder for --apply")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..effects.fit import fit_effect  # lazy: numpy, for a quick CLI start

    jobs, output = _check(args)
    pairs = [(args.original, args.edited), *[tuple(pair) for pair in args.pair or ()]]
    effect = fit_effect(pairs, size=args.points, title=args.title)
    _save(effect, output)
    written, failed = _apply_all(effect, jobs)
    report = effect.report
    assert report is not None
    if args.json:
        payload: dict[str, Any] = {
            "output": str(output),
            "report": report.model_dump(mode="json"),
            "describe": effect.describe(),
            "applied": [str(path) for path in written],
            "failed": [{"file": str(source), "error": error} for source, error in failed],
        }
        print(json.dumps(payload, indent=2))
        return 0 if report.reproducible and not failed else 1
    _print_report(args, effect, output, written if jobs else None)
    for source, error in failed:
        print(f"seedless: failed {source}: {error}", file=sys.stderr)
    if not report.reproducible:
        print(
            "seedless: warning: the look reproduces only the global colour part of this edit "
            "(saved all the same; exit status 1). To give other photos the whole edit, send "
            f"them to an AI model anchored on this pair: seedless reproduce PHOTOS --original "
            f"{args.original} --approved {args.edited} --model MODEL -o OUT",
            file=sys.stderr,
        )
        return 1
    return 1 if failed else 0


def _check(args: argparse.Namespace) -> tuple[list[tuple[Path, Path]], Path]:
    """Refuse bad flags before any work: the --apply jobs, and where the look goes."""
    if args.apply and args.apply_out is None:
        raise ConfigurationError("--apply needs --apply-out FOLDER for the edited copies")
    if args.apply_out is not None and not args.apply:
        raise ConfigurationError("--apply-out is only used with --apply IMAGE...")
    if not 2 <= args.points <= 65:
        raise ConfigurationError(
            f"--points must be 2..65 (Pillow's 3D LUT limit), not {args.points}"
        )
    output: Path = args.out
    if output.suffix.lower() not in (".cube", ".json"):
        raise ConfigurationError(f"save the look as .cube or .json, not {output.name!r}")
    protected = {args.original.resolve(), args.edited.resolve()}
    protected |= {path.resolve() for pair in args.pair or () for path in pair}
    if output.resolve() in protected:
        raise ConfigurationError(f"refusing to overwrite input {output}")
    jobs = _plan(args.apply, args.apply_out, protected | {output.resolve()}) if args.apply else []
    return jobs, output


def _save(effect: Any, output: Path) -> None:
    """Write the look: a .cube (its colour table, with a warning for what it cannot hold) or
    the .json effect (the whole look)."""
    if output.suffix.lower() == ".cube":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            effect.save_cube(output)
        for warning in caught:
            print(f"seedless: warning: {warning.message}", file=sys.stderr)
    else:
        atomic_write(output, effect.model_dump_json(indent=2).encode("utf-8"))


def _print_report(
    args: argparse.Namespace, effect: Any, output: Path, written: list[Path] | None
) -> None:
    report = effect.report
    what = f"{effect.size}^3 LUT" if output.suffix.lower() == ".cube" else "look"
    print(f"saved {output} ({what})")
    on = "the pair" if report.pairs == 1 else f"{report.pairs} pairs (worst pair)"
    print(f"fit: {report.psnr_db:.1f} dB PSNR on {on}, colour coverage {report.coverage:.0%}")
    if report.pair_psnr:
        print("per pair: " + ", ".join(f"{value:.1f} dB" for value in report.pair_psnr))
    verdict = report.verdict if report.reproducible else "NOT reproducible locally"
    parts = f" ({', '.join(report.parts)})" if report.parts else ""
    print(f"verdict: {verdict}{parts}: {report.reason}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"edit in numbers: {effect.describe()}")
    if written is not None:
        print(f"wrote {len(written)} image(s) to {args.apply_out}")


def _plan(inputs: list[Path], out_dir: Path, protected: set[Path]) -> list[tuple[Path, Path]]:
    """(source, target) pairs for --apply, refusing before any work to overwrite an input."""

    files = collect_inputs(inputs)
    if not files:
        raise ConfigurationError("no image files found in --apply")
    protected = protected | {f.resolve() for f in files}
    targets = [out_dir / f.name for f in files]
    for target in targets:
        if target.resolve() in protected:
            raise ConfigurationError(
                f"refusing to overwrite input {target}: choose an --apply-out folder apart "
                "from the inputs"
            )
    if len(set(targets)) != len(targets):
        raise ConfigurationError("two inputs share a file name; apply them to separate folders")
    return list(zip(files, targets, strict=True))


def _apply_all(
    effect: Any, jobs: list[tuple[Path, Path]]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Edit every file: the ones written, and the ones that could not be (with why); one bad
    file does not stop the others."""

    written: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for source, target in jobs:
        try:
            written.append(_apply_one(effect, source, target))
        except (SeedlessError, OSError) as exc:
            failed.append((source, str(exc)))
    return written, failed


def _apply_one(effect: Any, source: Path, target: Path) -> Path:
    """Edit one image file into ``target``, keeping its format and metadata, atomically."""

    data, name = read_source(source)  # a FIFO named like an image is refused, not waited on
    image = decode(data, name=name)
    data, _ = encode(effect.apply(image), like=image)
    return atomic_write(target, data)
