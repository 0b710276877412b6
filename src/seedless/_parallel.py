"""CPU-parallel work over files: the one place that chooses processes or threads.

Pillow holds the GIL while it encodes (and between the chunks it decodes), so threads that
decode, edit and encode photos mostly wait for each other: on a two-core machine a thread pool
ran a decode+encode loop 1.1-1.4x faster than one thread, two processes 1.75-1.8x (measured
for docs/decisions.md). CPU-bound file work therefore runs in worker processes.

* Workers are forked: cheap (nothing is imported again) and safe to call from any script,
  with or without an ``if __name__ == "__main__"`` guard. ``spawn`` and ``forkserver`` would
  re-import the caller's main module, which breaks scripts and notebooks that call
  ``seedless.cli.main`` at top level.
* Forking is done only on Linux and only while the calling process runs no other thread,
  native ones included (forking a threaded process can deadlock, and Python 3.12+ warns about
  it; importing numpy starts its BLAS thread pool). Elsewhere, and in a process that already
  runs threads, the work runs in a thread pool: correct, slower.
* The state every task needs (an effect, say) goes to each worker once, through
  ``initializer``, instead of with every task.
* Each worker process keeps up to :data:`PILLOW_BLOCKS` freed 16 MB blocks of Pillow's image
  memory for its next images (Pillow's ``PILLOW_BLOCKS_MAX`` setting). By default Pillow gives
  every freed image back to the system, so each new image of a few megapixels is fresh memory
  that page-faults as it is first written: ~3 ms per intermediate image at 2.4 MP, a third of
  the cost of a LUT pass. The setting is applied to our worker processes only, never to the
  caller's process, and not over a ``PILLOW_BLOCKS_MAX`` the user set. See
  https://pillow.readthedocs.io/en/stable/reference/block_allocator.html
* One worker, or one task, runs in the calling thread: no pool to start.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

from PIL import _imaging

__all__ = ["InlineExecutor", "can_fork", "cpu_pool"]

T = TypeVar("T")

#: Freed Pillow memory blocks (16 MB each) a worker process keeps for reuse.
PILLOW_BLOCKS = 16
_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _worker_init(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    # Ctrl-C is the parent's to handle: it cancels what has not started, and each worker
    # finishes the file in hand (outputs are written atomically) instead of dying mid-write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One BLAS thread per worker: the workers already fill the cores (numpy, imported after the
    # fork by an effect that needs it, reads these when it loads).
    for variable in _BLAS_THREADS:
        os.environ.setdefault(variable, "1")
    if "PILLOW_BLOCKS_MAX" not in os.environ:  # the user's own setting wins
        _imaging.set_blocks_max(PILLOW_BLOCKS)
    if initializer is not None:
        initializer(*initargs)


class InlineExecutor(Executor):
    """Runs each task at once in the calling thread (the pool of one)."""

    def __init__(
        self, initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = ()
    ) -> None:
        if initializer is not None:
            initializer(*initargs)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def os_threads() -> int:
    """Threads of this process as the OS counts them (native ones too, e.g. a BLAS pool)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def can_fork() -> bool:
    """True on Linux while this process runs one thread, as Python and as the OS count them."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and os_threads() == 1
    )


def cpu_pool(
    jobs: int,
    tasks: int,
    *,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Executor:
    """An executor for ``tasks`` CPU-bound tasks over at most ``jobs`` workers.

    Forked worker processes where :func:`can_fork`, else threads; with one worker or one task
    the work runs inline. ``initializer(*initargs)`` runs once per worker. Submit every task
    before starting any thread of your own (a progress bar's, say): the processes are forked
    at the first submit.
    """
    workers = max(1, min(jobs, tasks))
    if workers == 1:
        return InlineExecutor(initializer, initargs)
    if can_fork():
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_init,
            initargs=(initializer, initargs),
        )
    return ThreadPoolExecutor(max_workers=workers, initializer=initializer, initargs=initargs)
