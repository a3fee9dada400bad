"""Throughput of ``Store.add_results``: batches of 50 results with 5 scores each, as the runner commits.

Prints a table: assay's store on a SQLite file (WAL, synchronous=NORMAL), the same batches re-added
(the idempotent path a resumed run takes), ``iter_results`` read-back, and as the baseline a bare
``sqlite3`` loop writing the same rows with the same pragmas and one transaction per batch (no
SQLAlchemy, no idempotency check). With ``ASSAY_TEST_POSTGRES_URL`` set, PostgreSQL is measured too.

    .venv/bin/python bench/store_bench.py [--results 20000] [--batch 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.store import ResultRecord, RunRecord, Store, open_store
from assay.store.schema import metadata

SCORES = ("exact_match", "contains", "token_f1", "latency", "cost")


def make_results(run_id: str, n: int) -> list[ResultRecord]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        case: dict[str, Any] = {
            "id": f"case-{i:06d}",
            "input": f"How do I reset the password of account {i}? I tried the settings page twice already.",
            "expected": "Open Settings > Security and choose Reset password.",
            "context": [],
            "metadata": {"category": ["account", "billing", "shipping"][i % 3], "language": "en"},
        }
        output = {
            "text": "Open Settings > Security and choose Reset password; a link is e-mailed to you.",
            "contexts": [
                {"id": f"kb-{i % 40}", "text": "Passwords are reset from Settings > Security.", "score": 3.2}
            ],
            "usage": {"input_tokens": 120, "output_tokens": 24},
            "latency_s": 0.21,
            "ttft_s": None,
            "cost_usd": 0.0000324,
            "confidence": None,
            "logprobs": None,
            "error": None,
        }
        scores: list[dict[str, Any]] = [
            {
                "name": name,
                "value": (i % 2 == 0) if k < 2 else 0.1 * (i % 10),
                "kind": "binary" if k < 2 else "continuous",
                "higher_is_better": k < 3,
                "explanation": "",
                "metadata": {},
                "error": None,
            }
            for k, name in enumerate(SCORES)
        ]
        out.append(
            ResultRecord(
                run_id=run_id,
                case_id=case["id"],
                repeat=0,
                case=case,
                output=output,
                scores=scores,
                error_kind=None,
                error_message=None,
                latency_s=0.21,
                ttft_s=None,
                cost_usd=0.0000324,
                input_tokens=120,
                output_tokens=24,
                attempts=1,
                cached=False,
                created_at=now,
            )
        )
    return out


def new_run(store: Store, run_id: str, n: int) -> None:
    store.create_run(
        RunRecord(run_id, "bench", "running", datetime.now(UTC), None, n, {}, {}, None),
    )


def bench_store(url: str, n: int, batch: int) -> list[tuple[str, int, float]]:
    rows: list[tuple[str, int, float]] = []
    with open_store(url) as store:
        run_id = uuid.uuid4().hex
        new_run(store, run_id, n)
        results = make_results(run_id, n)
        batches = [results[i : i + batch] for i in range(0, n, batch)]
        t0 = time.perf_counter()
        added = sum(store.add_results(b) for b in batches)
        rows.append(("add_results (new)", added, time.perf_counter() - t0))
        t0 = time.perf_counter()
        again = sum(store.add_results(b) for b in batches)
        assert again == 0
        rows.append(("add_results (all already stored)", n, time.perf_counter() - t0))
        t0 = time.perf_counter()
        read = sum(1 for _ in store.iter_results(run_id))
        rows.append(("iter_results", read, time.perf_counter() - t0))
        t0 = time.perf_counter()
        store.delete_run(run_id)
        rows.append(("delete_run", n, time.perf_counter() - t0))
    return rows


def bench_raw_sqlite(path: Path, n: int, batch: int) -> tuple[str, int, float]:
    """Baseline: the same rows through bare sqlite3 (json.dumps included), one transaction per batch."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    results = make_results("raw", n)
    t0 = time.perf_counter()
    seq = 0
    for start in range(0, n, batch):
        res_rows, score_rows = [], []
        for r in results[start : start + batch]:
            seq += 1
            res_rows.append(
                (r.run_id, r.case_id, r.repeat, seq, json.dumps(r.case), json.dumps(r.output), r.error_kind,
                 r.error_message, r.latency_s, r.ttft_s, r.cost_usd, r.input_tokens, r.output_tokens,
                 r.attempts, int(r.cached), r.created_at.isoformat())
            )  # fmt: skip
            for idx, s in enumerate(r.scores):
                score_rows.append(
                    (r.run_id, r.case_id, r.repeat, seq, idx, s["name"], float(s["value"]), isinstance(s["value"], bool),
                     s["kind"], s["higher_is_better"], s["error"], s["explanation"], json.dumps(s["metadata"]))
                )  # fmt: skip
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO results VALUES (" + ",".join("?" * 16) + ")", res_rows)
        conn.executemany("INSERT INTO scores VALUES (" + ",".join("?" * 13) + ")", score_rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return ("baseline: bare sqlite3 executemany", n, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    table: list[tuple[str, str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, n, secs in bench_store(f"sqlite:///{tmp}/bench.db", args.results, args.batch):
            table.append(("sqlite", label, n, secs))
        label, n, secs = bench_raw_sqlite(Path(tmp) / "raw.db", args.results, args.batch)
        table.append(("sqlite", label, n, secs))
    pg_url = os.environ.get("ASSAY_TEST_POSTGRES_URL")
    if pg_url:
        for label, n, secs in bench_store(pg_url, args.results, args.batch):
            table.append(("postgresql", label, n, secs))
    print(f"batches of {args.batch} results, {len(SCORES)} scores each")
    print(f"{'backend':<11} {'operation':<36} {'results':>8} {'seconds':>8} {'results/s':>10}")
    for backend, label, n, secs in table:
        print(f"{backend:<11} {label:<36} {n:>8} {secs:>8.2f} {n / secs:>10,.0f}")


if __name__ == "__main__":
    main()
