"""Fit a look from approved before/after pairs, and repeat it exactly on other photos.

:func:`fit_effect` turns a pair of images (the original, and the edit someone approved), or
several pairs of the same edit, into a :class:`FittedEffect`: a colour/tone table (a 3D LUT),
with a vignette, a blur or sharpening and film grain when the edit has them, and each photo's
own levels first when the edit depended on them. :meth:`FittedEffect.apply` runs it exactly
and fast at any resolution, so the same edit can be repeated, bit for bit, on every other
photo. The fit is honest about itself: its :class:`FitReport` says how well the look explains
the pairs and gives the verdict: "global", "global + spatial" (with its parts), or "not
reproducible locally" (a content change). Details and measured numbers: ``docs/fitting.md``.

The package is split along its seams. The look as data: ``_effect`` (``FittedEffect``,
``FitReport``), ``_parts`` (vignette, blur/sharpen, grain), ``_normalise`` (per-photo
levels), ``_fast`` (point operations for tables that are curves and a matrix), ``_describe``
and ``_table``. The fitting maths: ``_pairs`` (pairing pixels), ``_grouped`` (pixels grouped
by colour, and the pair's noise), ``_parametric`` and ``_saturation`` (the smooth colour
model), ``_lattice`` (the residual table), ``_colour``, ``_spatial`` (fitting the parts),
``_verdict``, ``_adaptive`` (several pairs) and ``_fitting`` (:func:`fit_effect`).
"""

from __future__ import annotations

from ._effect import FitReport, FittedEffect
from ._fitting import fit_effect
from ._pairs import ImageSource

__all__ = ["FitReport", "FittedEffect", "ImageSource", "fit_effect"]
