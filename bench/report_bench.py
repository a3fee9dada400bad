"""Report and dashboard performance on a 10,000-case run (issue: dashboard, HTML reports, cards).

Targets: the run page renders in under 1 s server-side (the case table is paginated); the static report
of 10,000 cases is under 15 MB. The baseline, measured in the same run, is one full streaming read of the
run's results through ``Store.iter_results`` (what any page that showed every case would pay at least).

    .venv/bin/python bench/report_bench.py [--cases 10000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WORDS = [
    "refund",
    "order",
    "shipping",
    "invoice",
    "account",
    "password",
    "delivery",
    "warranty",
    "return",
    "payment",
    "card",
    "address",
]


def seed(url: str, n: int, run_id: str, rng: random.Random) -> None:
    from assay.runner.summary import MetricAccumulator, RunSummary, evaluate_thresholds
    from assay.store import open_store
    from assay.store.records import ResultRecord, RunRecord

    now = datetime.now(UTC)
    records: list[ResultRecord] = []
    acc = MetricAccumulator()
    for i in range(n):
        question = " ".join(rng.choice(WORDS) for _ in range(30))
        expected = " ".join(rng.choice(WORDS) for _ in range(25))
        answer = expected if rng.random() < 0.8 else " ".join(rng.choice(WORDS) for _ in range(40))
        err = rng.random() < 0.01
        em = answer == expected
        scores = (
            []
            if err
            else [
                {
                    "name": "exact_match",
                    "value": em,
                    "kind": "binary",
                    "higher_is_better": True,
                    "explanation": "",
                    "metadata": {},
                    "error": None,
                },
                {
                    "name": "token_f1",
                    "value": 1.0 if em else rng.random(),
                    "kind": "proportion",
                    "higher_is_better": True,
                    "explanation": "F1",
                    "metadata": {},
                    "error": None,
                },
            ]
        )
        lat = rng.lognormvariate(-1.5, 0.5)
        rec = ResultRecord(
            run_id=run_id,
            case_id=f"case-{i:05d}",
            repeat=0,
            case={
                "id": f"case-{i:05d}",
                "input": question,
                "expected": expected,
                "context": [],
                "metadata": {
                    "category": rng.choice(["billing", "shipping", "tech", "account"]),
                    "language": rng.choice(["en", "de", "fr"]),
                },
            },
            output={
                "text": "" if err else answer,
                "error": {"kind": "timeout", "message": "slow"} if err else None,
            },
            scores=scores,
            error_kind="timeout" if err else None,
            error_message="slow" if err else None,
            latency_s=None if err else lat,
            ttft_s=None,
            cost_usd=0.0002,
            input_tokens=60,
            output_tokens=40,
            attempts=1,
            cached=False,
            created_at=now,
        )
        records.append(rec)
        acc.add_result(
            case_id=rec.case_id,
            scores=rec.scores,
            error_kind=rec.error_kind,
            latency_s=rec.latency_s,
            input_tokens=60,
            output_tokens=40,
            cost_usd=0.0002,
        )
    metrics = acc.metric_summaries(repeats=1)
    latency = acc.latency_summary()
    summary = RunSummary(
        run_id=run_id,
        suite="bench",
        status="completed",
        n_cases=n,
        n_results=n,
        n_errors=acc.n_target_errors,
        errors_by_kind=dict(acc.errors_by_kind),
        metrics=metrics,
        latency_s=latency,
        tokens={"input": acc.input_tokens, "output": acc.output_tokens},
        cost_usd=acc.cost_usd,
        thresholds=evaluate_thresholds({"exact_match": {"min": 0.75}}, metrics, latency),
    )
    with open_store(url) as st:
        st.create_run(RunRecord(run_id, "bench", "running", now, None, n, {}, {"dataset_sha256": "x"}, None))
        for start in range(0, n, 1000):
            st.add_results(records[start : start + 1000])
        st.update_run(run_id, status="completed", summary=summary.to_json_dict(), finished_at=now)


def timed(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from assay.report.html import render_report
    from assay.server import create_app
    from assay.store import open_store

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t = time.perf_counter()
        seed(url, args.cases, "bench-a", rng)
        seed(url, args.cases, "bench-b", rng)
        print(f"seeded 2 runs x {args.cases} cases in {time.perf_counter() - t:.1f} s\n")
        rows: list[tuple[str, str, str]] = []
        with open_store(url) as st:
            base, _ = timed(lambda: sum(1 for _ in st.iter_results("bench-a")))
            rows.append(("baseline: stream every result (iter_results)", f"{base * 1000:.0f} ms", ""))
            t_report, html = timed(lambda: render_report(st, "bench-a"), repeat=1)
            size = len(html.encode("utf-8")) / 1e6
            rows.append(("static report: render", f"{t_report * 1000:.0f} ms", ""))
            rows.append(
                ("static report: size", f"{size:.1f} MB", "PASS" if size < 15 else "FAIL (target < 15 MB)")
            )
            t_cmp, _ = timed(lambda: render_report(st, "bench-a", compare=["bench-b"]), repeat=1)
            rows.append(("static report with comparison: render", f"{t_cmp * 1000:.0f} ms", ""))
        with TestClient(create_app(url)) as client:
            t_cold, r = timed(lambda: client.get("/runs/bench-a"), repeat=1)
            assert r.status_code == 200
            rows.append(
                (
                    "run page, cold (builds view: slices, histograms)",
                    f"{t_cold * 1000:.0f} ms",
                    "PASS" if t_cold < 1 else "FAIL (target < 1 s)",
                )
            )
            t_warm, _ = timed(lambda: client.get("/runs/bench-a"))
            rows.append(
                (
                    "run page, warm (view cached; page of 50 cases)",
                    f"{t_warm * 1000:.0f} ms",
                    "PASS" if t_warm < 1 else "FAIL",
                )
            )
            t_last, _ = timed(lambda: client.get("/runs/bench-a", params={"page": args.cases // 50}))
            rows.append(("run page, last page", f"{t_last * 1000:.0f} ms", ""))
            t_filter, _ = timed(
                lambda: client.get("/runs/bench-a", params={"failing": "exact_match", "sort": "token_f1"})
            )
            rows.append(
                (
                    "run page, failing filter + worst-first sort",
                    f"{t_filter * 1000:.0f} ms",
                    "PASS" if t_filter < 1 else "FAIL",
                )
            )
            t_search, _ = timed(lambda: client.get("/runs/bench-a", params={"q": "warranty refund"}))
            rows.append(("run page, text search", f"{t_search * 1000:.0f} ms", ""))
            t_api, _ = timed(lambda: client.get("/api/runs/bench-a/cases", params={"limit": 50}))
            rows.append(("API: one page of cases", f"{t_api * 1000:.0f} ms", ""))
            t_cmpp, _ = timed(
                lambda: client.get("/compare", params=[("runs", "bench-a"), ("runs", "bench-b")]), repeat=1
            )
            rows.append(("compare page (paired tests on 10k pairs)", f"{t_cmpp * 1000:.0f} ms", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>10}  check")
    for name, value, check in rows:
        print(f"{name:<{width}}  {value:>10}  {check}")


if __name__ == "__main__":
    main()
