"""Throughput of the Ray engine vs the local engine at 200 ms server latency. Prints a table.

N exact-match cases against the harness bench's loopback OpenAI-compatible server
(bench/lean_openai_server.py, its own process, 200 ms per answer) at concurrency 16 and 64, through ``assay.evaluate`` with the SQLite store on
and the cache off: the local engine, then the Ray engine with 2 actors, against the ideal
concurrency / latency (16 / 0.2 s = 80/s, 64 / 0.2 s = 320/s), measured in the same run.

"run" rates are timed from the runner's start (after the Ray actors are up) to its end; "wall" rates
include starting the actors (the local Ray cluster itself is started once, before, and reported).

Run: .venv/bin/python bench/ray_engine_bench.py [--latency-ms 200] [--actors 2] [--seconds 10]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from harness_overhead import cpu_s, start_server  # noqa: E402 - the same loopback server and CPU clock


class Clock:
    """A progress sink that notes when the runner starts and finishes (after the engine is up)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.finished = 0.0

    def start(self, *, total: int, done: int) -> None:
        self.started = time.perf_counter()

    def advance(self, n: int, *, errors: int) -> None: ...

    def finish(self) -> None:
        self.finished = time.perf_counter()


def run(
    base_url: str, n: int, concurrency: int, store_path: Path, engine: str, actors: int
) -> tuple[float, float, float, float]:
    """(wall s, run s, driver CPU s, exact-match mean) of one evaluate() call."""
    import assay
    from assay.store import open_store

    cases = [{"id": f"c{i}", "input": f"question {i}", "expected": f"answer: question {i}"} for i in range(n)]
    target = {
        "type": "openai",
        "base_url": base_url,
        "model": "fake",
        "timeout_s": 30,
        "max_attempts": 1,
        "max_connections": concurrency,
    }
    extra: dict[str, Any] = {"engine": engine}
    if engine == "ray":
        extra["ray_actors"] = actors
    clock = Clock()
    store = open_store(f"sqlite:///{store_path}")
    try:
        c0, t0 = cpu_s(), time.perf_counter()
        summary = assay.evaluate(
            cases,
            target,
            ["exact_match"],
            store=store,
            concurrency=concurrency,
            cache=False,
            progress=clock,
            **extra,
        )
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    finally:
        store.close()
    assert summary.status == "completed", summary.stop_reason
    return wall, clock.finished - clock.started, cpu, summary.metrics["exact_match"].mean or 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0, help="cases per setting: ideal rate x this")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    args = ap.parse_args()
    import ray

    t0 = time.perf_counter()
    ray.init(
        address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, logging_level=logging.WARNING
    )
    cluster_s = time.perf_counter() - t0
    latency_s = args.latency_ms / 1000
    rows: list[tuple[str, ...]] = []
    proc, url = start_server(args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            for conc in args.concurrency:
                ideal = conc / latency_s
                n = int(ideal * args.seconds)
                run(url, 2 * conc, conc, tmp / f"warm{conc}.db", "local", args.actors)  # warm the server
                results = {}
                for engine in ("local", "ray"):
                    results[engine] = run(url, n, conc, tmp / f"{engine}{conc}.db", engine, args.actors)
                (_, lr, lc, lm), (rw, rr, rc, rm) = results["local"], results["ray"]
                rows.append(
                    (
                        f"{args.latency_ms:g} ms",
                        str(conc),
                        str(n),
                        f"{ideal:,.0f}",
                        f"{n / lr:,.0f}",
                        f"{n / lr / ideal:.0%}",
                        f"{n / rr:,.0f}",
                        f"{n / rr / ideal:.0%}",
                        f"{n / rw:,.0f}",
                        f"{rw - rr:.1f}",
                        f"{1e3 * lc / n:.2f}",
                        f"{1e3 * rc / n:.2f}",
                        "ok" if lm == rm == 1.0 else "MISMATCH",
                    )
                )
    finally:
        proc.terminate()
        proc.wait()
        ray.shutdown()
    header = (
        "latency",
        "conc",
        "N",
        "ideal/s",
        "local/s",
        "local/ideal",
        f"ray({args.actors})/s",
        "ray/ideal",
        "ray/s incl. actor start",
        "actor start s",
        "local driver CPU ms/case",
        "ray driver CPU ms/case",
        "answers",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\nlocal Ray cluster start: {cluster_s:.1f} s (once, not in the rates)")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
