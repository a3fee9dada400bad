"""Ingest into the store: idempotency, per-event rejection, anonymisation (nothing unredacted on disk),
file ingest with --follow semantics, and the schema upgrade from a version-1 store."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay.monitor.anonymise import AnonymisationConfig, Anonymiser, hash_value
from assay.monitor.event import parse_event
from assay.monitor.ingest import Ingestor, ingest_file
from assay.store import Store, open_store
from assay.store.events import events as events_table
from tests.monitor.conftest import KEY, make_event

SECRETS = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "phone": "+44 20 7946 0958",
    "key": "sk-proj-4f9Qx2LmZ8aB7cD1eF3gH5iJ",
    "ip": "10.20.30.40",
}


def test_batch_stores_valid_events_and_rejects_the_rest(store: Store) -> None:
    ing = Ingestor(store, key=KEY)
    batch: list[Any] = [
        make_event(0),
        {"input": "no id"},
        make_event(1, latency_s="slow"),
        make_event(2, input="x" * 2_000_000),
        make_event(3, output="bad \udcff bytes"),
        make_event(4),
        make_event(4),  # repeated inside the batch
    ]
    r = ing.ingest(batch)
    assert (r.accepted, r.duplicates) == (2, 1)
    assert [x.index for x in r.rejected] == [1, 2, 3, 4]
    assert "event_id" in r.rejected[0].error
    assert "latency_s" in r.rejected[1].error
    assert "limit is 1,000,000" in r.rejected[2].error
    assert "UTF-8" in r.rejected[3].error
    assert store.events.count_events() == 2
    # at-least-once delivery: the same batch again stores nothing new
    again = ing.ingest([make_event(0), make_event(4)])
    assert (again.accepted, again.duplicates) == (0, 2)
    assert store.events.count_events() == 2


def test_stored_columns_match_the_event(store: Store) -> None:
    ing = Ingestor(store, AnonymisationConfig.keep_text(), key=KEY)
    ing.ingest(
        [
            make_event(
                7,
                variant="B",
                ttft_s=0.05,
                feedback={"thumbs_up": True, "rating": 4, "nps": 9},
                outcome={"resolved": True, "escalated": False, "handle_time_s": 12.5},
                queue_depth=2,
                error={"kind": "timeout", "message": "slow"},
                session_id="s-1",
            )
        ]
    )
    with store.engine.connect() as conn:
        row = conn.execute(select(events_table)).one()
    assert row.event_id == "ev-7" and row.app == "bot" and row.variant == "B" and row.model == "m1"
    assert row.latency_s == pytest.approx(0.17) and row.ttft_s == 0.05
    assert (row.input_tokens, row.output_tokens, row.cost_usd) == (10, 5, 0.001)
    assert bool(row.is_error) and row.error_kind == "timeout"
    assert bool(row.thumbs_up) and row.rating == 4 and row.nps == 9
    assert bool(row.resolved) and not bool(row.escalated) and row.handle_time_s == 12.5
    assert row.queue_depth == 2 and row.input_chars == len("question 7")
    assert row.session_hash == hash_value("s-1", KEY)
    assert row.ts.timestamp() == pytest.approx(row.t_unix)
    stored = store.events.get_event("ev-7")
    assert stored is not None and stored["input"] == "question 7" and stored["schema_version"] == 1


def test_anonymisation_actions() -> None:
    cfg = AnonymisationConfig(
        fields={"output": "keep", "metadata.customer": "hash", "metadata.note": "drop", "spans": "drop"}
    )
    anon = Anonymiser(cfg, key=KEY)
    text = f"I am {SECRETS['email']}, card {SECRETS['card']}"
    ev = anon.apply(
        parse_event(
            {
                "event_id": "e",
                "input": [{"role": "user", "content": text}],
                "output": text,
                "contexts": [{"text": f"call {SECRETS['phone']}"}],
                "feedback": {"comment": f"my key is {SECRETS['key']}"},
                "error": {"kind": "x", "message": f"from {SECRETS['ip']}"},
                "spans": [{"name": "retrieval", "duration_s": 0.1, "attributes": {"q": text}}],
                "metadata": {"customer": "cust-9", "note": "private", "topic": SECRETS["email"]},
                "user_id": "u-1",
                "session_id": "s-1",
            }
        )
    )
    assert isinstance(ev.input, list) and ev.input[0].content == "I am [EMAIL], card [CREDIT_CARD]"
    assert ev.output == text  # kept as configured
    assert ev.contexts[0].text == "call [PHONE]"
    assert ev.feedback is not None and ev.feedback.comment == "my key is [API_KEY]"
    assert ev.error is not None and ev.error.message == "from [IP_ADDRESS]"
    assert ev.spans[0].attributes == {}
    assert ev.metadata == {"customer": hash_value("cust-9", KEY), "topic": "[EMAIL]"}
    assert ev.user_id == hash_value("u-1", KEY) and ev.session_id == hash_value("s-1", KEY)
    # keyed: another key gives other hashes, the same key the same (joins work)
    assert (
        Anonymiser(cfg, key=b"other").apply(parse_event({"event_id": "e", "user_id": "u-1"})).user_id
        != ev.user_id
    )


def test_pseudonym_style_is_stable() -> None:
    anon = Anonymiser(AnonymisationConfig(style="hash"), key=KEY)
    a = anon.redact_text(f"write to {SECRETS['email']}")
    b = anon.redact_text(f"{SECRETS['email'].upper()} again")
    assert a.startswith("write to [EMAIL:") and a.split()[-1] == b.split()[0]


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="Did you mean 'output'"):
        AnonymisationConfig(fields={"outptu": "keep"})
    with pytest.raises(ValueError, match="identifier"):
        AnonymisationConfig(fields={"user_id": "redact"})
    with pytest.raises(ValueError, match="unknown entity type"):
        AnonymisationConfig(entity_types=["emails"])


def test_nothing_unredacted_reaches_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = open_store(f"sqlite:///{db}")
    try:
        ing = Ingestor(store, key=KEY)
        secret_text = " ".join(SECRETS.values())
        events = [
            make_event(
                i,
                input=f"hello, {secret_text}",
                output=f"reply to {SECRETS['email']}",
                contexts=[{"text": f"IBAN {SECRETS['iban']}"}],
                feedback={"comment": f"phone me {SECRETS['phone']}"},
                user_id="alice-user-id",
                session_id="alice-session",
                metadata={"who": SECRETS["email"]},
            )
            for i in range(50)
        ]
        assert ing.ingest(events).accepted == 50
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("a.db"))
    assert b"hello, [EMAIL]" in raw  # the events are there ...
    for value in [*SECRETS.values(), "alice-user-id", "alice-session"]:
        assert value.encode() not in raw, value  # ... but none of the personal data
        assert value.replace(" ", "").encode() not in raw


def test_upgrade_from_schema_version_1(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    store = open_store(f"sqlite:///{db}")
    store.close()
    con = sqlite3.connect(db)
    for table in ("event_scores", "events", "alerts", "monitor_state"):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    store = open_store(f"sqlite:///{db}")
    try:
        assert Ingestor(store, key=KEY).ingest([make_event(1)]).accepted == 1
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT value FROM meta WHERE key='schema_version'").scalar() == "3"
    finally:
        store.close()


def test_upgrade_from_schema_version_2_adds_the_rules_table(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    open_store(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE monitor_rules")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with open_store(f"sqlite:///{db}") as store:
        assert store.events.list_rules() == []
        store.events.save_rules([("p95", "threshold", {"metric": "latency_s.p95", "max": 2.0})], source="t")
        assert [r.name for r in store.events.list_rules()] == ["p95"]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT value FROM meta WHERE key='schema_version'").scalar() == "3"


def test_store_key_is_created_once_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_MONITOR_KEY", raising=False)
    url = f"sqlite:///{tmp_path}/k.db"
    with open_store(url) as s1, open_store(url) as s2:
        a = Ingestor(s1).anonymiser.key
        b = Ingestor(s2).anonymiser.key
    assert a == b and len(a) == 32
    monkeypatch.setenv("ASSAY_MONITOR_KEY", "from-env")
    with open_store(url) as s3:
        assert Ingestor(s3).anonymiser.key == b"from-env"


# ------------------------------------------------------------------------------------------ files
def _write_lines(path: Path, lines: list[bytes], mode: str = "wb") -> None:
    with path.open(mode) as fh:
        fh.write(b"".join(line + b"\n" for line in lines))


def test_file_ingest_reports_bad_lines(sqlite_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _write_lines(
        path,
        [
            json.dumps(make_event(0)).encode(),
            b"",
            b"{not json",
            b'{"event_id": "bin", "input": "caf\xe9"}',
            json.dumps(make_event(1, latency_s=[1])).encode(),
            json.dumps(make_event(2)).encode(),
        ],
    )
    ing = Ingestor(sqlite_store, key=KEY)
    report = ingest_file(path, ing, batch_size=2)
    assert (report.lines, report.accepted, report.duplicates) == (6, 2, 0)
    assert [r.index for r in report.rejected] == [3, 4, 5]
    assert report.rejected[0].error.startswith(f"{path}:3: invalid JSON")
    assert "not valid UTF-8" in report.rejected[1].error
    assert f"{path}:5: field 'latency_s'" in report.rejected[2].error
    again = ingest_file(path, ing)
    assert (again.accepted, again.duplicates) == (0, 2)


def test_follow_ingests_appended_lines_partial_lines_and_truncation(
    sqlite_store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "live.jsonl"
    _write_lines(path, [json.dumps(make_event(0)).encode()])
    ing = Ingestor(sqlite_store, key=KEY)
    stop = threading.Event()
    reports: list[Any] = []
    thread = threading.Thread(
        target=lambda: reports.append(ingest_file(path, ing, follow=True, poll_s=0.02, stop=stop))
    )
    thread.start()

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 5
        while sqlite_store.events.count_events() < n:
            assert time.monotonic() < deadline, f"only {sqlite_store.events.count_events()} of {n} events"
            time.sleep(0.02)

    try:
        wait_for(1)
        line = json.dumps(make_event(1)).encode()
        with path.open("ab") as fh:  # a partial line waits for its newline
            fh.write(line[:20])
            fh.flush()
            time.sleep(0.1)
            assert sqlite_store.events.count_events() == 1
            fh.write(line[20:] + b"\n")
        wait_for(2)
        _write_lines(path, [json.dumps(make_event(2)).encode()])  # truncated and rewritten
        wait_for(3)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert reports[0].accepted == 3 and not reports[0].rejected
