"""``FittedEffect`` and ``FitReport``: a fitted look as data, and how well it was fitted.

A :class:`FittedEffect` is a colour/tone edit as a 3D LUT (with per-photo levels and spatial
parts when the edit has them), a frozen pydantic model (``kind: "lut"``) that saves to JSON
and its table to Adobe ``.cube``, and applies exactly: as point operations when the table is
curves and a matrix, else through :mod:`seedless.effects.lut`'s colour-table pass (Pillow's
trilinear ``Color3DLUT`` bytes). How it is fitted lives in :mod:`._fitting`.
"""

from __future__ import annotations

import base64
import os
import warnings
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ... import images as _images
from ..cube import identity_table, read_cube, write_cube
from ..lut import ImageKernel, Stages, apply_in_mode
from ._describe import describe_table
from ._fast import PointOps, chain_table, point_plan
from ._normalise import ALIKE_RANGES, Normalise, contrast, small_copy, tonal_range
from ._pairs import ImageSource
from ._parts import Grain, Part, apply_parts
from ._table import Array, lattice, lookup, rebase_domain, resample_table

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is Python 3.11+

_GREY_TOLERANCE = 1.5 / 255.0  # a LUT whose greys stay this close to grey keeps L images L
_SEEN_BINS = 16  # the colours a fit saw: a 16x16x16 histogram's occupied bins

Verdict: TypeAlias = Literal["global", "global + spatial", "not reproducible locally"]


class FitReport(BaseModel):
    """How well a fitted LUT explains the pair it came from, and whether the edit was global."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    psnr_db: float = Field(
        description="PSNR of the fitted LUT applied to the original, "
        "against the edited image (dB; higher is better, 99 = exact)"
    )
    rmse: float = Field(description="root-mean-square error of that fit, in 8-bit levels")
    coverage: float = Field(
        ge=0.0,
        le=1.0,
        description="fraction of a 16x16x16 RGB histogram the original's pixels occupy",
    )
    is_global: bool = Field(description="true for a global colour/tone edit, nothing spatial")
    verdict: Verdict = Field(
        "global",
        description='"global" (a colour/tone edit), "global + spatial" (one, plus the '
        'spatial parts in ``parts``, all reproduced exactly) or "not reproducible locally" '
        "(a content change: only a model can repeat it)",
    )
    parts: tuple[str, ...] = Field(
        (), description='the spatial parts found: "vignette", "blur", "sharpen", "grain"'
    )
    reason: str = Field(description="why the verdict is what it is, in words")
    uneven: float = Field(
        description="smooth spatial pattern in what the LUT leaves unexplained (vignette, "
        "relighting): its RMS relative to the mean level; global edits stay near 0"
    )
    patch: float = Field(
        description="largest block-averaged unexplained difference, relative to the block's "
        "level: large when part of the picture changed (objects)"
    )
    edge_gain: float = Field(
        description="residual per unit of image band-pass: > 0 blurred, < 0 sharpened"
    )
    edge_correlation: float = Field(description="correlation of the residual with edges")
    pixels: int = Field(ge=0, description="pixel pairs the fit used")
    width: int = Field(ge=0, description="width at which the pair was compared")
    height: int = Field(ge=0, description="height at which the pair was compared")
    notes: tuple[str, ...] = Field((), description="resampling, cropping and other remarks")
    pairs: int = Field(1, ge=1, description="approved pairs the look was fitted on")
    pair_psnr: tuple[float, ...] = Field(
        (), description="with several pairs: how well the look explains each one (dB)"
    )
    image_dependent: bool = Field(
        False,
        description="the pairs disagree in a way one fixed table cannot explain: the look "
        "normalises each photo's own levels (before the table, or on its output)",
    )

    @model_validator(mode="before")
    @classmethod
    def _verdict_of_old_reports(cls, data: Any) -> Any:
        """Reports saved before verdicts existed hold only is_global."""
        if isinstance(data, dict) and "verdict" not in data and "is_global" in data:
            verdict = "global" if data["is_global"] else "not reproducible locally"
            data = {**data, "verdict": verdict}
        return data

    @property
    def reproducible(self) -> bool:
        """True when the look reproduces the whole edit locally (global, or with its parts)."""
        return self.verdict != "not reproducible locally"


class FittedEffect(BaseModel):
    """A fitted look: a colour/tone table (a 3D LUT), with optionally each photo's own levels
    first and spatial parts (vignette, blur or sharpening, grain) around it. Exact, fast,
    deterministic; the table exports to ``.cube``.

    The table is stored as base64 of little-endian uint16 (value / 65535), ``size**3`` RGB
    triples with red changing fastest, then green, then blue (the ``.cube`` order).
    ``apply`` runs: ``normalise`` (per-photo levels) -> ``before`` parts -> the table ->
    ``after`` parts.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["lut"] = "lut"
    size: int = Field(33, ge=2, le=65, description="lattice points per axis")
    table: str = Field(
        repr=False, description="base64 of uint16 LE, [b][g][r][rgb] order, value/65535"
    )
    title: str = ""
    fast: PointOps | None = Field(
        None,
        repr=False,
        description="the table as point operations (curves, matrix, curves) when it is "
        "one: the same output, faster",
    )
    normalise: Normalise | None = Field(
        None,
        description="each photo's own levels, stretched before the table or on its output "
        "(image-dependent looks)",
    )
    before: tuple[Part, ...] = Field((), description="spatial parts run before the table")
    after: tuple[Part, ...] = Field((), description="spatial parts run after the table")
    seen: str | None = Field(
        None,
        repr=False,
        description="base64 bitmap of the 16x16x16 colour bins the fit saw (coverage_of)",
    )
    seen_range: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="the narrowest tonal range among the approved photos (range_of)",
    )
    follows: str | None = Field(
        None,
        description="the editor's control the pairs were found to be (HSL sliders, a "
        "vibrance), which the look follows on colours the pairs lack",
    )
    report: FitReport | None = Field(
        None, description="how the fit went; None for a LUT loaded from a file"
    )

    @field_validator("table")
    @classmethod
    def _check_table(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ValueError(f"table is not valid base64: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check_length(self) -> FittedEffect:
        expected = self.size**3 * 3 * 2
        actual = len(base64.b64decode(self.table))
        if actual != expected:
            raise ValueError(f"table holds {actual} bytes; a {self.size}^3 LUT needs {expected}")
        return self

    # ------------------------------------------------------------- construction

    @classmethod
    def from_table(
        cls,
        table: Array,
        *,
        title: str = "",
        report: FitReport | None = None,
        fast: bool = False,
    ) -> FittedEffect:
        """Build from a float table of shape (N, N, N, 3) indexed [b][g][r], values 0..1.

        With ``fast``, a table that is (within half a level, root-mean-square, and 2.5 levels
        anywhere) curves, a matrix and curves is replaced by that chain's own table, and
        applied as point operations (see ``docs/fitting.md``).
        """
        array = np.asarray(table, dtype=np.float64)
        if array.ndim != 4 or array.shape[3] != 3 or len(set(array.shape[:3])) != 1:
            raise ValueError(f"a 3D LUT table has shape (N, N, N, 3), not {array.shape}")
        size = array.shape[0]
        if not 2 <= size <= 65:
            array = resample_table(array, min(max(size, 2), 65))
            size = array.shape[0]
        array = np.clip(np.nan_to_num(array), 0.0, 1.0)
        ops = point_plan(array, loose=True) if fast else None
        if ops is not None:
            array = chain_table(ops, size)
        return cls(size=size, table=_encode(array), title=title, report=report, fast=ops)

    @classmethod
    def identity(cls, size: int = 33) -> FittedEffect:
        """The LUT that changes nothing."""
        return cls.from_table(identity_table(size))

    @classmethod
    def load_cube(cls, path: str | os.PathLike[str]) -> FittedEffect:
        """Read an Adobe ``.cube`` 3D LUT (from Resolve, Premiere, ffmpeg, ...).

        A domain other than 0..1 is resampled onto 0..1 (inputs outside the file's domain are
        clamped to it, as the specification says), and so is a lattice larger than 65 points,
        Pillow's limit. Output values are clipped to 0..1. ``report`` is None. A table that is
        curves, a matrix and curves (within a level of it everywhere) is applied as such.
        """
        table, domain_min, domain_max, title = read_cube(path)
        if domain_min != (0.0, 0.0, 0.0) or domain_max != (1.0, 1.0, 1.0):
            table = rebase_domain(table, np.array(domain_min), np.array(domain_max))
        effect = cls.from_table(table, title=title)
        return effect.model_copy(update={"fast": point_plan(effect.lut)})

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, with ``update``'s fields replaced; what was worked out from the old
        fields (the decoded table, its pass, whether it keeps greys) is worked out again."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            for name in _DERIVED:
                copy.__dict__.pop(name, None)
        return copy

    # ------------------------------------------------------------- queries

    @cached_property
    def lut(self) -> Array:
        """The table as float64 (N, N, N, 3), indexed [b][g][r], values 0..1."""
        raw = np.frombuffer(base64.b64decode(self.table), dtype="<u2")
        return raw.astype(np.float64).reshape(self.size, self.size, self.size, 3) / 65535.0

    @cached_property
    def is_identity(self) -> bool:
        """True when the look changes nothing: no parts, no per-photo levels, and a table
        that moves no colour by more than an eighth of an 8-bit level."""
        if self.before or self.after or self.normalise is not None:
            return False
        return bool(np.abs(self.lut - identity_table(self.size)).max() <= 0.125 / 255.0)

    @cached_property
    def _kernel(self) -> ImageKernel:
        """The table's pass (effects.lut): Pillow's trilinear ``Color3DLUT`` bytes, with each
        colour worked out once and kept in a colour table, which is faster on photos."""
        zero, one = np.zeros(3), np.ones(3)
        return ImageKernel(Stages(None, zero, one, self.lut, zero, one), "trilinear")

    @cached_property
    def _keeps_grey(self) -> bool:
        grey = np.arange(self.size)
        nodes = self.lut[grey, grey, grey]
        colour_grain = any(
            isinstance(part, Grain) and part.colour > 0 for part in self.before + self.after
        )
        spread = (nodes.max(axis=1) - nodes.min(axis=1)).max()
        return bool(spread <= _GREY_TOLERANCE and self.normalise is None and not colour_grain)

    def coverage_of(self, image: Image.Image) -> float | None:
        """The fraction of ``image``'s pixels whose colours the fit saw (in a 16x16x16
        histogram); None when unknown (a LUT loaded from a file).

        Where a photo's colours were never seen, the look follows its smooth model instead
        of the pair's evidence: a photo mostly outside (say under 0.5) may come out less
        like the approved edit.
        """
        if self.seen is None:
            return None
        bitmap = np.unpackbits(np.frombuffer(base64.b64decode(self.seen), dtype=np.uint8))
        rgb = np.asarray(small_copy(image), dtype=np.int64).reshape(-1, 3) * _SEEN_BINS // 256
        index = (rgb[:, 0] * _SEEN_BINS + rgb[:, 1]) * _SEEN_BINS + rgb[:, 2]
        return float(bitmap[index].mean()) if len(index) else 1.0

    def range_of(self, image: Image.Image) -> float | None:
        """How much of the approved photos' tonal range ``image`` spans: its range (Rec. 709
        intensity, 0.1st to 99.9th percentile) over the narrowest approved photo's, at most 1;
        None when unknown (a LUT loaded from a file).

        Pairs whose photos all span about the same range cannot show whether the edit follows
        each photo's own levels (auto levels, ``normalize``, ``-sepia-tone``). If it does, a
        fixed look misses it on a photo of a much narrower range (say under 0.85): fitted on
        two full-range photos, ImageMagick's ``-sepia-tone`` came out at 19 dB on the cat photo
        (0.73 of their range).
        """
        if self.seen_range is None or self.seen_range <= 0.0:
            return None
        return min(tonal_range(image) / self.seen_range, 1.0)

    def narrow_range(self, image: Image.Image) -> float | None:
        """:meth:`range_of` when ``image`` spans less than 0.85 of the approved photos' range
        (what ``fit_effect`` counts as unlike ranges) and the look does not already follow
        each photo's own levels (``normalise``); None otherwise. ``seedless apply`` warns
        about such a photo."""
        if self.normalise is not None:
            return None
        span = self.range_of(image)
        return span if span is not None and span < ALIKE_RANGES else None

    # ------------------------------------------------------------- pixels

    def apply(self, image: ImageSource) -> Image.Image:
        """Return the edited image (same size; same mode, like Adjust). Deterministic.

        ``image`` is a PIL image, or a path, bytes or binary file (decoded and turned upright).
        Alpha is split off and put back untouched. Greyscale (L, LA) images stay greyscale
        when the look keeps greys grey (within 1.5 levels), and become RGB(A) otherwise.
        """
        return apply_in_mode(
            _images.editable(_images.load_image(image)), self._rgb, lambda: self._keeps_grey
        )

    def _rgb(self, rgb: Image.Image) -> Image.Image:
        """The whole look on an RGB image: the parts before the colour, the colour, the rest."""
        if self.is_identity:
            return rgb.copy()
        return apply_parts(self.after, self._colour(apply_parts(self.before, rgb)))

    def _colour(self, rgb: Image.Image) -> Image.Image:
        """The table's pass: per-photo levels folded into it (measured on the photo, or on
        the table's output for levels after it), or point operations, or the table itself."""
        if self.normalise is not None and self.normalise.stage == "after":
            scale, offset = self.normalise.affine(self._kernel(rgb))  # measure the output
            stretched = np.clip(self.lut * scale + offset, 0.0, 1.0)
            table = contrast(stretched, self.normalise.contrast).reshape(-1, 3)
            return rgb.filter(ImageFilter.Color3DLUT(self.size, table.astype(np.float32)))
        if self.normalise is not None:
            scale, offset = self.normalise.affine(rgb)
            nodes = lattice(self.size).reshape(-1, 3)
            table = lookup(self.lut, np.clip(nodes * scale + offset, 0.0, 1.0))
            return rgb.filter(ImageFilter.Color3DLUT(self.size, table.astype(np.float32)))
        if self.fast is not None:
            return self.fast.apply(rgb)
        return self._kernel(rgb)

    def save_cube(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as an Adobe ``.cube`` 1.0 file (6 decimals; exact round trip).

        A ``.cube`` holds a fixed colour table only: a look with per-photo levels or spatial
        parts is written without them, with a warning saying so.
        """
        missing = [part.describe() for part in self.before + self.after]
        if self.normalise is not None:
            missing.insert(0, self.normalise.describe())
        if missing:
            warnings.warn(
                f"{Path(path).name} holds the fixed colour table only; a .cube cannot hold "
                f"the rest of this look: {'; '.join(missing)}. Use the .json effect "
                "(seedless apply --effect look.json) for the whole look.",
                UserWarning,
                stacklevel=2,
            )
        return write_cube(path, self.lut, title=self.title or "seedless fitted look")

    # ------------------------------------------------------------- words

    def describe(self) -> str:
        """The measured edit in numbers, in the words of ``Adjust.describe()``."""
        text = describe_table(self.lut)
        extra = [part.describe() for part in self.before + self.after]
        if self.normalise is not None:
            extra.insert(0, self.normalise.describe())
        if not extra:
            return text
        head, _, tail = text.rpartition(". ")
        return f"{head}; plus {', '.join(extra)}. {tail}"


_DERIVED = ("lut", "is_identity", "_kernel", "_keeps_grey")  # FittedEffect's cached properties


def _encode(table: Array) -> str:
    quantised = np.rint(np.clip(table, 0.0, 1.0) * 65535.0).astype("<u2")
    return base64.b64encode(quantised.tobytes()).decode("ascii")


def seen_bitmap(colours: Array) -> str:
    """The ``seen`` field for colours (m, 3) in 0..1: base64 of a 16^3-bit bitmap."""
    bins = np.rint(np.clip(colours, 0.0, 1.0) * 255.0).astype(np.int64) * _SEEN_BINS // 256
    index = (bins[:, 0] * _SEEN_BINS + bins[:, 1]) * _SEEN_BINS + bins[:, 2]
    bitmap = np.zeros(_SEEN_BINS**3, dtype=np.uint8)
    bitmap[index] = 1
    return base64.b64encode(np.packbits(bitmap).tobytes()).decode("ascii")
