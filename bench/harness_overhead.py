"""How much does assay's harness cost over a bare client loop? Prints a table.

1. N exact-match cases against a loopback OpenAI-compatible server (assay.testing.fake_openai, its own
   process) at 0 ms latency, concurrency 16 and 64: assay (runner + openai target + exact_match scorer +
   SQLite store, cache off) vs a minimal asyncio + httpx loop making the same calls, measured in the same
   run. Goal: assay >= 70% of the loop's cases/s. A minimal aiohttp loop is shown too, as a stricter
   baseline (httpx is several times slower than aiohttp per call on this machine).
2. The same at 200 ms server latency. Goal: >= 95% of concurrency / latency.
3. Peak RSS of `assay run` over 100,000 cases with a replay target (a fresh process). Goal: < 500 MB.

Run: .venv/bin/python bench/harness_overhead.py [--n 2000] [--skip-rss] [--latency-ms 200] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay.testing.fake_openai", "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline().strip())
    return proc, f"http://127.0.0.1:{port}/v1"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def httpx_loop(base_url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """The baseline: a minimal asyncio + httpx loop (same requests, exact-match check, nothing stored)."""
    import httpx

    correct = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal correct
            while not queue.empty():
                i = queue.get_nowait()
                body = {"model": "fake", "messages": [{"role": "user", "content": f"question {i}"}]}
                r = await client.post("/chat/completions", json=body)
                text = r.json()["choices"][0]["message"]["content"]
                correct += text.strip() == f"answer: question {i}"

        c0, t0 = cpu_s(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, cpu_s() - c0, correct


async def aiohttp_loop(base_url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """A stricter baseline: the same minimal loop on aiohttp (the client assay's openai target uses)."""
    import aiohttp

    correct = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base_url.rstrip("/") + "/", connector=connector) as session:

        async def worker() -> None:
            nonlocal correct
            while not queue.empty():
                i = queue.get_nowait()
                body = {"model": "fake", "messages": [{"role": "user", "content": f"question {i}"}]}
                async with session.post("chat/completions", json=body) as r:
                    data = await r.json()
                text = data["choices"][0]["message"]["content"]
                correct += text.strip() == f"answer: question {i}"

        c0, t0 = cpu_s(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, cpu_s() - c0, correct


def assay_run(base_url: str, n: int, concurrency: int, store_path: Path) -> tuple[float, float, float]:
    import assay

    cases = [{"id": f"c{i}", "input": f"question {i}", "expected": f"answer: question {i}"} for i in range(n)]
    target = {
        "type": "openai",
        "base_url": base_url,
        "model": "fake",
        "timeout_s": 30,
        "max_attempts": 1,
        "max_connections": concurrency,
    }
    from assay.store import open_store

    # The store is opened (its file and schema created) before the clock starts: a user's store exists
    # after the first run. Everything else (cases parsed, run created, calls, scoring, commits, summary)
    # is timed.
    store = open_store(f"sqlite:///{store_path}")
    try:
        c0, t0 = cpu_s(), time.perf_counter()
        summary = assay.evaluate(
            cases, target, ["exact_match"], store=store, concurrency=concurrency, cache=False
        )
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    finally:
        store.close()
    assert summary.status == "completed", summary.stop_reason
    return wall, cpu, summary.metrics["exact_match"].mean or 0.0


def rss_run(n: int, tmp: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time of `assay run` on n cases with a replay target, in a fresh process."""
    cases, replay = tmp / "cases.jsonl", tmp / "replay.jsonl"
    with cases.open("w") as fc, replay.open("w") as fr:
        for i in range(n):
            fc.write(
                json.dumps(
                    {
                        "id": f"c{i}",
                        "input": f"question number {i} about the product",
                        "expected": f"answer {i}",
                    }
                )
                + "\n"
            )
            fr.write(json.dumps({"case_id": f"c{i}", "output": f"answer {i}", "latency_s": 0.1}) + "\n")
    (tmp / "suite.yaml").write_text(
        "name: rss\ndataset: cases.jsonl\ntarget: {type: replay, path: replay.jsonl}\n"
        "scorers: [exact_match, token_f1, latency]\nconcurrency: 64\ncache: false\n"
    )
    code = (
        "import resource, sys\n"
        "from assay.cli.app import main\n"
        "sys.argv = ['assay', 'run', 'suite.yaml', '-q', '--store', 'sqlite:///rss.db']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    line = [x for x in res.stderr.splitlines() if x.startswith("MAXRSS")]
    if not line:
        raise RuntimeError(res.stderr[-2000:])
    return int(line[0].split()[1]) / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rss-n", type=int, default=100_000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0, 200], help="server latencies to run")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16, 64], help="concurrencies to run")
    ap.add_argument("--skip-httpx", action="store_true", help="leave out the (slow) httpx loop baseline")
    args = ap.parse_args()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for latency_ms in args.latency_ms:
            proc, url = start_server(latency_ms)
            try:
                for conc in args.concurrency:
                    # at 200 ms, enough cases for ~10 s at the ideal rate so start-up costs are amortised
                    n = args.n if latency_ms == 0 else conc * 50
                    asyncio.run(httpx_loop(url, 64, conc))  # warm up the server
                    if args.skip_httpx:
                        h_wall, h_cpu, h_ok = float("nan"), float("nan"), n
                    else:
                        h_wall, h_cpu, h_ok = asyncio.run(httpx_loop(url, n, conc))
                    g_wall, g_cpu, g_ok = asyncio.run(aiohttp_loop(url, n, conc))
                    a_wall, a_cpu, a_mean = assay_run(url, n, conc, tmp / f"b{latency_ms}_{conc}.db")
                    h_rate, g_rate, a_rate = n / h_wall, n / g_wall, n / a_wall
                    ideal = conc / (latency_ms / 1000) if latency_ms else None
                    rows.append(
                        (
                            f"{latency_ms:g} ms",
                            str(conc),
                            str(n),
                            f"{h_rate:,.0f}",
                            f"{g_rate:,.0f}",
                            f"{a_rate:,.0f}",
                            f"{a_rate / h_rate:.0%}",
                            f"{a_rate / g_rate:.0%}",
                            f"{g_rate / ideal:.0%}" if ideal else "–",
                            f"{a_rate / ideal:.0%}" if ideal else "–",
                            f"{1e3 * h_cpu / n:.2f}",
                            f"{1e3 * g_cpu / n:.2f}",
                            f"{1e3 * a_cpu / n:.2f}",
                            "ok" if h_ok == g_ok == n and a_mean == 1.0 else "MISMATCH",
                        )
                    )
            finally:
                proc.terminate()
                proc.wait()
        header = (
            "latency",
            "conc",
            "N",
            "httpx loop/s",
            "aiohttp loop/s",
            "assay/s",
            "assay/httpx loop",
            "assay/aiohttp loop",
            "aiohttp loop/ideal",
            "assay/ideal",
            "httpx CPU ms/case",
            "aiohttp CPU ms/case",
            "assay CPU ms/case",
            "answers",
        )
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print("-+-".join("-" * w for w in widths))
        for r in rows:
            print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if not args.skip_rss:
            rss_mb, wall = rss_run(args.rss_n, tmp)
            print(
                f"\npeak RSS of `assay run` on {args.rss_n:,} replay cases: {rss_mb:,.0f} MB "
                f"(goal < 500 MB), {wall:.1f} s wall, {args.rss_n / wall:,.0f} cases/s"
            )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nmachine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load average at the end {load}"
    )


if __name__ == "__main__":
    main()
