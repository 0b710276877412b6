"""Read and write ``.cube`` LUT files (Adobe Cube LUT 1.0 and DaVinci Resolve), as numpy arrays.

A ``.cube`` file is text: keyword lines, then one ``R G B`` line per table entry::

    # comment
    TITLE "warm look"
    LUT_3D_SIZE 33
    DOMAIN_MIN 0.0 0.0 0.0
    DOMAIN_MAX 1.0 1.0 1.0
    0.000000 0.000000 0.000000      <- input (r=0, g=0, b=0)
    0.031250 0.000000 0.000000      <- input (r=1/32, g=0, b=0): RED changes fastest,
    ...                                then green, then blue

The dialects read here (details and sources in ``docs/cube.md``):

- **Adobe 1.0**: ``LUT_1D_SIZE`` (2..65536) *or* ``LUT_3D_SIZE`` (2..256), ``DOMAIN_MIN`` /
  ``DOMAIN_MAX`` (per channel, default 0..1), ``TITLE``, ``#`` comments and blank lines
  anywhere, values unlimited (outside 0..1 too).
- **Resolve**: a 1D table, a 3D table, or both (a 1D *shaper* applied first, then the 3D
  table, data in that order), with ``LUT_1D_INPUT_RANGE`` / ``LUT_3D_INPUT_RANGE min max``.
  A range given for a table the file does not hold is ignored, as Resolve does.

Keywords are read in any case (``lut_3d_size`` as OpenColorIO does), a UTF-8 or UTF-16
byte-order mark and CR, CRLF or LF line ends are accepted, and unknown keywords before the
data are ignored. Keywords that change what the numbers mean and that seedless does not
apply are refused rather than ignored: Resolve's ``LUT_IN_VIDEO_RANGE`` and
``LUT_OUT_VIDEO_RANGE`` (as OpenColorIO and ffmpeg refuse them), and ``LUT_2D_SIZE``.

Tables are ``float32`` (as OpenColorIO keeps them): a 3D table has shape ``(N, N, N, 3)``
indexed ``[b][g][r]`` with the last axis the output ``(R, G, B)`` (the file's own order:
``table.reshape(-1, 3)`` is the data lines, and the order Pillow's ``Color3DLUT`` takes); a 1D
table has shape ``(M, 3)``. The numbers are parsed by numpy's C reader in chunks, so a 65³
file loads in well under a second and a 256³ one without a Python object per number. Every
error is a :class:`~seedless.errors.ConfigurationError` naming the file and the line, and
quotes at most a short excerpt of that line.

Writing (3D tables) puts ``LUT_3D_SIZE`` before ``DOMAIN_*`` lines, because ffmpeg's ``lut3d``
ignores anything before ``LUT_3D_SIZE``, and keeps every header line within the
specification's 250-byte limit.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ..errors import ConfigurationError
from ..images import atomic_write

__all__ = [
    "Cube",
    "CubeFile",
    "format_cube",
    "identity_table",
    "parse_cube",
    "parse_cube_file",
    "read_cube",
    "read_cube_file",
    "write_cube",
]

#: Smallest and largest LUT_3D_SIZE the specification allows.
MIN_SIZE, MAX_SIZE = 2, 256
#: Largest LUT_1D_SIZE the specification allows.
MAX_1D_SIZE = 65536
#: The specification's longest line, in bytes (what the writer keeps to).
MAX_LINE = 250

Triple = tuple[float, float, float]
_UNIT_MIN: Triple = (0.0, 0.0, 0.0)
_UNIT_MAX: Triple = (1.0, 1.0, 1.0)
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A decimal number as numpy's reader takes it (Python's float() also takes "1_0" and more).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_EXCERPT = 40  # characters of a bad line quoted in an error


class Cube(NamedTuple):
    """A 3D ``.cube`` file: unpacks as ``table, domain_min, domain_max, title``.

    ``table`` is float64 (N, N, N, 3) indexed [b][g][r]. See :class:`CubeFile` for every
    dialect (1D and shaper tables too).
    """

    table: np.ndarray
    domain_min: Triple
    domain_max: Triple
    title: str


@dataclass(frozen=True, eq=False)
class CubeFile:
    """Everything a ``.cube`` file says: a 1D table, a 3D table, or both (a shaper, then 3D).

    ``lut1d`` is (M, 3) and ``lut3d`` (N, N, N, 3) indexed [b][g][r], both float32, or None.
    Each table's input domain is ``*_min`` .. ``*_max`` per channel (DOMAIN_MIN/MAX in the
    Adobe dialect, LUT_1D/3D_INPUT_RANGE in Resolve's); inputs are mapped linearly from it
    onto the table and clamped to it. ``comments`` holds the header's comment lines.
    """

    title: str
    lut1d: np.ndarray | None
    lut1d_min: Triple
    lut1d_max: Triple
    lut3d: np.ndarray | None
    lut3d_min: Triple
    lut3d_max: Triple
    comments: tuple[str, ...] = ()


def identity_table(size: int) -> np.ndarray:
    """The identity LUT of ``size`` points per axis, shape (N, N, N, 3) indexed [b][g][r]."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    axis = np.linspace(0.0, 1.0, size)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1)


# ---------------------------------------------------------------------------- reading


def read_cube_file(path: str | os.PathLike[str]) -> CubeFile:
    """Read a ``.cube`` file of any dialect. Errors name the file and line (ConfigurationError)."""
    source = Path(path)
    try:
        with source.open("rb") as stream:
            return _read(stream, str(source), np.float32)
    except OSError as exc:
        raise ConfigurationError(f"cannot read LUT file {str(source)!r}: {exc}") from exc


def parse_cube_file(text: str, *, source: str = "<string>") -> CubeFile:
    """Parse the text of a ``.cube`` file; ``source`` names it in error messages."""
    return _read(io.BytesIO(text.encode("utf-8")), source, np.float32)


def read_cube(path: str | os.PathLike[str]) -> Cube:
    """Read a 3D ``.cube`` file (float64 table). Other files: ConfigurationError naming the way.

    For 1D and shaper + 3D files, use :func:`read_cube_file` or ``seedless.load_effect``.
    """
    source = Path(path)
    try:
        with source.open("rb") as stream:
            return _only_3d(_read(stream, str(source), np.float64), str(source))
    except OSError as exc:
        raise ConfigurationError(f"cannot read LUT file {str(source)!r}: {exc}") from exc


def parse_cube(text: str, *, source: str = "<string>") -> Cube:
    """Parse the text of a 3D ``.cube`` file (float64 table); see :func:`read_cube`."""
    return _only_3d(_read(io.BytesIO(text.encode("utf-8")), source, np.float64), source)


def _only_3d(cube: CubeFile, source: str) -> Cube:
    if cube.lut3d is None or cube.lut1d is not None:
        what = "a 1D LUT" if cube.lut3d is None else "a 1D shaper and a 3D LUT"
        raise ConfigurationError(
            f"{source}: the file holds {what}; read it with seedless.load_effect (an effect "
            "that applies every .cube dialect) or seedless.effects.cube.read_cube_file"
        )
    return Cube(cube.lut3d, cube.lut3d_min, cube.lut3d_max, cube.title)


class _LineError(ValueError):
    """A problem on one line; the reader adds the file name and line number."""


def _excerpt(text: str) -> str:
    """``text`` quoted, cut to a few dozen characters (a bad line can be megabytes long)."""
    if len(text) <= _EXCERPT:
        return repr(text)
    return f"{text[:_EXCERPT]!r}... ({len(text)} characters)"


def _lines(stream: IO[bytes], source: str) -> IO[bytes]:
    """The file as a seekable binary stream of ``\\n``-ended lines, in an ASCII-compatible code.

    UTF-16/32 files (byte-order mark) and old Mac files (CR line ends) are decoded and
    re-encoded as UTF-8; anything else is read as it is, line by line.
    """
    start = stream.read(65536)
    stream.seek(0)
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if start.startswith(bom):
            try:
                text = stream.read().decode(codec)
            except UnicodeDecodeError as exc:
                message = f"{source}: not valid {codec.upper()} text: {exc}"
                raise ConfigurationError(message) from None
            return io.BytesIO(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"))
    if b"\x00" in start:
        raise ConfigurationError(
            f"{source}: the file contains NUL bytes: it is not a text .cube file, or it is "
            "UTF-16 without a byte-order mark; save it as UTF-8 or ASCII text"
        )
    if b"\r" in start and b"\n" not in start:  # CR line ends only
        return io.BytesIO(stream.read().replace(b"\r", b"\n"))
    return stream


def _decode(raw: bytes, first: bool) -> str:
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # a title typed in an 8-bit code page


def _read(raw_stream: IO[bytes], source: str, dtype: Any) -> CubeFile:
    """Header line by line in Python, then the numbers in one go with numpy."""
    stream = _lines(raw_stream, source)
    header = _Header()
    line_no = 0
    data_at = -1
    while True:
        offset = stream.tell()
        raw = stream.readline()
        if not raw:
            break
        line_no += 1
        line = _decode(raw, line_no == 1).strip()
        if not line:
            continue
        if line.startswith("#"):
            header.comment(line)
            continue
        try:
            if header.take(line, line_no):
                data_at = offset
                break
        except _LineError as exc:
            raise ConfigurationError(f"{source}, line {line_no}: {exc}") from None
    shape = header.finish(source)
    if data_at < 0:
        rows = np.zeros((0, 3), dtype=dtype)
    else:
        stream.seek(data_at)
        rows = _numbers(stream, source, line_no, shape.total, dtype)
    return shape.build(rows, source, line_no)


def _numbers(stream: IO[bytes], source: str, first_line: int, expected: int, dtype: Any) -> Any:
    """The table lines from ``stream`` (at the first one, ``first_line``) as an (n, 3) array."""
    start = stream.tell()
    try:
        rows = np.loadtxt(stream, dtype=dtype, comments="#", ndmin=2, encoding="latin-1")
    except ValueError:
        stream.seek(start)
        raise _first_bad_line(stream, source, first_line, expected, None) from None
    if rows.shape[1] != 3 or len(rows) > expected or not np.isfinite(rows).all():
        stream.seek(start)
        bad_rows = np.flatnonzero(~np.isfinite(rows).all(axis=1))
        bad = int(bad_rows[0]) if len(bad_rows) else None
        raise _first_bad_line(stream, source, first_line, expected, bad)
    return rows


def _first_bad_line(
    stream: IO[bytes], source: str, first_line: int, expected: int, bad_row: int | None
) -> ConfigurationError:
    """Find, line by line, the first table line numpy could not take, and say what is wrong."""
    row = 0
    for line_no, raw in enumerate(stream, start=first_line):
        line = _decode(raw, False).split("#", 1)[0].strip()
        if not line:
            continue
        problem = _table_line_problem(line, row, expected, bad_row)
        if problem:
            return ConfigurationError(f"{source}, line {line_no}: {problem}")
        row += 1
    return ConfigurationError(f"{source}, line {first_line}: the table could not be read")


def _table_line_problem(line: str, row: int, expected: int, bad_row: int | None) -> str:
    parts = line.split()
    keyword = _KEYWORD.match(parts[0])
    if keyword is not None and keyword.end() == len(parts[0]) and not _is_number(parts[0]):
        return f"keyword {parts[0][:_EXCERPT]} after the table data started"
    if row >= expected:
        return f"more than the {expected} table lines the sizes above call for"
    if len(parts) != 3 or not all(_is_number(part) for part in parts):
        return f"a table line needs 3 numbers, got {_excerpt(line)}"
    if row == bad_row or any(_NOT_FINITE.fullmatch(part) for part in parts):
        return f"a table line has a value that is not a finite number: {_excerpt(line)}"
    return ""


def _is_number(token: str) -> bool:
    """A decimal number, or nan/inf (which are numbers, refused later as not finite)."""
    return bool(_NUMBER.fullmatch(token) or _NOT_FINITE.fullmatch(token))


@dataclass
class _Shape:
    """What the header promises: table sizes, domains, and the title."""

    title: str
    size1d: int
    size3d: int
    domain1d: tuple[Triple, Triple]
    domain3d: tuple[Triple, Triple]
    comments: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.size1d + self.size3d**3

    def build(self, rows: Any, source: str, first_line: int) -> CubeFile:
        if len(rows) != self.total:
            sizes = []
            if self.size1d:
                sizes.append(f"LUT_1D_SIZE {self.size1d}")
            if self.size3d:
                sizes.append(f"LUT_3D_SIZE {self.size3d}")
            where = f"{source}, line {first_line}" if len(rows) else source
            raise ConfigurationError(
                f"{where}: {' and '.join(sizes)} {'need' if len(sizes) > 1 else 'needs'} "
                f"{self.total} table lines, found {len(rows)}"
            )
        lut1d = rows[: self.size1d] if self.size1d else None
        lut3d = None
        if self.size3d:
            n = self.size3d
            lut3d = np.ascontiguousarray(rows[self.size1d :]).reshape(n, n, n, 3)
        return CubeFile(
            self.title, lut1d, *self.domain1d, lut3d, *self.domain3d, comments=self.comments
        )


class _Header:
    """The keyword lines before the data, read one at a time."""

    def __init__(self) -> None:
        self.title = ""
        self.size1d = 0
        self.size3d = 0
        self.domain_min: Triple | None = None
        self.domain_max: Triple | None = None
        self.range1d: tuple[float, float] | None = None
        self.range3d: tuple[float, float] | None = None
        self.lines: dict[str, int] = {}
        self.comments: list[str] = []

    def comment(self, line: str) -> None:
        if len(self.comments) < 64:
            self.comments.append(line[1:].strip()[:MAX_LINE])

    def take(self, line: str, line_no: int) -> bool:
        """Read one keyword line; True when the line is the first table line instead."""
        first = line.split(None, 1)[0]
        keyword = _KEYWORD.match(first)
        if keyword is None or keyword.end() != len(first) or _is_number(first):
            if not (self.size1d or self.size3d):
                raise _LineError(
                    f"table data before LUT_3D_SIZE or LUT_1D_SIZE (got {_excerpt(line)}); a "
                    ".cube file starts with its sizes"
                )
            return True
        name = first.upper()
        rest = line[len(first) :].strip()
        if name in self.lines:
            raise _LineError(f"{name} given twice (first on line {self.lines[name]})")
        self.lines[name] = line_no
        self._keyword(name, rest)
        return False

    def _keyword(self, name: str, rest: str) -> None:
        if name == "TITLE":
            self.title = _title(rest)
        elif name == "LUT_1D_SIZE":
            self.size1d = _size(name, rest, MAX_1D_SIZE)
        elif name == "LUT_3D_SIZE":
            self.size3d = _size(name, rest, MAX_SIZE)
        elif name == "DOMAIN_MIN":
            self.domain_min = _triple(_floats(rest, 3, name))
        elif name == "DOMAIN_MAX":
            self.domain_max = _triple(_floats(rest, 3, name))
        elif name == "LUT_1D_INPUT_RANGE":
            low, high = _floats(rest, 2, name)
            self.range1d = (low, high)
        elif name == "LUT_3D_INPUT_RANGE":
            low, high = _floats(rest, 2, name)
            self.range3d = (low, high)
        elif name in ("LUT_IN_VIDEO_RANGE", "LUT_OUT_VIDEO_RANGE"):
            side = "input" if name == "LUT_IN_VIDEO_RANGE" else "output"
            raise _LineError(
                f"{name}: this LUT expects video-range (16-235) {side}, which seedless does not "
                "apply (neither do OpenColorIO and ffmpeg); export the LUT in full range from "
                "your grading tool"
            )
        elif name == "LUT_2D_SIZE":
            raise _LineError("LUT_2D_SIZE: 2D LUTs are not part of the .cube dialects read here")
        # Other keywords (vendor metadata) are ignored.

    def finish(self, source: str) -> _Shape:
        """Check the header as a whole and work out each table's domain."""
        if not (self.size1d or self.size3d):
            raise ConfigurationError(
                f"{source}: no LUT_3D_SIZE or LUT_1D_SIZE line, so not a .cube LUT file"
            )
        adobe = self.domain_min is not None or self.domain_max is not None
        if adobe and self.size1d and self.size3d:
            raise self._error(
                source, ("DOMAIN_MIN", "DOMAIN_MAX"),
                "DOMAIN_MIN/DOMAIN_MAX in a file with both a 1D and a 3D table is ambiguous; "
                "give LUT_1D_INPUT_RANGE and LUT_3D_INPUT_RANGE instead",
            )  # fmt: skip
        unit = (_UNIT_MIN, _UNIT_MAX)
        # A range given for a table the file does not hold is ignored (as Resolve does).
        domain1d = self._domain(source, "1D", self.range1d) if self.size1d else unit
        domain3d = self._domain(source, "3D", self.range3d) if self.size3d else unit
        comments = tuple(self.comments)
        return _Shape(self.title, self.size1d, self.size3d, domain1d, domain3d, comments)

    def _domain(
        self, source: str, which: str, given: tuple[float, float] | None
    ) -> tuple[Triple, Triple]:
        keyword = f"LUT_{which}_INPUT_RANGE"
        if given is not None:
            if self.domain_min is not None or self.domain_max is not None:
                raise self._error(
                    source, (keyword,),
                    f"{keyword} and DOMAIN_MIN/DOMAIN_MAX both give the input range; keep one",
                )  # fmt: skip
            low, high = (given[0],) * 3, (given[1],) * 3
            keywords: tuple[str, ...] = (keyword,)
        else:
            low, high = self.domain_min or _UNIT_MIN, self.domain_max or _UNIT_MAX
            keywords = ("DOMAIN_MIN", "DOMAIN_MAX")
        if not all(a < b for a, b in zip(low, high, strict=True)):
            if given is not None:
                what = f"{keyword}: min {given[0]:g} must be below max {given[1]:g}"
            else:
                what = f"DOMAIN_MIN {low} must be below DOMAIN_MAX {high} on every channel"
            raise self._error(source, keywords, what)
        return low, high

    def _error(self, source: str, keywords: tuple[str, ...], message: str) -> ConfigurationError:
        lines = [self.lines[k] for k in keywords if k in self.lines]
        where = f"{source}, line {max(lines)}" if lines else source
        return ConfigurationError(f"{where}: {message}")


def _title(rest: str) -> str:
    if len(rest) >= 2 and rest[0] == '"' and rest.endswith('"'):
        rest = rest[1:-1]
    return rest.strip('"')[:MAX_LINE]


def _size(name: str, rest: str, largest: int) -> int:
    parts = rest.split()
    # isdigit() alone takes superscripts ("²"), which int() refuses.
    if len(parts) != 1 or not (parts[0].isascii() and parts[0].isdigit()):
        wanted = f"one whole number ({MIN_SIZE}..{largest})"
        raise _LineError(f"{name} needs {wanted}, got {_excerpt(rest)}")
    size = int(parts[0])
    if not MIN_SIZE <= size <= largest:
        raise _LineError(f"{name} must be {MIN_SIZE}..{largest}, got {size}")
    return size


def _floats(rest: str, count: int, what: str) -> tuple[float, ...]:
    parts = rest.split()
    if len(parts) != count or not all(_is_number(part) for part in parts):
        raise _LineError(f"{what} needs {count} numbers, got {_excerpt(rest)}")
    values = tuple(float(part) for part in parts)
    if not all(np.isfinite(values)):
        raise _LineError(f"{what} has a value that is not a finite number: {_excerpt(rest)}")
    return values


def _triple(values: tuple[float, ...]) -> Triple:
    return (values[0], values[1], values[2])


# ---------------------------------------------------------------------------- writing


def format_cube(
    table: np.ndarray,
    *,
    title: str = "",
    domain_min: Triple = _UNIT_MIN,
    domain_max: Triple = _UNIT_MAX,
    decimals: int = 6,
    comment: str | None = "Created by seedless",
) -> str:
    """The text of a ``.cube`` file for ``table`` (shape (N, N, N, 3), indexed [b][g][r]).

    Header lines stay within the specification's 250 bytes: a longer title or comment line
    is cut. The text is ASCII (other characters of the title become ``?``).
    """
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
        lines += [_ascii("# " + line)[:MAX_LINE] for line in comment.splitlines()]
    clean_title = _ascii(" ".join(title.replace('"', "'").split()))
    if clean_title:
        lines.append(f'TITLE "{clean_title[: MAX_LINE - len(chr(34) * 2 + "TITLE ")]}"')
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
    domain_min: Triple = _UNIT_MIN,
    domain_max: Triple = _UNIT_MAX,
    decimals: int = 6,
) -> Path:
    """Write ``table`` as a ``.cube`` file, atomically (temp file and rename). Returns the path."""
    text = format_cube(
        table, title=title, domain_min=domain_min, domain_max=domain_max, decimals=decimals
    )
    return atomic_write(path, text.encode("ascii"))


def _ascii(text: str) -> str:
    return text.encode("ascii", errors="replace").decode("ascii")


def _number(value: float, decimals: int) -> str:
    return f"{round(float(value), decimals) + 0.0:.{decimals}f}"
