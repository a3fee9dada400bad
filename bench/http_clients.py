"""Which HTTP client should the ``openai`` target use? Measure, don't guess.

Runs N chat-completion calls against the loopback fake server (``assay.testing.fake_openai``, 0 ms
latency, in a separate process) at several concurrencies with

* ``httpx``   — a minimal asyncio + httpx.AsyncClient loop,
* ``aiohttp`` — a minimal asyncio + aiohttp.ClientSession loop,
* ``assay``   — assay's own ``openai`` target (one attempt per call, no runner), for reference,

and prints cases/s (best of ``--repeats`` after a warm-up) with client CPU seconds per 1,000 calls.

    .venv/bin/python bench/http_clients.py            # N=2000, concurrency 16 and 64
    .venv/bin/python bench/http_clients.py -n 5000 -c 8 -c 32 --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

Runner = Callable[[str, int, int], Coroutine[Any, Any, None]]


def _payload(i: int) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": f"question number {i}"}]}


async def _drive(n: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> None:
    """Run ``call(i)`` for i in range(n) with ``concurrency`` workers pulling from a shared counter."""
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await call(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_httpx(base_url: str, n: int, concurrency: int) -> None:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        url = base_url + "/chat/completions"

        async def call(i: int) -> None:
            r = await client.post(url, json=_payload(i))
            r.raise_for_status()
            assert r.json()["choices"][0]["message"]["content"]

        await _drive(n, concurrency, call)


async def run_aiohttp(base_url: str, n: int, concurrency: int) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        url = base_url + "/chat/completions"

        async def call(i: int) -> None:
            async with session.post(url, json=_payload(i)) as r:
                r.raise_for_status()
                assert (await r.json())["choices"][0]["message"]["content"]

        await _drive(n, concurrency, call)


async def run_assay(base_url: str, n: int, concurrency: int) -> None:
    from assay.target import create_target
    from assay.types import Case

    target: Any = create_target("openai", base_url=base_url, model="fake-model", max_connections=concurrency)
    cases = [Case(id=str(i), input=f"question number {i}") for i in range(n)]
    try:

        async def call(i: int) -> None:
            out = await target(cases[i])
            assert out.error is None, out.error

        await _drive(n, concurrency, call)
    finally:
        await target.aclose()


CLIENTS: dict[str, Runner] = {"httpx": run_httpx, "aiohttp": run_aiohttp, "assay": run_assay}


def measure(runner: Runner, base_url: str, n: int, concurrency: int, repeats: int) -> tuple[float, float]:
    """Best cases/s over ``repeats`` runs (after one short warm-up) and the client CPU s per 1,000 calls."""
    asyncio.run(runner(base_url, min(n, 200), concurrency))
    best_rate, best_cpu = 0.0, 0.0
    for _ in range(repeats):
        cpu0, t0 = time.process_time(), time.perf_counter()
        asyncio.run(runner(base_url, n, concurrency))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if n / wall > best_rate:
            best_rate, best_cpu = n / wall, cpu / n * 1000
    return best_rate, best_cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="calls per measurement (default 2000)")
    ap.add_argument("-c", "--concurrency", type=int, action="append", help="repeatable (default 16 and 64)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", default="httpx,aiohttp,assay")
    args = ap.parse_args(argv)
    concurrencies = args.concurrency or [16, 64]
    clients = [c for c in args.clients.split(",") if c]

    server = subprocess.Popen(
        [sys.executable, "-m", "assay.testing.fake_openai", "--port", "0", "--latency-ms", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        base_url = f"http://127.0.0.1:{port}/v1"
        print(
            f"fake server pid {server.pid} on {base_url}; N={args.n}, best of {args.repeats}, {os.cpu_count()} cores"
        )
        print(f"{'client':<10}{'concurrency':>12}{'cases/s':>10}{'vs httpx':>10}{'CPU ms/call':>13}")
        for conc in concurrencies:
            base: float | None = None
            for name in clients:
                rate, cpu = measure(CLIENTS[name], base_url, args.n, conc, args.repeats)
                if name == "httpx":
                    base = rate
                rel = f"{rate / base:>9.2f}x" if base else f"{'-':>10}"
                print(f"{name:<10}{conc:>12}{rate:>10.0f}{rel}{cpu:>13.3f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
