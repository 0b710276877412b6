"""Paid image bytes reach the disk before the ledger says they were paid: spool files.

A job's images are written first as spool files beside the outputs they become
(``.<name>.<tag>.spool``), then recorded in the ledger, then fsynced and renamed into place. The
tag is the first 16 hex digits of ``sha256(job hash, image sha256)``, so a spool file proves by
its own bytes which job it belongs to and that it is whole (a file cut short by a kill, or left
by an earlier version of the job, does not match and is removed).

A process killed after an answer's bytes were spooled never pays for them again: the next run
adopts the spool (renames it into place, records it as one of the job's outputs) instead of
sending the call again. That matters for models without a seed, whose calls no cache can serve.
What no design can save is an answer killed while still in memory; the spool makes that window
as short as one write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..images import FILE_MODE, fsync_folder, fsync_path, mime_for_path

__all__ = ["Adopted", "adopt", "find", "publish", "spool", "spool_path", "tag"]

SUFFIX = ".spool"
_IMAGE_EXTENSIONS = ("jpg", "png", "webp", "tif", "gif", "bmp", "bin")


def tag(job_hash: str, sha256: str) -> str:
    """The tag binding an image (by its sha256) to the job (by its hash) that paid for it."""
    return hashlib.sha256(f"{job_hash}:{sha256}".encode()).hexdigest()[:16]


def spool_path(path: str, image_tag: str) -> str:
    """Where the spool of the output ``path`` with ``image_tag`` is written."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{image_tag}{SUFFIX}")


def spool(blobs: Iterable[tuple[str, bytes, str]]) -> list[tuple[str, str]]:
    """Write each ``(output path, bytes, tag)`` to its spool file; returns the (spool, output)
    pairs for :func:`publish`. A spool cut short by an error is removed.

    Not fsynced here: once ``write`` returns, a killed process loses nothing (the bytes are
    the kernel's), and a spool that a power cut damaged does not prove itself and is dropped.
    :func:`publish` fsyncs before it renames, so no output is ever a damaged file.
    """
    spooled = []
    for path, data, image_tag in blobs:
        target = spool_path(path, image_tag)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        try:
            with open(target, "wb") as handle:
                handle.write(data)
            os.chmod(target, FILE_MODE)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise
        spooled.append((target, path))
    return spooled


def publish(spooled: Sequence[tuple[str, str]]) -> None:
    """Fsync spool files and rename them into place (atomic), then fsync their folders once
    each: after a power cut an output is the whole image or absent, never a damaged file."""
    for source, target in spooled:
        fsync_path(source)
        os.replace(source, target)
    for folder in {os.path.dirname(target) or "." for _, target in spooled}:
        fsync_folder(folder)


@dataclass(frozen=True)
class Adopted:
    """A spooled image taken as an output: its index, path (relative), hash, type and size."""

    index: int
    path: str
    sha256: str
    mime_type: str
    bytes: int


_SPOOL = re.compile(
    r"^\.(?P<stem>.+)\.(?P<ext>" + "|".join(_IMAGE_EXTENSIONS) + r")"
    r"\.(?P<tag>[0-9a-f]{16})" + re.escape(SUFFIX) + "$"
)


def find(root: str) -> dict[str, list[str]]:
    """The spool files under ``root``, by the output stem they are for (relative to ``root``,
    with ``/``): read once when a run starts, so looking a job up costs nothing."""
    found: dict[str, list[str]] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            match = _SPOOL.match(name)
            if match is not None:
                relative = os.path.relpath(os.path.join(folder, match["stem"]), root)
                found.setdefault(relative.replace(os.sep, "/"), []).append(
                    os.path.join(folder, name)
                )
    return found


def adopt(
    root: str,
    found: dict[str, list[str]],
    stems: Sequence[tuple[int, str]],
    job_hash: str,
    *,
    dry_run: bool = False,
) -> list[Adopted]:
    """The spooled images of the job with ``job_hash`` for its outputs ``(index, stem)``
    (stems relative to ``root``, without extension), renamed into place. Spools of these
    outputs that do not prove themselves (cut short, or another version of the job) are
    removed. ``found`` is :func:`find`'s index (updated); ``dry_run`` touches nothing."""
    adopted: list[Adopted] = []
    for index, stem in stems:
        for path in found.get(stem, []) if dry_run else found.pop(stem, []):
            match = _SPOOL.match(os.path.basename(path))
            assert match is not None  # find() lists only names that match
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            sha = hashlib.sha256(data).hexdigest()
            proven = match["tag"] == tag(job_hash, sha)
            relative = f"{stem}.{match['ext']}"
            if not dry_run:
                with contextlib.suppress(OSError):
                    if proven:
                        publish([(path, os.path.join(root, relative))])
                    else:
                        os.unlink(path)
            if proven and all(a.index != index for a in adopted):
                mime = "application/octet-stream" if relative.endswith(".bin") else None
                mime = mime or mime_for_path(relative)
                adopted.append(Adopted(index, relative, sha, mime, len(data)))
    return adopted
