"""The event model: strict validation with reasons, timestamps, and the Case + Output view."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assay.monitor.event import EVENT_SCHEMA_VERSION, Event, EventError, event_to_case_output, parse_event
from tests.monitor.conftest import make_event


def test_full_event_round_trips_through_json() -> None:
    raw = make_event(
        1,
        variant="B",
        input=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
        contexts=[{"id": "kb-1", "text": "passage", "score": 2.5}],
        ttft_s=0.05,
        error={"kind": "timeout", "message": "upstream"},
        session_id="s1",
        user_id="u1",
        feedback={"thumbs_up": False, "rating": 2, "nps": 6, "comment": "meh"},
        outcome={"resolved": False, "escalated": True, "handle_time_s": 30.0, "accepted": None},
        spans=[{"name": "retrieval", "duration_s": 0.02}],
        queue_depth=3,
        metadata={"topic": "billing"},
    )
    ev = parse_event(raw)
    assert ev.schema_version == EVENT_SCHEMA_VERSION
    assert Event.model_validate_json(ev.model_dump_json()) == ev
    case, out = event_to_case_output(ev)
    assert case.id == "ev-1" and case.input_text == "hi" and case.metadata["topic"] == "billing"
    assert case.metadata["variant"] == "B"
    assert out.contexts[0].id == "kb-1" and out.usage is not None and out.usage.input_tokens == 10
    assert out.error is not None and out.error.kind == "timeout"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"input": "x"}, "field 'event_id': missing"),
        ({"event_id": ""}, "field 'event_id'"),
        ({"event_id": 7}, "field 'event_id': Input should be a valid string"),
        ({"event_id": "e", "latency_s": "0.2"}, "field 'latency_s': Input should be a valid number"),
        ({"event_id": "e", "latency_s": -1}, "field 'latency_s': Input should be greater than or equal to 0"),
        ({"event_id": "e", "usage": {"input_tokens": 1.5}}, "field 'usage.input_tokens'"),
        ({"event_id": "e", "feedback": {"rating": 6}}, "field 'feedback.rating'"),
        ({"event_id": "e", "ts": "yesterday"}, "is not ISO 8601"),
        ({"event_id": "e", "ts": "2025-03-01T12:00:00"}, "no time zone"),
        ({"event_id": "e", "ts": 1e15}, "not a plausible Unix time"),
        ({"event_id": "e", "surprise": 1}, "field 'surprise': Extra inputs are not permitted"),
        ({"event_id": "e", "spans": [{"name": "r"}]}, "field 'spans.0.duration_s': Field required"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert reason in info.value.reason


def test_timestamps_iso_and_unix_agree() -> None:
    a = parse_event({"event_id": "a", "ts": "2025-03-01T13:00:00+01:00"})
    b = parse_event({"event_id": "b", "ts": datetime(2025, 3, 1, 12, tzinfo=UTC).timestamp()})
    c = parse_event({"event_id": "c", "ts": "2025-03-01T12:00:00Z"})
    assert a.ts == b.ts == c.ts == datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert parse_event({"event_id": "d"}).ts is None  # filled with the ingest time


def test_string_error_is_accepted_as_message() -> None:
    ev = parse_event({"event_id": "e", "error": "boom"})
    assert ev.error is not None and ev.error.kind == "error" and ev.error.message == "boom"
    _, out = event_to_case_output(ev)
    assert out.error is not None and out.error.kind == "target_exception"
