"""Rules and alerts on a synthetic clock: pending -> firing -> resolved, for, cooldown, repeat, grouping,
change/drift/volume rules, and delivery to a file and to a loopback webhook with retries."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from assay.monitor.alerts import AlertEngine
from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.clock import ManualClock
from assay.monitor.ingest import Ingestor
from assay.monitor.notify import Dispatcher, NotifyConfig
from assay.monitor.rules import Rule, evaluate_rule
from assay.store import Store
from tests.monitor._servers import ServerThread, webhook_app
from tests.monitor.conftest import KEY, T0

RULES: TypeAdapter[Any] = TypeAdapter(Rule)


def rule(**kw: Any) -> Any:
    return RULES.validate_python(kw)


def traffic(
    store: Store, start_min: float, end_min: float, *, per_min: int = 20, app: str = "bot", **fields: Any
) -> None:
    ing = Ingestor(store, AnonymisationConfig.keep_text(), key=KEY)
    evs = []
    n = int((end_min - start_min) * per_min)
    for i in range(n):
        t = T0.timestamp() + start_min * 60 + i * 60 / per_min
        ev = {"event_id": f"{app}-{t:.3f}", "ts": t, "app": app, "latency_s": 0.2}
        for k, v in fields.items():
            ev[k] = v(i) if callable(v) else v
        evs.append(ev)
    assert ing.ingest(evs).accepted == n


def run(engine: AlertEngine, clock: ManualClock, minutes: range) -> dict[int, list[tuple[str, str]]]:
    out = {}
    for m in minutes:
        clock.set(T0 + timedelta(minutes=m))
        changed = engine.evaluate()
        if changed:
            out[m] = [(a.rule, a.state) for a in changed]
    return out


def notify_file(tmp_path: Path, **kw: Any) -> NotifyConfig:
    return NotifyConfig(receivers=[{"type": "file", "path": str(tmp_path / "alerts.jsonl")}], **kw)


def test_threshold_pending_firing_resolved(store: Store, tmp_path: Path) -> None:
    traffic(store, 0, 30)
    traffic(store, 30, 50, latency_s=3.0)  # the slow afternoon
    traffic(store, 50, 90)
    clock = ManualClock(T0)
    r = rule(name="slow", expr="p95_latency_s > 2 for 10m", window="5m")
    assert (r.metric, r.op, r.value, r.for_s) == ("p95_latency_s", ">", 2.0, 600.0)
    engine = AlertEngine(store, [r], notify=notify_file(tmp_path), clock=clock)
    changes = run(engine, clock, range(1, 90))
    assert changes == {41: [("slow", "firing")], 55: [("slow", "resolved")]}
    (alert,) = store.events.list_alerts()
    assert alert.state == "resolved" and alert.labels == {"app": "bot"}
    assert alert.pending_since == T0 + timedelta(minutes=31)
    assert alert.started_at == T0 + timedelta(minutes=41) and alert.ended_at == T0 + timedelta(minutes=55)
    assert alert.time_to_recover_s == 14 * 60 and alert.value is not None
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    assert lines[0]["alerts"][0]["labels"]["alertname"] == "slow"
    assert lines[1]["alerts"][0]["timeToRecoverS"] == 840


def test_short_blip_stays_pending_and_is_never_notified(store: Store, tmp_path: Path) -> None:
    traffic(store, 0, 20)
    traffic(store, 20, 23, latency_s=3.0)
    traffic(store, 23, 40)
    clock = ManualClock(T0)
    engine = AlertEngine(
        store,
        [rule(name="slow", expr="p95_latency_s > 2 for 10m", window="5m")],
        notify=notify_file(tmp_path),
        clock=clock,
    )
    assert run(engine, clock, range(1, 40)) == {}
    assert store.events.list_alerts() == []  # the pending alert was dropped
    assert not (tmp_path / "alerts.jsonl").exists()


def test_alert_state_survives_a_new_engine(store: Store, tmp_path: Path) -> None:
    traffic(store, 0, 60, latency_s=3.0)
    r = rule(name="slow", expr="p95_latency_s > 2 for 10m", window="5m")
    clock = ManualClock(T0 + timedelta(minutes=10))
    AlertEngine(store, [r], notify=notify_file(tmp_path), clock=clock).evaluate()
    assert store.events.list_alerts()[0].state == "pending"
    clock.advance(minutes=10)  # cron runs `assay monitor check` again with a fresh process
    changed = AlertEngine(store, [r], notify=notify_file(tmp_path), clock=clock).evaluate()
    assert [(a.state, a.pending_since) for a in changed] == [("firing", T0 + timedelta(minutes=10))]
    clock.advance(minutes=1)
    assert AlertEngine(store, [r], notify=notify_file(tmp_path), clock=clock).evaluate() == []  # deduplicated


def test_cooldown_and_repeat_interval(store: Store, tmp_path: Path) -> None:
    # errors come and go: 0-10 bad, 10-15 good, 15-40 bad, then good
    bad = {"error": {"kind": "timeout", "message": "x"}}
    traffic(store, 0, 10, **bad)
    traffic(store, 10, 15)
    traffic(store, 15, 40, **bad)
    traffic(store, 40, 60)
    clock = ManualClock(T0)
    r = rule(name="errors", expr="error_rate > 0.5", window="2m", cooldown="15m")
    engine = AlertEngine(store, [r], notify=notify_file(tmp_path, repeat_interval="10m"), clock=clock)
    changes = run(engine, clock, range(1, 60))
    # fires at 1 and resolves at 11 (the 2-minute window is half good); bad again from 17 but in
    # cooldown until 26; the notification repeats every 10 minutes while firing
    assert changes == {
        1: [("errors", "firing")],
        11: [("errors", "resolved")],
        26: [("errors", "firing")],
        36: [("errors", "firing")],
        41: [("errors", "resolved")],
    }
    firing = [a for a in store.events.list_alerts(limit=None) if a.state == "resolved"]
    assert len(firing) == 2
    second = max(firing, key=lambda a: a.pending_since)
    assert second.pending_since == T0 + timedelta(minutes=17) and second.started_at == T0 + timedelta(
        minutes=26
    )


def test_grouping_and_group_wait(store: Store, tmp_path: Path) -> None:
    traffic(store, 0, 30, app="a", latency_s=3.0)
    traffic(store, 0, 30, app="b", latency_s=3.0)
    traffic(store, 0, 30, app="c")
    clock = ManualClock(T0 + timedelta(minutes=10))
    dispatcher = Dispatcher(notify_file(tmp_path, group_wait="1m"), clock=clock)
    r = rule(name="slow", expr="p95_latency_s > 2", window="5m")
    engine = AlertEngine(store, [r], clock=clock, dispatcher=dispatcher)
    assert {a.labels["app"] for a in engine.evaluate()} == {"a", "b"}
    assert dispatcher.sent == []  # waiting for group_wait
    clock.advance(minutes=1)
    engine.evaluate()
    (note,) = dispatcher.sent
    assert note.group_labels == {"rule": "slow"} and sorted(a.labels["app"] for a in note.alerts) == [
        "a",
        "b",
    ]
    assert "[FIRING] slow{app=a}" in note.text()


def test_change_rule_detects_error_rate_increase(store: Store) -> None:
    err = {"error": lambda i: {"kind": "http_error", "message": ""} if i % 50 == 0 else None}
    traffic(store, 0, 120, **err)  # 2% errors
    late = {"error": lambda i: {"kind": "http_error", "message": ""} if i % 5 == 0 else None}
    traffic(store, 120, 180, **late)  # 20% errors
    r = rule(
        name="more_errors",
        type="change",
        metric="error_rate",
        window="30m",
        baseline="1h",
        direction="increase",
    )
    (quiet,) = evaluate_rule(store, r, T0 + timedelta(minutes=110))
    (loud,) = evaluate_rule(store, r, T0 + timedelta(minutes=160))
    assert not quiet.active
    # the baseline hour before the window holds 50 minutes at 2% and 10 at 20%: 5%
    assert loud.active and loud.value == pytest.approx(0.15) and "chi_square" in loud.summary
    down = rule(
        name="fewer", type="change", metric="error_rate", window="30m", baseline="1h", direction="decrease"
    )
    assert not evaluate_rule(store, down, T0 + timedelta(minutes=160))[0].active
    slow = rule(name="slower", type="change", metric="latency_s", window="30m", baseline="1h", test="welch")
    assert not evaluate_rule(store, slow, T0 + timedelta(minutes=160))[0].active  # constant latency


def test_drift_rules(store: Store) -> None:
    topics = ["billing", "sync", "export"]
    traffic(
        store, 0, 60, metadata=lambda i: {"topic": topics[i % 3]}, latency_s=lambda i: 0.2 + (i % 10) / 100
    )
    traffic(
        store,
        60,
        120,
        metadata=lambda i: {"topic": ["billing", "ai-summaries", "outage"][i % 3]},
        latency_s=lambda i: 0.5 + (i % 10) / 100,
    )
    psi = rule(
        name="topics",
        type="drift",
        field="metadata.topic",
        window="30m",
        reference={"window": "30m", "offset": "1h"},
    )
    ks = rule(
        name="lat",
        type="drift",
        field="latency_s",
        method="ks",
        window="30m",
        reference={"window": "30m", "offset": "1h"},
    )
    for r in (psi, ks):
        (before,) = evaluate_rule(store, r, T0 + timedelta(minutes=59))
        assert not before.active
    (p,) = evaluate_rule(store, psi, T0 + timedelta(minutes=110))
    (k,) = evaluate_rule(store, ks, T0 + timedelta(minutes=110))
    assert p.active and p.value is not None and p.value > 1 and "PSI" in p.summary
    assert k.active and k.value == pytest.approx(1.0)


def test_volume_anomaly(store: Store) -> None:
    traffic(store, 0, 120, per_min=30)
    traffic(store, 120, 130, per_min=2)  # traffic collapses
    r = rule(name="traffic", type="volume", window="10m", baseline="1h", direction="drop")
    (ok,) = evaluate_rule(store, r, T0 + timedelta(minutes=120))
    (drop,) = evaluate_rule(store, r, T0 + timedelta(minutes=130))
    assert not ok.active and ok.value == 300
    assert drop.active and drop.value == 20 and "z=" in drop.summary


def test_rule_config_errors() -> None:
    with pytest.raises(ValidationError, match="Did you mean 'p95_latency_s'"):
        rule(name="x", expr="p95_latency > 2")
    with pytest.raises(ValidationError, match="cannot parse expr"):
        rule(name="x", expr="latency is high")
    with pytest.raises(ValidationError, match="not a duration"):
        rule(name="x", expr="error_rate > 0.1 for 10mins")
    with pytest.raises(ValidationError, match="ks needs a numeric field"):
        rule(name="x", type="drift", field="metadata.topic", method="ks")
    with pytest.raises(ValidationError, match="unknown group key"):
        rule(name="x", expr="error_rate > 0.1", group_by=["user"])


def test_webhook_delivery_with_retries(store: Store) -> None:
    received: list[dict[str, Any]] = []
    failures = [503, 500]
    traffic(store, 0, 20, latency_s=3.0)
    with ServerThread(webhook_app(received, failures)) as hook:
        cfg = NotifyConfig(
            receivers=[
                {"type": "webhook", "url": f"{hook.url}/hook", "max_attempts": 3, "backoff_s": 0.01},
                {"type": "webhook", "url": f"{hook.url}/hook", "format": "slack", "backoff_s": 0.01},
            ]
        )
        clock = ManualClock(T0 + timedelta(minutes=10))
        engine = AlertEngine(
            store, [rule(name="slow", expr="p95_latency_s > 2", window="5m")], notify=cfg, clock=clock
        )
        engine.evaluate()
        assert failures == []  # two failures were retried
        assert len(received) == 2
        assert received[0]["status"] == "firing" and received[0]["alerts"][0]["rule"] == "slow"
        assert received[1]["text"].startswith("[FIRING] slow{app=bot}")
        failures.extend([400])  # a client error is not retried; the next receiver still gets its message
        clock.advance(minutes=30)
        engine.evaluate()
        assert len(received) == 3 and received[-1]["text"].startswith("[RESOLVED] slow")
