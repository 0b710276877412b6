"""What the emulated batch engines share: a file store on disk and batches run on a schedule.

Both emulated services (the Gemini API's Batch Mode and Files API, OpenAI's ``/v1/files`` and
``/v1/batches``) keep uploaded and produced files in a temporary folder (never whole in
memory: downloads stream from disk) and run each batch on a worker thread of its own::

    created -> pending (schedule.pending s) -> running (lines answered one by one,
    schedule.running s at least) -> succeeded | expired | failed | cancelled

Each line is answered by the service's own request handler, so the usual scripted faults
(``fail_next``, ``block_next``, ``no_image_next`` ...) apply to batch lines exactly as they
apply to direct calls. Scripts of the batch itself: :meth:`BatchEngine.expire_next` (the
next batch ends ``expired`` after answering a fraction of its lines, keeping them),
:meth:`BatchEngine.fail_next` (the next batch fails validation, answering none), and
:attr:`BatchEngine.schedule`. :attr:`BatchEngine.created` lists every batch created, in
order: a resumed client must not add to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchEngine", "BatchSchedule", "EmulatedBatch", "FileStore", "StoredFile"]

#: Batch states, as the engine tracks them (each service spells them its own way).
TERMINAL = frozenset({"succeeded", "failed", "expired", "cancelled"})


@dataclass
class BatchSchedule:
    """Seconds a batch spends pending, and at least running, before it succeeds."""

    pending: float = 0.0
    running: float = 0.0


@dataclass
class StoredFile:
    """One file of the store: its id, name, purpose, type, size, hash and place on disk."""

    id: str
    filename: str
    purpose: str
    mime_type: str
    path: str
    size: int = 0
    sha256: str = ""
    created: float = field(default_factory=time.time)


class FileStore:
    """Files on disk under a temporary folder, by id; uploads may arrive in chunks."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="seedless-emulator-files-")
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, StoredFile] = {}

    def _new(self, filename: str, purpose: str, mime_type: str) -> StoredFile:
        file_id = secrets.token_hex(8)
        path = os.path.join(self.root, file_id)
        open(path, "wb").close()
        return StoredFile(file_id, filename, purpose, mime_type, path)

    def begin(self, filename: str, purpose: str, mime_type: str) -> str:
        """Start a chunked upload; returns its upload id."""
        stored = self._new(filename, purpose, mime_type)
        with self._lock:
            self._uploads[stored.id] = stored
        return stored.id

    def append(self, upload_id: str, offset: int, data: bytes) -> int:
        """Add a chunk at ``offset`` (must be the bytes received so far); returns the size."""
        with self._lock:
            stored = self._uploads.get(upload_id)
        if stored is None:
            raise KeyError(upload_id)
        if offset != os.path.getsize(stored.path):
            raise ValueError(f"offset {offset} is not the upload's size")
        with open(stored.path, "ab") as handle:
            handle.write(data)
        return os.path.getsize(stored.path)

    def finish(self, upload_id: str) -> StoredFile:
        """Complete a chunked upload: the file is stored and listed."""
        with self._lock:
            stored = self._uploads.pop(upload_id)
        return self._seal(stored)

    def put(self, data: bytes, filename: str, purpose: str, mime_type: str) -> StoredFile:
        """Store ``data`` as a new file."""
        stored = self._new(filename, purpose, mime_type)
        with open(stored.path, "wb") as handle:
            handle.write(data)
        return self._seal(stored)

    def create(self, filename: str, purpose: str, mime_type: str) -> tuple[StoredFile, Any]:
        """A new file to write into (the handle is the caller's to close, then :meth:`seal`)."""
        stored = self._new(filename, purpose, mime_type)
        return stored, open(stored.path, "ab")

    def seal(self, stored: StoredFile) -> StoredFile:
        """List a file written through :meth:`create`."""
        return self._seal(stored)

    def _seal(self, stored: StoredFile) -> StoredFile:
        digest = hashlib.sha256()
        with open(stored.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        stored.size = os.path.getsize(stored.path)
        stored.sha256 = digest.hexdigest()
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def delete(self, file_id: str) -> bool:
        with self._lock:
            stored = self._files.pop(file_id, None)
        if stored is None:
            return False
        with contextlib.suppress(OSError):
            os.unlink(stored.path)
        return True

    def listed(self) -> list[StoredFile]:
        with self._lock:
            return list(self._files.values())

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


#: ``process(batch, line) -> (ok, output line)``: a service answers one input line.
LineHandler = Callable[["EmulatedBatch", dict[str, Any]], "tuple[bool, dict[str, Any]]"]
#: ``unfinished(batch, line, state) -> output line or None``: what a line left undone says.
Unfinished = Callable[["EmulatedBatch", dict[str, Any], str], "dict[str, Any] | None"]


@dataclass
class EmulatedBatch:
    """One batch: what it runs, where it stands, and the files it produced."""

    id: str
    model: str
    endpoint: str
    display_name: str
    metadata: dict[str, str]
    input_file: str | None
    inline: list[dict[str, Any]] | None
    created: float = field(default_factory=time.time)
    state: str = "pending"
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file: str | None = None
    error_file: str | None = None
    started: float | None = None
    ended: float | None = None
    cancel_asked: float | None = None
    expire_after: float | None = None
    fail_message: str | None = None
    inline_results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def pending(self) -> int:
        return max(0, self.total - self.succeeded - self.failed)


class BatchEngine:
    """Runs emulated batches, each on its own worker thread, on :attr:`schedule`."""

    def __init__(
        self,
        files: FileStore,
        stopping: Callable[[], threading.Event],
        process: LineHandler,
        unfinished: Unfinished,
        *,
        error_file: bool,
    ) -> None:
        self.files = files
        #: How one line is answered, and what a line left unanswered says (or None).
        self.process = process
        self.unfinished = unfinished
        #: Whether failed lines go to an error file of their own (OpenAI) or the output file.
        self.error_file = error_file
        self.schedule = BatchSchedule()
        #: Every batch id created, in order (a resumed client must not add to it).
        self.created: list[str] = []
        self._stopping = stopping
        self._lock = threading.Lock()
        self._batches: dict[str, EmulatedBatch] = {}
        self._threads: list[threading.Thread] = []
        self._scripts: list[tuple[str, Any]] = []

    # -- scripts ---------------------------------------------------------------------------

    def expire_next(self, done_fraction: float = 0.4, times: int = 1) -> None:
        """The next ``times`` batches answer ``done_fraction`` of their lines, then expire."""
        if not 0.0 <= done_fraction <= 1.0:
            raise ValueError("done_fraction must be between 0 and 1")
        self._scripts.extend([("expire", done_fraction)] * times)

    def fail_next(self, message: str = "The input file is invalid.", times: int = 1) -> None:
        """The next ``times`` batches fail validation without answering any line."""
        self._scripts.extend([("fail", message)] * times)

    # -- batches ---------------------------------------------------------------------------

    def create(self, batch: EmulatedBatch) -> EmulatedBatch:
        """Register ``batch`` and start running it."""
        with self._lock:
            if self._scripts:
                kind, value = self._scripts.pop(0)
                if kind == "expire":
                    batch.expire_after = float(value)
                else:
                    batch.fail_message = str(value)
            self._batches[batch.id] = batch
            self.created.append(batch.id)
        thread = threading.Thread(
            target=self._run_guarded, args=(batch,), name="seedless-emulator-batch", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return batch

    def get(self, batch_id: str) -> EmulatedBatch | None:
        with self._lock:
            return self._batches.get(batch_id)

    def listed(self) -> list[EmulatedBatch]:
        """Every batch, newest first (as both services list them)."""
        with self._lock:
            return sorted(self._batches.values(), key=lambda b: b.created, reverse=True)

    def cancel(self, batch_id: str) -> EmulatedBatch | None:
        """Ask a batch to stop; lines already answered are kept."""
        batch = self.get(batch_id)
        if batch is not None and not batch.done and batch.cancel_asked is None:
            batch.cancel_asked = time.time()
            if batch.state == "pending":
                batch.state = "cancelling"
        return batch

    def delete(self, batch_id: str) -> bool:
        with self._lock:
            return self._batches.pop(batch_id, None) is not None

    def join(self, timeout: float = 10.0) -> None:
        for thread in self._threads:
            thread.join(timeout)

    # -- running ---------------------------------------------------------------------------

    def lines(self, batch: EmulatedBatch) -> Iterator[dict[str, Any]]:
        """The input lines of ``batch``, read one at a time."""
        if batch.inline is not None:
            yield from batch.inline
            return
        stored = self.files.get(batch.input_file or "")
        if stored is None:
            return
        with open(stored.path, "rb") as handle:
            for raw in handle:
                if raw.strip():
                    yield json.loads(raw)

    def _run_guarded(self, batch: EmulatedBatch) -> None:
        try:
            self.run(batch)
        except Exception as exc:  # an emulator bug: the batch fails, saying so
            batch.fail_message = f"the emulator failed: {exc!r}"
            batch.state, batch.ended = "failed", time.time()

    def run(self, batch: EmulatedBatch) -> None:
        """Wait, answer the lines, and settle the batch's final state."""
        stop = self._stopping()
        if _pause(batch, self.schedule.pending, stop) or batch.cancel_asked is not None:
            batch.state, batch.ended = "cancelled", time.time()
            return
        if batch.fail_message is not None:
            batch.errors.append({"code": "invalid_input", "message": batch.fail_message})
            batch.state, batch.ended = "failed", time.time()
            return
        batch.state, batch.started = "running", time.time()
        batch.total = sum(1 for _ in self.lines(batch))
        limit = batch.total
        if batch.expire_after is not None:
            limit = round(batch.total * batch.expire_after)
        answered, out, err = self._answer(batch, limit, stop)
        left = self.schedule.running - (time.time() - (batch.started or 0.0))
        if left > 0:
            _pause(batch, left, stop)
        if batch.cancel_asked is not None:
            final = "cancelled"
        elif answered < batch.total:
            final = "expired"
        else:
            final = "succeeded"
        self._finish(batch, final, answered, out, err)
        batch.state, batch.ended = final, time.time()

    def _answer(
        self, batch: EmulatedBatch, limit: int, stop: threading.Event
    ) -> tuple[int, StoredFile, StoredFile]:
        out, out_handle = self.files.create(f"{batch.id}-results.jsonl", "batch_output",
                                            "application/jsonl")  # fmt: skip
        err, err_handle = self.files.create(f"{batch.id}-errors.jsonl", "batch_output",
                                            "application/jsonl")  # fmt: skip
        answered = 0
        with out_handle, err_handle:
            for index, line in enumerate(self.lines(batch)):
                if index >= limit or stop.is_set() or batch.cancel_asked is not None:
                    break
                ok, result = self.process(batch, line)
                target = err_handle if (not ok and self.error_file) else out_handle
                self._emit(batch, target, result)
                answered += 1
                batch.succeeded += int(ok)
                batch.failed += int(not ok)
        return answered, out, err

    def _emit(self, batch: EmulatedBatch, handle: Any, result: dict[str, Any]) -> None:
        if batch.inline is not None:
            batch.inline_results.append(result)
        else:
            handle.write(json.dumps(result, separators=(",", ":")).encode() + b"\n")

    def _finish(
        self, batch: EmulatedBatch, final: str, answered: int, out: StoredFile, err: StoredFile
    ) -> None:
        if final != "succeeded" and self.error_file:
            with open(err.path, "ab") as handle:
                for index, line in enumerate(self.lines(batch)):
                    if index < answered:
                        continue
                    note = self.unfinished(batch, line, final)
                    if note is not None:
                        handle.write(json.dumps(note, separators=(",", ":")).encode() + b"\n")
        if batch.inline is None:
            if os.path.getsize(out.path) or not self.error_file:
                batch.output_file = self.files.seal(out).id
            if self.error_file and os.path.getsize(err.path):
                batch.error_file = self.files.seal(err).id


def _pause(batch: EmulatedBatch, seconds: float, stop: threading.Event) -> bool:
    """Wait ``seconds``, less if the batch is cancelled; True if the emulator is stopping."""
    deadline = time.monotonic() + seconds
    while batch.cancel_asked is None:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if stop.wait(min(left, 0.01)):
            return True
    return stop.is_set()
