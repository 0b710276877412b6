"""Table maths shared by the fitted look: trilinear lookup, resampling, domain rebasing.

Tables are float arrays of shape ``(N, N, N, 3)`` indexed ``[b][g][r]`` (the ``.cube`` and
Pillow ``Color3DLUT`` order), values 0..1.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from ..cube import identity_table

Array: TypeAlias = "np.ndarray"

# ITU-R 601-2 luma, as Pillow's convert("L") uses (and Adjust's saturation).
LUMA = np.array([0.299, 0.587, 0.114])


def corners() -> list[tuple[int, int, int]]:
    """The 8 corners of a lattice cell as (db, dg, dr) offsets."""
    return [(a >> 2 & 1, a >> 1 & 1, a & 1) for a in range(8)]


def lattice(size: int) -> Array:
    """The lattice's input colours, (N, N, N, 3) indexed [b][g][r]."""
    return identity_table(size)


def lookup(table: Array, rgb: Array) -> Array:
    """Trilinear lookup of colours (m, 3) in 0..1 in a table (N, N, N, 3) indexed [b][g][r]."""
    n = table.shape[0]
    scaled = np.clip(rgb, 0.0, 1.0) * (n - 1)
    lower = np.minimum(np.floor(scaled).astype(np.int64), n - 2)
    frac = scaled - lower
    out = np.zeros((len(rgb), 3))
    for db, dg, dr in corners():
        w = (
            (frac[:, 2] if db else 1 - frac[:, 2])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 0] if dr else 1 - frac[:, 0])
        )
        out += w[:, None] * table[lower[:, 2] + db, lower[:, 1] + dg, lower[:, 0] + dr]
    return out


def resample_table(table: Array, size: int) -> Array:
    """The same LUT on a size^3 lattice (trilinear)."""
    nodes = identity_table(size).reshape(-1, 3)
    return lookup(table, nodes).reshape(size, size, size, 3)


def rebase_domain(table: Array, low: Array, high: Array) -> Array:
    """Re-express a LUT whose input domain is [low, high] on the 0..1 domain (size kept)."""
    size = min(table.shape[0], 65)
    nodes = identity_table(size).reshape(-1, 3)
    inside = (np.clip(nodes, low, high) - low) / (high - low)
    return lookup(table, inside).reshape(size, size, size, 3)
