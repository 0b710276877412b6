"""What a batch run did: :class:`BatchReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .estimate import BatchEstimate
from .jobs import JobEntry

if TYPE_CHECKING:
    pass

__all__ = ["BatchReport"]

MAX_EXAMPLES = 20


@dataclass
class BatchReport:
    """What one call of :func:`run_batch` did (the ledger holds the whole run's history).

    With a provider batch engine: ``submitted`` jobs were handed to the provider now, in
    ``provider_batches`` batches (``adopted`` ones found again after a crash), and ``waiting``
    jobs are still out with the provider when the call returns (``ok`` is False until a
    later run collects them).
    """

    run: str
    out_dir: Path
    ledger_path: Path
    estimate: BatchEstimate | None = None
    seen: int = 0
    done: int = 0
    cached: int = 0
    already_done: int = 0
    already_failed: int = 0
    failed: int = 0
    retryable: int = 0
    interrupted: int = 0
    skipped: int = 0
    duplicates: int = 0
    engine: str = "direct"
    submitted: int = 0
    waiting: int = 0
    provider_batches: int = 0
    adopted: int = 0
    recovered: int = 0
    #: Jobs done now without a call: every output was paid for by an earlier attempt
    #: (kept from one that failed part-way, or spooled by a run that was stopped).
    reused: int = 0
    temp_files_removed: int = 0
    cost_usd: float = 0.0
    spent_usd: float = 0.0
    run_cost_usd: float = 0.0
    elapsed_s: float = 0.0
    stopped: str | None = None
    failures: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every job of the batch is done (now or before)."""
        return not (
            self.failed
            or self.already_failed
            or self.retryable
            or self.interrupted
            or self.skipped
            or self.stopped
            or self.waiting
        )

    def _failure(self, job: JobEntry, exc: BaseException) -> None:
        name = type(exc).__name__
        self.failures[name] = self.failures.get(name, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{job.id}: {name}: {exc}")

    def __str__(self) -> str:
        reused = f" ({self.reused} from answers paid before)" if self.reused else ""
        head = (
            f"run {self.run!r} in {self.out_dir}: {self.done} done"
            f"{f' ({self.cached} from cache)' if self.cached else ''}{reused}, "
            f"{self.already_done} already done, {self.failed} failed, "
            f"{self.retryable} to retry, {self.interrupted} interrupted, {self.skipped} skipped"
        )
        if self.already_failed:
            head += f", {self.already_failed} failed before (not retried)"
        lines = [
            head,
            f"  cost ${self.cost_usd:.4f} now, ${self.run_cost_usd:.4f} for the run's done jobs; "
            f"{self.elapsed_s:.2f}s",
        ]
        if self.duplicates:
            lines.append(f"  {self.duplicates} duplicate job id(s) ignored")
        if self.engine != "direct":
            lines.append(
                f"  provider batch engine: {self.submitted} job(s) submitted now in "
                f"{self.provider_batches} provider batch(es)"
                + (f", {self.adopted} found again after a crash" if self.adopted else "")
                + f"; {self.waiting} job(s) still out with the provider (run the same "
                "command again to collect them); costs at the batch price"
            )
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}")
        if self.failures:
            lines.append(
                "  failures: " + ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items()))
            )
        lines += [f"  - {example}" for example in self.examples[:5]]
        lines.append(f"  ledger: {self.ledger_path}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # a notebook shows the text
        printer.text(str(self))
