"""bench/lean_openai_server.py: the harness bench's server must speak HTTP/1.1 and the chat wire format.

It is started as the bench starts it (its own process, port printed first). The answers must be
fake_openai's answers, connections must stay open between requests (or close when asked), and bad
requests must get clear 4xx replies rather than a hung or dropped connection.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import assay

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "bench" / "lean_openai_server.py"


def _start(latency_ms: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    proc, port = _start(0)
    try:
        yield port
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0  # SIGTERM is a clean stop


def _chat(
    conn: http.client.HTTPConnection, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers or {})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_answers_match_fake_openai_and_connection_is_kept(server: int) -> None:
    from assay.testing.fake_openai import FakeOpenAIServer

    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is two plus two"},
    ]
    with FakeOpenAIServer() as fake:
        ref = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        _, expected = _chat(ref, {"model": "m", "messages": messages})
    socks = []
    for _ in range(3):  # three requests on one connection
        status, got = _chat(conn, {"model": "m", "messages": messages})
        assert status == 200
        assert got["choices"][0]["message"] == expected["choices"][0]["message"]
        assert got["usage"] == expected["usage"]
        assert got["object"] == "chat.completion" and got["model"] == "m"
        socks.append(conn.sock)
    assert socks[0] is not None and socks == [socks[0]] * 3  # http.client reconnects if the server closed


def test_bad_requests_get_clear_errors(server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    conn.request("POST", "/v1/chat/completions", body=b"{not json")
    resp = conn.getresponse()
    assert resp.status == 400 and "bad request" in json.loads(resp.read())["error"]["message"]
    status, body = _chat(conn, {"model": "m", "messages": []})  # still usable after a 400
    assert status == 400 and "messages" in body["error"]["message"]
    status, body = _chat(conn, {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True})
    assert status == 400 and "stream" in body["error"]["message"]
    conn.request("GET", "/v1/nowhere")
    resp = conn.getresponse()
    assert (
        resp.status == 404 and json.loads(resp.read())["error"]["message"] == "no route for GET /v1/nowhere"
    )


def test_connection_close_is_honoured(server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    status, _ = _chat(
        conn, {"model": "m", "messages": [{"role": "user", "content": "x"}]}, {"Connection": "close"}
    )
    assert status == 200
    assert conn.sock is None  # http.client closed it, as the reply said Connection: close


def test_latency_is_applied_and_assay_runs_against_it(tmp_path: Path) -> None:
    proc, port = _start(100)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        t0 = time.perf_counter()
        status, _ = _chat(conn, {"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert status == 200 and time.perf_counter() - t0 >= 0.1
        cases = [{"id": f"c{i}", "input": f"q {i}", "expected": f"answer: q {i}"} for i in range(40)]
        target = {"type": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "m"}
        summary = assay.evaluate(
            cases,
            target,
            ["exact_match"],
            store=f"sqlite:///{tmp_path / 'a.db'}",
            concurrency=20,
            cache=False,
        )
        assert summary.n_results == 40 and summary.n_errors == 0
        assert summary.metrics["exact_match"].mean == 1.0
        assert summary.latency_s.p50 is not None and summary.latency_s.p50 >= 0.1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
