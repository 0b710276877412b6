"""The calls ledger: every request ``seedless generate`` and ``seedless edit`` send, in SQLite.

As simonw/llm logs every prompt, the command keeps one row per request by default: when, the
command, model, prompt, seed, images, cost, latency, outcome (errors redacted), the request's
hash and the files written. The file is ``calls.sqlite`` in the user data dir
(``$SEEDLESS_HOME`` overrides it); ``--no-log`` skips one command, ``SEEDLESS_LEDGER=off``
every one. The schema grows by small, named, append-only migrations.

It is built on the client's public execution hook: a :class:`Recorder` is the ``on_event``
of :class:`~seedless.ExecuteHooks`, summing the call events (images, cost, latency) of one
execution.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._dirs import user_data_dir
from ..errors import redact

__all__ = ["MIGRATIONS", "Recorder", "enabled", "ledger_path", "read_calls", "record"]

FILENAME = "calls.sqlite"


def _m001_calls(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            command TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt TEXT,
            seed INTEGER,
            n INTEGER NOT NULL,
            images INTEGER NOT NULL,
            cost_usd REAL,
            latency_s REAL,
            status TEXT NOT NULL,
            error_class TEXT,
            error_message TEXT,
            request_hash TEXT NOT NULL,
            inputs TEXT NOT NULL,
            outputs TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX calls_at ON calls (at)")


#: Applied in order, each once, recorded by name in ``_migrations``; never edit one, append.
MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("m001_calls", _m001_calls),
)


def ledger_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the calls ledger lives: ``calls.sqlite`` in the user data dir."""
    return user_data_dir(environ) / FILENAME


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``SEEDLESS_LEDGER`` is ``off`` (or ``0``, ``no``, ``false``)."""
    value = (os.environ if environ is None else environ).get("SEEDLESS_LEDGER", "")
    return value.strip().lower() not in ("off", "0", "no", "false")


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30)
    db.row_factory = sqlite3.Row
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, at TEXT)")
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        for name, migrate in MIGRATIONS:
            if name not in done:
                migrate(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, _now()))
    return db


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Recorder:
    """Sums the call events of one execution: pass ``recorder.on_event`` as the hook."""

    images: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    errors: list[BaseException] = field(default_factory=list)

    def on_event(self, event: Any) -> None:
        if event.kind == "done":
            self.images += event.images
            self.latency_s = max(self.latency_s, event.latency or 0.0)
            if event.cost_usd is None or self.cost_usd is None:
                self.cost_usd = None
            else:
                self.cost_usd += event.cost_usd
        elif event.kind == "error" and event.error is not None:
            self.errors.append(event.error)


def record(
    path: Path,
    *,
    command: str,
    prepared: Any,
    recorder: Recorder,
    outputs: Sequence[Path] = (),
    error: BaseException | None = None,
) -> None:
    """Write one request's row (errors and prompts pass the library's redaction)."""
    request = prepared.request
    failure = error or (recorder.errors[0] if recorder.errors else None)
    inputs = [
        {"name": image.name, "sha256": image.sha256} for image in getattr(request, "images", ())
    ]
    row = (
        _now(),
        command,
        prepared.spec.key,
        None if request.prompt is None else redact(request.prompt),
        request.seed,
        request.n,
        recorder.images,
        recorder.cost_usd,
        round(recorder.latency_s, 4),
        "done" if error is None else "error",
        None if failure is None else type(failure).__name__,
        None if failure is None else redact(str(failure))[:2000],
        request.request_hash(),
        json.dumps(inputs),
        json.dumps([str(p) for p in outputs]),
    )
    with closing(_connect(path)) as db, db:
        db.execute(
            "INSERT INTO calls (at, command, model, prompt, seed, n, images, cost_usd, "
            "latency_s, status, error_class, error_message, request_hash, inputs, outputs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )


def read_calls(
    path: Path, *, limit: int = 20, model: str | None = None
) -> Iterator[dict[str, Any]]:
    """The most recent rows first (``model`` keeps one model's)."""
    if not path.exists():
        return
    with closing(_connect(path)) as db:
        where, params = ("WHERE model = ?", [model]) if model else ("", [])
        query = f"SELECT * FROM calls {where} ORDER BY id DESC LIMIT ?"  # where: a constant
        for row in db.execute(query, [*params, limit]):
            data = dict(row)
            data["inputs"] = json.loads(data["inputs"])
            data["outputs"] = json.loads(data["outputs"])
            yield data
