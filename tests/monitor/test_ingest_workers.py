"""Ingest workers (other processes preparing batches) change the speed, never the result: the same rows,
counts and rejections as preparing in-process; a worker killed with batches in hand loses nothing; the
hash key never appears on a worker's command line or in its environment."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.ingest import Ingestor, IngestPipeline, IngestResult, ingest_file
from assay.monitor.prepare import Preparer
from assay.monitor.workers import PrepareWorkers
from assay.store import open_store
from assay.store.rollups import EVENT_COLUMNS
from tests.monitor.conftest import KEY, T0, make_event

NOW = datetime(2025, 3, 2, tzinfo=UTC)
pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")


def _lines(n: int) -> list[bytes]:
    """``n`` JSON lines: mostly valid events (some with personal data), plus every kind of bad line."""
    out: list[bytes] = []
    for i in range(n):
        if i % 97 == 5:
            out.append(b'{"event_id": "broken", ')  # not JSON
        elif i % 89 == 7:
            out.append(b'{"event_id": "latin1", "input": "caf\xe9"}')  # not UTF-8
        elif i % 83 == 9:
            out.append(json.dumps(make_event(i, latency_s="slow")).encode())  # invalid event
        elif i % 79 == 11:
            out.append(json.dumps(make_event(i - 1)).encode())  # a duplicate id
        else:
            ev = make_event(i, input=f"question {i}: mail ann{i}@example.com", user_id=f"u{i % 7}")
            if i % 5 == 0:
                ev["feedback"] = {"thumbs_up": i % 2 == 0, "comment": f"call 0207 946 {i:04d}"}
            if i % 11 == 0:
                ev["spans"] = [{"name": "retrieval", "duration_s": 0.1}]  # the model's lane
            out.append(json.dumps(ev).encode())
    return out


def _stored(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the events and rollup tables (events without ``seq``: insertion order may differ
    across batches; everything else may not)."""
    out = {}
    with sqlite3.connect(path) as con:
        for table, order in (("events", "event_id"), ("event_rollups", "1, 2, 3, 4, 5"),
                             ("event_rollup_bins", "1, 2, 3, 4, 5, 6, 7")):  # fmt: skip
            cur = con.execute(f"SELECT * FROM {table} ORDER BY {order}")
            cols = [d[0] for d in cur.description]
            out[table] = [tuple(v for c, v in zip(cols, r, strict=True) if c != "seq") for r in cur]
    assert out["events"] and out["event_rollups"] and out["event_rollup_bins"]
    return out


@pytest.fixture
def preparer() -> Preparer:
    return Preparer(AnonymisationConfig(), key=KEY)


def test_workers_prepare_exactly_what_the_parent_would(preparer: Preparer) -> None:
    lines = _lines(600)
    batches = [lines[k : k + 100] for k in range(0, len(lines), 100)]
    with PrepareWorkers(preparer, 2) as workers:
        assert workers.wait_ready(60)
        futures = [workers.submit_lines(b, NOW) for b in batches]
        objects = [json.loads(line) for line in batches[1] if b"broken" not in line and b"\xe9" not in line]
        futures.append(workers.submit_objects(objects, None, NOW))
        got = [f.result(60) for f in futures]
        assert workers.remote == len(futures) and workers.local == 0
    want = [preparer.prepare_lines(b, now=NOW) for b in batches]
    want.append(preparer.prepare_batch(objects, rows=True, now=NOW))
    for g, w in zip(got, want, strict=True):
        assert g.rows == w.rows
        assert g.result == w.result
    rejected = [r.error for g in got[:-1] for r in g.result.rejected]
    assert any("invalid JSON" in e for e in rejected) and any("not valid UTF-8" in e for e in rejected)
    assert any("latency_s" in e for e in rejected)
    assert all("@example.com" not in str(row) for g in got for row in g.rows)


def test_file_ingest_with_workers_stores_what_the_parent_alone_stores(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(_lines(3000)) + b"\n\n")
    reports = {}
    for workers in (0, 2):
        db = tmp_path / f"w{workers}.db"
        store = open_store(f"sqlite:///{db}")
        ing = Ingestor(store, key=KEY, now=lambda: NOW)
        reports[workers] = ingest_file(path, ing, batch_size=150, workers=workers).to_dict()
        store.close()
    assert reports[0]["accepted"] > 2500
    assert reports[2] == reports[0]
    assert _stored(tmp_path / "w2.db") == _stored(tmp_path / "w0.db")


def test_pipeline_with_started_workers_stores_the_same_events_and_rollups(tmp_path: Path) -> None:
    """Workers also add up each batch's rollups; the writer uses them when every row is new and
    recomputes them when some are duplicates (the second round repeats half the events)."""
    batches = [[json.dumps(make_event(k * 50 + i)).encode() for i in range(50)] for k in range(8)]
    batches += [[json.dumps(make_event(k * 50 + i)).encode() for i in range(25, 75)] for k in range(8)]
    for workers in (0, 2):
        store = open_store(f"sqlite:///{tmp_path}/w{workers}.db")
        ing = Ingestor(store, key=KEY, now=lambda: NOW)
        done: list[tuple[int, int, int]] = []
        with IngestPipeline(ing, workers=workers) as pipe:
            pool = pipe.start_workers(wait_s=60)
            assert (pool is not None and pool.ready == 2) if workers else pool is None
            for k, batch in enumerate(batches):

                def ack(
                    r: IngestResult | None, e: BaseException | None, k: int = k, done: list[Any] = done
                ) -> None:
                    assert e is None and r is not None
                    done.append((k, r.accepted, r.duplicates))

                pipe.submit_lines(batch, ack)
            if pool is not None:
                assert pool.remote > 0
        # acknowledged in submission order, after their commits; the repeats are duplicates
        assert [k for k, _, _ in done] == list(range(16))
        assert sum(a for _, a, _ in done) == 425 and sum(d for _, _, d in done) == 375
        assert store.events.count_events() == 425
        first = store.events.get_event("ev-0")
        assert first is not None and first["ts"].startswith(T0.date().isoformat())
        store.close()
    assert _stored(tmp_path / "w2.db") == _stored(tmp_path / "w0.db")


def test_a_killed_worker_loses_no_batch(tmp_path: Path, preparer: Preparer) -> None:
    lines = _lines(4000)
    batches = [lines[k : k + 200] for k in range(0, len(lines), 200)]
    with PrepareWorkers(preparer, 2) as workers:
        assert workers.wait_ready(60)
        futures = [workers.submit_lines(b, NOW) for b in batches]
        os.kill(workers.pids[0], signal.SIGKILL)  # with batches queued for it
        got = [f.result(120) for f in futures]
        assert workers.local > 0  # the parent prepared the lost worker's batches
        assert workers.ready == 1
        later = workers.submit_lines(batches[0], NOW).result(60)  # the survivor still takes work
    want = [preparer.prepare_lines(b, now=NOW) for b in batches]
    assert [g.rows for g in got] == [w.rows for w in want]
    assert [g.result for g in got] == [w.result for w in want]
    assert later.rows == want[0].rows


def test_the_hash_key_is_not_on_the_command_line_or_in_the_environment() -> None:
    secret = b"k3y-that-must-not-leak-0123456789"
    with PrepareWorkers(Preparer(key=secret), 1) as workers:
        assert workers.wait_ready(60)
        pid = workers.pids[0]
        for name in ("cmdline", "environ"):
            assert secret not in Path(f"/proc/{pid}/{name}").read_bytes()
        batch = workers.submit_lines([json.dumps({"event_id": "a", "user_id": "ann"}).encode()], NOW).result(
            60
        )
    assert "ann" not in batch.rows[0][-2]  # the id is hashed with the key the worker was given
    assert (
        batch.rows
        == Preparer(key=secret)
        .prepare_lines([json.dumps({"event_id": "a", "user_id": "ann"}).encode()], now=NOW)
        .rows
    )


def _sdk_events(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        ev = make_event(i, input=f"question {i}: mail ann{i}@example.com", user_id=f"u{i % 7}")
        if i % 50 == 3:
            ev["latency_s"] = "slow"  # rejected, counted, never stored
        if i % 9 == 0:
            ev["spans"] = [{"name": "retrieval", "duration_s": 0.1}]
        out.append(ev)
    return out


def test_sdk_workers_commit_the_same_events_and_rollups(tmp_path: Path) -> None:
    from assay.monitor.sdk import Monitor

    stats = {}
    for workers in (0, 2):
        monitor = Monitor(
            f"sqlite:///{tmp_path}/sdk{workers}.db", key=KEY, batch_size=100, flush_interval_s=0.01,
            max_buffer=10_000, workers=workers,
        )  # fmt: skip
        for ev in _sdk_events(1500):
            monitor.log(**ev)
        assert monitor.flush(120)
        stats[workers] = {k: v for k, v in monitor.stats().items()}
        if workers:
            assert monitor._sink is not None and monitor._sink.pool.remote > 0  # the workers committed
        monitor.close()
    assert stats[2] == stats[0] and stats[0]["sent"] == 1470 and stats[0]["rejected"] == 30
    got, want = _stored(tmp_path / "sdk2.db"), _stored(tmp_path / "sdk0.db")
    strip = EVENT_COLUMNS.index("ingested_at")  # the one column that depends on when it was written
    assert [r[:strip] + r[strip + 1 :] for r in got.pop("events")] == [
        r[:strip] + r[strip + 1 :] for r in want.pop("events")
    ]
    # two workers commit in either order: float sums may differ in the last digit, nothing else
    assert got.keys() == want.keys()
    for table in got:
        assert len(got[table]) == len(want[table])
        for g, w in zip(got[table], want[table], strict=True):
            assert len(g) == len(w)
            for x, y in zip(g, w, strict=True):
                assert x == y or (isinstance(x, float) and math.isclose(x, y, rel_tol=1e-12)), (table, g, w)


def test_sdk_retries_the_batches_of_a_killed_worker(tmp_path: Path) -> None:
    from assay.monitor.sdk import Monitor

    monitor = Monitor(
        f"sqlite:///{tmp_path}/sdk.db", key=KEY, batch_size=200, flush_interval_s=0.01, max_buffer=20_000,
        retry_backoff_s=0.01, workers=2,
    )  # fmt: skip
    events = [make_event(i) for i in range(6000)]
    for ev in events[:200]:
        monitor.log(**ev)
    assert monitor.flush(120)
    pool = monitor._sink.pool  # type: ignore[union-attr]
    assert pool.wait_ready(60)
    for ev in events[200:]:
        monitor.log(**ev)
    os.kill(pool.pids[0], signal.SIGKILL)  # while batches are in flight to it
    assert monitor.flush(120)
    stats = monitor.stats()
    monitor.close()
    assert stats["failed"] == 0 and stats["dropped"] == 0
    assert (
        stats["sent"] + stats["duplicates"] >= 6000
    )  # a batch the worker committed before dying is a duplicate
    with sqlite3.connect(tmp_path / "sdk.db") as con:
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (6000, 6000)


def test_kill_9_of_the_ingest_command_leaves_no_worker_and_a_rerun_completes(tmp_path: Path) -> None:
    """``assay monitor ingest`` killed mid-file: its workers exit with it (their stdin closes), every
    committed batch stays, and ingesting the file again stores the rest, nothing twice."""
    import subprocess
    import sys
    import time

    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(json.dumps(make_event(i)).encode() for i in range(60_000)) + b"\n")
    db = tmp_path / "kill.db"
    cmd = [sys.executable, "-m", "assay.cli", "monitor", "ingest", str(path), "--store", f"sqlite:///{db}"]
    env = {**os.environ, "ASSAY_MONITOR_KEY": "k"}
    proc = subprocess.Popen([*cmd, "--workers", "1", "--batch-size", "500"], env=env)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and not workers:  # wait until its worker has started
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        workers = [int(p) for p in children.read_text().split()] if children.exists() else []
        time.sleep(0.05)
    assert workers, "the ingest command never started a worker"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)

    def running(pid: int) -> bool:  # an exited worker may linger as a zombie until init reaps it
        try:
            return "zombie" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(running(w) for w in workers):
        time.sleep(0.05)
    assert not any(running(w) for w in workers), "a worker outlived the killed ingest command"
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT count(*) FROM events").fetchone()[0]
    assert 0 < before < 60_000
    done = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    assert report["accepted"] == 60_000 - before and report["duplicates"] == before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (
            60_000,
            60_000,
        )


def test_without_processes_ingest_goes_on_in_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no process can be started (a sandbox, a process limit), the file and the SDK still store
    every event: the work stays in this process."""
    import subprocess

    from assay.monitor import workers as workers_module
    from assay.monitor.sdk import Monitor

    def refuse(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(workers_module.subprocess, "Popen", refuse)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(json.dumps(make_event(i)).encode() for i in range(900)) + b"\n")
    store = open_store(f"sqlite:///{tmp_path}/file.db")
    report = ingest_file(path, Ingestor(store, key=KEY), batch_size=200, workers=2)
    assert report.accepted == 900 and store.events.count_events() == 900
    store.close()
    monitor = Monitor(
        f"sqlite:///{tmp_path}/sdk.db", key=KEY, batch_size=100, flush_interval_s=0.01, workers=2
    )
    for i in range(500):
        monitor.log(**make_event(i))
    assert monitor.flush(60)
    assert monitor.stats()["sent"] == 500
    monitor.close()
