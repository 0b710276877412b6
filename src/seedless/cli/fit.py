"""``seedless fit``: fit a LUT to an approved before/after pair, save it, optionally apply it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._options import add_out

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="Fit a LUT (.cube) to an approved before/after pair; report how global it was.",
        description="Fit the global colour/tone transform that turns ORIGINAL into EDITED, "
        "save it as an Adobe .cube LUT (or a seedless .json effect), print how well it "
        "explains the pair and whether the edit was global, and the edit in numbers. "
        "With --apply, write edited copies of other photos to --apply-out. Exits 1 when the edit "
        "was not global (the LUT, saved all the same, reproduces only its colour part).",
    )
    parser.add_argument("original", type=Path, help="the photo before the edit")
    parser.add_argument("edited", type=Path, help="the approved edit (any size)")
    add_out(parser, "where to save the look: .cube (Resolve, Premiere, ffmpeg lut3d) or .json")
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
    from ..effects.fit import fit_effect
    from ..errors import ConfigurationError
    from ..images import atomic_write

    if args.apply and args.apply_out is None:
        raise ConfigurationError("--apply needs --apply-out FOLDER for the edited copies")
    if args.apply_out is not None and not args.apply:
        raise ConfigurationError("--apply-out is only used with --apply IMAGE...")
    if not 2 <= args.points <= 65:
        raise ConfigurationError(
            f"--points must be 2..65 (Pillow's 3D LUT limit), not {args.points}"
        )
    output: Path = args.out
    suffix = output.suffix.lower()
    if suffix not in (".cube", ".json"):
        raise ConfigurationError(f"save the look as .cube or .json, not {output.name!r}")
    protected = {args.original.resolve(), args.edited.resolve()}
    if output.resolve() in protected:
        raise ConfigurationError(f"refusing to overwrite input {output}")

    jobs = _plan(args.apply, args.apply_out, protected | {output.resolve()}) if args.apply else []

    effect = fit_effect(args.original, args.edited, size=args.points, title=args.title)
    if suffix == ".cube":
        effect.save_cube(output)
    else:
        atomic_write(output, effect.model_dump_json(indent=2).encode("utf-8"))

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
        return 0 if report.is_global and not failed else 1
    verdict = "global" if report.is_global else "NOT global"
    print(f"saved {output} ({effect.size}^3 LUT)")
    print(f"fit: {report.psnr_db:.1f} dB PSNR on the pair, colour coverage {report.coverage:.0%}")
    print(f"verdict: {verdict}: {report.reason}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"edit in numbers: {effect.describe()}")
    if jobs:
        print(f"wrote {len(written)} image(s) to {args.apply_out}")
    for source, error in failed:
        print(f"seedless: failed {source}: {error}", file=sys.stderr)
    if not report.is_global:
        print(
            "seedless: warning: the LUT reproduces only the global colour part of this edit "
            "(saved all the same; exit status 1). To give other photos the whole edit, send "
            f"them to an AI model anchored on this pair: seedless reproduce PHOTOS --original "
            f"{args.original} --approved {args.edited} --model MODEL -o OUT",
            file=sys.stderr,
        )
        return 1
    return 1 if failed else 0


def _plan(inputs: list[Path], out_dir: Path, protected: set[Path]) -> list[tuple[Path, Path]]:
    """(source, target) pairs for --apply, refusing before any work to overwrite an input."""
    from ..errors import ConfigurationError
    from .apply import collect_inputs

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
    from ..errors import SeedlessError

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
    from ..images import atomic_write, decode, encode, read_source

    data, name = read_source(source)  # a FIFO named like an image is refused, not waited on
    image = decode(data, name=name)
    data, _ = encode(effect.apply(image), like=image)
    return atomic_write(target, data)
