"""The fast ingest paths keep every guarantee of the simple ones: batch validation gives the same reasons
as one-by-one validation, the PII pre-check never lets through anything ``assay.pii`` would redact, the
pipelined writer acknowledges only committed batches and reports commit failures, the insert's
duplicate detection is exact, and the JSON fast path accepts and rejects what the standard library does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import pii
from assay.monitor.anonymise import AnonymisationConfig, Anonymiser, hash_value, may_contain_pii
from assay.monitor.event import Event, EventError, parse_event, parse_events
from assay.monitor.fastlane import FastLane
from assay.monitor.ingest import Ingestor, IngestPipeline, IngestResult, decode_json, ingest_file
from assay.store import Store
from assay.types import StoreError
from tests.monitor.conftest import KEY, make_event

MALFORMED: list[Any] = [
    {"input": "x"},
    {"event_id": ""},
    {"event_id": 7},
    {"event_id": "e1", "latency_s": "0.2"},
    {"event_id": "e2", "latency_s": -1, "usage": {"input_tokens": 1.5}, "feedback": {"rating": 6}},
    {"event_id": "e3", "ts": "yesterday"},
    {"event_id": "e4", "ts": "2025-03-01T12:00:00"},
    {"event_id": "e5", "ts": True},
    {"event_id": "e6", "surprise": 1, "a": 2, "b": 3, "c": 4},
    {"event_id": "e7", "spans": [{"name": "r"}]},
    ["not", "an", "object"],
    None,
]


def _outcome(obj: Any) -> Event | str:
    try:
        return parse_event(obj)
    except EventError as exc:
        return exc.reason


def test_batch_validation_gives_the_same_events_and_reasons_as_one_by_one() -> None:
    batch = [make_event(0), *MALFORMED[:5], make_event(1, error="boom"), *MALFORMED[5:], make_event(2)]
    got = [r if isinstance(r, Event) else r.reason for r in parse_events(batch)]
    assert got == [_outcome(obj) for obj in batch]
    assert [isinstance(r, Event) for r in got].count(True) == 3
    assert "(and 1 more)" in str(got[10])  # four extra fields: three reasons shown, then a count
    assert parse_events([]) == []


def test_ingest_rejects_by_position_in_a_mixed_batch(sqlite_store: Store) -> None:
    batch = [make_event(i) if i % 3 else {"event_id": f"bad-{i}", "latency_s": "x"} for i in range(30)]
    r = Ingestor(sqlite_store, key=KEY).ingest(batch, offset=100)
    assert r.accepted == 20 and [x.index for x in r.rejected] == [100 + i for i in range(0, 30, 3)]
    assert all("latency_s" in x.error for x in r.rejected)


# ------------------------------------------------------------------------------------------ PII pre-check
# what each detector finds without a single digit: the pre-check must send every one of them to assay.pii
NO_DIGIT_FINDINGS = {
    "email": "write to ann@example.com",
    "ipv6": "from fe80::abcd today",
    "private key": "-----BEGIN PRIVATE KEY----- abc",
    "aws key": "key AKIAABCDEFGHIJKLMNOP here",
    "slack token": "xoxb-abcdefghij",
    "assigned secret": "password: AbCdEfGhIjKlMnOpQr",
}


@pytest.mark.parametrize("text", NO_DIGIT_FINDINGS.values(), ids=NO_DIGIT_FINDINGS.keys())
def test_precheck_passes_what_pii_detects_without_digits(text: str) -> None:
    assert pii.detect(text), "the example must be a real detection"
    assert may_contain_pii(text)


TEXT_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ      .,;!?'\"()-_/=+*&%$#<>[]{}~`|^\\é߀\t\n")
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(TEXT_ALPHABET, st.sampled_from(["@", ":", "1", "-----", "sk-", "AKIA"])), max_size=80)
)
def test_precheck_never_skips_a_text_pii_would_change(chars: list[str]) -> None:
    text = "".join(chars)
    if not may_contain_pii(text):
        assert pii.detect(text) == []


def test_redaction_is_the_same_with_and_without_the_precheck() -> None:
    texts = [
        "How do I reset my password?",
        "Mail me at ann@example.com or call +44 20 7946 0958",
        "order 4111 1111 1111 1111 was charged twice",
        "the token is ghp_" + "a" * 36,
        "Wie exportiere ich meine Notizen nach PDF?",
        "ok",
        "",
        *NO_DIGIT_FINDINGS.values(),
    ]
    anon = Anonymiser(AnonymisationConfig(), key=KEY)
    assert anon._gated
    assert [anon.redact_text(t) for t in texts] == [pii.redact(t, salt=KEY.hex()) for t in texts]


def test_precheck_turns_itself_off_when_pii_knows_more_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii, "ENTITY_TYPES", (*pii.ENTITY_TYPES, "person_name"))
    calls: list[str] = []
    monkeypatch.setattr(pii, "redact", lambda text, *a, **kw: calls.append(text) or "[PERSON_NAME] asked")
    anon = Anonymiser(AnonymisationConfig(), key=KEY)
    assert not anon._gated
    assert anon.redact_text("Ann Smith asked") == "[PERSON_NAME] asked"  # a new detector is never skipped
    assert calls == ["Ann Smith asked"]


# ------------------------------------------------------------------------------------------ the writer
def test_pipeline_commits_in_order_and_acknowledges_after_commit(sqlite_store: Store) -> None:
    ing = Ingestor(sqlite_store, key=KEY)
    seen: list[tuple[int, int]] = []
    with IngestPipeline(ing) as pipe:
        for k in range(5):
            batch = [make_event(k * 10 + i) for i in range(10)] + [make_event(0)]

            def done(r: IngestResult | None, e: BaseException | None, k: int = k) -> None:
                assert e is None and r is not None
                seen.append((k, sqlite_store.events.count_events()))  # committed before the callback

            pipe.submit(batch, done)
    assert seen == [(k, 10 * (k + 1)) for k in range(5)]


def test_pipeline_reports_a_failed_commit(sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ing = Ingestor(sqlite_store, key=KEY)

    def broken(rows: Any, **kw: Any) -> int:
        raise StoreError("disk full")

    monkeypatch.setattr(sqlite_store.events, "insert_events", broken)
    outcomes: list[Any] = []
    with IngestPipeline(ing) as pipe:
        pipe.submit([make_event(1)], lambda r, e: outcomes.append((r, e)))
    assert outcomes[0][0] is None and isinstance(outcomes[0][1], StoreError)


def test_file_ingest_raises_a_commit_failure(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("".join(json.dumps(make_event(i)) + "\n" for i in range(10)))
    ing = Ingestor(sqlite_store, key=KEY)
    monkeypatch.setattr(
        sqlite_store.events, "insert_events", lambda rows, **kw: (_ for _ in ()).throw(StoreError("gone"))
    )
    with pytest.raises(StoreError, match="gone"):
        ingest_file(path, ing, batch_size=3)


def test_insert_detects_exactly_which_rows_were_new(store: Store) -> None:
    ing = Ingestor(store, key=KEY)
    assert ing.ingest([make_event(1), make_event(2)]).accepted == 2
    prepared = ing.prepare_batch([make_event(i) for i in (3, 1, 4, 2, 5)], rows=True)
    rows = prepared.rows
    rows.insert(3, rows[0])  # event 3 twice in one insert: the first is stored, the second is not
    assert store.events.insert_events(rows) == 3
    assert store.events.count_events() == 5
    from assay.monitor.windows import aggregate
    from tests.monitor.conftest import T0

    (whole,) = aggregate(store, start=T0, end=T0.replace(hour=1), by=[])
    assert whole.volume == 5  # the rollups counted each new event once, and no duplicate


# ------------------------------------------------------------------------------------------ JSON
def test_json_fast_path_accepts_and_rejects_what_the_standard_library_does(
    sqlite_store: Store, tmp_path: Path
) -> None:
    assert (
        decode_json(b'{"a": NaN, "b": 123456789012345678901234567890}')["b"] == 123456789012345678901234567890
    )
    with pytest.raises(ValueError):
        decode_json(b'{"a": ')
    path = tmp_path / "e.jsonl"
    path.write_bytes(
        b'{"event_id": "nan", "metadata": {"x": NaN}}\n'  # the standard library accepts NaN: so do we
        b'{"event_id": "lone", "input": "\\ud800"}\n'  # a lone surrogate escape: valid JSON
        b'{"event_id": "bytes", "input": "caf\xe9"}\n'
        b'{"event_id": "ok", "input": "caf\xc3\xa9"}\n'
    )
    report = ingest_file(path, Ingestor(sqlite_store, key=KEY))
    assert report.accepted == 2, report.to_dict()
    assert [(r.index, r.error.split(": ", 1)[1]) for r in report.rejected] == [
        (2, "the event holds text that is not valid UTF-8"),
        (3, "not valid UTF-8 (byte 35)"),
    ]
    assert sqlite_store.events.get_event("ok")["input"] == "café"  # type: ignore[index]


def test_sdk_retries_a_failed_commit_and_stores_every_event_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.monitor.sdk import Monitor
    from assay.store import open_store
    from assay.store.events import EventStore

    real = EventStore.insert_events
    failures = {"left": 2}

    def flaky(self: EventStore, rows: Any, **kw: Any) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreError("database is locked")
        return real(self, rows, **kw)

    monkeypatch.setattr(EventStore, "insert_events", flaky)
    url = f"sqlite:///{tmp_path}/sdk.db"
    monitor = Monitor(url, key=KEY, batch_size=50, flush_interval_s=0.01, retry_backoff_s=0.01)
    for i in range(500):
        monitor.log(**make_event(i))
    assert monitor.flush(30)
    monitor.close()
    stats = monitor.stats()
    assert failures["left"] == 0
    assert (stats["sent"], stats["failed"], stats["dropped"], stats["buffered"]) == (500, 0, 0, 0)
    with open_store(url) as s:
        assert s.events.count_events() == 500


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=150), st.text(max_size=300))
def test_fast_keyed_hash_is_hmac_sha256(key: bytes, value: str) -> None:
    import hashlib
    import hmac

    from assay.monitor.anonymise import _KeyedHash

    expected = "h:" + hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]
    assert _KeyedHash(key)(value) == expected == hash_value(value, key)


# ------------------------------------------------------------------------------------------ fast lane
def _values() -> st.SearchStrategy[Any]:
    """Valid and invalid values for every field, so the fast lane meets both."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-3, max_value=12),
        st.integers(min_value=2**62, max_value=2**65),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0, max_value=1e6),
        st.sampled_from(["", "a", "x" * 201, "x" * 257, "2025-03-01T12:00:00Z", "2025-03-01T12:00:00", "1"]),
        st.text(max_size=5),
        st.just(1_700_000_000),
        st.just(1e15),
    )
    nested = st.one_of(
        st.dictionaries(
            st.sampled_from(
                [
                    "input_tokens",
                    "output_tokens",
                    "kind",
                    "message",
                    "thumbs_up",
                    "rating",
                    "nps",
                    "comment",
                    "resolved",
                    "escalated",
                    "handle_time_s",
                    "accepted",
                    "extra",
                ]
            ),
            scalars,
            max_size=4,
        ),
        st.lists(scalars, max_size=3),
        st.dictionaries(st.text(max_size=3), st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=3),
    )
    return st.one_of(scalars, nested)


FIELDS = [
    "schema_version", "event_id", "ts", "app", "variant", "model", "input", "output", "latency_s", "ttft_s",
    "usage", "cost_usd", "error", "session_id", "user_id", "feedback", "outcome", "queue_depth", "metadata",
    "contexts", "surprise",
]  # fmt: skip


def _mostly_valid() -> st.SearchStrategy[dict[str, Any]]:
    """Events that are usually valid: each field valid most of the time, sometimes anything at all."""
    num = st.one_of(st.floats(min_value=0, max_value=1e9, allow_subnormal=True), st.integers(0, 10**6))
    text = st.text(max_size=20)
    flags = st.one_of(st.none(), st.booleans())
    valid: dict[str, st.SearchStrategy[Any]] = {
        "schema_version": st.just(1),
        "ts": st.one_of(
            st.none(), st.floats(min_value=0, max_value=4e9), st.integers(0, 4 * 10**9),
            st.sampled_from(["2025-03-01T12:00:00Z", "2025-03-01T12:00:00.123456+05:30"]),
        ),
        "app": st.text(min_size=1, max_size=200),
        "variant": st.one_of(st.none(), st.text(max_size=200)),
        "model": st.one_of(st.none(), text),
        "input": st.one_of(st.none(), text),
        "output": st.one_of(st.none(), text),
        "latency_s": st.one_of(st.none(), num),
        "ttft_s": st.one_of(st.none(), num),
        "usage": st.fixed_dictionaries({}, optional={"input_tokens": st.integers(0, 10**9), "output_tokens": st.integers(0, 10**9)}),
        "cost_usd": st.one_of(st.none(), num),
        "error": st.one_of(st.none(), text, st.fixed_dictionaries({}, optional={"kind": text, "message": text})),
        "session_id": st.one_of(st.none(), text),
        "user_id": st.one_of(st.none(), text),
        "feedback": st.fixed_dictionaries(
            {}, optional={"thumbs_up": flags, "rating": st.one_of(st.none(), st.integers(1, 5)),
                          "nps": st.one_of(st.none(), st.integers(0, 10)), "comment": st.one_of(st.none(), text)}
        ),
        "outcome": st.fixed_dictionaries(
            {}, optional={"resolved": flags, "escalated": flags, "accepted": flags,
                          "handle_time_s": st.one_of(st.none(), num)}
        ),
        "queue_depth": st.one_of(st.none(), st.integers(0, 1000)),
        "metadata": st.dictionaries(text, st.one_of(text, num, st.booleans(), st.none(), st.lists(num, max_size=2)), max_size=3),
    }  # fmt: skip

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {"event_id": draw(st.text(min_size=1, max_size=256))}
        for name in draw(st.lists(st.sampled_from(sorted(valid)), unique=True, max_size=12)):
            raw[name] = draw(_values() if draw(st.integers(0, 9)) == 0 else valid[name])
        return raw

    return build()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.dictionaries(st.sampled_from(FIELDS), _values(), max_size=10).map(
            lambda d: {**d, "event_id": "e"}
        ),
        st.dictionaries(st.sampled_from(FIELDS), _values(), max_size=10),
        _mostly_valid(),
    )
)
def test_fast_lane_accepts_only_what_the_model_accepts_and_gives_its_dump(raw: dict[str, Any]) -> None:
    """For every anonymisation config: the lane's dump (from the dict and from its JSON) is None or
    exactly the model's dump of the anonymised event; never an event the model refuses."""
    from pydantic import ValidationError

    for anon, lane in LANES:
        want: dict[str, Any] | None
        try:
            want = Event.model_validate(anon.apply_raw(raw)).model_dump(exclude_none=True)
        except ValidationError:
            want = None
        got = lane.from_obj(raw)
        if got is not None:
            assert want is not None, f"the fast lane accepted an event the model refuses: {raw!r}"
            assert got == want
        try:
            line = json.dumps(raw, allow_nan=False).encode()
        except ValueError:
            continue
        decoded = json.loads(line)
        got = lane.from_json(line)
        if got is not None:
            want = Event.model_validate(anon.apply_raw(decoded)).model_dump(exclude_none=True)
            assert got == want


def _lanes() -> list[tuple[Anonymiser, FastLane]]:
    configs = [
        AnonymisationConfig.keep_text(),
        AnonymisationConfig(),
        AnonymisationConfig(
            fields={"input": "drop", "output": "hash", "feedback": "drop", "error": "drop", "user_id": "drop",
                    "metadata": "redact", "metadata.topic": "keep", "metadata.email": "drop"}
        ),
    ]  # fmt: skip
    out = []
    for cfg in configs:
        anon = Anonymiser(cfg, key=KEY)
        out.append((anon, FastLane(anon)))
    return out


LANES = _lanes()


def test_fast_lane_covers_the_common_events_and_builds_the_same_rows(sqlite_store: Store) -> None:
    from datetime import UTC, datetime

    ing = Ingestor(sqlite_store, AnonymisationConfig.keep_text(), key=KEY)
    lane = FastLane(ing.anonymiser)
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    events = [
        make_event(1),
        make_event(2, ts=None, variant="B", error="boom", session_id="s", user_id="u", queue_depth=3),
        make_event(
            3, ts="2025-03-01T13:00:00+01:00", feedback={"thumbs_up": False, "rating": 2, "comment": "meh"}
        ),
        make_event(
            4, outcome={"resolved": True, "handle_time_s": 30}, metadata={"topic": "billing", "k": [1, 2.5]}
        ),
        make_event(5, error={"kind": "timeout"}, usage={"output_tokens": 7}, latency_s=2, cost_usd=0),
        make_event(6, input="café ☕", output=None, ttft_s=0.25, feedback={}),
    ]
    for raw in events:
        simple = lane.from_obj(raw)
        assert simple is not None, raw
        assert lane.from_json(json.dumps(raw).encode()) == simple
        prep = ing.preparer
        fast_row = prep._row_simple(simple, now, prep._db_dt(now))
        model_row = prep.row(Event.model_validate(ing.anonymiser.apply_raw(raw)), now, prep._db_dt(now))
        assert fast_row is not None
        pos = len(fast_row) - 2  # event_json: the same content (the key order and number format may differ)
        assert fast_row[:pos] + fast_row[pos + 1 :] == model_row[:pos] + model_row[pos + 1 :]
        assert json.loads(fast_row[pos]) == json.loads(model_row[pos])
        assert parse_event(json.loads(fast_row[pos])) == parse_event(json.loads(model_row[pos]))
