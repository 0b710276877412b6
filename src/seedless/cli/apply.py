"""``seedless apply``: exact local edits on files or folders, in parallel, written atomically."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}

_ADJUST_FLAGS = (
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


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="Apply an exact edit (Adjust flags, a saved effect or a .cube) to photos.",
        description="Apply an exact, bit-identical edit to image files or folders with the "
        "local Pillow provider: no keys, no network, no cost. Outputs keep format, EXIF, ICC "
        "profile and alpha, are written atomically, and never replace an input.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--effect", type=Path, help="effect file: .json (Adjust/fitted) or .cube")
    for flag, kind, text in _ADJUST_FLAGS:
        parser.add_argument(f"--{flag}", type=kind, help=text)
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel workers (default: cores)",
    )
    parser.add_argument("--format", choices=["keep", "jpeg", "png"], default="keep")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def collect_inputs(paths: Iterable[Path]) -> list[Path]:
    """Image files named directly, plus those inside named folders (not recursive), sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def effect_from_args(args: argparse.Namespace) -> Any:
    from ..effects import Adjust, load_effect
    from ..errors import ConfigurationError

    settings = {
        flag.replace("-", "_"): getattr(args, flag.replace("-", "_"))
        for flag, _, _ in _ADJUST_FLAGS
        if getattr(args, flag.replace("-", "_")) is not None
    }
    if args.effect and settings:
        raise ConfigurationError("give either --effect or Adjust flags, not both")
    if args.effect:
        return load_effect(args.effect)
    if not settings:
        raise ConfigurationError(
            "nothing to apply: give Adjust flags (e.g. --brightness 0.85) or --effect FILE"
        )
    return Adjust(**settings)


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    from ..errors import ConfigurationError, SeedlessError
    from ..images import atomic_write, extension_for
    from ..models import ImageInput
    from ..providers.local import apply_effect_bytes

    effect = effect_from_args(args)
    files = collect_inputs(args.inputs)
    if not files:
        raise ConfigurationError("no image files found in the inputs")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = {f.resolve() for f in files}
    mime = {"keep": None, "jpeg": "image/jpeg", "png": "image/png"}[args.format]

    def target_for(source: Path) -> Path:
        name = source.name if mime is None else source.stem + extension_for(mime)
        return out_dir / name

    targets = [target_for(f) for f in files]
    clashes = [t for t in targets if t.resolve() in inputs]
    if clashes:
        raise ConfigurationError(
            f"refusing to overwrite input {clashes[0]}: choose an output folder apart "
            "from the inputs"
        )
    if len(set(targets)) != len(targets):
        raise ConfigurationError("two inputs share a file name; apply them to separate folders")

    def one(source: Path, target: Path) -> Path:
        image = apply_effect_bytes(ImageInput.of(source), effect, mime)
        return atomic_write(target, image.data)

    started = time.perf_counter()
    failures: list[tuple[Path, str]] = []
    with (
        ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool,
        tqdm(total=len(files), unit="img", disable=args.quiet, desc="seedless apply") as bar,
    ):
        futures = {pool.submit(one, s, t): s for s, t in zip(files, targets, strict=True)}
        for future in as_completed(futures):
            try:
                future.result()
            except (SeedlessError, OSError) as exc:
                failures.append((futures[future], str(exc)))
            bar.update(1)
    elapsed = time.perf_counter() - started
    done = len(files) - len(failures)
    if not args.quiet:
        print(f"wrote {done} image(s) to {out_dir} in {elapsed:.2f}s", file=sys.stderr)
    for source, message in failures:
        print(f"seedless: failed {source}: {message}", file=sys.stderr)
    return 1 if failures else 0
