"""Fit a look from approved before/after pairs, and repeat it exactly on other photos.

:func:`fit_effect` turns a pair of images (the original, and the edit someone approved) into
a :class:`FittedEffect`: a 3D lookup table that :meth:`FittedEffect.apply` runs exactly and
fast at any resolution, so the same edit can be repeated, bit for bit, on every other photo.
The fit is honest about itself: its :class:`FitReport` says how well the table explains the
pair and whether the edit was a global colour/tone edit at all (a vignette, a blur, a relight
or a changed object is not). Details and measured numbers: ``docs/fitting.md``.

The package is split along its seams: the effect type and its description (``_effect``,
``_describe``, ``_table``), and the fitting maths (``_pairs``, ``_parametric``, ``_lattice``,
``_verdict``, ``_fitting``).
"""

from __future__ import annotations

from ._effect import FitReport, FittedEffect
from ._fitting import fit_effect
from ._pairs import ImageSource

__all__ = ["FitReport", "FittedEffect", "ImageSource", "fit_effect"]
