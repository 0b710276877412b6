"""The base of the ledger's record mixins (jobs, provider batches): the connection and the
writes they share with :class:`~seedless.batch.ledger.Ledger`, and the ledger's clock."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = ["Records", "utc_now"]


def utc_now() -> str:
    """The ledger's timestamp: UTC, ISO 8601, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Records:
    """What a record mixin uses of the ledger it is mixed into."""

    _conn: sqlite3.Connection

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        raise NotImplementedError  # the ledger's

    def commit(self) -> None:
        raise NotImplementedError  # the ledger's
