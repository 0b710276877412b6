"""Wire checks: requests and answers against the providers' own definitions (tests/definitions).

``check_exchange(request, answer)`` checks one recorded exchange of ``seedless.testing``
against the vendored definition of its endpoint and returns the :class:`Problem`s found, each
naming the field path and the definition (file, revision, schema). ``plugin`` runs it on every
exchange of every emulator a test started; ``deviations`` lists the known, explained ones.
"""

from __future__ import annotations

from .definitions import DEFINITIONS, Definitions, Problem
from .exchange import check_exchange, check_planned

__all__ = ["DEFINITIONS", "Definitions", "Problem", "check_exchange", "check_planned"]
