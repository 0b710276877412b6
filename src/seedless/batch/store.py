"""The ledger's storage: one SQLite connection, its write transactions, and room to finish.

What :class:`~seedless.batch.Ledger` writes goes through :meth:`Store.write` and
:meth:`Store.commit`, which make three promises:

- **The transaction state is SQLite's own** (``in_transaction``), never a flag of ours that a
  failed statement can leave wrong: on a full disk SQLite may roll the whole transaction back by
  itself, after which a ``COMMIT`` fails with "no transaction is active" and every later write
  would run outside any transaction.
- **Nothing written is lost to a rolled-back transaction**: the statements of the open
  transaction are kept until it commits, so after a failure they are written again, together.
- **A full disk leaves room to finish**: a run holds a small reserve file beside the ledger
  (:meth:`Store.reserve`). When a write finds the disk full, the reserve is deleted and the
  transaction written again into the room it leaves, so the run can record how every job
  ended; :attr:`Store.full` tells the runner to stop. If even that fails,
  :class:`~seedless.DiskFullError` says so.

Text SQLite cannot store (a file name that is not UTF-8, read as lone surrogates) is kept as
the bytes of its ``surrogatepass`` encoding and read back as the same string.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, DiskFullError, is_disk_full

if sys.platform == "win32":  # pragma: no cover - not exercised on Linux CI
    import msvcrt
else:
    import fcntl

__all__ = ["RESERVE_BYTES", "RunLock", "Store"]

log = logging.getLogger("seedless.batch")

#: Room kept beside the ledger while a run writes, given up when the disk fills: for the paid
#: answer that found it full (its image) and the last records (how every job in flight ended).
RESERVE_BYTES = 16 << 20
_CACHE_KIB = 256


def _bind(value: Any) -> Any:
    if type(value) is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> sqlite3.Row:
    if bytes in map(type, values):  # the ledger has no BLOB columns: these are bound text
        values = tuple(
            v.decode("utf-8", "surrogatepass") if type(v) is bytes else v for v in values
        )
    return sqlite3.Row(cursor, values)


class _Connection(sqlite3.Connection):
    """Binds strings SQLite's UTF-8 cannot take as their ``surrogatepass`` bytes."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if not parameters:
            return super().execute(sql)
        return super().execute(sql, [_bind(value) for value in parameters])


class RunLock:
    """An exclusive advisory lock on the ledger (released by the OS if the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def acquire(self) -> None:
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            if sys.platform == "win32":  # pragma: no cover - not exercised on Linux CI
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise ConfigurationError(
                f"another seedless batch is writing into {self.path.parent} (its ledger is "
                "locked); wait for it to finish, or write into another folder"
            ) from exc
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor releases the lock
            self._handle = None


def _full_error(folder: Path, what: str, cause: BaseException) -> DiskFullError:
    return DiskFullError(
        errno.ENOSPC,
        f"the disk holding {folder} is full ({cause}): {what}. Free some space and run the "
        "same command again: it resumes where it stopped",
    )


class Store:
    """One SQLite connection in WAL mode, and the write path described in the module."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.full: BaseException | None = None
        self._pending: list[tuple[str, Sequence[Any]]] = []
        self._reserve = path.with_name("." + path.name + ".reserve")
        self._holds_reserve = False
        self.conn = sqlite3.connect(
            path,
            isolation_level=None,
            timeout=30.0,
            check_same_thread=False,
            factory=_Connection,
        )
        self.conn.row_factory = _row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # a small page cache: the ledger appends and looks rows up by key, and a cache that
        # grew with the file (SQLite's default reaches 2 MB) would grow the process with it
        self.conn.execute(f"PRAGMA cache_size={-_CACHE_KIB}")
        self.conn.execute("PRAGMA busy_timeout=30000")

    # ------------------------------------------------------------------ transactions

    def write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run a write inside the open transaction (beginning one if needed)."""
        self._pending.append((sql, params))
        try:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN IMMEDIATE")
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            return self._again(exc)

    def commit(self) -> None:
        """Make every write so far durable against a killed process."""
        if not self.conn.in_transaction:
            self._pending.clear()
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._again(exc)
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as final:
                self._abort()
                raise _full_error(self.path.parent, "the ledger cannot record", final) from final
        self._pending.clear()

    def rollback(self) -> None:
        self._abort()

    def _abort(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        self._pending.clear()

    def _again(self, exc: sqlite3.Error) -> sqlite3.Cursor:
        """After a failed write or commit: on a full disk, give up the reserve and write the
        whole transaction again into the room it leaves; otherwise roll back and raise."""
        pending = list(self._pending)
        self._abort()
        if not is_disk_full(exc):
            raise exc
        if self.full is None:
            self.full = exc
            log.warning("the disk holding %s is full (%s)", self.path.parent, exc)
        self.release_reserve()
        cursor: sqlite3.Cursor | None = None
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for sql, params in pending:
                cursor = self.conn.execute(sql, params)
        except sqlite3.Error as again:
            self._abort()
            what = "the ledger cannot record how the run ended"
            raise _full_error(self.path.parent, what, again) from again
        self._pending = pending
        assert cursor is not None
        return cursor

    # ------------------------------------------------------------------ room on a full disk

    def reserve(self, size: int | None = None) -> None:
        """Set aside ``size`` bytes (:data:`RESERVE_BYTES`) beside the ledger for a run's last
        records (DiskFullError if the disk has not that much room: nothing is spent then)."""
        size = size or RESERVE_BYTES
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, size)  # real blocks, not a sparse file
                else:  # pragma: no cover - macOS, Windows
                    os.ftruncate(fd, 0)
                    os.write(fd, bytes(size))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(self._reserve)
            if is_disk_full(exc):
                what = (
                    f"a batch keeps {size / 2**20:g} MB in reserve, to end cleanly if it fills up"
                )
                raise _full_error(self.path.parent, what, exc) from exc
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            return  # a file system without fallocate: run without the reserve
        self._holds_reserve = True

    def release_reserve(self) -> bool:
        """Give the reserve's room back to the disk; whether there was one to give."""
        if not self._holds_reserve:
            return False
        with contextlib.suppress(OSError):
            os.unlink(self._reserve)
        self._holds_reserve = False
        return True

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, DiskFullError):
            self.commit()
        self.release_reserve()
        self.conn.close()
