"""The data of bench/bench_fit.py: committed edits, edits made at run time, 12 MP photos.

    python bench/fit_data.py OUT            # make the run-time edits into OUT
    python bench/fit_data.py OUT --hashes   # ... and print their pixel hashes (for generated.json)
    python bench/fit_data.py tests/effects/data/fit --tests   # the unit tests' small copies

``bench/data/fit`` holds five photos and ImageMagick edits of them (see its CREDITS.md and
edits.json). ``generated.json`` lists more edits, by ImageMagick and by ffmpeg filters, that
the benchmark makes at run time with the tools it finds, so the thresholds are not tuned to
one tool and the checkout stays small; it also records the pixel hashes Debian 12's packages
produced, so a run can say whether its tools made the same pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parent / "data" / "fit"
KINDS = ("global", "adaptive", "spatial", "content")


@dataclass(frozen=True)
class Edit:
    """One edit of every photo: where its images are and what the fit should say."""

    name: str
    kind: str  # global, adaptive, spatial, content
    folder: Path  # <folder>/<photo>.png
    tool: str
    parts: tuple[str, ...] = ()
    note: str = ""
    hashes: dict[str, str] = field(default_factory=dict)


def ffmpeg() -> str | None:
    """ffmpeg on PATH (Debian's), else the one in the imageio-ffmpeg wheel (a dev extra)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return None


def imagemagick() -> str | None:
    """ImageMagick 6's ``convert``, when it is the real one (not a stand-in script)."""
    found = shutil.which("convert")
    if not found:
        return None
    probe = subprocess.run([found, "-version"], capture_output=True, text=True, check=False)
    return found if "ImageMagick" in probe.stdout else None


def versions() -> dict[str, str]:
    out = {}
    for name, exe in (("imagemagick", imagemagick()), ("ffmpeg", ffmpeg())):
        if exe is None:
            out[name] = "not found"
            continue
        flag = "-version"
        text = subprocess.run([exe, flag], capture_output=True, text=True, check=False).stdout
        out[name] = text.splitlines()[0] if text else exe
    return out


def photos() -> list[str]:
    return [Path(p).stem for p in json.loads((DATA / "edits.json").read_text())["photos"]]


def committed() -> list[Edit]:
    """The committed ImageMagick edits, with what the fit should say about each."""
    meta = json.loads((DATA / "edits.json").read_text())
    expect = json.loads((DATA / "generated.json").read_text())["committed"]
    out = []
    for name, edit in meta["edits"].items():
        spec = expect.get(name, {"kind": edit["kind"]})
        out.append(
            Edit(
                name,
                spec["kind"],
                DATA / edit["kind"] / name,
                "imagemagick (committed)",
                tuple(spec.get("parts", ())),
                spec.get("note", ""),
            )
        )
    return out


def generate(out: Path, photo_names: list[str] | None = None) -> tuple[list[Edit], list[str]]:
    """Make the run-time edits into ``out``: (the edits made, the ones skipped and why)."""
    spec = json.loads((DATA / "generated.json").read_text())
    tools = {"imagemagick": imagemagick(), "ffmpeg": ffmpeg()}
    names = photo_names or photos()
    made, skipped = [], []
    for name, edit in spec["edits"].items():
        exe = tools[edit["tool"]]
        if exe is None:
            skipped.append(f"{name} ({edit['tool']} not found)")
            continue
        folder = out / edit["kind"] / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in names:
            source, target = DATA / "originals" / f"{photo}.png", folder / f"{photo}.png"
            args = [exe] + [
                a.replace("{in}", str(source)).replace("{out}", str(target))
                for a in edit["args"][1:]
            ]
            subprocess.run(args, check=True, capture_output=True, timeout=120)
        made.append(
            Edit(
                name,
                edit["kind"],
                folder,
                edit["tool"],
                tuple(edit.get("parts", ())),
                edit.get("note", ""),
                edit.get("sha256", {}),
            )
        )
    return made, skipped


def pixel_hash(path: Path) -> str:
    with Image.open(path) as image:
        return hashlib.sha256(np.asarray(image.convert("RGB")).tobytes()).hexdigest()[:16]


def same_pixels(edit: Edit) -> bool | None:
    """Whether this run made the pixels generated.json records (None: nothing recorded)."""
    if not edit.hashes:
        return None
    return all(pixel_hash(edit.folder / f"{p}.png") == h for p, h in edit.hashes.items())


def photo_12mp(photo: str, seed: int) -> bytes:
    """A 12-megapixel JPEG (4000x3000, quality 90) made from a committed photo: upscaled
    (Lanczos, centre-cropped to 4:3) with a little sensor-like noise, so it decodes and
    encodes like a camera file rather than a smooth upscale."""
    with Image.open(DATA / "originals" / f"{photo}.png") as image:
        rgb = image.convert("RGB")
    scale = max(4000 / rgb.width, 3000 / rgb.height)
    big = rgb.resize(
        (round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS
    )
    left, top = (big.width - 4000) // 2, (big.height - 3000) // 2
    big = big.crop((left, top, left + 4000, top + 3000))
    noise = np.random.default_rng(seed).normal(0.0, 3.0, (3000, 4000, 1)).astype(np.float32)
    pixels = np.clip(np.asarray(big, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


#: What tests/effects/test_fit*.py read: (kind/edit, photos); committed ones are copied
#: (reduced), the others made by the tools on the reduced originals.
TEST_EDITS = {
    "global/moody": ("rocket",),
    "global/levels": ("rocket",),
    "local/vignette": ("rocket",),
    "local/blur": ("rocket",),
    "local/object": ("rocket",),
    "adaptive/ff_normalize_tone": ("astronaut", "cat", "coffee", "rocket"),
    "adaptive/sepia_tone": ("astronaut", "cat", "coffee"),
    "spatial/ff_vignette_warm": ("cat", "coffee"),
    "spatial/im_unsharp_colour": ("cat", "coffee"),
    "spatial/ff_grain_contrast": ("cat", "coffee"),
    "spatial/ff_gblur_curves": ("cat", "coffee"),
    "spatial/ff_unsharp_sat": ("cat", "coffee"),
    "content/ff_box": ("rocket",),
}
TEST_SIDE = 192  # long side of the test copies


def make_test_data(out: Path) -> None:
    """The small copies the unit tests use (shipped in the sdist with the tests)."""
    originals = out / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    for photo in photos():
        with Image.open(DATA / "originals" / f"{photo}.png") as image:
            _reduce(image).save(originals / f"{photo}.png", optimize=True)
    spec = json.loads((DATA / "generated.json").read_text())["edits"]
    tools = {"imagemagick": imagemagick(), "ffmpeg": ffmpeg()}
    for key, names in TEST_EDITS.items():
        kind, name = key.split("/")
        folder = out / kind / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in names:
            target = folder / f"{photo}.png"
            if name not in spec:  # committed: reduce it
                with Image.open(DATA / kind / name / f"{photo}.png") as image:
                    _reduce(image).save(target, optimize=True)
                continue
            exe = tools[spec[name]["tool"]]
            if exe is None:
                raise SystemExit(f"{spec[name]['tool']} is needed to make {key}")
            source = str(originals / f"{photo}.png")
            args = [exe] + [
                a.replace("{in}", source).replace("{out}", str(target))
                for a in spec[name]["args"][1:]
            ]
            subprocess.run(args, check=True, capture_output=True, timeout=120)
    print(f"wrote test data to {out}; versions: {versions()}")


def _reduce(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB")
    scale = TEST_SIDE / max(rgb.size)
    return rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BOX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--hashes", action="store_true", help="print pixel hashes as JSON")
    parser.add_argument(
        "--tests", action="store_true", help="make the unit tests' small copies instead"
    )
    args = parser.parse_args()
    if args.tests:
        make_test_data(args.out)
        return
    made, skipped = generate(args.out)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if args.hashes:
        table = {e.name: {p: pixel_hash(e.folder / f"{p}.png") for p in photos()} for e in made}
        print(json.dumps({"versions": versions(), "sha256": table}, indent=2))


if __name__ == "__main__":
    main()
