"""Batch throughput and memory against the loopback emulator, with baselines from the same run.

    PYTHONPATH=src python bench/bench_batch.py            # the must-show numbers
    PYTHONPATH=src python bench/bench_batch.py --quick    # smaller, for a smoke run

It starts ``seedless emulate`` in a child process (real HTTP, its own interpreter, so it
does not compete for this process's GIL) and measures, for a seeded Flux model over the
OpenAI-style endpoint:

1. throughput: ``run_batch`` of 400 jobs at concurrency 16 with 200 ms of server latency,
   against the ideal ``ceil(400 / 16) x 200 ms`` and against a hand-written
   ``asyncio.Semaphore`` + ``client.generate`` + ``save`` loop doing the same work
   (interleaved, best of two each: other load on the machine is noise, not cost);
2. memory: the tracemalloc peak and the max RSS of ``run_batch`` over 200 and over 2,000
   jobs (fed from a generator, as a JSONL file is read), each in a fresh interpreter warmed
   by a small untraced batch; the emulator's own bookkeeping lives in its process, not here.
   The same measurement of the hand-written loop shows the noise floor of the HTTP stack
   underneath (bursts of responses decoded at once). httpx/httpcore and tenacity leave
   about 90 objects of cyclic garbage per wire call, which Python's collector frees in a
   sawtooth whose teeth a 200-job run never completes; the measured runs therefore collect
   every 100 ms, so the peak is what is reachable, not the collector's schedule.

Prints the ratios; exits 1 if a target is missed: time <= 1.15 x ideal; the 2,000-job peak
no higher than the 200-job peak beyond what the hand loop shows plus 5% noise (medians of
three interpreters each); max RSS within 2%.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "openai:flux-dev"
SIZE = "512x512"
KEY = "test-openai-key"
WARM_UP = 100
#: Run-to-run spread of a tracemalloc peak here (bursts of responses decoded at once).
NOISE = 0.05
MEMORY_LATENCY = 0.05


@contextmanager
def emulator(latency: float) -> Iterator[str]:
    """``seedless emulate`` in a child process; yields the OpenAI-style base URL."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen(
        [sys.executable, "-m", "seedless", "emulate", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            match = re.match(r"\s+OpenAI\s+(\S+)", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise RuntimeError("the emulator did not start")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def make_client(url: str, concurrency: int) -> Any:
    from pydantic import SecretStr

    import seedless

    endpoint = seedless.Endpoint(
        name="openai", protocol="openai", api_key=SecretStr(KEY), base_url=url
    )
    return seedless.AsyncClient(endpoints=[endpoint], max_concurrency=concurrency)


def jobs(count: int, tag: str) -> Iterator[Any]:
    from seedless.batch import Job

    for i in range(count):
        yield Job.generate(f"{tag} fox {i}", model=MODEL, seed=i, size=SIZE, id=f"{tag}-{i:05d}")


async def warm_up(client: Any, concurrency: int) -> None:
    """Open the connections both contenders will reuse, so neither pays for that."""
    await asyncio.gather(
        *(client.generate(f"warm {i}", model=MODEL, seed=i, size=SIZE) for i in range(concurrency))
    )


async def hand_loop(url: str, count: int, concurrency: int, out: Path) -> float:
    """What a careful user writes by hand: a semaphore, generate, save. No ledger."""
    client = make_client(url, concurrency)
    await warm_up(client, concurrency)
    out.mkdir(parents=True, exist_ok=True)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            generation = await client.generate(f"hand fox {i}", model=MODEL, seed=i, size=SIZE)
            await asyncio.to_thread(generation.image.save, out / f"hand-{i:05d}.png")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return elapsed


async def batch_run(url: str, count: int, concurrency: int, out: Path) -> float:
    from seedless.batch import run_batch

    client = make_client(url, concurrency)
    await warm_up(client, concurrency)
    started = time.perf_counter()
    report = await run_batch(
        client, list(jobs(count, "batch")), out, max_concurrency=concurrency, progress=False
    )
    elapsed = time.perf_counter() - started
    await client.aclose()
    if report.done != count:
        raise RuntimeError(f"the batch did not finish: {report}")
    return elapsed


def memory_child(url: str, count: int, concurrency: int, kind: str) -> None:
    """Run one batch under tracemalloc and print its peak (called in a fresh interpreter).

    ``kind`` is ``batch`` (run_batch over a generator of jobs) or ``hand`` (the hand-written
    loop, streamed through ``concurrency`` workers so it too holds only what is in flight).
    """
    import gc
    import resource
    import tracemalloc

    from seedless.batch import run_batch

    out = Path(tempfile.mkdtemp(prefix="seedless-bench-mem-"))

    async def hand(client: Any) -> int:
        numbers = iter(range(count))
        done = 0

        async def worker() -> None:
            nonlocal done
            for i in numbers:
                generation = await client.generate(f"mem fox {i}", model=MODEL, seed=i, size=SIZE)
                await asyncio.to_thread(generation.image.save, out / "run" / f"mem-{i:05d}.png")
                done += 1

        (out / "run").mkdir(parents=True)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done

    async def main() -> dict[str, Any]:
        client = make_client(url, concurrency)
        await warm_up(client, concurrency)
        # warm the process (connection pool, worker threads, caches) with an untraced batch,
        # so both sizes are measured from the same steady state
        await run_batch(client, jobs(WARM_UP, "warm"), out / "warm", progress=False)

        async def collector() -> None:
            while True:
                await asyncio.sleep(0.1)
                gc.collect()

        gc.collect()
        sweeper = asyncio.create_task(collector())
        tracemalloc.start()
        if kind == "batch":
            # a generator: jobs are made as they are dispatched, as a JSONL file is read
            report = await run_batch(
                client, jobs(count, "mem"), out / "run", max_concurrency=concurrency,
                progress=False,
            )  # fmt: skip
            done = report.done
        else:
            done = await hand(client)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sweeper.cancel()
        await client.aclose()
        return {"done": done, "peak": peak}

    try:
        result = asyncio.run(main())
        result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(result))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure_memory(url: str, count: int, concurrency: int, kind: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = [sys.executable, __file__, "--memory-child", url, str(count), str(concurrency), kind]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["done"] != count:
        raise RuntimeError(f"memory run finished {result['done']} of {count} jobs")
    return result


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        url, count, concurrency, kind = args.memory_child
        memory_child(url, int(count), int(concurrency), kind)
        return 0

    count, concurrency, latency = (96, 16, 0.2) if args.quick else (400, 16, 0.2)
    small, large = (50, 500) if args.quick else (200, 2000)
    repeats = 1 if args.quick else 2
    ok = True
    ideal = math.ceil(count / concurrency) * latency
    work = Path(tempfile.mkdtemp(prefix="seedless-bench-"))
    try:
        hands: list[float] = []
        batches: list[float] = []
        with emulator(latency) as url:
            for round_ in range(repeats):  # interleaved, best of each: other load is noise
                hands.append(asyncio.run(hand_loop(url, count, concurrency, work / f"h{round_}")))
                batches.append(asyncio.run(batch_run(url, count, concurrency, work / f"b{round_}")))
        hand, batch = min(hands), min(batches)
        print(f"seedless batch bench: {count} jobs, concurrency {concurrency}, "
              f"emulator latency {latency * 1000:.0f} ms, {MODEL}, best of {repeats}")  # fmt: skip
        print(f"  ideal ceil({count}/{concurrency}) x {latency:.1f} s  {ideal:8.3f} s")
        print(f"  hand-written loop          {hand:8.3f} s   {hand / ideal:5.3f} x ideal")
        print(f"  run_batch (ledger, fsync)  {batch:8.3f} s   {batch / ideal:5.3f} x ideal "
              f"(target <= 1.15)   {batch / hand:5.3f} x hand loop")  # fmt: skip
        ok &= batch / ideal <= 1.15

        runs = 1 if args.quick else 3
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        with emulator(latency) as url:
            for _ in range(runs):  # interleaved, so drifting machine load hits all alike
                for kind in ("batch", "hand"):
                    for size in (small, large):
                        found = measure_memory(url, size, concurrency, kind)
                        results.setdefault((kind, size), []).append(found)

        def peak(kind: str, size: int) -> float:
            return _median([r["peak"] for r in results[(kind, size)]]) / 1e6

        def rss(kind: str, size: int) -> float:
            return _median([r["maxrss_kb"] for r in results[(kind, size)]]) / 1e3

        print(f"memory: {small} vs {large} jobs, concurrency {concurrency}, emulator latency "
              f"{latency * 1000:.0f} ms, median of {runs} fresh interpreters each")  # fmt: skip
        for kind, label in (("batch", "run_batch"), ("hand", "hand-written loop")):
            ratio = peak(kind, large) / peak(kind, small)
            grow = rss(kind, large) / rss(kind, small)
            print(f"  {label:<18} tracemalloc peak {peak(kind, small):5.2f} -> "
                  f"{peak(kind, large):5.2f} MB ({ratio:5.3f}x)   max RSS {rss(kind, small):5.1f} "
                  f"-> {rss(kind, large):5.1f} MB ({grow:5.3f}x)")  # fmt: skip
        batch_ratio = peak("batch", large) / peak("batch", small)
        hand_ratio = peak("hand", large) / peak("hand", small)
        rss_ratio = rss("batch", large) / rss("batch", small)
        allowed = max(hand_ratio, 1.0) + NOISE
        print(
            f"  target: run_batch's 2000-job peak no higher than its 200-job peak beyond what "
            f"the HTTP stack alone shows (the hand loop) plus {NOISE:.0%} noise: "
            f"<= {allowed:.3f}x; max RSS <= 1.02x"
        )
        ok &= batch_ratio <= allowed and rss_ratio <= 1.02
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
