"""Progress for ``seedless apply`` and batches: a bar where one can be drawn, lines elsewhere.

- a terminal (the stream is a TTY), or a Jupyter kernel (its stderr is no TTY, yet it shows a
  widget, or without ipywidgets a text bar, and no warning): a tqdm bar, without the monitor
  thread tqdm starts otherwise (a process that runs threads is not forked: see
  :mod:`seedless._parallel`);
- anything else (a CI log, ``> log 2>&1``): a plain line every tenth of the way, or every
  :data:`LINE_INTERVAL` seconds, and a last one at the end; never a carriage return, so a
  log is not filled with ten redraws a second;
- ``enabled=False``: nothing (and tqdm is not even imported).

tqdm is imported only when a bar is drawn, so importing seedless stays light.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["LINE_INTERVAL", "progress_bar"]

#: Seconds between two progress lines in a log, at most (a line also marks each tenth).
LINE_INTERVAL = 30.0


def progress_bar(
    total: int | None,
    *,
    desc: str,
    unit: str,
    enabled: bool = True,
    file: TextIO | None = None,
) -> Any:
    """A bar-like object: ``update(n)``, ``set_postfix_str(s, refresh=...)``, ``close()``,
    and a context manager; which one depends on where the progress goes (see above)."""
    if not enabled:
        return _NoBar()
    stream = file if file is not None else sys.stderr
    if _in_jupyter() or _is_terminal(stream):
        bar = type("SeedlessBar", (_tqdm(),), {"monitor_interval": 0})
        return bar(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True)
    return _Lines(total, desc=desc, unit=unit, file=stream)


def _in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (not merely beside an imported ipykernel)."""
    ipython = sys.modules.get("IPython")
    if "ipykernel" not in sys.modules or ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _tqdm() -> Any:
    """tqdm's widget bar in Jupyter when ipywidgets is there to draw it, its text bar
    otherwise (``tqdm.auto`` would warn "IProgress not found" and fall back the same way)."""
    if _in_jupyter() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm  # lazy: tqdm, loaded when a bar is drawn
    else:
        from tqdm.std import tqdm  # lazy: tqdm, loaded when a bar is drawn
    return tqdm


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class _NoBar:
    """What ``--quiet`` shows: nothing."""

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class _Lines:
    """Progress for a log: ``desc: 40/400 img (10%), 12s, about 1m48s left, <postfix>``."""

    def __init__(
        self,
        total: int | None,
        *,
        desc: str,
        unit: str,
        file: TextIO,
        interval: float = LINE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = 0
        self.postfix = ""
        self._file = file
        self._interval = interval
        self._clock = clock
        self._started = self._last = clock()
        self._tenth = 0
        self._shown: tuple[int, str] | None = None

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        tenth = 10 * self.n // self.total if self.total else 0
        if tenth > self._tenth or now - self._last >= self._interval:
            self._tenth = tenth
            self._line(now)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s  # shown with the next line

    def close(self) -> None:
        if self._shown != (self.n, self.postfix):
            self._line(self._clock())

    def _line(self, now: float) -> None:
        self._last = now
        self._shown = (self.n, self.postfix)
        elapsed = now - self._started
        count = f"{self.n} {self.unit}"
        left = ""
        if self.total:
            count = f"{self.n}/{self.total} {self.unit} ({100 * self.n // self.total}%)"
            if 0 < self.n < self.total:
                left = f", about {_duration(elapsed / self.n * (self.total - self.n))} left"
        postfix = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {count}, {_duration(elapsed)}{left}{postfix}", file=self._file)
        self._file.flush()

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
