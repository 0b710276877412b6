"""A pytest plugin: every exchange of every emulator a test started, checked at its teardown.

Loaded from tests/conftest.py. It wraps ``Emulator.start`` to know the emulators of the run,
and after each test checks the exchanges recorded since the last check
(:func:`wirecheck.check_exchange`). A problem that no entry of
:data:`wirecheck.deviations.KNOWN` explains fails the test, naming the field path and the
definition. ``@pytest.mark.wire(casing="proto")`` accepts proto field names (a test that
speaks them on purpose); ``@pytest.mark.wire(skip="why")`` skips the check.
``SEEDLESS_WIRECHECK_REPORT=path`` writes every problem found (explained or not) as JSON lines
and fails nothing: the way to see what a change to the definitions or the deviations finds.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest

from seedless.testing import Emulator

from .definitions import Problem
from .deviations import explained_by
from .exchange import check_exchange

_STARTED: list[Emulator] = []
_CHECKED: dict[int, set[int]] = {}
_STATS: Counter[str] = Counter()
_ORIGINAL_START = Emulator.start


def _start(self: Emulator) -> Emulator:
    started = _ORIGINAL_START(self)
    if self not in _STARTED:
        _STARTED.append(self)
    return started


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wire(casing='proto', skip='why'): how the wire check treats this test's exchanges",
    )
    Emulator.start = _start  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    Emulator.start = _ORIGINAL_START  # type: ignore[method-assign]


def new_problems(casing: str = "camel") -> list[Problem]:
    """The problems of every exchange not checked yet, of every emulator started."""
    problems: list[Problem] = []
    began = time.perf_counter()
    for emu in list(_STARTED):
        seen = _CHECKED.setdefault(id(emu), set())
        for answer in emu.answers:
            if id(answer) in seen:
                continue
            seen.add(id(answer))
            _STATS["exchanges"] += 1
            problems += check_exchange(answer.request, answer, casing=casing)
        if not emu.running:
            _STARTED.remove(emu)
            _CHECKED.pop(id(emu), None)
    _STATS["microseconds"] += round((time.perf_counter() - began) * 1e6)
    return problems


@pytest.fixture(autouse=True)
def _wire_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test: its exchanges against the definitions (see the module docstring)."""
    yield
    marker = request.node.get_closest_marker("wire")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    problems = new_problems(casing=options.get("casing", "camel"))
    if options.get("skip"):
        return
    report = os.environ.get("SEEDLESS_WIRECHECK_REPORT")
    unexplained = []
    for problem in problems:
        deviation = explained_by(problem)
        if deviation is not None:
            _STATS[f"{deviation.side}: {deviation.item}"] += 1
        else:
            unexplained.append(problem)
    if report:
        with open(report, "a", encoding="utf-8") as handle:
            for problem in problems:
                row = {**asdict(problem), "test": request.node.nodeid}
                row["explained"] = bool(explained_by(problem))
                handle.write(json.dumps(row) + "\n")
        return
    if unexplained:
        shown = "\n  ".join(str(p) for p in unexplained[:20])
        more = f"\n  ... and {len(unexplained) - 20} more" if len(unexplained) > 20 else ""
        pytest.fail(
            f"the wire differs from the providers' definitions (tests/definitions):\n  "
            f"{shown}{more}\nFix the side at fault, or, if it is a known deviation, explain it "
            "in tests/wirecheck/deviations.py.",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _STATS["exchanges"]:
        return
    seconds = _STATS["microseconds"] / 1e6
    lines = [
        f"wire check: {_STATS['exchanges']} exchanges checked against tests/definitions "
        f"in {seconds:.2f} s"
    ]
    known = sorted((k, v) for k, v in _STATS.items() if k not in ("exchanges", "microseconds"))
    if known:
        lines.append("known deviations seen (tests/wirecheck/deviations.py):")
        lines += [f"  {count:5d}  {name}" for name, count in known]
    terminalreporter.write_line("\n".join(lines))
