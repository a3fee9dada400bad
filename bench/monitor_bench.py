"""Monitoring benchmarks: ingest throughput (store layer, file, SDK, HTTP) and window aggregation.

Every figure is printed next to a baseline measured in the same run: plain ``executemany`` inserts of
the same rows into a SQLite table with the same columns and the same unique index (WAL, synchronous
NORMAL, one transaction per batch) for ingest, and a plain SQL GROUP BY over the raw events for
aggregation. The ingest section runs ``--repeat`` times (other processes share the machine): the table
shows each path's median, its range, and its median ratio to the baseline of the same repetition.

    .venv/bin/python bench/monitor_bench.py                 # defaults: 50,000 events x 3, 1,000,000 for windows
    .venv/bin/python bench/monitor_bench.py --n 20000 --repeat 1 --agg-n 0   # quicker, no aggregation

Targets (issue "live telemetry"): >= 20,000 events/s into SQLite through the SDK or the file path,
>= 5,000 events/s over HTTP, window aggregation over 1,000,000 stored events < 1 s.

File ingest runs with its default number of worker processes (``--workers``: cores - 1; they validate and
anonymise while the main process writes) and, for comparison, with none; the file path's figure includes
starting them. The SDK runs with one worker per core (``Monitor(workers=N)``: they also commit, so the
app's process only hands them batches) and with none, measured once the monitor is up (a long-lived
monitor's sustained rate: one event is logged and flushed before the clock starts).

The events repeat 500 questions (a redaction cache helps, as with real FAQ traffic); the "unique texts"
row gives every event its own question, so every text goes through the PII detectors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.ingest import Ingestor, ingest_file
from assay.monitor.sdk import Monitor
from assay.monitor.sketch import value_bin
from assay.monitor.windows import aggregate
from assay.monitor.workers import default_worker_count
from assay.store import open_store
from assay.store.events import EVENT_COLUMNS

KEY = b"bench-key"
QUESTIONS = [f"How do I export notebook {i} to PDF and keep the attachments?" for i in range(500)]


def make_events(
    n: int, t0: float, rate_per_s: float, tag: str, *, unique_texts: bool = False
) -> list[dict[str, Any]]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        question = QUESTIONS[i % len(QUESTIONS)]
        if unique_texts:
            question = f"{question} It worked before update {i} of the desktop app, which I installed today."
        out.append(
            {
                "event_id": f"{tag}-{i}",
                "ts": t0 + i / rate_per_s,
                "app": ("support-bot", "search")[i % 2],
                "variant": ("A", "B")[i % 3 == 0],
                "model": "m1",
                "input": question + (" mail me at ann@example.com" if i % 10 == 0 else ""),
                "output": "Open Settings > Export, choose PDF and tick 'include attachments'.",
                "latency_s": rng.lognormvariate(-1.0, 0.5),
                "usage": {"input_tokens": 40, "output_tokens": 25},
                "cost_usd": 0.00002,
                "user_id": f"user-{i % 997}",
                "session_id": f"session-{i % 5003}",
                "metadata": {"topic": ("billing", "sync", "export")[i % 3]},
            }
        )
    return out


def baseline_executemany(rows: list[tuple[Any, ...]], folder: Path, batch: int) -> float:
    """Plain sqlite3 executemany of already built rows: the ceiling for any ingest path."""
    db = folder / "baseline.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    cols = ", ".join(EVENT_COLUMNS)
    con.execute(f"CREATE TABLE events (seq INTEGER PRIMARY KEY, {cols})")
    con.execute("CREATE UNIQUE INDEX ux ON events (event_id)")
    sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) ON CONFLICT (event_id) DO NOTHING"
    start = time.perf_counter()
    for k in range(0, len(rows), batch):
        con.execute("BEGIN IMMEDIATE")
        con.executemany(sql, rows[k : k + batch])
        con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return len(rows) / elapsed


SDK_TARGET = FILE_TARGET = 20_000
HTTP_TARGET = 5_000
Row = tuple[str, float, str, int | None]  # label, events/s, note, target


def bench_ingest(n: int, folder: Path) -> list[Row]:
    results: list[Row] = []
    t0 = time.time() - 3600
    # rows as the ingestor builds them (for the baseline and the store layer)
    store = open_store(f"sqlite:///{folder / 'rows.db'}")
    ing = Ingestor(store, AnonymisationConfig.keep_text(), key=KEY)
    rows = ing.prepare_batch(make_events(n, t0, 20_000, "rows"), rows=True).rows
    base = baseline_executemany(rows, folder, 2000)
    results.append(
        ("baseline: sqlite3 executemany of built rows", base, "same columns, unique event_id", None)
    )
    start = time.perf_counter()
    for k in range(0, n, 2000):
        store.events.insert_events(rows[k : k + 2000])
    rate = n / (time.perf_counter() - start)
    results.append(("store layer: insert_events (dedup + rollups)", rate, "built rows", None))
    store.close()

    workers = default_worker_count()
    for label, anon, unique, w in (
        ("ids hashed, texts kept", AnonymisationConfig.keep_text(), False, workers),
        ("PII redaction on", AnonymisationConfig(), False, workers),
        ("PII redaction on, unique texts", AnonymisationConfig(), True, workers),
        ("PII redaction on", AnonymisationConfig(), False, 0),
    ):
        path = folder / f"events-{len(results)}.jsonl"
        with path.open("w") as fh:
            for e in make_events(n, t0, 20_000, f"file{len(results)}", unique_texts=unique):
                fh.write(json.dumps(e) + "\n")
        store = open_store(f"sqlite:///{folder / f'file{len(results)}.db'}")
        start = time.perf_counter()
        report = ingest_file(path, Ingestor(store, anon, key=KEY), batch_size=2000, workers=w)
        rate = report.accepted / (time.perf_counter() - start)
        store.close()
        target = None if unique else FILE_TARGET
        results.append(
            (f"file: assay monitor ingest ({label}), {w} workers", rate, f"{report.accepted} stored", target)
        )

    cores = os.cpu_count() or 1  # SDK workers commit too: the app's process only sends them batches
    for label, anon, w in (
        ("ids hashed, texts kept", AnonymisationConfig.keep_text(), cores),
        ("PII redaction on", AnonymisationConfig(), cores),
        ("PII redaction on", AnonymisationConfig(), 0),
    ):
        evs = make_events(n, t0, 20_000, f"sdk{len(results)}")
        url = f"sqlite:///{folder / f'sdk{len(results)}.db'}"
        monitor = Monitor(
            url,
            anonymisation=anon,
            key=KEY,
            batch_size=2000,
            max_buffer=n + 1,
            flush_interval_s=0.05,
            workers=w,
        )
        monitor.log(event_id=f"warm-up-{len(results)}")  # a long-lived monitor: its workers are up
        monitor.flush(60)
        start = time.perf_counter()
        for e in evs:
            monitor.log(**e)
        app_s = time.perf_counter() - start
        monitor.flush(600)
        total = time.perf_counter() - start
        stats = monitor.stats()
        monitor.close()
        note = f"log() {1e6 * app_s / n:.1f} µs/event on the app thread"
        results.append(
            (f"SDK -> store ({label}), {w} workers", (stats["sent"] - 1) / total, note, SDK_TARGET)
        )
    return results


def bench_http(n: int, folder: Path, clients: int = 2, batch: int = 500) -> Row:
    url = f"sqlite:///{folder / 'http.db'}"
    env = {**os.environ, "ASSAY_MONITOR_KEY": "bench"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay.monitor.http", "--store", url, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[-1]
        import httpx

        events = make_events(n, time.time() - 3600, 20_000, "http")
        bodies = [json.dumps({"events": events[k : k + batch]}).encode() for k in range(0, n, batch)]
        accepted = [0] * clients

        def client(i: int) -> None:
            with httpx.Client(timeout=60) as http:
                for body in bodies[i::clients]:
                    r = http.post(
                        f"{base}/v1/events", content=body, headers={"Content-Type": "application/json"}
                    )
                    accepted[i] += r.json()["accepted"]

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = sum(accepted) / (time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait(10)
    return (
        f"HTTP POST /v1/events ({clients} clients, {batch}/batch, PII redaction on)",
        rate,
        f"{sum(accepted)} stored",
        HTTP_TARGET,
    )


def bench_aggregation(n: int, folder: Path) -> list[tuple[str, float, str]]:
    """Load ``n`` events over one day, then time window queries (seconds, best of 3)."""
    store = open_store(f"sqlite:///{folder / 'agg.db'}")
    es = store.events
    day = datetime(2025, 3, 3, tzinfo=UTC)
    t0 = day.timestamp()
    rng = random.Random(1)
    now = es.db_datetime(datetime.now(UTC))
    pos = {c: i for i, c in enumerate(EVENT_COLUMNS)}
    load_start = time.perf_counter()
    chunk = 20_000
    for k in range(0, n, chunk):
        rows = []
        for i in range(k, min(n, k + chunk)):
            ts = t0 + i * 86400 / n
            lat = rng.lognormvariate(-1.0, 0.5)
            row: list[Any] = [None] * len(EVENT_COLUMNS)
            row[pos["event_id"]] = f"e{i}"
            row[pos["ts"]] = es.db_datetime(datetime.fromtimestamp(ts, UTC))
            row[pos["t_unix"]] = ts
            row[pos["app"]] = ("support-bot", "search")[i % 2]
            row[pos["variant"]] = ("A", "B")[i % 3 == 0]
            row[pos["model"]] = "m1"
            row[pos["is_error"]] = int(i % 50 == 0)
            row[pos["latency_s"]] = lat
            row[pos["latency_bin"]] = value_bin(lat)
            row[pos["input_tokens"]], row[pos["output_tokens"]], row[pos["cost_usd"]] = 40, 25, 2e-5
            row[pos["thumbs_up"]] = None if i % 4 else int(i % 3 != 0)
            row[pos["event_json"]] = "{}"
            row[pos["ingested_at"]] = now
            rows.append(tuple(row))
        es.insert_events(rows)
    load_s = time.perf_counter() - load_start
    results = [(f"load {n:,} events over one day (store layer)", n / load_s, "events/s")]

    def best(fn: Any) -> float:
        times = []
        for _ in range(3):
            s = time.perf_counter()
            fn()
            times.append(time.perf_counter() - s)
        return min(times)

    end = day + timedelta(days=1)
    raw_sql = (
        "SELECT CAST((t_unix - ?) / 3600 AS INTEGER) AS b, app, variant, model, count(*), sum(is_error), "
        "sum(latency_s), sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM events "
        "WHERE t_unix >= ? AND t_unix < ? GROUP BY b, app, variant, model"
    )
    with sqlite3.connect(folder / "agg.db") as con:
        raw = best(lambda: con.execute(raw_sql, (t0, t0, t0 + 86400)).fetchall())
    results.append(("baseline: raw SQL GROUP BY hour (counts and sums only, no percentiles)", raw, "s"))
    cases = [
        ("24 windows of 1h x app/variant/model (with p50/p95/p99)", {"step": "1h"}),
        ("1 window of 24h x app/variant/model", {"step": None}),
        ("1 window of 24h, all apps together", {"step": None, "by": []}),
        (
            "1 window of 23h13m (unaligned edges from minute rollups)",
            {"step": None, "start": day + timedelta(minutes=17), "end": end - timedelta(minutes=30)},
        ),
        ("60 windows of 1m over the last hour", {"step": "1m", "start": end - timedelta(hours=1)}),
    ]
    for label, kw in cases:
        args = {"start": day, "end": end, **kw}
        elapsed = best(lambda args=args: aggregate(store, **args))
        n_windows = len(aggregate(store, **args))
        results.append((label, elapsed, f"s ({n_windows} aggregates)"))
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000, help="Events per ingest benchmark.")
    parser.add_argument("--http-n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="Repetitions of the ingest section.")
    parser.add_argument(
        "--agg-n", type=int, default=1_000_000, help="Stored events for the window benchmark (0: skip)."
    )
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"monitor bench · {os.cpu_count()} cores · load average {load:.1f} · python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs: list[list[Row]] = []
        for r in range(args.repeat):
            sub = folder / f"run{r}"
            sub.mkdir()
            rows = bench_ingest(args.n, sub)
            rows.append(bench_http(args.http_n, sub))
            runs.append(rows)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"  repetition {r + 1}/{args.repeat} done (load average {load:.1f})", flush=True)
        print(
            f"\ningest of {args.n:,} events into SQLite (events/s, higher is better; median of {args.repeat}, "
            "range, median ratio to the baseline of the same repetition)"
        )
        for i, (label, _, note, target) in enumerate(runs[-1]):
            rates = [run[i][1] for run in runs]
            ratios = [run[i][1] / run[0][1] for run in runs]
            med = statistics.median(rates)
            verdict = "" if target is None else f"{'✓' if med >= target else '✗'} target {target:,}/s"
            print(
                f"  {label:<70} {med:>9,.0f}/s  [{min(rates):>7,.0f}–{max(rates):<7,.0f}]  "
                f"{100 * statistics.median(ratios):5.1f}% of baseline  {verdict:<20} {note}"
            )
        if args.agg_n <= 0:
            return
        print(f"\nwindow aggregation over {args.agg_n:,} stored events (seconds, best of 3, lower is better)")
        agg = bench_aggregation(args.agg_n, folder)
        label, rate, note = agg[0]
        print(f"  {label:<62} {rate:>10,.0f}/s")
        for label, secs, note in agg[1:]:
            print(f"  {label:<62} {secs:>10.3f} {note}")


if __name__ == "__main__":
    main()
