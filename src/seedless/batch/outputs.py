"""Where a batch job's images go, and what earlier runs of the job left there.

Output names (one file, or ``stem-0``, ``stem-1`` ... for several), which wire call's image
lands at which index, the outputs a part-way failure kept (so a resume asks only for the
missing ones), whether the ledger already settled a job, and the refusal of two jobs that
would write the same file or a job that would overwrite its own input.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import (
    ConfigurationError,
)
from ..images import extension_for, mime_for_path
from . import spool
from .jobs import Job
from .ledger import Ledger, OutputRecord, Status

if TYPE_CHECKING:
    from ..client import PreparedCall, PreparedRequest
    from ..models import ImageResult

__all__ = [
    "IMAGE_SUFFIXES",
    "claim_outputs",
    "default_run",
    "done_before",
    "input_at",
    "kept_outputs",
    "output_count",
    "output_stems",
    "place_images",
    "remaining_calls",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def done_before(ledger: Ledger, run: str, job: Job, out_dir: Path) -> str | None:
    """``done`` or ``failed`` if the ledger already settled this very job, ``submitted`` if
    it is out with a provider's batch engine (whatever its hash: it must not be sent again
    before its results are collected), else None."""
    row = ledger.job(run, job.id)
    if row is not None and row["status"] == Status.SUBMITTED:
        return Status.SUBMITTED
    if row is None or row["job_hash"] != job.hash:
        return None
    if row["status"] == Status.DONE:
        outputs = ledger.outputs(run, job.id)
        root = os.fspath(out_dir)
        if outputs and all(os.path.isfile(os.path.join(root, o["path"])) for o in outputs):
            return Status.DONE
        return None
    if row["status"] == Status.FAILED:
        return Status.FAILED
    return None


def output_stems(job: Job, count: int) -> list[str]:
    """Where a job writing ``count`` images puts them, without the extensions."""
    stem = job.output_name
    root, suffix = os.path.splitext(stem)
    if suffix.lower() in IMAGE_SUFFIXES:  # "photo.jpg" names the file, not its stem
        stem = root
    if count == 1:
        return [stem]
    return [f"{stem}-{i}" for i in range(count)]


def output_count(job: Job) -> int:
    """How many images a job writes: best-of writes its winner, else one per image asked."""
    return 1 if job.best_of is not None else job.request.n


def kept_outputs(
    ledger: Ledger,
    run: str,
    job: Job,
    out_dir: Path,
    spools: dict[str, list[str]] | None = None,
    *,
    dry_run: bool = False,
) -> tuple[list[OutputRecord], float]:
    """The outputs an unfinished earlier attempt of this very job paid for and left: recorded
    ones on disk (a job that failed part-way), and spooled ones (a process stopped between an
    answer and its record: adopted, see :mod:`seedless.batch.spool`; ``spools`` is
    :func:`seedless.batch.spool.find`'s index); and what the job paid for them (for spooled
    ones, its estimate when it was sent; 0 if unknown). ``dry_run`` adopts nothing."""
    row = ledger.job(run, job.id)
    same = row is not None and row["job_hash"] == job.hash
    if row is not None and same and row["status"] == Status.DONE:
        return [], 0.0
    stems = output_stems(job, output_count(job))
    kept: dict[int, OutputRecord] = {}
    cost = 0.0
    if row is not None and same and job.best_of is None:  # candidates are never outputs
        for record in ledger.present_outputs(run, job.id, out_dir):
            index = record.index
            fits = index is not None and index < len(stems)
            if fits and record.path == stems[index or 0] + extension_for(record.mime_type):
                kept[index or 0] = record
        cost = float(row["cost_usd"]) if kept and row["cost_usd"] is not None else 0.0
    missing = [(index, stem) for index, stem in enumerate(stems) if index not in kept]
    if spools and missing:
        root = os.fspath(out_dir)
        for found in spool.adopt(root, spools, missing, job.hash, dry_run=dry_run):
            kept[found.index] = OutputRecord(
                found.path, found.sha256, found.mime_type, found.bytes, index=found.index
            )
            if row is not None and same and row["estimate_usd"] is not None:
                cost += float(row["estimate_usd"]) / len(stems)
    return [kept[index] for index in sorted(kept)], cost


def remaining_calls(
    prepared: PreparedRequest, kept: Sequence[OutputRecord]
) -> tuple[PreparedRequest, tuple[int, ...]]:
    """The wire calls still to make when ``kept`` outputs exist (a call whose every image is
    kept is dropped), and the index of each remaining call's first output."""
    have = {record.index for record in kept}
    calls: list[PreparedCall] = []
    offsets: list[int] = []
    offset = 0
    for call in prepared.calls:
        if not all(index in have for index in range(offset, offset + call.n)):
            calls.append(call)
            offsets.append(offset)
        offset += call.n
    if len(calls) < len(prepared.calls):
        prepared = replace(prepared, calls=tuple(calls))
    return prepared, tuple(offsets)


def place_images(
    calls: Sequence[PreparedCall], offsets: Sequence[int], images: Iterable[ImageResult]
) -> list[tuple[int, ImageResult]]:
    """Each image's output index: the first output of the wire call it came from (known by
    its request hash; identical calls, as an unseeded model's are, in order) plus its index
    in that call's answer. Images a call returned beyond what it asked for are dropped."""
    hashes = [call.request_hash() for call in calls]
    positions: dict[str, list[int]] = {}
    for position, key in enumerate(hashes):
        positions.setdefault(key, []).append(position)
    placed: list[tuple[int, ImageResult]] = []
    current: int | None = None
    for image in images:
        if current is None or image.index == 0 or hashes[current] != image.request_hash:
            queue = positions.get(image.request_hash)
            if not queue:
                current = None
                continue
            current = queue.pop(0)
        if image.index < calls[current].n:
            placed.append((offsets[current] + image.index, image))
    return placed


def claim_outputs(owners: dict[str, str], ids: set[str], job: Job, out_dir: Path | None) -> bool:
    """Refuse a job whose outputs another job of the batch writes too (one would be lost),
    or that would write over one of its own input files in ``out_dir``; False for a
    duplicate id, which the runner ignores."""
    if job.id in ids:
        return False
    ids.add(job.id)
    count = output_count(job)
    where = f" ({job.source})" if job.source else ""
    for stem in output_stems(job, count):
        other = owners.setdefault(stem, job.id)
        if other != job.id:
            raise ConfigurationError(
                f"jobs {other!r} and {job.id!r}{where} would both be written as {stem}.*, one "
                "over the other; give them different output names"
            )
        overwritten = input_at(job, os.path.join(out_dir, stem)) if out_dir is not None else None
        if overwritten is not None:
            raise ConfigurationError(
                f"job {job.id!r}{where} would write its output {stem}.* over its input "
                f"{overwritten}; choose an output folder (or output name) apart from the inputs"
            )
    return True


def input_at(job: Job, stem: str) -> str | None:
    """The job's input file that its output ``stem`` + extension would be, if any.

    An output is its stem plus the extension of its type, so only an input with that very
    extension can be it (``cat.jpeg`` is never replaced by ``cat.jpg``).
    """
    for source in job.inputs:
        extension = extension_for(mime_for_path(source))
        if os.path.splitext(source)[1].lower() != extension:
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(stem + extension, source):
                return source
    return None


def default_run(out_dir: Path) -> str:
    """The run name of a batch writing into ``out_dir``: the folder's name."""
    return out_dir.resolve().name or "batch"
