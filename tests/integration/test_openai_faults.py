"""The openai target against a real loopback OpenAI-compatible server that injects faults.

Each fault kind must come back as the right typed, classified error (kind, retryable, retry_after),
streaming must record time-to-first-token and usage, and the API key must never leak.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.target import OpenAITarget, create_target
from assay.testing import FakeOpenAIServer, Fault, parse_fault, read_call_log
from assay.types import Case, ConfigError, Output

KEY = "sk-test-ABCDEF0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(log_path=tmp_path / "calls.jsonl") as srv:
        yield srv


def calls(target: OpenAITarget, *prompts: str) -> list[Output]:
    """Call the target once per prompt, concurrently, inside one event loop; close it after."""

    async def go() -> list[Output]:
        try:
            return await asyncio.gather(*(target(Case(id=p, input=p)) for p in prompts))
        finally:
            await target.aclose()

    return asyncio.run(go())


def make(server: FakeOpenAIServer, **options: Any) -> OpenAITarget:
    options.setdefault("model", "fake-model")
    return OpenAITarget(base_url=server.base_url, **options)


# (fault, expected kind, retryable, retry_after, status)
FAULTS = [
    (Fault("429", retry_after="2"), "rate_limited", True, 2.0, 429),
    (Fault("429", retry_after="Fri, 01 Jan 2100 00:00:00 GMT"), "rate_limited", True, "future", 429),
    (Fault("500"), "http_error", True, None, 500),
    (Fault("503", retry_after="7"), "http_error", True, 7.0, 503),
    (Fault("503"), "http_error", True, None, 503),
    (Fault("hang"), "timeout", True, None, None),
    (Fault("malformed"), "invalid_response", True, None, None),
    (Fault("truncated"), "invalid_response", True, None, None),
    (Fault("no_choices"), "invalid_response", True, None, None),
    (Fault("drop"), "http_error", True, None, None),
    (Fault("reset"), "http_error", True, None, None),
]


# no_choices has no streaming form (there it is a malformed event, covered by "malformed")
CASES = [
    (stream, *f) for stream in (False, True) for f in FAULTS if not (stream and f[0].kind == "no_choices")
]


@pytest.mark.parametrize(
    ("stream", "fault", "kind", "retryable", "retry_after", "status"),
    CASES,
    ids=[f"{'stream' if c[0] else 'json'}-{c[1].kind}-{c[1].retry_after}" for c in CASES],
)
def test_fault_classification(
    server: FakeOpenAIServer,
    stream: bool,
    fault: Fault,
    kind: str,
    retryable: bool,
    retry_after: Any,
    status: Any,
) -> None:
    server.faults = [dataclasses.replace(fault, prompt="poisoned")]
    # 1 s: the "hang" fault needs a timeout, and a loaded CI machine must not time out the healthy call
    ok, bad = calls(make(server, stream=stream, timeout_s=1.0), "healthy", "poisoned")
    assert ok.error is None and ok.text == "answer: healthy"
    assert bad.error is not None, bad
    assert (bad.error.kind, bad.error.retryable, bad.error.status) == (kind, retryable, status), bad.error
    if retry_after == "future":
        assert bad.error.retry_after is not None and bad.error.retry_after > 365 * 24 * 3600
    else:
        assert bad.error.retry_after == retry_after
    assert bad.text == "" and bad.latency_s is not None


def test_sequence_of_faults_then_success_is_visible_in_the_call_log(server: FakeOpenAIServer) -> None:
    server.faults = [
        Fault("429", prompt="q", times=1, retry_after="0"),
        Fault("500", prompt="q", after=1, times=1),
        Fault("drop", prompt="q", after=2, times=1),
    ]
    target = make(server)

    async def attempts() -> list[Output]:
        outs = []
        try:
            for _ in range(target.max_attempts):
                out = await target(Case(id="q", input="q"))
                outs.append(out)
                if out.error is None or not out.error.retryable:
                    break
        finally:
            await target.aclose()
        return outs

    outs = asyncio.run(attempts())
    assert [o.error.kind if o.error else "ok" for o in outs] == [
        "rate_limited",
        "http_error",
        "http_error",
        "ok",
    ]
    assert outs[-1].text == "answer: q"
    assert server.log_path is not None
    log = [(r["prompt"], r["status"], r["fault"]) for r in read_call_log(server.log_path)]
    assert log == [("q", 429, "429"), ("q", 500, "500"), ("q", None, "drop"), ("q", 200, None)]


def test_rate_and_every_rules(tmp_path: Path) -> None:
    with FakeOpenAIServer(faults=[Fault("500", every=3)]) as srv:
        outs = [calls(make(srv), f"p{i}")[0] for i in range(9)]
    assert [i for i, o in enumerate(outs) if o.error] == [2, 5, 8]

    def failures(seed: int) -> list[int]:
        with FakeOpenAIServer(faults=[Fault("500", rate=0.5)], seed=seed) as srv:
            return [i for i in range(30) if calls(make(srv), f"p{i}")[0].error]

    first = failures(seed=1)
    assert first == failures(seed=1) and 0 < len(first) < 30  # seeded, so reproducible


def test_streaming_records_ttft_usage_and_cost(server: FakeOpenAIServer) -> None:
    pricing = {"input_per_mtok": 2.0, "output_per_mtok": 10.0}
    target = make(server, stream=True, system="be terse", pricing=pricing)
    (out,) = calls(target, "how do I reset my password")
    assert out.error is None and out.text == "answer: how do I reset my password"
    # The fake server counts whitespace tokens: 2 (system) + 6 (user) in, 7 out.
    assert out.usage is not None and (out.usage.input_tokens, out.usage.output_tokens) == (8, 7)
    assert out.cost_usd == pytest.approx((8 * 2.0 + 7 * 10.0) / 1e6)
    assert out.ttft_s is not None and out.latency_s is not None and 0 < out.ttft_s <= out.latency_s


def test_stream_without_usage_is_not_invented() -> None:
    with FakeOpenAIServer(stream_usage=False) as srv:
        (out,) = calls(make(srv, stream=True, pricing={"input_per_mtok": 1, "output_per_mtok": 1}), "hi")
    assert out.error is None and out.text == "answer: hi" and out.usage is None and out.cost_usd is None


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_logprobs_give_confidence(server: FakeOpenAIServer, stream: bool) -> None:
    (out,) = calls(make(server, stream=stream, params={"logprobs": True, "top_logprobs": 2}), "two plus two")
    assert out.error is None and out.logprobs is not None
    assert [x["token"] for x in out.logprobs] == ["answer: ", "two ", "plus ", "two"]
    mean = sum(x["logprob"] for x in out.logprobs) / len(out.logprobs)
    assert out.confidence == pytest.approx(math.exp(mean)) and 0 < out.confidence < 1
    if not stream:
        raw_lps = [t["logprob"] for t in out.raw["choices"][0]["logprobs"]["content"]]
        assert [x["logprob"] for x in out.logprobs] == raw_lps


def test_without_logprobs_there_is_no_confidence(server: FakeOpenAIServer) -> None:
    (out,) = calls(make(server), "q")
    assert out.logprobs is None and out.confidence is None


def test_params_reach_the_server(server: FakeOpenAIServer) -> None:
    (out,) = calls(make(server, params={"max_tokens": 2, "temperature": 0}), "one two three four")
    assert out.text == "answer: one" and out.raw["choices"][0]["finish_reason"] == "length"


def test_api_key_is_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSAY_FAKE_KEY", KEY)
    monkeypatch.setenv("ASSAY_WRONG_KEY", KEY[::-1])
    with FakeOpenAIServer(api_key=KEY) as srv:
        good = create_target("openai", base_url=srv.base_url, model="m", api_key_env="ASSAY_FAKE_KEY")
        (ok,) = calls(good, "hello")  # type: ignore[arg-type]
        bad = make(srv, api_key_env="ASSAY_WRONG_KEY")
        (denied,) = calls(bad, "hello")
    assert ok.error is None and ok.text == "answer: hello"
    assert denied.error is not None and denied.error.status == 401 and not denied.error.retryable
    for text in (
        json.dumps(good.spec()),
        repr(good),
        str(good),
        json.dumps(ok.to_dict()),
        denied.error.message,
    ):
        assert KEY not in text and KEY[::-1] not in text


def test_missing_key_variable_fails_before_any_call(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_ABSENT_KEY", raising=False)
    with pytest.raises(ConfigError, match="ASSAY_ABSENT_KEY"):
        make(server, api_key_env="ASSAY_ABSENT_KEY")
    assert server.n_requests == 0


def test_many_concurrent_calls_share_a_bounded_pool(server: FakeOpenAIServer) -> None:
    prompts = [f"question {i}" for i in range(300)]
    outs = calls(make(server, max_connections=8), *prompts)
    assert [o.text for o in outs] == [f"answer: {p}" for p in prompts]
    assert server.n_requests == 300


def test_target_works_across_event_loops(server: FakeOpenAIServer) -> None:
    target = make(server)

    async def one(prompt: str) -> Output:
        return await target(Case(id=prompt, input=prompt))

    assert asyncio.run(one("first")).text == "answer: first"
    assert asyncio.run(one("second")).text == "answer: second"  # a fresh session for the new loop
    asyncio.run(target.aclose())


def test_server_latency(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency_ms=50) as srv:
        (out,) = calls(make(srv), "slow")
    assert out.error is None and out.latency_s is not None and out.latency_s >= 0.05


def test_answers_models_and_bad_requests(tmp_path: Path) -> None:
    import httpx

    with FakeOpenAIServer(answers={"capital of France?": "Paris"}, models=["a", "b"]) as srv:
        (out,) = calls(make(srv, model="a"), "capital of France?")
        (missing,) = calls(make(srv, model="zzz"), "x")
        listed = httpx.get(srv.base_url + "/models").json()
        bad = httpx.post(srv.base_url + "/chat/completions", json={"model": "a", "messages": "hi"})
    assert out.text == "Paris"
    assert missing.error is not None and missing.error.status == 404 and not missing.error.retryable
    assert [m["id"] for m in listed["data"]] == ["a", "b"]
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]


def test_parse_fault_spec() -> None:
    f = parse_fault("429,prompt=hi,times=2,retry_after=1,rate=0.5")
    assert (f.kind, f.prompt, f.times, f.retry_after, f.rate) == ("429", "hi", 2, "1", 0.5)
    with pytest.raises(ValueError, match="unknown fault kind"):
        parse_fault("418")
    with pytest.raises(ValueError, match="bad fault option"):
        parse_fault("500,prompt")


def test_command_line_server_in_another_process(tmp_path: Path) -> None:
    answers, log = tmp_path / "answers.json", tmp_path / "calls.jsonl"
    answers.write_text(json.dumps({"ping": "pong"}))
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "assay.testing.fake_openai", "--port", "0", "--answers", str(answers)),
            *("--log", str(log), "--fault", "503,prompt=flaky,times=1,retry_after=4"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        target = OpenAITarget(base_url=f"http://127.0.0.1:{port}/v1", model="m")
        ping, flaky = calls(target, "ping", "flaky")
        (flaky_again,) = calls(OpenAITarget(base_url=f"http://127.0.0.1:{port}/v1", model="m"), "flaky")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "RuntimeWarning" not in stderr
    assert ping.text == "pong"
    assert flaky.error is not None and flaky.error.retry_after == 4.0 and flaky.error.status == 503
    assert flaky_again.error is None
    records = read_call_log(log)
    assert sorted((r["prompt"], r["status"]) for r in records) == [
        ("flaky", 200),
        ("flaky", 503),
        ("ping", 200),
    ]
    assert all(isinstance(r["t"], float) for r in records)
