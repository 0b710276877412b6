"""Strategies for reproducing an approved edit: plan, anchoring, best-of-N, scorers, recipes.

- :func:`plan` picks the path (exact local, seeded replay, anchored best-of-N) and says why,
  before anything is spent.
- :func:`anchored_request` builds an edit request carrying the approved before/after pair and
  a bounded, quantified instruction, for models without a seed.
- :func:`best_of` draws n candidates concurrently and ranks them with a scorer
  (:class:`MatchEffect`, :class:`MatchAdjust`, or any function); :func:`contact_sheet`
  shows them for a person to confirm.
- :class:`Recipe` records how a result was made; :func:`replay` makes it again.
- :func:`measure_reproducibility` checks a backend against the matrix's reproducibility class.
"""

from __future__ import annotations

from .anchoring import anchor_prompt, anchored_request, parse_anchor_prompt
from .best_of import Candidate, Ranked, best_of, best_of_async, rank
from .measure import Reproducibility, measure_reproducibility, measure_reproducibility_async
from .plan import Estimate, Plan, PlanResult, plan
from .recipe import RECIPE_VERSION, BestOfSettings, Recipe
from .replay import replay, replay_async
from .scorers import MatchAdjust, MatchEffect, Score, Scorer, ScorerLike
from .sheet import ContactSheet, contact_sheet

__all__ = [
    "RECIPE_VERSION",
    "BestOfSettings",
    "Candidate",
    "ContactSheet",
    "Estimate",
    "MatchAdjust",
    "MatchEffect",
    "Plan",
    "PlanResult",
    "Ranked",
    "Recipe",
    "Reproducibility",
    "Score",
    "Scorer",
    "ScorerLike",
    "anchor_prompt",
    "anchored_request",
    "best_of",
    "best_of_async",
    "contact_sheet",
    "measure_reproducibility",
    "measure_reproducibility_async",
    "parse_anchor_prompt",
    "plan",
    "rank",
    "replay",
    "replay_async",
]
