#!/usr/bin/env bash
# Regenerate bench/data/fit/: originals, global edits, local edits, edits.json.
#
#   bash bench/data/fit/make.sh path/to/scikit_image-*.whl   # or a dir containing skimage/data/
#
# Needs: ImageMagick 6 (`convert`; Debian: apt-get install imagemagick) for the
# edits, and a Python with Pillow + NumPy for the originals and checks
# (set PYTHON=..., default python3).
#
# Every edit is a single ImageMagick command line with {in}/{out} placeholders.
# The same strings are run here and recorded in edits.json, so edits.json is
# exactly what was executed.
set -euo pipefail

SRC=${1:?usage: make.sh path/to/scikit_image-*.whl (or dir containing skimage/data)}
SRC=$(cd "$(dirname "$SRC")" && pwd)/$(basename "$SRC")
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
LONG_SIDE=384

command -v convert >/dev/null || { echo "ImageMagick 'convert' not found" >&2; exit 1; }
"$PY" -c "import PIL, numpy" || { echo "set PYTHON to a python with Pillow and numpy" >&2; exit 1; }

cd "$HERE"
rm -rf originals global local
mkdir -p originals

# ---------------------------------------------------------------------------
# 1. originals: public-domain / CC0 colour photos from scikit-image, converted
#    to sRGB, long side 384 px (Pillow LANCZOS), lossless 8-bit RGB PNG with no
#    colour chunks (so ImageMagick treats them as sRGB).
# ---------------------------------------------------------------------------
"$PY" - "$SRC" originals "$LONG_SIDE" <<'PYEOF'
import io, sys, zipfile
from pathlib import Path
from PIL import Image, ImageCms

src, out, long_side = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
PHOTOS = {  # skimage/data file -> output stem
    "astronaut.png": "astronaut",
    "chelsea.png": "cat",
    "coffee.png": "coffee",
    "rocket.jpg": "rocket",
    "hubble_deep_field.jpg": "hubble",
}

def read(name):
    if src.is_file():
        with zipfile.ZipFile(src) as zf:
            return zf.read(f"skimage/data/{name}")
    for d in (src / "skimage" / "data", src / "data", src):
        if (d / name).is_file():
            return (d / name).read_bytes()
    raise SystemExit(f"{name} not found under {src}")

for name, stem in PHOTOS.items():
    im = Image.open(io.BytesIO(read(name)))
    icc = im.info.get("icc_profile")
    rgb = im.convert("RGB")
    if icc:
        p = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "sRGB" not in ImageCms.getProfileDescription(p):
            rgb = ImageCms.profileToProfile(rgb, p, ImageCms.createProfile("sRGB"),
                                            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                            outputMode="RGB")
    w, h = rgb.size
    s = long_side / max(w, h)
    rgb = rgb.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)
    rgb.info = {}  # no iCCP chunk (Pillow would otherwise write the source profile)
    rgb.save(out / f"{stem}.png", "PNG", optimize=True)
    print(f"originals/{stem}.png {rgb.size[0]}x{rgb.size[1]}")
PYEOF

# ---------------------------------------------------------------------------
# 2. edits. Format: kind|name|command. Output options common to all commands:
#    -strip (no date/gAMA chunks -> reproducible), 8-bit RGB PNG, zlib level 9.
# ---------------------------------------------------------------------------
O='-strip -define png:compression-level=9 PNG24:{out}'
EDITS=(
  # --- global: pure per-pixel colour functions, identical for every photo ---
  "global|levels|convert {in} -level 5%,92%,0.9 $O"
  "global|sigmoid_curve|convert {in} -sigmoidal-contrast 4x50% $O"
  "global|saturation|convert {in} -modulate 100,135,100 $O"
  "global|colour_balance|convert {in} -channel R -evaluate multiply 1.08 -channel B -evaluate multiply 0.92 +channel $O"
  "global|warm_tint|convert {in} -fill '#704214' -tint 60 $O"
  "global|gamma|convert {in} -gamma 1.25 $O"
  "global|brightness_contrast|convert {in} -brightness-contrast 10x15 $O"
  "global|moody|convert {in} -modulate 100,70,100 -gamma 0.85 -channel B +level 6%,100% -channel R +level 0%,96% +channel $O"
  # --- local: spatially varying or content edits (NOT a global colour map) ---
  "local|vignette|convert {in} -fx 'u*(1-1.1*((i/w-0.5)^2+(j/h-0.5)^2))' $O"
  "local|blur|convert {in} -blur 0x3 $O"
  "local|sharpen|convert {in} -unsharp 0x2+1.5+0 $O"
  "local|relight_left|convert {in} -fx 'u*(1+0.45*max(0,1-2*i/w))' $O"
  "local|object|convert {in} -fill '#f2c200' -stroke none -draw 'circle 280,120 280,175' $O"
)

for e in "${EDITS[@]}"; do
  IFS='|' read -r kind name cmd <<<"$e"
  mkdir -p "$kind/$name"
  for f in originals/*.png; do
    c=${cmd//\{in\}/$f}
    c=${c//\{out\}/$kind/$name/$(basename "$f")}
    bash -c "$c"
  done
  echo "$kind/$name"
done

# ---------------------------------------------------------------------------
# 3. edits.json + checks
# ---------------------------------------------------------------------------
IMV=$(convert -version | head -n 1)
LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT
printf '%s\n' "${EDITS[@]}" >"$LIST"
"$PY" - "$IMV" "$LIST" <<'PYEOF'
import json, sys
from pathlib import Path
from PIL import Image
import numpy as np

imv = sys.argv[1]
edits = {}
for line in Path(sys.argv[2]).read_text().splitlines():
    kind, name, cmd = line.split("|", 2)
    edits[name] = {"kind": kind, "command": cmd}
photos = sorted(p.name for p in Path("originals").glob("*.png"))
doc = {
    "description": "Edits applied by ImageMagick to every image in originals/. "
                   "Outputs: <kind>/<edit>/<photo>.png. 'global' edits are pure per-pixel "
                   "colour functions (same map for every photo); 'local' edits are not.",
    "imagemagick_version": imv,
    "placeholders": {"{in}": "originals/<photo>.png", "{out}": "<kind>/<edit>/<photo>.png"},
    "working_directory": "bench/data/fit",
    "photos": photos,
    "edits": edits,
}
Path("edits.json").write_text(json.dumps(doc, indent=2) + "\n")

# every output opens, is 8-bit RGB, same size as its original
for name, e in edits.items():
    for p in photos:
        o = Image.open(f"originals/{p}")
        x = Image.open(f"{e['kind']}/{name}/{p}")
        x.load()
        assert x.mode == "RGB" and x.size == o.size, (name, p, x.mode, x.size)

# global edits must be functions of colour: the same input RGB never maps to
# two different outputs, across all photos.
for name, e in edits.items():
    if e["kind"] != "global":
        continue
    seen = {}
    bad = 0
    for p in photos:
        a = np.asarray(Image.open(f"originals/{p}")).reshape(-1, 3).astype(np.int64)
        b = np.asarray(Image.open(f"global/{name}/{p}")).reshape(-1, 3)
        key = (a[:, 0] << 16) | (a[:, 1] << 8) | a[:, 2]
        for k, v in zip(key.tolist(), map(tuple, b.tolist())):
            if seen.setdefault(k, v) != v:
                bad += 1
    assert bad == 0, (name, bad)
print("edits.json written;", len(edits), "edits x", len(photos), "photos verified")
PYEOF
