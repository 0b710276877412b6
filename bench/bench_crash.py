"""kill -9 a batch of unseeded jobs at random moments, resume it, again and again: what is paid
twice, and why. The heavier loop behind tests/reliability/test_kill.py.

    PYTHONPATH=src python bench/bench_crash.py              # 30 kills over 1,000 jobs
    PYTHONPATH=src python bench/bench_crash.py --kills 5    # a smoke run

Each run is a child process running ``run_batch`` over jobs of a model without a seed (no
cache can serve a call again) at concurrency 4, its provider answering after 50-150 ms; the
parent SIGKILLs it after a random 0.1-0.8 s, then runs it again, until the kills are spent and
a last run finishes. The provider appends one line per answer to a file (an answer is what is
paid). At the end every job must be done exactly once on disk; a job answered twice was paid
twice. The only allowed cause is an answer killed while still in memory (before its spool
file reached the disk), which no design can save; the report counts those against the kills.
Exits 1 if a job is missing or paid more than twice, or if more jobs were paid twice than
there were kills.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

_CHILD = """
import asyncio, io, os, random, sys
from pathlib import Path
from PIL import Image
import seedless
from seedless import FunctionProvider, ModelSpec, ProviderReply, RawImage
from seedless.batch import Job, run_batch

out, paid, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])

async def provider(request, spec):
    await asyncio.sleep(random.uniform(0.05, 0.15))
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), tuple(os.urandom(3))).save(buffer, format="PNG")
    with open(paid, "a") as handle:
        handle.write(request.prompt + "\\n")
    return ProviderReply(images=[RawImage(buffer.getvalue(), "image/png")])

row = ModelSpec(provider="fake", id="noseed", operations=frozenset({"generate"}),
                prices={"*": 0.13})
pillow = seedless.capabilities().get("local:pillow")
client = seedless.AsyncClient(providers={"fake": FunctionProvider(provider)},
                              matrix=seedless.Matrix([row, pillow]), max_concurrency=4)
jobs = [Job.generate(f"fox {i}", model="fake:noseed", id=f"fox-{i:03d}") for i in range(count)]
asyncio.run(run_batch(client, jobs, out, progress=False, max_concurrency=4))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        out, paid = Path(tmp) / "out", Path(tmp) / "paid.txt"
        command = [sys.executable, "-c", _CHILD, str(out), str(paid), str(args.jobs)]
        kills = 0
        started = time.perf_counter()
        while kills < args.kills:
            child = subprocess.Popen(command)
            time.sleep(rng.uniform(0.6, 1.6))  # the child imports for about 0.5 s first
            if child.poll() is not None:
                break  # it finished: nothing left to kill
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
        if subprocess.run(command).returncode != 0:
            print("the last run failed", file=sys.stderr)
            return 1
        conn = sqlite3.connect(out / "seedless-ledger.sqlite")
        statuses = Counter(status for (status,) in conn.execute("SELECT status FROM jobs"))
        conn.close()
        answers = Counter(paid.read_text().split("\n")[:-1])
    twice = sorted(job for job, times in answers.items() if times > 1)
    extra = sum(times - 1 for times in answers.values())
    print(f"{kills} kill -9s over {args.jobs} unseeded jobs, {time.perf_counter() - started:.1f}s")
    done = statuses.get("done", 0)
    print(f"jobs done: {done} of {args.jobs}; answers paid: {sum(answers.values())}")
    print(f"jobs paid twice: {len(twice)} ({extra} extra answers), each an answer in memory "
          f"when its process was killed")  # fmt: skip
    ok = statuses == {"done": args.jobs} and max(answers.values()) <= 2 and len(twice) <= kills
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
