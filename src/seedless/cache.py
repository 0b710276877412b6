"""``DiskCache``: a content-addressed store of results, so the same request is never paid twice.

The client asks the cache before every replayable wire call (exact local edits, and seeded
models given a seed) and stores what came back; a hit is served at zero cost and marked
``cached``. Re-running a notebook cell, or a batch, does not re-bill.

Layout under the cache directory (``v1`` is the layout version)::

    v1/blobs/ab/ab12...ef          image bytes, named by their sha256
    v1/entries/cd/cd34...01.json   one request: its results' metadata, without the bytes

Every file is published atomically (a temp file in the same folder, then a rename), blobs
before the entry that names them, so any number of processes may share one cache: a reader
sees a whole entry or none. Unlike :func:`seedless.images.atomic_write` there is no fsync:
the client stores results on its event loop, where an fsync per file would stall every
other call for milliseconds, and a cache needs no durability, because every read checks
the blob's sha256 and the entry's JSON, so a file torn by a power cut is a miss, never a
wrong image. Writing the cache never fails a request: a full disk is logged and the result
returned.

The directory is ``$SEEDLESS_CACHE_DIR`` if set, else the per-user cache directory
(``$XDG_CACHE_HOME/seedless`` or ``~/.cache/seedless`` on Linux, ``~/Library/Caches/seedless``
on macOS, ``%LOCALAPPDATA%\\seedless\\Cache`` on Windows).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._dirs import user_cache_dir
from .models import ImageResult

__all__ = ["DiskCache", "default_cache_dir"]

log = logging.getLogger("seedless.cache")

_LAYOUT = "v1"
_HEX = re.compile(r"^[0-9a-f]{16,128}$")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the cache lives by default: ``$SEEDLESS_CACHE_DIR``, else the user cache dir."""
    return user_cache_dir(environ)


def _publish(path: str, data: bytes) -> None:
    """Make ``data`` appear at ``path`` all at once (temp file + rename; no fsync, see above).

    Paths are plain strings: pathlib would intern every (unique) key it parses.
    """
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _safe_key(key: str) -> str:
    """The key as a file name: request hashes pass through, anything else is hashed."""
    return key if _HEX.match(key) else hashlib.sha256(key.encode()).hexdigest()


class DiskCache:
    """A content-addressed result cache on disk, safe to share between processes.

    ::

        client = seedless.AsyncClient(cache=seedless.DiskCache())       # default location
        client = seedless.AsyncClient(cache=seedless.DiskCache("cache"))  # a folder of yours
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._root = os.path.join(os.fspath(self.directory), _LAYOUT)

    # ------------------------------------------------------------------ paths

    def _entry_path(self, key: str) -> str:
        name = _safe_key(key)
        return os.path.join(self._root, "entries", name[:2], name + ".json")

    def _blob_path(self, sha256: str) -> str:
        return os.path.join(self._root, "blobs", sha256[:2], sha256)

    # ------------------------------------------------------------------ the ResultCache protocol

    def get(self, key: str) -> list[ImageResult] | None:
        """The results stored for ``key``, or None (a miss, or a damaged entry)."""
        entry = self._entry_path(key)
        try:
            with open(entry, encoding="utf-8") as handle:
                payload = json.load(handle)
            metas: list[dict[str, Any]] = payload["results"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("seedless cache: ignoring unreadable entry %s (%s)", entry, exc)
            return None
        results: list[ImageResult] = []
        for meta in metas:
            digest = str(meta.get("sha256", ""))
            if not _HEX.match(digest):
                return None
            try:
                with open(self._blob_path(digest), "rb") as handle:
                    data = handle.read()
            except OSError:
                return None  # evicted or never finished: a miss
            if hashlib.sha256(data).hexdigest() != digest:
                log.warning("seedless cache: blob %s is damaged; dropping it", digest)
                with contextlib.suppress(OSError):
                    os.unlink(self._blob_path(digest))
                return None
            try:
                results.append(ImageResult.model_validate({**meta, "data": data}))
            except ValidationError as exc:
                log.warning("seedless cache: ignoring entry %s (%s)", entry, exc)
                return None
        return results or None

    def put(self, key: str, results: Sequence[ImageResult]) -> None:
        """Store ``results`` under ``key``: blobs first, then the entry naming them."""
        if not results:
            return
        try:
            for result in results:
                blob = self._blob_path(result.sha256)
                if not os.path.exists(blob):
                    _publish(blob, result.data)
            metas = [
                result.model_dump(mode="json", exclude={"data", "cached"}) for result in results
            ]
            payload = {"key": key, "results": metas}
            _publish(self._entry_path(key), json.dumps(payload, sort_keys=True).encode())
        except OSError as exc:
            log.warning("seedless cache: could not store %s in %s (%s)", key, self.directory, exc)

    # ------------------------------------------------------------------ housekeeping

    def contains(self, key: str) -> bool:
        """Whether :meth:`get` would serve ``key``: its entry, and every blob it names, are
        there (a batch budgets such a request at $0). Cheap: no image bytes are read, so a
        blob damaged in place still counts until a ``get`` finds it out."""
        try:
            with open(self._entry_path(key), encoding="utf-8") as handle:
                digests = [str(meta.get("sha256", "")) for meta in json.load(handle)["results"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        return bool(digests) and all(
            _HEX.match(digest) and os.path.isfile(self._blob_path(digest)) for digest in digests
        )

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.contains(key)

    def __len__(self) -> int:
        """The number of stored requests."""
        entries = Path(self._root, "entries")
        if not entries.is_dir():
            return 0
        return sum(1 for _ in entries.glob("*/*.json"))

    def clear(self) -> None:
        """Remove every entry and blob of this cache."""
        shutil.rmtree(self._root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r})"
