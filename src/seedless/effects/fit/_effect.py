"""``FittedEffect`` and ``FitReport``: a fitted look as data, and how well it was fitted.

A :class:`FittedEffect` is a global colour/tone edit as a 3D LUT, a frozen pydantic model
(``kind: "lut"``) that saves to JSON and to Adobe ``.cube`` and applies exactly with Pillow's
``ImageFilter.Color3DLUT``. How it is fitted lives in :mod:`._fitting`.
"""

from __future__ import annotations

import base64
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...errors import InvalidImageError
from ..cube import identity_table, read_cube, write_cube
from ._describe import describe_table
from ._table import Array, rebase_domain, resample_table

_GREY_TOLERANCE = 1.5 / 255.0  # a LUT whose greys stay this close to grey keeps L images L


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
    is_global: bool = Field(description="true for a global colour/tone edit")
    reason: str = Field(description="why is_global is what it is, in words")
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


class FittedEffect(BaseModel):
    """A global colour/tone edit as a 3D LUT: exact, fast, portable (``.cube``).

    The table is stored as base64 of little-endian uint16 (value / 65535), ``size**3`` RGB
    triples with red changing fastest, then green, then blue (the ``.cube`` order).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["lut"] = "lut"
    size: int = Field(33, ge=2, le=65, description="lattice points per axis")
    table: str = Field(
        repr=False, description="base64 of uint16 LE, [b][g][r][rgb] order, value/65535"
    )
    title: str = ""
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
        cls, table: Array, *, title: str = "", report: FitReport | None = None
    ) -> FittedEffect:
        """Build from a float table of shape (N, N, N, 3) indexed [b][g][r], values 0..1."""
        array = np.asarray(table, dtype=np.float64)
        if array.ndim != 4 or array.shape[3] != 3 or len(set(array.shape[:3])) != 1:
            raise ValueError(f"a 3D LUT table has shape (N, N, N, 3), not {array.shape}")
        size = array.shape[0]
        if not 2 <= size <= 65:
            array = resample_table(array, min(max(size, 2), 65))
            size = array.shape[0]
        quantised = np.rint(np.clip(np.nan_to_num(array), 0.0, 1.0) * 65535.0).astype("<u2")
        encoded = base64.b64encode(quantised.tobytes()).decode("ascii")
        return cls(size=size, table=encoded, title=title, report=report)

    @classmethod
    def identity(cls, size: int = 33) -> FittedEffect:
        """The LUT that changes nothing."""
        return cls.from_table(identity_table(size))

    @classmethod
    def load_cube(cls, path: str | os.PathLike[str]) -> FittedEffect:
        """Read an Adobe ``.cube`` 3D LUT (from Resolve, Premiere, ffmpeg, ...).

        A domain other than 0..1 is resampled onto 0..1 (inputs outside the file's domain are
        clamped to it, as the specification says), and so is a lattice larger than 65 points,
        Pillow's limit. Output values are clipped to 0..1. ``report`` is None.
        """
        table, domain_min, domain_max, title = read_cube(path)
        if domain_min != (0.0, 0.0, 0.0) or domain_max != (1.0, 1.0, 1.0):
            table = rebase_domain(table, np.array(domain_min), np.array(domain_max))
        return cls.from_table(table, title=title)

    # ------------------------------------------------------------- queries

    @cached_property
    def lut(self) -> Array:
        """The table as float64 (N, N, N, 3), indexed [b][g][r], values 0..1."""
        raw = np.frombuffer(base64.b64decode(self.table), dtype="<u2")
        return raw.astype(np.float64).reshape(self.size, self.size, self.size, 3) / 65535.0

    @cached_property
    def is_identity(self) -> bool:
        """True when the table changes no colour by more than an eighth of an 8-bit level."""
        return bool(np.abs(self.lut - identity_table(self.size)).max() <= 0.125 / 255.0)

    @cached_property
    def _filter(self) -> ImageFilter.Color3DLUT:
        return ImageFilter.Color3DLUT(self.size, self.lut.astype(np.float32))

    @cached_property
    def _keeps_grey(self) -> bool:
        grey = np.arange(self.size)
        nodes = self.lut[grey, grey, grey]
        return bool((nodes.max(axis=1) - nodes.min(axis=1)).max() <= _GREY_TOLERANCE)

    # ------------------------------------------------------------- pixels

    def apply(self, image: Image.Image) -> Image.Image:
        """Return the edited image (same size; same mode, like Adjust). Deterministic.

        Alpha is split off and put back untouched. Greyscale (L, LA) images stay greyscale
        when the LUT keeps greys grey (within 1.5 levels), and become RGB(A) when it tints them.
        """
        if image.mode in ("P", "PA", "1"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            raise InvalidImageError(
                f"cannot edit images in mode {image.mode}; convert to RGB first"
            )
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        colour = image.convert(image.mode[:-1]) if alpha is not None else image
        if self.is_identity:
            out = colour.copy()
        elif colour.mode == "L":
            out = colour.convert("RGB").filter(self._filter)
            if self._keeps_grey:
                out = out.convert("L")
        else:
            out = colour.filter(self._filter)
        if alpha is not None:
            out.putalpha(alpha)
        return out

    def save_cube(self, path: str | os.PathLike[str]) -> Path:
        """Write the LUT as an Adobe ``.cube`` 1.0 file (6 decimals; exact round trip)."""
        return write_cube(path, self.lut, title=self.title or "seedless fitted look")

    # ------------------------------------------------------------- words

    def describe(self) -> str:
        """The measured edit in numbers, in the words of ``Adjust.describe()``."""
        return describe_table(self.lut)
