"""Provider batch engines against the loopback emulator: memory, kill -9, money, EXPIRED.

    PYTHONPATH=src python bench/bench_engines.py            # the must-show numbers
    PYTHONPATH=src python bench/bench_engines.py --quick    # smaller, for a smoke run

The emulator runs in a child process (its own interpreter: its files and batches are not
this process's memory), driven over stdin for its counters and scripts; each batch runs in a
fresh interpreter too, so its peak RSS is its own. With the stock google-genai SDK (uploads,
creates, polls) and httpx (streamed results) underneath, it shows:

1. Gemini Batch Mode, ``gemini:gemini-3-pro-image`` edits of a photo (each line carries it,
   about 46 KB; each answer about 27 KB): 200 and 2,000 jobs go out as
   file-mode provider batches (1,000 requests per shard), come back streamed, and every image
   is written; the peak RSS of the 2,000-job run against the 200-job run (target: within
   10%), with the size of the results each streamed (what an in-memory read would hold);
2. kill -9 right after the shards of a 2,000-job run are submitted, then the same command:
   the emulator's creates (target: exactly one per shard) and uploads stay as they were,
   the rerun only polls and downloads, and every image is written;
3. cost: the ledger's cost over the jobs against the direct list price (target: 0.5);
4. EXPIRED: a batch that answers 40% of its lines, then expires (target: 40% done and
   written, 60% retryable, nothing that came back lost);
5. the same for the OpenAI Batch API with ``openai:gpt-image-2``, generations and edits.

Prints the numbers; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
GEMINI = "gemini:gemini-3-pro-image"
GPT = "openai:gpt-image-2"
GPT_PRICE = 0.04
LIST_PRICE = {"gemini": 0.134, "openai": GPT_PRICE}

EMULATOR = """
import json, sys
from seedless.testing import Emulator
with Emulator() as emu:
    print(json.dumps({"gemini": emu.gemini.url, "openai": emu.openai.url,
                      "gemini_key": emu.gemini.api_key, "openai_key": emu.openai.api_key}),
          flush=True)
    for line in sys.stdin:
        word, *rest = line.split()
        services = {"gemini": emu.gemini.batches, "openai": emu.openai.batches}
        if word == "stats":
            print(json.dumps({name: {"created": len(s.created),
                                     "uploads": sum(1 for f in s.files.listed()
                                                    if f.purpose in ("UPLOADED", "batch"))}
                              for name, s in services.items()}), flush=True)
        elif word == "pending":
            for s in services.values():
                s.engine.schedule.pending = float(rest[0])
            print("{}", flush=True)
        elif word == "expire":
            services[rest[0]].engine.expire_next(float(rest[1]), times=int(rest[2]))
            print("{}", flush=True)
        elif word == "quit":
            break
"""


class EmulatorChild:
    """The emulator in a child process, with a line protocol on its stdin and stdout."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", EMULATOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=ENV,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.info = json.loads(self.process.stdout.readline())

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        with_stdin = self.process.stdin
        if with_stdin is not None:
            with_stdin.write("quit\n")
            with_stdin.close()
        self.process.wait(timeout=30)


@contextmanager
def emulator() -> Iterator[EmulatorChild]:
    child = EmulatorChild()
    try:
        yield child
    finally:
        child.close()


# ---------------------------------------------------------------------- the batch child


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 90, 40)).save(buffer, "PNG")
    return buffer.getvalue()


class Jobs:
    """The jobs of a run, made afresh on each pass (as a job file is read): re-iterable, as
    the provider engine needs, and lazy, so the source holds no job between passes."""

    def __init__(self, name: str, count: int) -> None:
        self.name, self.count = name, count

    def __iter__(self) -> Iterator[Any]:
        for start in range(0, self.count, 100):
            yield from make_jobs(self.name, min(100, self.count - start), start)


def make_jobs(name: str, count: int, start: int = 0) -> list[Any]:
    from seedless.batch import Job

    if name == "gemini":  # edits of a photo: lines and answers of some size (~46 KB, ~27 KB)
        photo = (ROOT / "examples" / "photos" / "cat.jpg").read_bytes()
        return [Job.edit(photo, f"darker, take {i}", model=GEMINI, id=f"job-{i:05d}")
                for i in range(start, start + count)]  # fmt: skip
    image = _png()
    return [
        Job.edit(image, "darker", model=GPT, id=f"job-{i:05d}", size="1024x1024") if i % 2
        else Job.generate(f"a lighthouse {i}", model=GPT, id=f"job-{i:05d}", size="1024x1024")
        for i in range(start, start + count)
    ]  # fmt: skip


def child_run(info: dict[str, str], name: str, count: int, out: str) -> None:
    """One batch in this (fresh) interpreter; prints its report and peak RSS as JSON."""
    import asyncio
    import resource

    import seedless
    from seedless.batch import run_batch

    fields: dict[str, Any] = {"name": name, "protocol": name, "api_key": info[f"{name}_key"],
                              "base_url": info[name]}  # fmt: skip
    if name == "openai":
        fields.update(batch_engine=True, prices={"gpt-image-2": GPT_PRICE})
    client = seedless.AsyncClient(endpoints=[seedless.Endpoint(**fields)])

    async def main() -> Any:
        async with client:
            return await run_batch(client, Jobs(name, count), out, engine="provider",
                                   progress=False, poll_interval=0.05)  # fmt: skip

    report = asyncio.run(main())
    shards = _shards(Path(out))
    print(json.dumps({
        "uploaded": sum(row[0] for row in shards), "streamed": _streamed(Path(out)),
        "done": report.done, "already_done": report.already_done,
        "retryable": report.retryable, "submitted": report.submitted,
        "batches": report.provider_batches, "ok": report.ok,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)  # fmt: skip


def _shards(out: Path) -> list[tuple[Any, ...]]:
    return ledger(out, "SELECT bytes FROM provider_batches WHERE state = 'collected'")


def _streamed(out: Path) -> int:
    """The bytes of the answers written (each a line of a results file, base64 + JSON)."""
    (total,) = ledger(out, "SELECT coalesce(sum(bytes), 0) FROM outputs")[0]
    return int(total * 4 / 3)


def run_child(emu: EmulatorChild, name: str, count: int, out: Path) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", json.dumps(emu.info), name, str(count), str(out)]
    done = subprocess.run(args, capture_output=True, text=True, env=ENV, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------- measurements


def ledger(out: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(out / "seedless-ledger.sqlite")
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def results_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.glob("*.png"))


def memory(emu: EmulatorChild, name: str, small: int, large: int, tmp: Path) -> bool:
    rows = {}
    for count in (small, large):
        out = tmp / f"{name}-mem-{count}"
        report = run_child(emu, name, count, out)
        images = len(list(out.glob("*.png")))
        rows[count] = report
        print(f"  {name} {count:>5} jobs: {report['batches']} provider batch(es) "
              f"({report['uploaded'] / 1e6:.1f} MB uploaded, {report['streamed'] / 1e6:.1f} MB "
              f"of results streamed), {images} images written ({results_bytes(out) / 1e6:.1f} "
              f"MB), peak RSS {report['rss_mb']:.1f} MB")  # fmt: skip
        if images != count or not report["ok"]:
            print(f"  ! {name}: {images} of {count} images written")
            return False
    ratio = rows[large]["rss_mb"] / rows[small]["rss_mb"]
    print(f"  peak RSS {large} / {small} jobs: {ratio:.3f} (target <= 1.10)")
    return ratio <= 1.10


def kill_9(emu: EmulatorChild, name: str, count: int, tmp: Path) -> bool:
    out = tmp / f"{name}-kill"
    emu.ask("pending 2.0")  # the batches wait while the process is killed
    before = emu.ask("stats")[name]
    args = [sys.executable, __file__, "--child", json.dumps(emu.info), name, str(count), str(out)]
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, env=ENV)
    shards = -(-count // 1000) * (2 if name == "openai" else 1)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (out / "seedless-ledger.sqlite").exists():
            try:
                submitted = ledger(out, "SELECT count(*) FROM provider_batches "
                                        "WHERE state = 'submitted'")[0][0]  # fmt: skip
            except sqlite3.OperationalError:
                submitted = 0
            if submitted == shards:
                break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    at_kill = emu.ask("stats")[name]
    emu.ask("pending 0")
    report = run_child(emu, name, count, out)
    after = emu.ask("stats")[name]
    creates = after["created"] - before["created"]
    uploads = after["uploads"] - before["uploads"]
    images = len(list(out.glob("*.png")))
    ok = (creates == shards and after == at_kill and images == count and report["ok"]
          and report["submitted"] == 0)  # fmt: skip
    print(f"  {name}: kill -9 after {shards} shard(s) were submitted; the same command again: "
          f"{creates} create(s) in all (target {shards}), {uploads} upload(s), "
          f"{report['submitted']} job(s) resubmitted, {images}/{count} images written"
          + ("" if ok else "  MISSED"))  # fmt: skip
    return ok


def money(name: str, out: Path, count: int) -> bool:
    (cost,) = ledger(out, "SELECT sum(cost_usd) FROM jobs WHERE status = 'done'")[0]
    ratio = cost / (count * LIST_PRICE[name])
    print(f"  {name}: ledger cost ${cost:.4f} for {count} images; direct list price "
          f"${count * LIST_PRICE[name]:.4f}; ratio {ratio:.3f} (target 0.500)")  # fmt: skip
    return abs(ratio - 0.5) < 1e-6


def expired(emu: EmulatorChild, name: str, count: int, tmp: Path) -> bool:
    out = tmp / f"{name}-expired"
    shards = 2 if name == "openai" else 1
    emu.ask(f"expire {name} 0.4 {shards}")
    report = run_child(emu, name, count, out)
    statuses = dict(ledger(out, "SELECT status, count(*) FROM jobs GROUP BY status"))
    images = len(list(out.glob("*.png")))
    done, retry = statuses.get("done", 0), statuses.get("retryable", 0)
    ok = done == images == round(count * 0.4) and retry == count - done and not report["ok"]
    print(f"  {name}: EXPIRED after 40%: {done} done and written ({images} files), {retry} "
          f"retryable of {count}" + ("" if ok else "  MISSED"))  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller numbers, a smoke run")
    parser.add_argument("--child", nargs=4, metavar=("INFO", "NAME", "COUNT", "OUT"))
    parser.add_argument("--memory-only", action="store_true", help="only the Gemini memory run")
    args = parser.parse_args()
    if args.child:
        info, name, count, out = args.child
        child_run(json.loads(info), name, int(count), out)
        return 0
    small, large = (20, 200) if args.quick else (200, 2000)
    openai_count = 40 if args.quick else 200
    ok = True
    with emulator() as emu, tempfile.TemporaryDirectory(prefix="seedless-bench-") as folder:
        tmp = Path(folder)
        print("1. Gemini Batch Mode: file-mode shards, results streamed, every image written")
        ok &= memory(emu, "gemini", small, large, tmp)
        if args.memory_only:
            return 0 if ok else 1
        print("2. kill -9 right after submission, then the same command")
        ok &= kill_9(emu, "gemini", large, tmp)
        print("3. money")
        ok &= money("gemini", tmp / f"gemini-mem-{large}", large)
        print("4. EXPIRED with 40% done")
        ok &= expired(emu, "gemini", small, tmp)
        print("5. the OpenAI Batch API, gpt-image-2 generations and edits")
        ok &= memory(emu, "openai", openai_count // 10, openai_count, tmp)
        ok &= kill_9(emu, "openai", openai_count, tmp)
        ok &= money("openai", tmp / f"openai-mem-{openai_count}", openai_count)
        ok &= expired(emu, "openai", openai_count, tmp)
    print("all targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

