"""Write the small .cube fixtures in this folder: one per dialect the reader supports.

    python tests/effects/cubes/make_cubes.py

Made for seedless's tests (no third-party LUTs): each file is a made-up transform written in
the layout a grading tool writes. The tests compare seedless with OpenColorIO on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def lattice(n: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Inputs of an n^3 lattice over low..high, in .cube order (red fastest): (n^3, 3)."""
    axis = np.linspace(low, high, n)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1).reshape(-1, 3)


def rows(values: np.ndarray, fmt: str = "%.6f") -> str:
    return "".join(" ".join(fmt % v for v in row) + "\n" for row in values)


def film_like(x: np.ndarray) -> np.ndarray:
    """A strong, hue-twisting look (cross-talk and a rolled-off shoulder)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    luma = 0.3 * r + 0.6 * g + 0.1 * b
    out = np.stack([r * 1.3 - 0.25 * b + 0.05, g * 0.8 + 0.3 * r * b, b * 0.6 + 0.35 * luma], 1)
    return 1.05 / (1.0 + np.exp(-5.0 * (out - 0.45)))


def log_to_display(x: np.ndarray) -> np.ndarray:
    """A camera-style log-to-display LUT: a log decode, a gamut matrix, a display curve.

    Steep in the shadows and coupled across channels, like the camera LUTs on which
    trilinear and tetrahedral interpolation differ by tens of levels.
    """
    linear = 2.0 ** (x * 10.0 - 7.0) - 2.0**-7.0
    matrix = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [-0.1, -0.3, 1.4]])
    mixed = np.clip(linear @ matrix, 0.0, None)
    return 1.1 * (mixed / (mixed + 0.18)) ** (1.0 / 1.6)


def main() -> None:
    rng = np.random.default_rng(21)

    # Adobe 3D: TITLE, comments in the header and among the data, outputs outside 0..1.
    x = lattice(5)
    correction = x @ np.array([[1.12, -0.05, 0.0], [0.04, 1.0, -0.08], [-0.1, 0.05, 1.18]])
    correction = correction * 1.1 - 0.08
    body = rows(correction).splitlines(keepends=True)
    body.insert(40, "# a comment among the data\n")
    (HERE / "adobe_3d.cube").write_text(
        '# colour correction, outputs -0.08..1.25\nTITLE "adobe 3d"\n\nLUT_3D_SIZE 5\n'
        + "".join(body)
    )

    # Adobe 3D with a domain that is not 0..1 (per channel, on both sides).
    x = lattice(5)
    table = np.sqrt(x) * np.array([1.0, 0.9, 1.1])
    (HERE / "adobe_3d_domain.cube").write_text(
        "LUT_3D_SIZE 5\nDOMAIN_MIN -0.1 0.0 0.2\nDOMAIN_MAX 1.5 2.0 0.8\n" + rows(table)
    )

    # Adobe 3D, 2 points, DOMAIN_MAX 0.1: the identity on 0..0.1 (inputs above are clamped).
    (HERE / "adobe_3d_small_domain.cube").write_text(
        "LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 0.1 0.1 0.1\n" + rows(lattice(2, 0.0, 0.1))
    )

    # Adobe 1D with a per-channel domain.
    t = np.linspace(0.0, 1.0, 17)
    curves = np.stack([np.sqrt(t), t**2, 1.0 - 0.8 * t], axis=1)
    (HERE / "adobe_1d.cube").write_text(
        'TITLE "adobe 1d"\nLUT_1D_SIZE 17\nDOMAIN_MIN 0 0.1 0\nDOMAIN_MAX 1 0.9 2\n' + rows(curves)
    )

    # Resolve 1D with an input range.
    t = np.linspace(0.0, 1.0, 64)
    curve = np.stack([t**0.8, t**0.9 * 0.95 + 0.03, t**1.2], axis=1)
    (HERE / "resolve_1d.cube").write_text(
        "LUT_1D_SIZE 64\nLUT_1D_INPUT_RANGE 0.0 1.1\n" + rows(curve)
    )

    # Resolve 3D, 17 points (a monitoring-LUT size), with a 1D range Resolve ignores.
    table = log_to_display(lattice(17)) + rng.normal(0.0, 0.002, (17**3, 3))
    (HERE / "resolve_3d.cube").write_text(
        "# Resolve-style 3D LUT, camera log to display\nLUT_1D_INPUT_RANGE 0.0 1.0\n"
        "LUT_3D_SIZE 17\nLUT_3D_INPUT_RANGE 0.0 1.0\n" + rows(table)
    )

    # Resolve shaper + 3D: a log-like 1D shaper over -0.05..1.2, then a 9-point cube.
    t = np.linspace(-0.05, 1.2, 48)
    shaper = np.log2(np.clip(t, 0.0, None) * 16.0 + 1.0) / np.log2(1.2 * 16.0 + 1.0)
    x = lattice(9, 0.0, 1.02)
    cube = film_like(np.clip((2.0 ** (x * np.log2(20.2)) - 1.0) / 16.0, 0.0, 1.0))
    (HERE / "resolve_shaper.cube").write_text(
        "# Resolve 1D shaper + 3D LUT\nLUT_1D_SIZE 48\nLUT_1D_INPUT_RANGE -0.05 1.2\n"
        "LUT_3D_SIZE 9\nLUT_3D_INPUT_RANGE 0.0 1.02\n"
        + rows(np.stack([shaper] * 3, axis=1))
        + rows(cube)
    )

    # Quirks: lowercase keywords, CRLF, tabs, scientific notation, blank lines.
    table = film_like(lattice(3))
    body = "".join("\t".join(f"{v:.5e}" for v in row) + "\r\n" for row in table)
    (HERE / "quirks.cube").write_bytes(
        ('title "quirks"\r\n\r\nlut_3d_size 3\r\ndomain_min 0 0 0\r\n' + body).encode()
    )


if __name__ == "__main__":
    main()
