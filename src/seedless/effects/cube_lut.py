"""``CubeEffect``: a ``.cube`` LUT from a grading tool, applied as OpenColorIO applies it.

:func:`seedless.load_effect` returns one for a ``.cube`` path; ``seedless apply --effect
look.cube [--interp tetrahedral|trilinear]`` runs it. Every dialect of
:mod:`seedless.effects.cube` is kept whole (1D tables, shapers, domains, values outside 0..1)
and applied by :mod:`seedless.effects.lut`: within one 8-bit level of OpenColorIO in the same
interpolation, deterministic, bit-identical run to run.

The interpolation is part of the effect (``interpolation``, in its JSON and so in recipes).
A file's default is ``tetrahedral``, as the grading tools people export from apply their
LUTs (Premiere Pro, After Effects and Media Encoder, ffmpeg's ``lut3d``; sources in
``docs/decisions.md``), except seedless's own exports (their comment says "Created by
seedless"): those looks were fitted and measured in trilinear, which they keep, so a fitted
look exported and read back replays bit for bit.
"""

from __future__ import annotations

import base64
import os
from functools import cached_property
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from .cube import MAX_1D_SIZE, MAX_SIZE, MIN_SIZE, CubeFile, identity_table, read_cube_file
from .fit import FittedEffect
from .lut import ImageKernel, Interpolation, Stages, apply_in_mode, evaluate

__all__ = ["SEEDLESS_MARK", "CubeEffect"]

Triple = tuple[float, float, float]

#: The comment seedless writes at the top of its exports (``format_cube``).
SEEDLESS_MARK = "Created by seedless"
_GREY_TOLERANCE = 1.5 / 255.0  # as FittedEffect: a LUT this close to grey keeps L images L


class CubeEffect(BaseModel):
    """A LUT read from a ``.cube`` file: a 1D table, a 3D table, or a 1D shaper then a 3D table.

    Tables are little-endian float32 bytes (``lut1d``: M rows of R, G, B; ``lut3d``: N³
    rows, red changing fastest, then green, then blue: the file's order), base64 in JSON,
    each with its input domain (per channel). Saved to JSON and loaded back, the effect gives
    the same bytes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["cube"] = "cube"
    interpolation: Interpolation = Field(
        "tetrahedral", description="how the 3D table is interpolated: tetrahedral or trilinear"
    )
    title: str = ""
    lut1d_size: int | None = Field(None, ge=MIN_SIZE, le=MAX_1D_SIZE)
    lut1d: bytes | None = Field(
        None, repr=False, description="float32 LE, M x (R, G, B); base64 in JSON"
    )
    lut1d_min: Triple = (0.0, 0.0, 0.0)
    lut1d_max: Triple = (1.0, 1.0, 1.0)
    lut3d_size: int | None = Field(None, ge=MIN_SIZE, le=MAX_SIZE)
    lut3d: bytes | None = Field(
        None, repr=False, description="float32 LE, N^3 x (R, G, B), red fastest; base64 in JSON"
    )
    lut3d_min: Triple = (0.0, 0.0, 0.0)
    lut3d_max: Triple = (1.0, 1.0, 1.0)

    @field_validator("lut1d", "lut3d", mode="before")
    @classmethod
    def _from_base64(cls, value: Any) -> Any:
        if isinstance(value, str):  # the JSON form
            try:
                return base64.b64decode(value, validate=True)
            except ValueError as exc:
                raise ValueError(f"not valid base64: {exc}") from None
        return value

    @field_serializer("lut1d", "lut3d", when_used="json")
    def _to_base64(self, value: bytes | None) -> str | None:
        return None if value is None else base64.b64encode(value).decode("ascii")

    @model_validator(mode="after")
    def _check(self) -> CubeEffect:
        if self.lut1d is None and self.lut3d is None:
            raise ValueError("a cube effect needs lut1d, lut3d or both")
        for name, size, rows in (
            ("lut1d", self.lut1d_size, self.lut1d_size),
            ("lut3d", self.lut3d_size, None if self.lut3d_size is None else self.lut3d_size**3),
        ):
            data = getattr(self, name)
            if (data is None) != (size is None):
                raise ValueError(f"{name} and {name}_size go together")
            if data is not None and rows is not None:
                _decode(data, rows, name)
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if not all(a < b for a, b in zip(low, high, strict=True)):
                raise ValueError(f"{name}_min {low} must be below {name}_max {high}")
        return self

    # ------------------------------------------------------------- construction

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, interpolation: Interpolation | None = None
    ) -> CubeEffect:
        """Read a ``.cube`` file of any dialect (errors name the file and line).

        ``interpolation`` None means the file's default: trilinear for seedless's own exports,
        tetrahedral for every other file.
        """
        return cls.from_cube(read_cube_file(path), interpolation=interpolation)

    @classmethod
    def from_cube(cls, cube: CubeFile, *, interpolation: Interpolation | None = None) -> CubeEffect:
        """Build from a parsed file (see :meth:`load` for ``interpolation``)."""
        if interpolation is None:
            ours = bool(cube.comments) and cube.comments[0] == SEEDLESS_MARK
            interpolation = "trilinear" if ours else "tetrahedral"
        fields: dict[str, Any] = {"title": cube.title, "interpolation": interpolation}
        for name, table, low, high in (
            ("lut1d", cube.lut1d, cube.lut1d_min, cube.lut1d_max),
            ("lut3d", cube.lut3d, cube.lut3d_min, cube.lut3d_max),
        ):
            if table is not None:
                fields[f"{name}_size"] = table.shape[0]
                fields[name] = _encode(table)
                fields[f"{name}_min"], fields[f"{name}_max"] = low, high
        return cls(**fields)

    def with_interpolation(self, interpolation: Interpolation) -> CubeEffect:
        """The same LUT applied with another interpolation."""
        return type(self)(**{**self.model_dump(), "interpolation": interpolation})

    # ------------------------------------------------------------- queries

    @cached_property
    def stages(self) -> Stages:
        """The tables as arrays (float32; 3D indexed [b][g][r]) with their domains."""
        lut1d = lut3d = None
        if self.lut1d is not None and self.lut1d_size is not None:
            lut1d = _decode(self.lut1d, self.lut1d_size, "lut1d")
        if self.lut3d is not None and self.lut3d_size is not None:
            n = self.lut3d_size
            lut3d = _decode(self.lut3d, n**3, "lut3d").reshape(n, n, n, 3)
        return Stages(
            lut1d,
            np.array(self.lut1d_min),
            np.array(self.lut1d_max),
            lut3d,
            np.array(self.lut3d_min),
            np.array(self.lut3d_max),
        )

    def transform(self, rgb: Any) -> np.ndarray:
        """The LUT applied to float colours ``rgb`` (..., 3): unclipped float64, same shape."""
        array = np.asarray(rgb, dtype=np.float64)
        out = evaluate(self.stages, self.interpolation, array.reshape(-1, 3))
        return out.reshape(array.shape)

    def _kernel(self) -> ImageKernel:
        kernel = self.__dict__.get("_kernel_cache")
        if kernel is None or kernel.interpolation != self.interpolation:
            kernel = ImageKernel(self.stages, self.interpolation)
            self.__dict__["_kernel_cache"] = kernel
        return kernel

    @cached_property
    def _keeps_grey(self) -> bool:
        stages = self.stages
        if stages.lut3d is not None and stages.fits_pillow():
            grey = np.arange(stages.lut3d.shape[0])  # FittedEffect's test, on the nodes
            nodes = stages.lut3d[grey, grey, grey].astype(np.float64)
        else:
            nodes = self.transform(np.repeat((np.arange(256) / 255.0)[:, None], 3, axis=1))
        return bool((nodes.max(axis=1) - nodes.min(axis=1)).max() <= _GREY_TOLERANCE)

    # ------------------------------------------------------------- pixels

    def apply(self, image: Image.Image) -> Image.Image:
        """Return the edited image (same size; same mode, like Adjust). Deterministic.

        Alpha is split off and put back untouched. Greyscale (L, LA) images stay greyscale
        when the LUT keeps greys grey (within 1.5 levels), and become RGB(A) when it tints them.
        """
        return apply_in_mode(image, self._kernel(), lambda: self._keeps_grey)

    # ------------------------------------------------------------- words

    def describe(self) -> str:
        """The LUT's effect in numbers, in the words of ``Adjust.describe()``."""
        lattice = identity_table(33)
        table = np.clip(self.transform(lattice), 0.0, 1.0)
        return FittedEffect.from_table(table).describe()


def _encode(table: np.ndarray) -> bytes:
    return np.ascontiguousarray(table, dtype="<f4").tobytes()


def _decode(raw: bytes, rows: int, name: str) -> np.ndarray:
    """The table as a read-only float32 (rows, 3) view of ``raw`` (no copy)."""
    if len(raw) != rows * 12:
        raise ValueError(f"{name} holds {len(raw)} bytes; {rows} rows of R, G, B need {rows * 12}")
    table = np.frombuffer(raw, dtype="<f4").reshape(rows, 3)
    if not np.isfinite(table).all():
        raise ValueError(f"{name} holds values that are not finite numbers")
    return table
