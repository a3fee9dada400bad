"""The judge client and judge verifier against a real loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from assay.inference.judge import JudgeClient, JudgeError, parse_json_reply, repair_prompt
from assay.scorer.verify import JUDGE_VERIFY_PROMPT, JudgeVerifier
from assay.target.base import create_target
from assay.testing.fake_openai import FakeOpenAIServer, Fault
from assay.types import Doc

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"enum": ["supported", "contradicted", "not_enough_info"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["verdict", "confidence"],
}
VALID = '{"verdict": "supported", "confidence": 0.9}'


def client(server: FakeOpenAIServer, **kw: Any) -> JudgeClient:
    target = create_target(
        "openai", base_url=server.base_url, model="judge", timeout_s=kw.pop("timeout_s", 5.0)
    )
    return JudgeClient(target, backoff_s=0.01, **kw)


def ask(judge: JudgeClient, prompt: str) -> Any:
    async def go() -> Any:
        try:
            return await judge.ask(prompt, SCHEMA)
        finally:
            await judge.target.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


def test_valid_reply_in_one_call() -> None:
    with FakeOpenAIServer(answers={"q": "Here you go:\n```json\n" + VALID + "\n```"}) as server:
        assert ask(client(server), "q") == {"verdict": "supported", "confidence": 0.9}
        assert server.n_requests == 1


def test_invalid_json_is_repaired_once() -> None:
    bad = "I think it is supported."
    problem = JudgeClient.check(bad, SCHEMA)[1]
    assert problem is not None
    with FakeOpenAIServer(answers={"q": bad, repair_prompt(problem, SCHEMA): VALID}) as server:
        assert ask(client(server), "q")["verdict"] == "supported"
        assert server.n_requests == 2


def test_invalid_json_twice_is_a_typed_error() -> None:
    bad = "no json here"
    problem = JudgeClient.check(bad, SCHEMA)[1]
    assert problem is not None
    with FakeOpenAIServer(answers={"q": bad, repair_prompt(problem, SCHEMA): "still {not json"}) as server:
        with pytest.raises(JudgeError) as exc:
            ask(client(server), "q")
        assert exc.value.kind == "invalid_json" and exc.value.reply == "still {not json"
        assert server.n_requests == 2


def test_schema_violation_twice_is_a_typed_error() -> None:
    off = '{"verdict": "maybe", "confidence": 2}'
    problem = JudgeClient.check(off, SCHEMA)[1]
    assert (problem is not None and "verdict" in problem) or "confidence" in (problem or "")
    with FakeOpenAIServer(answers={"q": off, repair_prompt(problem, SCHEMA): off}) as server:
        with pytest.raises(JudgeError) as exc:
            ask(client(server), "q")
        assert exc.value.kind == "schema"


def test_timeouts_are_retried_then_a_typed_error() -> None:
    with FakeOpenAIServer(faults=[Fault("hang", prompt="q")], hang_max_s=5) as server:
        judge = client(server, timeout_s=0.3, max_attempts=2)
        with pytest.raises(JudgeError) as exc:
            ask(judge, "q")
        assert exc.value.kind == "target_error" and "after 2 attempts" in str(exc.value)
        assert exc.value.target_error is not None and exc.value.target_error.kind == "timeout"
        assert judge.n_calls == 2


def test_rate_limit_is_retried_and_succeeds() -> None:
    with FakeOpenAIServer(
        answers={"q": VALID}, faults=[Fault("429", prompt="q", times=1, retry_after="0")]
    ) as server:
        assert ask(client(server), "q")["confidence"] == 0.9
        assert server.prompt_counts["q"] == 2


def test_non_retryable_http_error_fails_at_once() -> None:
    with FakeOpenAIServer(models=["other"]) as server:  # 404: model not found
        with pytest.raises(JudgeError) as exc:
            ask(client(server), "q")
        assert exc.value.kind == "target_error" and server.n_requests == 1


def test_parse_json_reply_forms() -> None:
    assert parse_json_reply('{"a": 1}') == {"a": 1}
    assert parse_json_reply('prose {"a": [1, 2]} more prose') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        parse_json_reply("no json")


def test_judge_verifier_maps_verdicts_and_evidence() -> None:
    docs = [Doc("Refunds are possible within 14 days.", id="r"), Doc("Pro costs $8.", id="p")]
    shown = "\n".join(f"[{i}] {d.text}" for i, d in enumerate(docs, start=1))
    answers = {
        JUDGE_VERIFY_PROMPT.format(evidence=shown, claim="Pro costs $8."): json.dumps(
            {"verdict": "supported", "confidence": 0.8, "evidence": 2, "reason": "stated"}
        ),
        JUDGE_VERIFY_PROMPT.format(evidence=shown, claim="Refunds take 30 days."): json.dumps(
            {"verdict": "contradicted", "confidence": 0.9, "evidence": 1, "reason": "14 days"}
        ),
    }
    with FakeOpenAIServer(answers=answers) as server:
        verifier = JudgeVerifier(client(server))

        async def go() -> Any:
            try:
                return await verifier.verify(["Pro costs $8.", "Refunds take 30 days."], [docs, docs])
            finally:
                await verifier.client.target.aclose()  # type: ignore[attr-defined]

        supported, contradicted = asyncio.run(go())
    assert supported.label == "supported" and supported.p_supported == 0.8 and supported.evidence.id == "p"
    assert contradicted.label == "contradicted" and contradicted.p_supported == pytest.approx(0.1)
    assert contradicted.evidence.id == "r" and contradicted.reasons == ("14 days",)
