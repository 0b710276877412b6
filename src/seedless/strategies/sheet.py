"""Contact sheets: ranked candidates in a grid with their scores, for a person to confirm.

:func:`contact_sheet` draws optional reference images first (the original, the approved
result, the source), then every candidate, best first, each with its rank, score and a score
bar; the best is framed in green, and with a threshold, candidates below it are marked. The
sheet shows itself in a notebook and saves as a PNG.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from ..images import atomic_write
from ..models import ImageLike
from .scorers import to_rgb

if TYPE_CHECKING:
    from .best_of import Candidate, Ranked

__all__ = ["ContactSheet", "contact_sheet"]

_GREEN = (46, 160, 67)
_RED = (207, 34, 46)
_GREY = (110, 110, 110)
_LABEL_H = 40


@dataclass(frozen=True)
class ContactSheet:
    """A rendered contact sheet: ``image`` (PIL), ``png()``, ``save(path)``."""

    image: Image.Image

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the sheet as a PNG, atomically."""
        return atomic_write(path, self.png())

    def _repr_png_(self) -> bytes:
        return self.png()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(
    ranked: Ranked | Sequence[Candidate],
    *,
    references: Mapping[str, ImageLike | Image.Image] | None = None,
    columns: int = 4,
    cell: int = 192,
    threshold: float | None = None,
) -> ContactSheet:
    """Draw ``references`` (label -> image) then the candidates, best first, with scores.

    ``threshold`` defaults to the ranked result's own; candidates below it get a red bar.
    """
    candidates = list(ranked)
    if threshold is None:
        threshold = getattr(ranked, "threshold", None)
    cells: list[tuple[Image.Image, str, float | None, bool]] = [
        (to_rgb(image), label, None, False) for label, image in (references or {}).items()
    ]
    for rank, candidate in enumerate(candidates, start=1):
        cells.append((to_rgb(candidate.result.to_pil()), f"#{rank}", candidate.score, rank == 1))
    count = max(len(cells), 1)
    cols = max(1, min(columns, count))
    rows = (count + cols - 1) // cols
    pad = 6
    width, height = cols * (cell + pad) + pad, rows * (cell + _LABEL_H + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(13)
    for i, (image, label, score, best) in enumerate(cells):
        x = pad + (i % cols) * (cell + pad)
        y = pad + (i // cols) * (cell + _LABEL_H + pad)
        thumb = image.copy()
        thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        if best:
            draw.rectangle((x - 3, y - 3, x + cell + 2, y + cell + 2), outline=_GREEN, width=3)
        if score is None:
            draw.text((x + 2, y + cell + 4), label, fill=_GREY, font=font)
            continue
        passed = threshold is None or score >= threshold
        mark = "" if threshold is None else ("  pass" if passed else "  below")
        text = f"{label}  {score:.3f}{mark}{'  best' if best else ''}"
        draw.text((x + 2, y + cell + 4), text, fill="black", font=font)
        bar_y = y + cell + 24
        fraction = min(max(score, 0.0), 1.0)
        draw.rectangle((x, bar_y, x + cell - 1, bar_y + 8), outline=(200, 200, 200))
        colour = _GREEN if passed else _RED
        if fraction > 0:
            draw.rectangle((x, bar_y, x + round((cell - 1) * fraction), bar_y + 8), fill=colour)
        if threshold is not None:
            tx = x + round((cell - 1) * min(max(threshold, 0.0), 1.0))
            draw.line((tx, bar_y - 3, tx, bar_y + 11), fill="black", width=1)
    return ContactSheet(sheet)
