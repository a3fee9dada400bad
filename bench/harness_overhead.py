"""How much does assay's harness cost over a bare client loop? Prints a table.

1. N exact-match cases against a loopback OpenAI-compatible server at 0 ms latency, concurrency 16 and
   64: assay (runner + openai target + exact_match scorer + SQLite store, cache off) vs a minimal
   asyncio + httpx loop making the same calls, measured in the same run. Goal: assay >= 70% of the
   loop's cases/s. A minimal aiohttp loop is shown too, as a stricter baseline (httpx is several times
   slower than aiohttp per call on this machine).
2. The same at 200 ms server latency. Goal: >= 95% of concurrency / latency. The "added latency" column
   is the bare aiohttp loop's mean observed latency minus the nominal one: what the server, the machine
   and a minimal client add to every call (at 0 ms it is the whole round trip). "CPU stolen" is the
   share of the machine's CPU time the hypervisor took while assay ran.
3. Start-up: wall time of a first `assay.evaluate` of 64 cases in a fresh process (imports included,
   bytecode already written), against a fresh process that only imports aiohttp and makes the same calls.
4. Peak RSS of `assay run` over 100,000 cases with a replay target (a fresh process). Goal: < 500 MB.

Servers (--server): `lean` (default; bench/lean_openai_server.py, httptools on uvloop, the minimum a
keep-alive HTTP/1.1 server does) or `fake_openai` (assay.testing.fake_openai, aiohttp's web server with
fault injection, the tests' server). Per call the latter costs a few hundred microseconds of server CPU,
and at 64 calls in flight those queue: it adds 4-10 ms to a 200 ms call, which caps every client below
the ideal rate. Both speak the same wire format and give the same answers.

Every client gets a warm-up run of `concurrency` cases before its measured run (imports, the server's
first connections); the start-up line reports what a first run in a fresh process costs.

Run: .venv/bin/python bench/harness_overhead.py [--n 2000] [--skip-rss] [--latency-ms 200] [--concurrency 64]
     [--server lean|fake_openai] [--skip-httpx] [--httpx-at-latency]
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


def start_server(latency_ms: float, server: str = "lean") -> tuple[subprocess.Popen[str], str]:
    if server == "lean":
        cmd = [sys.executable, str(ROOT / "bench" / "lean_openai_server.py")]
    else:
        cmd = [sys.executable, "-m", "assay.testing.fake_openai"]
    proc = subprocess.Popen(
        [*cmd, "--port", "0", "--latency-ms", str(latency_ms)],
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


def steal_s() -> float:
    """CPU seconds the hypervisor took from this machine (all cores) since boot; NaN where unknown.

    On a shared VM a few percent of stolen time moves the 200 ms rows by a point or two, so each row
    shows how much was stolen while assay ran.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


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


async def aiohttp_loop(base_url: str, n: int, concurrency: int) -> tuple[float, float, int, float]:
    """A stricter baseline: the same minimal loop on aiohttp (the client assay's openai target uses).

    Returns wall seconds, CPU seconds, correct answers and the mean latency of a call in seconds.
    """
    import aiohttp

    correct = 0
    latency_sum = 0.0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base_url.rstrip("/") + "/", connector=connector) as session:

        async def worker() -> None:
            nonlocal correct, latency_sum
            while not queue.empty():
                i = queue.get_nowait()
                body = {"model": "fake", "messages": [{"role": "user", "content": f"question {i}"}]}
                t = time.perf_counter()
                async with session.post("chat/completions", json=body) as r:
                    data = await r.json()
                latency_sum += time.perf_counter() - t
                text = data["choices"][0]["message"]["content"]
                correct += text.strip() == f"answer: question {i}"

        c0, t0 = cpu_s(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, cpu_s() - c0, correct, latency_sum / n


def startup_walls(base_url: str) -> tuple[float, float]:
    """Wall seconds of a fresh process making 64 calls: with assay.evaluate, and with a bare aiohttp loop."""
    common = f"import sys, time; sys.path.insert(0, {str(ROOT / 'bench')!r}); t0 = time.perf_counter()\n"
    assay_code = common + (
        "import assay\n"
        "cases = [{'id': f'c{i}', 'input': f'question {i}', 'expected': f'answer: question {i}'} for i in range(64)]\n"
        f"target = {{'type': 'openai', 'base_url': {base_url!r}, 'model': 'fake', 'max_connections': 64}}\n"
        "s = assay.evaluate(cases, target, ['exact_match'], store='sqlite:///startup.db', concurrency=64, cache=False)\n"
        "assert s.metrics['exact_match'].mean == 1.0\n"
        "print(time.perf_counter() - t0)\n"
    )
    loop_code = common + (
        "import asyncio\nfrom harness_overhead import aiohttp_loop\n"
        f"assert asyncio.run(aiohttp_loop({base_url!r}, 64, 64))[2] == 64\n"
        "print(time.perf_counter() - t0)\n"
    )
    # Bytecode may be written (as any installed package has it), and one untimed run writes it first: what
    # is measured is a fresh process, not a first-ever import.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    walls = []
    for code in (assay_code, loop_code):
        for _ in range(2):
            with tempfile.TemporaryDirectory() as d:
                res = subprocess.run(
                    [sys.executable, "-c", code], cwd=d, capture_output=True, text=True, env=env
                )
            if res.returncode != 0:
                raise RuntimeError(res.stderr[-2000:])
        walls.append(float(res.stdout.strip().splitlines()[-1]))
    return walls[0], walls[1]


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
    ap.add_argument(
        "--httpx-at-latency",
        action="store_true",
        help="also run the httpx loop at latencies above 0 (about a minute per row; it is no goal's baseline)",
    )
    ap.add_argument("--server", choices=("lean", "fake_openai"), default="lean", help="the loopback server")
    args = ap.parse_args()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for latency_ms in args.latency_ms:
            proc, url = start_server(latency_ms, args.server)
            try:
                if latency_ms == args.latency_ms[0]:
                    startup = startup_walls(url)
                for conc in args.concurrency:
                    # at 200 ms, enough cases for ~10 s at the ideal rate so start-up costs are amortised
                    n = args.n if latency_ms == 0 else conc * 50
                    if args.skip_httpx or (latency_ms and not args.httpx_at_latency):
                        h_wall, h_cpu, h_ok = float("nan"), float("nan"), n
                    else:
                        asyncio.run(httpx_loop(url, conc, conc))  # warm-up
                        h_wall, h_cpu, h_ok = asyncio.run(httpx_loop(url, n, conc))
                    asyncio.run(aiohttp_loop(url, conc, conc))  # warm-up
                    g_wall, g_cpu, g_ok, g_latency = asyncio.run(aiohttp_loop(url, n, conc))
                    assay_run(url, conc, conc, tmp / f"w{latency_ms}_{conc}.db")  # warm-up
                    stolen = steal_s()
                    a_wall, a_cpu, a_mean = assay_run(url, n, conc, tmp / f"b{latency_ms}_{conc}.db")
                    stolen = (steal_s() - stolen) / (a_wall * (os.cpu_count() or 1))
                    h_rate, g_rate, a_rate = n / h_wall, n / g_wall, n / a_wall
                    ideal = conc / (latency_ms / 1000) if latency_ms else None
                    rows.append(
                        (
                            f"{latency_ms:g} ms",
                            str(conc),
                            str(n),
                            f"{h_rate:,.0f}" if h_rate == h_rate else "–",
                            f"{g_rate:,.0f}",
                            f"{a_rate:,.0f}",
                            f"{a_rate / h_rate:.0%}" if h_rate == h_rate else "–",
                            f"{a_rate / g_rate:.0%}",
                            f"{1e3 * g_latency - latency_ms:.1f} ms",
                            f"{g_rate / ideal:.1%}" if ideal else "–",
                            f"{a_rate / ideal:.1%}" if ideal else "–",
                            f"{1e3 * h_cpu / n:.2f}" if h_cpu == h_cpu else "–",
                            f"{1e3 * g_cpu / n:.2f}",
                            f"{1e3 * a_cpu / n:.2f}",
                            f"{stolen:.1%}" if stolen == stolen else "–",
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
            "added latency",
            "aiohttp loop/ideal",
            "assay/ideal",
            "httpx CPU ms/case",
            "aiohttp CPU ms/case",
            "assay CPU ms/case",
            "CPU stolen",
            "answers",
        )
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print("-+-".join("-" * w for w in widths))
        for r in rows:
            print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        a_start, g_start = startup
        print(
            f"\nstart-up, a fresh process making 64 calls at {args.latency_ms[0]:g} ms: assay.evaluate {a_start:.2f} s, "
            f"bare aiohttp loop {g_start:.2f} s"
        )
        if not args.skip_rss:
            rss_mb, wall = rss_run(args.rss_n, tmp)
            print(
                f"\npeak RSS of `assay run` on {args.rss_n:,} replay cases: {rss_mb:,.0f} MB "
                f"(goal < 500 MB), {wall:.1f} s wall, {args.rss_n / wall:,.0f} cases/s"
            )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nserver: {args.server}; machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load average at the end {load}"
    )


if __name__ == "__main__":
    main()
