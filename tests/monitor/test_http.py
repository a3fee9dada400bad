"""HTTP ingest on a real loopback server: batches with per-event errors, status codes, idempotency,
OTLP traces, and kill -9 of the server during ingest."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from assay.monitor.http import create_ingest_app, router
from assay.monitor.ingest import Ingestor
from assay.store import Store, open_store
from tests.monitor._servers import ServerThread, ingest_process
from tests.monitor.conftest import KEY, make_event


@pytest.fixture
def server(store: Store) -> Any:
    app = FastAPI()
    app.state.monitor_ingestor = Ingestor(store, key=KEY)
    app.state.max_body_bytes = 8_000_000
    app.include_router(router)
    with ServerThread(app) as srv:
        yield srv


def test_batch_with_malformed_events(server: ServerThread, store: Store) -> None:
    big = make_event(3, input="x" * 5_000_000)  # 5 MB payload in one event
    body = json.dumps(
        {"events": [make_event(0), {"input": "no id"}, make_event(2, latency_s="fast"), big, make_event(4)]}
    ).encode()
    # a non-UTF-8 byte inside one event's text
    body = body.replace(b'"answer 4"', b'"answer \xff 4"', 1)
    body = body[:-2] + b", " + json.dumps(make_event(5)).encode() + b"]}"
    r = httpx.post(
        f"{server.url}/v1/events", content=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert r.status_code == 200
    data = r.json()
    assert (data["accepted"], data["duplicates"]) == (2, 0)
    rejected = {x["index"]: x["error"] for x in data["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert "event_id" in rejected[1] and "latency_s" in rejected[2]
    assert "limit" in rejected[3] and "UTF-8" in rejected[4]
    assert store.events.count_events() == 2


def test_status_codes_and_idempotency(server: ServerThread, store: Store) -> None:
    url = f"{server.url}/v1/events"
    first = httpx.post(url, json=[make_event(i) for i in range(10)])
    assert first.status_code == 200 and first.json() == {"accepted": 10, "duplicates": 0, "rejected": []}
    again = httpx.post(url, json={"events": [make_event(i) for i in range(5, 15)]})
    assert again.status_code == 200 and again.json()["accepted"] == 5 and again.json()["duplicates"] == 5
    all_bad = httpx.post(url, json=[{"nope": 1}, {"event_id": 3}])
    assert all_bad.status_code == 400 and len(all_bad.json()["rejected"]) == 2
    assert (
        httpx.post(url, content=b"{broken", headers={"Content-Type": "application/json"}).status_code == 400
    )
    assert httpx.post(url, json={"events": []}).status_code == 400
    assert httpx.post(url, json={"event_id": "x"}).status_code == 400  # a single object is not a batch
    too_big = httpx.post(url, content=b"[" + b" " * 9_000_000 + b"]")
    assert too_big.status_code == 413
    ndjson = "\n".join([json.dumps(make_event(20)), "{bad", json.dumps(make_event(21))])
    r = httpx.post(url, content=ndjson, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["accepted"] == 2 and r.json()["rejected"][0]["index"] == 1
    assert store.events.count_events() == 17


def _otlp(trace: str, *, error: bool = False) -> dict[str, Any]:
    def kv(k: str, v: Any) -> dict[str, Any]:
        key = "intValue" if isinstance(v, int) else "stringValue"
        return {"key": k, "value": {key: str(v) if key == "intValue" else v}}

    t0 = 1_740_787_200_000_000_000
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", "rag-bot")]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": "a1",
                                "name": "chat m1",
                                "startTimeUnixNano": str(t0),
                                "endTimeUnixNano": str(t0 + 1_500_000_000),
                                "attributes": [
                                    kv("gen_ai.operation.name", "chat"),
                                    kv("gen_ai.provider.name", "openai"),
                                    kv("gen_ai.request.model", "m1"),
                                    kv("gen_ai.response.model", "m1-2025"),
                                    kv("gen_ai.usage.input_tokens", 12),
                                    kv("gen_ai.usage.output_tokens", 7),
                                    kv(
                                        "gen_ai.input.messages",
                                        json.dumps(
                                            [
                                                {
                                                    "role": "user",
                                                    "parts": [
                                                        {"type": "text", "content": "hi jane@example.com"}
                                                    ],
                                                }
                                            ]
                                        ),
                                    ),
                                    kv(
                                        "gen_ai.output.messages",
                                        json.dumps(
                                            [
                                                {
                                                    "role": "assistant",
                                                    "parts": [{"type": "text", "content": "hello"}],
                                                }
                                            ]
                                        ),
                                    ),
                                    kv("user.id", "u-7"),
                                ],
                                "status": {"code": 2, "message": "boom"} if error else {},
                            },
                            {
                                "traceId": trace,
                                "spanId": "b2",
                                "name": "retrieval",
                                "startTimeUnixNano": str(t0 + 100_000_000),
                                "endTimeUnixNano": str(t0 + 400_000_000),
                                "attributes": [kv("db.system", "bm25")],
                            },
                            {
                                "traceId": trace,
                                "spanId": "c3",
                                "name": "chat",
                                "attributes": [kv("gen_ai.request.model", "x")],
                            },
                        ]
                    }
                ],
            }
        ]
    }


def test_otlp_traces_become_events(server: ServerThread, store: Store) -> None:
    r = httpx.post(f"{server.url}/v1/traces", json=_otlp("t1", error=True))
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == 1  # the GenAI span without timestamps
    ev = store.events.get_event("t1-a1")
    assert ev is not None
    assert ev["app"] == "rag-bot" and ev["model"] == "m1-2025" and ev["latency_s"] == pytest.approx(1.5)
    assert ev["usage"] == {"input_tokens": 12, "output_tokens": 7}
    assert ev["input"] == [{"role": "user", "content": "hi [EMAIL]"}] and ev["output"] == "hello"
    assert ev["error"] == {"kind": "error", "message": "boom"}
    assert ev["user_id"].startswith("h:")
    assert ev["spans"][0]["name"] == "retrieval" and ev["spans"][0]["duration_s"] == pytest.approx(0.3)
    assert ev["metadata"]["provider"] == "openai"
    assert httpx.post(f"{server.url}/v1/traces", json=_otlp("t1")).status_code == 200
    assert store.events.count_events() == 1  # re-sent export stored once
    assert httpx.post(f"{server.url}/v1/traces", json=[1]).status_code == 400
    assert (
        httpx.post(
            f"{server.url}/v1/traces", content=b"x", headers={"Content-Type": "application/x-protobuf"}
        ).status_code
        == 415
    )


def test_router_opens_the_store_from_app_state(tmp_path: Path) -> None:
    app = create_ingest_app(f"sqlite:///{tmp_path}/s.db")
    with ServerThread(app) as srv:
        assert httpx.post(f"{srv.url}/v1/events", json=[make_event(1)]).json()["accepted"] == 1
    app.state.store.close()


@pytest.mark.slow
def test_kill_9_keeps_every_acknowledged_event_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kill.db"
    acked: set[str] = set()
    sent: list[list[dict[str, Any]]] = []
    n_batches, size = 400, 25

    def client(base: str, stop: threading.Event) -> None:
        with httpx.Client(timeout=60) as http:
            for b in range(n_batches):
                if stop.is_set():
                    return
                batch = [make_event(b * size + i) for i in range(size)]
                sent.append(batch)
                try:
                    r = http.post(f"{base}/v1/events", json=batch)
                except httpx.HTTPError:
                    return  # the server died under us
                if r.status_code == 200:
                    acked.update(e["event_id"] for e in batch)

    with ingest_process(url) as (proc, base):
        stop = threading.Event()
        t = threading.Thread(target=client, args=(base, stop))
        t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 40 * size and time.monotonic() < deadline and t.is_alive():
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        t.join(10)
    assert len(acked) >= 40 * size
    with open_store(url) as store:
        with store.engine.connect() as conn:
            ids = [r[0] for r in conn.exec_driver_sql("SELECT event_id FROM events")]
        assert len(ids) == len(set(ids))
        assert acked <= set(ids), f"{len(acked - set(ids))} acknowledged events lost"
    # the client re-sends everything (at-least-once): every event stored exactly once
    with ingest_process(url) as (_proc, base):
        for batch in sent:
            assert httpx.post(f"{base}/v1/events", json=batch, timeout=60).status_code == 200
    with open_store(url) as store:
        assert store.events.count_events() == len(sent) * size
