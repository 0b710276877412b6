"""Scripted faults: what the next matching requests to an emulated service will suffer.

Faults queue in the order they were scripted and each is used once. A fault scripted with
``model=`` only matches requests for that model; one without matches any generation or edit
request (listing and image downloads never consume faults).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "FaultKind", "FaultQueue"]

#: ``status``: an error answer; ``drop``: close the connection without answering;
#: ``truncate``: send half the body then close; ``slow``: wait ``delay`` seconds, then answer
#: normally; ``block``: a safety block; ``no_image``: text and no image.
FaultKind = Literal["status", "drop", "truncate", "slow", "block", "no_image"]


@dataclass(frozen=True)
class Fault:
    """One scripted fault (see :data:`FaultKind`)."""

    kind: FaultKind
    model: str | None = None
    status: int = 0
    retry_after: float | None = None
    message: str | None = None
    reason: str | None = None
    text: str | None = None
    delay: float = 0.0
    prompt_stage: bool = False


class FaultQueue:
    """A thread-safe FIFO of faults, each consumed by the first request it matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Fault] = []

    def add(self, fault: Fault, times: int) -> None:
        """Queue ``fault`` for the next ``times`` matching requests."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._items.extend([fault] * times)

    def take(self, model: str | None) -> Fault | None:
        """Remove and return the first fault matching ``model``, or None."""
        with self._lock:
            for index, fault in enumerate(self._items):
                if fault.model is None or fault.model == model:
                    return self._items.pop(index)
        return None

    def pending(self) -> list[Fault]:
        """The faults not yet used, in order."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._items.clear()
