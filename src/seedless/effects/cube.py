"""Read and write 3D LUTs in the Adobe Cube LUT 1.0 format (``.cube``), as plain numpy arrays.

A ``.cube`` file is text: keyword lines, then one ``R G B`` line per lattice point::

    # comment
    TITLE "warm look"
    LUT_3D_SIZE 33
    DOMAIN_MIN 0.0 0.0 0.0
    DOMAIN_MAX 1.0 1.0 1.0
    0.000000 0.000000 0.000000      <- input (r=0, g=0, b=0)
    0.031250 0.000000 0.000000      <- input (r=1/32, g=0, b=0): RED changes fastest,
    ...                                then green, then blue

Tables here are ``float64`` arrays of shape ``(N, N, N, 3)`` indexed ``[b][g][r]`` with the
last axis the output ``(R, G, B)``. That is the file's own order (``table.reshape(-1, 3)`` is
the data lines, top to bottom) and the order Pillow's ``ImageFilter.Color3DLUT`` takes.

Writing puts ``LUT_3D_SIZE`` before ``DOMAIN_*`` lines, because ffmpeg's ``lut3d`` filter
ignores anything it sees before ``LUT_3D_SIZE``. Reading follows the specification (keywords
in any order before the data, ``#`` comments and blank lines anywhere, ``LUT_3D_SIZE`` 2..256,
``DOMAIN_MIN`` < ``DOMAIN_MAX``) and also accepts Resolve's ``LUT_3D_INPUT_RANGE min max``.
Unknown keywords before the data are ignored. 1D LUTs (``LUT_1D_SIZE``) are refused with an
error naming the file and line. Every error is a :class:`~seedless.errors.ConfigurationError`
naming the file and the line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ConfigurationError

__all__ = ["Cube", "format_cube", "identity_table", "parse_cube", "read_cube", "write_cube"]

#: Smallest and largest LUT_3D_SIZE the specification allows.
MIN_SIZE, MAX_SIZE = 2, 256
_KEYWORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*")


class Cube(NamedTuple):
    """A parsed ``.cube`` file: unpacks as ``table, domain_min, domain_max, title``."""

    table: np.ndarray  # float64, shape (N, N, N, 3), indexed [b][g][r] -> (R, G, B)
    domain_min: tuple[float, float, float]
    domain_max: tuple[float, float, float]
    title: str


def identity_table(size: int) -> np.ndarray:
    """The identity LUT of ``size`` points per axis, shape (N, N, N, 3) indexed [b][g][r]."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    axis = np.linspace(0.0, 1.0, size)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1)


# ---------------------------------------------------------------------------- reading


def read_cube(path: str | os.PathLike[str]) -> Cube:
    """Read a 3D ``.cube`` file. Errors name the file and line (ConfigurationError)."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read LUT file {str(source)!r}: {exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_cube(text, source=str(source))


def parse_cube(text: str, *, source: str = "<string>") -> Cube:
    """Parse the text of a 3D ``.cube`` file; ``source`` names it in error messages."""
    size: int | None = None
    title = ""
    domain_min = (0.0, 0.0, 0.0)
    domain_max = (1.0, 1.0, 1.0)
    rows: list[tuple[float, ...]] = []
    first_data_line = 0

    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keyword = _KEYWORD.match(line)
            if keyword is None or _is_number(line.split()[0]):
                if size is None:
                    raise _LineError(
                        "table data before LUT_3D_SIZE; a 3D .cube file needs LUT_3D_SIZE N"
                    )
                if not rows:
                    first_data_line = line_no
                rows.append(_numbers(line, 3, "a table line"))
                if len(rows) > size**3:
                    raise _LineError(
                        f"more than {size}^3 = {size**3} table lines for LUT_3D_SIZE {size}"
                    )
                continue
            name = keyword.group(0)
            rest = line[keyword.end() :].strip()
            if rows:
                raise _LineError(f"keyword {name} after the table data started")
            if name == "TITLE":
                title = _title(rest)
            elif name == "LUT_3D_SIZE":
                if size is not None:
                    raise _LineError("LUT_3D_SIZE given twice")
                size = _size(rest)
            elif name == "LUT_1D_SIZE":
                raise _LineError(
                    "this is a 1D LUT (LUT_1D_SIZE); seedless reads 3D LUTs only: export the "
                    "look as a 3D LUT (LUT_3D_SIZE) from your grading tool"
                )
            elif name == "DOMAIN_MIN":
                domain_min = _triple(_numbers(rest, 3, name))
            elif name == "DOMAIN_MAX":
                domain_max = _triple(_numbers(rest, 3, name))
            elif name == "LUT_3D_INPUT_RANGE":  # Resolve's spelling of a uniform domain
                low, high = _numbers(rest, 2, name)
                domain_min, domain_max = (low, low, low), (high, high, high)
            # Other keywords (vendor extensions such as LUT_1D_INPUT_RANGE) are ignored.
        except _LineError as exc:
            raise ConfigurationError(f"{source}, line {line_no}: {exc}") from None

    if size is None:
        raise ConfigurationError(f"{source}: no LUT_3D_SIZE line, so not a 3D .cube file")
    if len(rows) != size**3:
        where = f"{source}, line {first_data_line}" if rows else source
        raise ConfigurationError(
            f"{where}: LUT_3D_SIZE {size} needs {size**3} table lines, found {len(rows)}"
        )
    if not all(low < high for low, high in zip(domain_min, domain_max, strict=True)):
        raise ConfigurationError(
            f"{source}: DOMAIN_MIN {domain_min} must be below DOMAIN_MAX {domain_max} "
            "on every channel"
        )
    table = np.asarray(rows, dtype=np.float64).reshape(size, size, size, 3)
    return Cube(table, domain_min, domain_max, title)


class _LineError(ValueError):
    """A problem on one line; parse_cube adds the file name and line number."""


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _title(rest: str) -> str:
    if len(rest) >= 2 and rest[0] == '"' and rest.endswith('"'):
        return rest[1:-1]
    return rest.strip('"')


def _size(rest: str) -> int:
    parts = rest.split()
    if len(parts) != 1 or not parts[0].isdigit():
        raise _LineError(f"LUT_3D_SIZE needs one whole number, got {rest!r}")
    size = int(parts[0])
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise _LineError(f"LUT_3D_SIZE must be {MIN_SIZE}..{MAX_SIZE}, got {size}")
    return size


def _numbers(rest: str, count: int, what: str) -> tuple[float, ...]:
    parts = rest.split()
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(parts) != count or len(values) != count:
        raise _LineError(f"{what} needs {count} numbers, got {rest!r}")
    if not all(np.isfinite(values)):
        raise _LineError(f"{what} has a value that is not a finite number: {rest!r}")
    return values


def _triple(values: tuple[float, ...]) -> tuple[float, float, float]:
    return (values[0], values[1], values[2])


# ---------------------------------------------------------------------------- writing


def format_cube(
    table: np.ndarray,
    *,
    title: str = "",
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0),
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0),
    decimals: int = 6,
    comment: str | None = "Created by seedless",
) -> str:
    """The text of a ``.cube`` file for ``table`` (shape (N, N, N, 3), indexed [b][g][r])."""
    array = np.asarray(table, dtype=np.float64)
    if (
        array.ndim != 4
        or array.shape[3] != 3
        or not (array.shape[0] == array.shape[1] == array.shape[2])
    ):
        raise ValueError(f"a 3D LUT table has shape (N, N, N, 3), not {array.shape}")
    size = array.shape[0]
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"LUT_3D_SIZE must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    if not np.isfinite(array).all():
        raise ValueError("the LUT table contains NaN or infinite values")
    lines: list[str] = []
    if comment:
        lines += [f"# {line}" for line in comment.splitlines()]
    clean_title = " ".join(title.replace('"', "'").split())
    if clean_title:
        lines.append(f'TITLE "{clean_title}"')
    lines.append(f"LUT_3D_SIZE {size}")
    lines.append("DOMAIN_MIN " + " ".join(_number(v, decimals) for v in domain_min))
    lines.append("DOMAIN_MAX " + " ".join(_number(v, decimals) for v in domain_max))
    lines.append("")
    rows = np.round(array.reshape(-1, 3), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    fmt = f"%.{decimals}f %.{decimals}f %.{decimals}f"
    body = "\n".join(fmt % (r, g, b) for r, g, b in rows.tolist())
    return "\n".join(lines) + "\n" + body + "\n"


def write_cube(
    path: str | os.PathLike[str],
    table: np.ndarray,
    *,
    title: str = "",
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0),
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0),
    decimals: int = 6,
) -> Path:
    """Write ``table`` as a ``.cube`` file, atomically (temp file and rename). Returns the path."""
    from ..images import atomic_write

    text = format_cube(
        table, title=title, domain_min=domain_min, domain_max=domain_max, decimals=decimals
    )
    return atomic_write(path, text.encode("ascii", errors="replace"))


def _number(value: float, decimals: int) -> str:
    return f"{round(float(value), decimals) + 0.0:.{decimals}f}"
