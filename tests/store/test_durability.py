"""A committed batch survives ``kill -9``; a batch is all-or-nothing; resuming stores nothing twice.

A child process writes batches of 50 results (5 scores each) as fast as it can and prints
``committed N`` after each ``add_results`` returns. The parent kills it with SIGKILL at a random moment
after a few commits, then checks the store: every batch the child reported is there and complete, no
batch is partly there, and a new child resuming from ``completed_keys`` fills the gap without
duplicates. Three kill/resume rounds per backend.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from assay.store import open_store

BATCH = 50
N_SCORES = 5

CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from assay.store import ResultRecord, RunRecord, open_store

    url, run_id, batch_size, n_scores = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = open_store(url)
    if store.get_run(run_id) is None:
        store.create_run(RunRecord(run_id, "durability", "running", datetime.now(timezone.utc), None,
                                   10**6, {}, {}, None))
    done = {case_id.split("-")[0] for case_id, _ in store.completed_keys(run_id)}
    start = len(done)

    def make_batch(b):
        now = datetime.now(timezone.utc)
        return [
            ResultRecord(run_id, f"b{b:05d}-c{i:02d}", 0, {"id": f"b{b}-{i}", "input": "q" * 200},
                         {"text": "answer " * 20},
                         [{"name": f"m{k}", "value": (i + k) % 3 / 2, "kind": "continuous"}
                          for k in range(n_scores)],
                         None, None, 0.1, None, None, 10, 5, 1, False, now)
            for i in range(batch_size)
        ]

    # A resumed run may re-send the last batch it is unsure about: it must be a no-op.
    if start:
        print(f"readded {store.add_results(make_batch(start - 1))}", flush=True)
    b = start
    while True:
        store.add_results(make_batch(b))
        print(f"committed {b}", flush=True)
        b += 1
    """
)


def _run_child_and_kill(script: Path, url: str, run_id: str, rng: random.Random) -> tuple[int | None, int]:
    """Start the writer, kill -9 it after a few commits; return (last batch reported committed, readded)."""
    proc = subprocess.Popen(
        [sys.executable, str(script), url, run_id, str(BATCH), str(N_SCORES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    target = rng.randint(3, 12)
    seen = 0
    readded = -1
    last: int | None = None
    try:
        for line in proc.stdout:
            if line.startswith("readded"):
                readded = int(line.split()[1])
            if line.startswith("committed"):
                last = int(line.split()[1])
                seen += 1
                if seen >= target:
                    break
        else:  # pragma: no cover - the child died on its own
            raise AssertionError(
                f"writer exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
            )
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for line in rest.splitlines():  # printed between our last read and the kill
        if line.startswith("committed"):
            last = int(line.split()[1])
    return last, readded


def _check_batches(url: str, run_id: str) -> int:
    """Every stored batch is complete (50 results x 5 scores) and batches are contiguous; return count."""
    with open_store(url) as store:
        keys = store.completed_keys(run_id)
        per_batch = Counter(case_id.split("-")[0] for case_id, _ in keys)
        assert all(n == BATCH for n in per_batch.values()), f"partial batch: {per_batch}"
        assert sorted(per_batch) == [f"b{i:05d}" for i in range(len(per_batch))]
        with store.engine.connect() as conn:
            n_scores = conn.execute(
                text("SELECT count(*) FROM scores WHERE run_id = :r"), {"r": run_id}
            ).scalar()
            if store.dialect == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert n_scores == len(keys) * N_SCORES
        assert store.count_results(run_id) == len(keys)
        ordered = [r.case_id for r in store.iter_results(run_id, batch_size=333)]
        assert ordered == sorted(ordered) and len(ordered) == len(set(ordered))
        return len(per_batch)


def test_committed_batches_survive_kill_9(store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    rng = random.Random(1234)
    run_id = "kill9"
    stored = 0
    for round_no in range(3):
        last, readded = _run_child_and_kill(script, store_url, run_id, rng)
        assert last is not None
        if round_no:
            assert readded == 0  # re-sending an already committed batch stores nothing
        n_batches = _check_batches(store_url, run_id)
        # Everything reported committed is there; at most the one in-flight batch beyond it.
        assert n_batches in (last + 1, last + 2), (n_batches, last)
        assert n_batches > stored
        stored = n_batches


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sqlite_wal_files_are_recovered_on_reopen(tmp_path: Path) -> None:
    """After kill -9 the WAL still holds committed pages; reopening must replay it, not discard it."""
    url = f"sqlite:///{tmp_path}/wal.db"
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    last, _ = _run_child_and_kill(script, url, "wal", random.Random(7))
    assert (tmp_path / "wal.db-wal").exists()  # no checkpoint-on-close happened: the WAL is live
    assert last is not None and _check_batches(url, "wal") >= last + 1
