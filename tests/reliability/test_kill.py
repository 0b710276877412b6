"""kill -9 between a paid answer and its file: the next run never pays for it again.

A batch of two unseeded jobs (no cache can serve them) runs in a subprocess that kills itself
with SIGKILL at one point of the write path of its second (last) job, so no other call is in
flight; a second run finishes the batch. Every call is counted where it is paid: in the
provider.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from seedless.batch.ledger import LEDGER_NAME

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

_SCRIPT = """
import asyncio, io, os, signal, sys
from pathlib import Path
from PIL import Image
import seedless
from seedless import FunctionProvider, ModelSpec, ProviderReply, RawImage
from seedless.batch import Job, Ledger, run_batch, spool

out, point, paid = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

async def provider(request, spec):
    await asyncio.sleep(0.2)  # the first job's write ends before the second answer is back
    with open(paid, "a") as handle:
        handle.write(request.prompt + "\\n")  # paid: the answer is on its way back
    colour = tuple(os.urandom(3))  # no seed: every call a different image
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return ProviderReply(images=[RawImage(buffer.getvalue(), "image/png")])

def killing(owner, name):
    original = getattr(owner, name)
    calls = []
    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second job
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(owner, name, wrapper)

where = {"spool": (spool, "spool"), "record": (Ledger, "mark_writing"),
         "publish": (spool, "publish"), "done": (Ledger, "mark_done")}
if point in where:
    killing(*where[point])
row = ModelSpec(provider="fake", id="noseed", operations=frozenset({"generate"}),
                prices={"*": 0.1})
pillow = seedless.capabilities().get("local:pillow")
client = seedless.AsyncClient(providers={"fake": FunctionProvider(provider)},
                              matrix=seedless.Matrix([row, pillow]), max_concurrency=1)
jobs = [Job.generate(f"fox {i}", model="fake:noseed", id=f"fox-{i}") for i in range(2)]
report = asyncio.run(run_batch(client, jobs, out, progress=False, max_concurrency=1))
print(report.done, report.already_done, report.reused)
"""


def _run(out: Path, point: str, paid: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _SCRIPT, str(out), point, str(paid)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("point", ["record", "publish", "done"])
def test_a_kill_after_the_answer_is_spooled_never_pays_for_it_twice(
    tmp_path: Path, point: str
) -> None:
    out, paid = tmp_path / "out", tmp_path / "paid.txt"
    killed = _run(out, point, paid)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = _run(out, "none", paid)
    assert finished.returncode == 0, finished.stderr
    assert sorted(paid.read_text().split("\n")[:-1]) == ["fox 0", "fox 1"]  # once each
    # killed before the record: the rerun writes the spooled answer (done, reused); later
    # kills left the job recorded, so the rerun finds it done
    assert finished.stdout.split() == (["1", "1", "1"] if point == "record" else ["0", "2", "0"])
    conn = sqlite3.connect(out / LEDGER_NAME)
    rows = conn.execute("SELECT job_id, status, output_path, sha256 FROM jobs").fetchall()
    conn.close()
    assert {status for _, status, _, _ in rows} == {"done"} and len(rows) == 2
    for _, _, path, sha in rows:  # the file on disk is the one that was paid for and recorded
        assert hashlib.sha256((out / path).read_bytes()).hexdigest() == sha
    assert not list(out.glob(".*.spool")) and not list(out.glob(".*.tmp"))


def test_a_kill_while_the_answer_is_only_in_memory_pays_it_once_more(tmp_path: Path) -> None:
    """The one window no design closes: the bytes never reached the disk."""
    out, paid = tmp_path / "out", tmp_path / "paid.txt"
    assert _run(out, "spool", paid).returncode == -signal.SIGKILL
    assert _run(out, "none", paid).returncode == 0
    assert sorted(paid.read_text().split("\n")[:-1]) == ["fox 0", "fox 1", "fox 1"]
