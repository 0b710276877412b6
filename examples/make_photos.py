#!/usr/bin/env python
"""Regenerate the sample photos in ``examples/photos/``.

Usage::

    python examples/make_photos.py path/to/scikit_image-*.whl
    python examples/make_photos.py path/to/dir   # containing skimage/data/ (or the data dir itself)

The source images are public-domain / CC0 photographs shipped inside the
scikit-image wheel (``skimage/data/``); see ``examples/photos/CREDITS.md``
for provenance and licences.  scikit-image does not need to be installed;
only Pillow (with LittleCMS support, i.e. ``PIL.ImageCms``) and NumPy are used.

What is produced (all sRGB):

* ``astronaut.jpg`` - person; embedded sRGB ICC profile + EXIF credit tags.
* ``cat.jpg``       - animal; pixels stored rotated 90 deg counter-clockwise
                      with EXIF Orientation=6, so an orientation-aware viewer
                      shows it upright (451x300 landscape).
* ``coffee.jpg``    - object; EXIF credit tags, no ICC profile.
* ``rocket.jpg``    - night landscape; source is Adobe RGB (1998), converted
                      to sRGB and tagged with an embedded sRGB ICC profile.
* ``coffee_cutout.png`` - RGBA cut-out of the cup and saucer with a soft
                      (feathered) transparent elliptical edge, PNG text chunks.

Output is deterministic for a given Pillow / libjpeg / zlib build.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageFilter, ImageOps
from PIL.PngImagePlugin import PngInfo

OUT = Path(__file__).resolve().parent / "photos"
JPEG_QUALITY = 90

# EXIF tag ids
ORIENTATION = 0x0112
IMAGE_DESCRIPTION = 0x010E
ARTIST = 0x013B
COPYRIGHT = 0x8298
SOFTWARE = 0x0131

# source file -> (output name, description, author, licence)
SOURCES = {
    "astronaut.png": (
        "astronaut.jpg",
        "Astronaut Eileen Collins (NASA portrait)",
        "NASA",
        "Public domain",
    ),
    "chelsea.png": (
        "cat.jpg",
        "Chelsea the cat",
        "Stefan van der Walt",
        "CC0 (public domain dedication)",
    ),
    "coffee.png": (
        "coffee.jpg",
        "Coffee cup (courtesy of Pikolo Espresso Bar)",
        "Rachel Michetti",
        "CC0 (public domain dedication)",
    ),
    "rocket.jpg": (
        "rocket.jpg",
        "Falcon 9 carrying DSCOVR at SLC-40, Cape Canaveral",
        "SpaceX",
        "Public domain (released by SpaceX)",
    ),
}


def read_sources(src: Path) -> dict[str, bytes]:
    """Return {basename: bytes} for the needed files from a wheel or directory."""
    names = list(SOURCES)
    out: dict[str, bytes] = {}
    if src.is_file():
        with zipfile.ZipFile(src) as zf:
            for n in names:
                out[n] = zf.read(f"skimage/data/{n}")
        return out
    for cand in (src / "skimage" / "data", src / "data", src):
        if all((cand / n).is_file() for n in names):
            return {n: (cand / n).read_bytes() for n in names}
    raise SystemExit(f"could not find skimage/data/{{{','.join(names)}}} under {src}")


def srgb_profile_bytes() -> bytes:
    """LittleCMS built-in sRGB profile, with a fixed header date (bytes 24-35)
    so that reruns are byte-identical (the profile ID field is all zero, so
    nothing else depends on the date)."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert icc[84:100] == bytes(16)
    icc[24:36] = bytes([0x07, 0xD0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])  # 2000-01-01 00:00:00
    return bytes(icc)


def to_srgb(im: Image.Image) -> Image.Image:
    """Convert to 8-bit RGB in sRGB, honouring an embedded non-sRGB profile."""
    icc = im.info.get("icc_profile")
    rgb = im.convert("RGB")
    if icc:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = ImageCms.getProfileDescription(src).strip()
        if "sRGB" not in desc:
            rgb = ImageCms.profileToProfile(
                rgb,
                src,
                ImageCms.createProfile("sRGB"),
                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                outputMode="RGB",
            )
    rgb.info = {}  # never carry the source (or a timestamped) profile along implicitly
    return rgb


def credit_exif(desc: str, author: str, licence: str) -> Image.Exif:
    exif = Image.Exif()
    exif[IMAGE_DESCRIPTION] = desc
    exif[ARTIST] = author
    exif[COPYRIGHT] = licence
    exif[SOFTWARE] = "seedless examples/make_photos.py (Pillow)"
    return exif


def save_jpeg(im: Image.Image, path: Path, exif: Image.Exif, icc: bytes | None) -> None:
    kw = dict(quality=JPEG_QUALITY, optimize=True, exif=exif.tobytes())
    if icc:
        kw["icc_profile"] = icc
    im.save(path, "JPEG", **kw)


def make_cutout(coffee: Image.Image) -> Image.Image:
    """Cup + saucer with a feathered elliptical alpha edge."""
    box = (50, 0, 520, 400)  # 470 x 400 crop around cup and saucer
    crop = coffee.crop(box)
    w, h = crop.size
    feather = 14
    mask = Image.new("L", (w, h), 0)
    # ellipse (in crop coordinates) enclosing the saucer and the cup rim
    ImageDraw.Draw(mask).ellipse(
        (12 + feather, 6 + feather, w - 12 - feather, h - 6 - feather), fill=255
    )
    mask = mask.filter(ImageFilter.GaussianBlur(feather / 2))
    a = np.asarray(mask)
    rgb = np.asarray(crop).copy()
    rgb[a == 0] = 0  # fully transparent pixels carry no colour
    out = Image.fromarray(np.dstack([rgb, a]), "RGBA")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    data = read_sources(Path(argv[1]))
    OUT.mkdir(parents=True, exist_ok=True)
    icc = srgb_profile_bytes()

    ims = {n: Image.open(io.BytesIO(b)) for n, b in data.items()}

    # astronaut: embedded sRGB ICC profile
    name, desc, author, lic = SOURCES["astronaut.png"]
    save_jpeg(to_srgb(ims["astronaut.png"]), OUT / name, credit_exif(desc, author, lic), icc)

    # cat: stored rotated, EXIF Orientation=6 ("rotate 90 CW to display")
    name, desc, author, lic = SOURCES["chelsea.png"]
    upright = to_srgb(ims["chelsea.png"])
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 90 deg counter-clockwise
    exif = credit_exif(desc, author, lic)
    exif[ORIENTATION] = 6
    save_jpeg(stored, OUT / name, exif, None)

    # coffee: plain sRGB JPEG with EXIF credits, no ICC
    name, desc, author, lic = SOURCES["coffee.png"]
    coffee = to_srgb(ims["coffee.png"])
    save_jpeg(coffee, OUT / name, credit_exif(desc, author, lic), None)

    # rocket: Adobe RGB (1998) source -> sRGB, with embedded sRGB profile
    name, desc, author, lic = SOURCES["rocket.jpg"]
    save_jpeg(to_srgb(ims["rocket.jpg"]), OUT / name, credit_exif(desc, author, lic), icc)

    # coffee cut-out: RGBA PNG with soft transparent edge
    _, desc, author, lic = SOURCES["coffee.png"]
    info = PngInfo()
    info.add_text("Title", "Coffee cup cut-out")
    info.add_text("Author", author)
    info.add_text("Copyright", lic)
    info.add_text("Source", "scikit-image skimage/data/coffee.png; " + desc)
    make_cutout(coffee).save(OUT / "coffee_cutout.png", "PNG", optimize=True, pnginfo=info)

    # sanity checks
    chk = Image.open(OUT / "cat.jpg")
    assert chk.getexif()[ORIENTATION] == 6 and chk.size == (300, 451)
    assert ImageOps.exif_transpose(chk).size == upright.size
    assert Image.open(OUT / "astronaut.jpg").info.get("icc_profile") == icc
    assert Image.open(OUT / "coffee_cutout.png").mode == "RGBA"

    total = 0
    for p in sorted(OUT.iterdir()):
        if p.suffix.lower() in {".jpg", ".png"}:
            with Image.open(p) as im:
                size = f"{im.size[0]:4d}x{im.size[1]:<4d}"
                print(f"{p.name:20s} {size} {im.mode:5s} {p.stat().st_size / 1024:6.1f} KB")
            total += p.stat().st_size
    print(f"total {total / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
