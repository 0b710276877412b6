"""Logging of every wire call, secrets redacted: ``SEEDLESS_LOG=info|debug`` or ``seedless -v``.

As openai-python's ``OPENAI_LOG``: setting ``SEEDLESS_LOG`` (read when seedless is imported)
sends the records of the ``seedless`` logger (each call's start, end and cost, and every retry
with its wait) and of ``httpx`` (one line per HTTP request, the SDKs' included) to stderr.
``info`` shows calls and retries, ``debug`` adds each call's start and the emulators' and
SDKs' details. Every record passes :func:`seedless.errors.redact` on its way out, so a key in
a URL or a header never reaches the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from .errors import redact

__all__ = ["LOGGERS", "RedactingFilter", "log_call_event", "setup_logging", "verbose"]

#: The loggers a verbose run shows: seedless's own, and the request lines of httpx (and of
#: httpx2, which google-genai 3 sends with).
LOGGERS = ("seedless", "httpx", "httpx2")
_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}

log = logging.getLogger("seedless.calls")


class RedactingFilter(logging.Filter):
    """Removes API keys and tokens from a record's message (its formatted text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, a notebook's)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s %(name)s] %(message)s"))

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(level: str | int | None = None) -> bool:
    """Show seedless's and httpx's log records on stderr at ``level`` ("info", "debug", or a
    ``logging`` level; default: ``$SEEDLESS_LOG``). Returns whether logging was turned on."""
    if level is None:
        level = os.environ.get("SEEDLESS_LOG", "").strip().lower()
    if isinstance(level, str):
        if level not in _LEVELS:
            return False
        level = _LEVELS[level]
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(min(level, logger.getEffectiveLevel()))
        if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
            logger.addHandler(_StderrHandler())
        logger.propagate = False  # one line per record, even under a configured root logger
    return True


@contextlib.contextmanager
def verbose(level: str | int) -> Iterator[None]:
    """:func:`setup_logging` for the length of the block (a command run in-process), then
    the loggers as they were."""
    saved = [
        (logger, logger.level, list(logger.handlers), logger.propagate)
        for logger in map(logging.getLogger, LOGGERS)
    ]
    setup_logging(level)
    try:
        yield
    finally:
        for logger, was_level, handlers, propagate in saved:
            logger.setLevel(was_level)
            logger.handlers[:] = handlers
            logger.propagate = propagate


def log_call_event(event: Any) -> None:
    """A client listener that logs each wire call (a :class:`seedless.client.CallEvent`)."""
    key = f"{event.model} call {event.request_hash[:12]}"
    if event.kind == "start":
        log.debug("%s: sending", key)
    elif event.kind == "done":
        how = "served from the cache" if event.cached else f"answered in {event.latency:.2f}s"
        cost = "price unknown" if event.cost_usd is None else f"${event.cost_usd:.4f}"
        log.info("%s: %s, %d image(s), %s", key, how, event.images, cost)
    elif event.kind == "error":
        log.info("%s: failed: %s: %s", key, type(event.error).__name__, event.error)
