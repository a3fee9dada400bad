"""The SDK: logging to a store and to a running server, the bounded buffer, @trace, the OpenAI wrapper."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from assay.monitor.http import router
from assay.monitor.ingest import Ingestor
from assay.monitor.sdk import Monitor
from assay.store import Store, open_store
from assay.testing.fake_openai import FakeOpenAIServer, Fault
from assay.types import Doc, Output, Usage
from tests.monitor._servers import ServerThread
from tests.monitor.conftest import KEY


def test_log_to_store_and_trace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sdk.db"
    monitor = Monitor(url, app="bot", variant="A", key=KEY, flush_interval_s=0.05)

    @monitor.trace(metadata={"route": "faq"})
    def answer(question: str) -> Output:
        with monitor.span("retrieval", k=3):
            docs = (Doc(text="Passwords are reset in Settings.", id="kb-1", score=1.5),)
        monitor.annotate(feedback={"thumbs_up": True})
        return Output(text="Open Settings.", contexts=docs, usage=Usage(5, 3))

    @monitor.trace
    def broken(question: str) -> str:
        raise KeyError("index missing")

    assert answer("reset password? mail me at ann@example.com").text == "Open Settings."
    with pytest.raises(KeyError):
        broken("x")
    eid = monitor.log(event_id="manual-1", input="hi", output="hello", latency_s=0.3, user_id="u-1")
    assert eid == "manual-1"
    assert monitor.flush(10)
    stats = monitor.stats()
    assert (stats["logged"], stats["sent"], stats["dropped"], stats["buffered"]) == (3, 3, 0, 0)
    monitor.close()
    with open_store(url) as store:
        assert store.events.count_events() == 3
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT event_json FROM events ORDER BY seq").all()
    import json

    traced, failed, manual = (json.loads(r[0]) for r in rows)
    assert traced["app"] == "bot" and traced["variant"] == "A"
    assert traced["input"] == "reset password? mail me at [EMAIL]"  # anonymised at ingest
    assert traced["contexts"][0]["id"] == "kb-1" and traced["usage"] == {
        "input_tokens": 5,
        "output_tokens": 3,
    }
    assert traced["spans"][0]["name"] == "retrieval" and traced["spans"][0]["attributes"] == {"k": 3}
    assert traced["feedback"] == {"thumbs_up": True} and traced["metadata"] == {"route": "faq"}
    assert failed["error"]["kind"] == "KeyError"
    assert manual["user_id"].startswith("h:")


def test_async_trace(sqlite_store: Store) -> None:
    monitor = Monitor(sqlite_store.url, key=KEY, flush_interval_s=0.05)

    @monitor.trace
    async def answer(q: str) -> str:
        await asyncio.sleep(0)
        return q.upper()

    assert asyncio.run(answer("hi")) == "HI"
    assert monitor.flush(10)
    monitor.close()
    assert sqlite_store.events.count_events() == 1


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def test_unreachable_server_never_blocks_or_raises() -> None:
    monitor = Monitor(
        _dead_url(), max_buffer=100, batch_size=10, retry_backoff_s=0.01, max_retries=2, timeout_s=0.2
    )
    ids = [monitor.log(input=f"q{i}") for i in range(250)]
    assert all(isinstance(i, str) for i in ids[:100])
    stats = monitor.stats()
    assert stats["logged"] + stats["dropped"] == 250
    assert stats["buffered"] <= 100 + 10 and stats["dropped"] >= 250 - 110  # bounded: the rest was dropped
    monitor.log(input=object(), ts="not a time")  # odd values never raise into the app
    monitor.close(timeout_s=3)
    final = monitor.stats()
    assert final["sent"] == 0 and final["failed"] + final["dropped"] >= 250


def test_sdk_against_running_server(store: Store) -> None:
    app = FastAPI()
    app.state.monitor_ingestor = Ingestor(store, key=KEY)
    app.include_router(router)
    with ServerThread(app) as srv:
        monitor = Monitor(srv.url, app="remote", batch_size=100, flush_interval_s=0.05)
        for i in range(1000):
            monitor.log(event_id=f"r-{i}", input=f"question {i}", latency_s=0.1)
        monitor.log(event_id="bad", latency_s="slow")  # rejected by the server, counted
        monitor.log(event_id="r-5")  # duplicate
        assert monitor.flush(30)
        monitor.close()
        stats = monitor.stats()
    assert (stats["sent"], stats["rejected"], stats["duplicates"]) == (1000, 1, 1)
    assert store.events.counts_by_app() == {"remote": 1000}


def test_openai_wrapper_logs_calls(sqlite_store: Store) -> None:
    openai = pytest.importorskip("openai")
    monitor = Monitor(sqlite_store.url, app="oa", key=KEY, flush_interval_s=0.05)
    with FakeOpenAIServer(faults=[Fault("500", prompt="fail me", times=10)]) as server:
        client = monitor.wrap_openai(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0))
        resp = client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hello there"}]
        )
        assert resp.choices[0].message.content == "answer: hello there"
        stream = client.chat.completions.create(
            model="m1",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "answer: stream me"
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "fail me"}])
        assert client.models.list() is not None  # everything else passes through

        async def go() -> Any:
            aclient = monitor.wrap_openai(openai.AsyncOpenAI(base_url=server.base_url, api_key="x"))
            return await aclient.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "async"}]
            )

        assert asyncio.run(go()).choices[0].message.content == "answer: async"
    assert monitor.flush(10)
    monitor.close()
    import json

    with sqlite_store.engine.connect() as conn:
        events = [
            json.loads(r[0]) for r in conn.exec_driver_sql("SELECT event_json FROM events ORDER BY seq")
        ]
    assert len(events) == 4
    plain, streamed, failed, asynced = events
    assert (
        plain["input"] == [{"role": "user", "content": "hello there"}]
        and plain["output"] == "answer: hello there"
    )
    assert plain["model"] == "m1" and plain["usage"]["input_tokens"] > 0 and plain["latency_s"] > 0
    assert streamed["output"] == "answer: stream me" and streamed["ttft_s"] <= streamed["latency_s"]
    assert streamed["usage"]["output_tokens"] > 0
    assert failed["error"]["kind"] == "http_error" and "output" not in failed
    assert asynced["output"] == "answer: async"
