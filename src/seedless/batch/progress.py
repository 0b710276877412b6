"""Batch progress: a tqdm.auto bar (a widget in notebooks, a text bar in terminals), or
plain lines in a log; the mechanism ``seedless apply`` uses too (:mod:`seedless._progress`).

The bar counts finished jobs against the jobs left to run, shows done/failed/cached and the
money spent so far, and estimates the time left. tqdm is imported only when a bar is
shown, so importing seedless stays light.
"""

from __future__ import annotations

from typing import Any, TextIO

from .._progress import progress_bar

__all__ = ["Progress"]


class Progress:
    """Counts and a bar (lines in a log); ``enabled=False`` keeps the counts, shows nothing."""

    def __init__(
        self,
        total: int | None,
        *,
        enabled: bool = True,
        desc: str = "seedless batch",
        file: TextIO | None = None,
    ) -> None:
        self.done = 0
        self.failed = 0
        self.cached = 0
        self.cost = 0.0
        self._bar: Any = None
        if enabled:
            self._bar = progress_bar(total, desc=desc, unit="job", file=file)

    def _postfix(self) -> str:
        cached = f" cached={self.cached}" if self.cached else ""
        return f"done={self.done} failed={self.failed}{cached} cost=${self.cost:.2f}"

    def job_done(self, cost: float | None, *, cached: bool) -> None:
        self.done += 1
        self.cached += int(cached)
        self.cost += cost or 0.0
        self._tick()

    def job_failed(self) -> None:
        self.failed += 1
        self._tick()

    def _tick(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=True)
            self._bar.close()
            self._bar = None
