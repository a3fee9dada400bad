"""The monitoring page's data (``assay.monitor.dashboard``) on a synthetic day built through the monitor's
own ingest, online scoring and alert engine: the series are ``aggregate()``'s numbers, one point per
window; variants get their own series; alerts carry their start and end; thresholds come from the rules
(or, without a config, from the alerts' summaries)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from assay.monitor.alerts import AlertEngine
from assay.monitor.clock import ManualClock
from assay.monitor.config import MonitorConfig
from assay.monitor.dashboard import monitoring_data
from assay.monitor.ingest import Ingestor
from assay.monitor.notify import Dispatcher
from assay.monitor.scoring import ScoringWorker
from assay.monitor.windows import aggregate
from assay.store import Store, open_store
from tests.monitor.conftest import KEY

DAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
HOURS = 4
GAP = range(120, 150)  # minutes 120-149: no traffic at all
SLOW_B = range(60, 90)  # minutes 60-89: variant B is slow
CONFIG: dict[str, Any] = {
    "apps": {"*": {"sample_rate": 1.0, "scorers": ["abstention"]}},
    "rules": [
        {
            "name": "slow_answers",
            "expr": "p95_latency_s > 1.5",
            "window": "10m",
            "group_by": ["app", "variant"],
            "severity": "critical",
        },
        {"name": "error_burst", "expr": "error_rate >= 0.5", "window": "10m"},
    ],
    "notify": {"receivers": []},
}


def _event(app: str, minute: int, k: int) -> dict[str, Any]:
    variant = "B" if k % 2 else "A"
    slow = variant == "B" and minute in SLOW_B
    ev: dict[str, Any] = {
        "event_id": f"{app}-{minute}-{k}",
        "ts": (DAY + timedelta(minutes=minute, seconds=k * 12 + 1)).timestamp(),
        "app": app,
        "variant": variant,
        "model": "m1",
        "input": f"question {minute} {k}",
        "output": "I don't know." if (minute + k) % 4 == 0 else f"The answer is {k}.",
        "latency_s": (2.5 if slow else 0.2) + 0.01 * k,
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "cost_usd": 0.001,
        "metadata": {"answerable": k != 4},
    }
    if (minute + k) % 3 == 0:
        ev["feedback"] = {"thumbs_up": (minute + k) % 2 == 0}
    if (minute * 5 + k) % 17 == 0:
        ev["error"] = {"kind": "timeout", "message": "upstream timed out"}
    return ev


def build_store(url: str, *, app: str = "bot") -> MonitorConfig:
    """Four hours of traffic for ``app`` (variants A and B, five events a minute, a half-hour gap),
    scored online, with the rules evaluated every five minutes on a synthetic clock."""
    config = MonitorConfig.model_validate(CONFIG)
    clock = ManualClock(DAY)
    store = open_store(url)
    try:
        ingestor = Ingestor(store, config.anonymise, key=KEY, now=clock.now)
        worker = ScoringWorker(store, config)
        engine = AlertEngine(
            store, config.rules, clock=clock, dispatcher=Dispatcher(config.notify, clock=clock)
        )
        for step in range(0, HOURS * 60, 5):
            batch = [_event(app, m, k) for m in range(step, step + 5) if m not in GAP for k in range(5)]
            if batch:
                result = ingestor.ingest(batch)
                assert not result.rejected
            clock.set(DAY + timedelta(minutes=step + 5))
            worker.catch_up()
            engine.evaluate()
    finally:
        store.close()
    return config


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, MonitorConfig]:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'assay.db'}"
    return url, build_store(url)


@pytest.fixture
def store(filled: tuple[str, MonitorConfig]) -> Any:
    s = open_store(filled[0])
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(autouse=True)
def _no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No monitor.yaml in the working directory and no $ASSAY_MONITOR_CONFIG unless a test sets one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_MONITOR_CONFIG", raising=False)


def _series(data: dict[str, Any], metric: str, variant: str | None = None) -> dict[str, Any]:
    return next(s for s in data["series"] if s["metric"] == metric and s["variant"] == variant)


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_series_are_aggregate_numbers_one_point_per_window(store: Store) -> None:
    data = monitoring_data(store, step="15m")
    rng = data["range"]
    assert (rng["start"], rng["end"], rng["step"]) == (
        DAY.isoformat(),
        (DAY + timedelta(hours=HOURS)).isoformat(),
        "15m",
    )
    assert rng["windows"] == HOURS * 4
    assert data["events"] == store.events.count_events() == (HOURS * 60 - len(GAP)) * 5
    assert data["apps"] == {"bot": data["events"]}
    assert {"volume", "error_rate", "p95_latency_s", "score.abstention", "thumbs_up_rate"} <= set(
        data["metrics"]
    )
    assert "nps" not in data["metrics"] and "resolution_rate" not in data["metrics"]  # no data: not shown
    start, end = DAY, DAY + timedelta(hours=HOURS)
    overall = {a.start: a for a in aggregate(store, start=start, end=end, step="15m", by=["app"])}
    per_variant = {
        (a.variant, a.start): a
        for a in aggregate(store, start=start, end=end, step="15m", by=["app", "variant"])
    }
    assert len(overall) == HOURS * 4 - 2  # the gap's two windows have no events
    for s in data["series"]:
        assert len(s["points"]) == rng["windows"]
        assert [p["t"] for p in s["points"]] == [
            (start + timedelta(minutes=15 * i)).isoformat() for i in range(16)
        ]
        for p in s["points"]:
            t = datetime.fromisoformat(p["t"])
            agg = overall.get(t) if s["variant"] is None else per_variant.get((s["variant"], t))
            if agg is None:
                assert p["value"] == (0.0 if s["metric"] == "volume" else None)  # a gap, never a made-up 0
                continue
            assert p["value"] == agg.metric(s["metric"])
            if s["metric"].startswith("score."):
                summary = agg.scores[s["metric"][6:]]
                assert (p["ci_low"], p["ci_high"], p["n"]) == (summary.ci_low, summary.ci_high, summary.n)
            if s["metric"] == "error_rate":
                assert p["n"] == agg.volume
                low, high = _wilson(agg.errors, agg.volume)
                assert p["ci_low"] == pytest.approx(low) and p["ci_high"] == pytest.approx(high)
    vol = _series(data, "volume")
    assert sum(p["value"] for p in vol["points"]) == data["events"]


def test_per_variant_series_and_summary(store: Store) -> None:
    data = monitoring_data(store)
    for metric in data["metrics"]:
        assert {s["variant"] for s in data["series"] if s["metric"] == metric} == {None, "A", "B"}
    a_vol = _series(data, "volume", "A")["points"]
    b_vol = _series(data, "volume", "B")["points"]
    all_vol = _series(data, "volume")["points"]
    assert [x["value"] + y["value"] for x, y in zip(a_vol, b_vol, strict=True)] == [
        p["value"] for p in all_vol
    ]
    slow = [p["value"] for p in _series(data, "p95_latency_s", "B")["points"] if p["value"] is not None]
    fast = [p["value"] for p in _series(data, "p95_latency_s", "A")["points"] if p["value"] is not None]
    assert max(slow) > 2.4 and max(fast) < 0.3
    rows = {r["variant"]: r for r in data["variants"]}
    assert set(rows) == {"A", "B"}
    whole = {
        a.variant: a
        for a in aggregate(
            store, start=DAY, end=DAY + timedelta(hours=HOURS), step=None, by=["app", "variant"]
        )
    }
    for v, row in rows.items():
        assert row["volume"] == whole[v].volume and row["p95_latency_s"] == whole[v].latency_s.p95
        assert row["scores"]["abstention"]["mean"] == whole[v].scores["abstention"].mean
    assert rows["A"]["volume"] + rows["B"]["volume"] == data["events"]


def test_alerts_have_start_end_and_mark_their_metric(store: Store) -> None:
    data = monitoring_data(store)
    slow = [a for a in data["alerts"] if a["rule"] == "slow_answers"]
    assert len(slow) == 1, data["alerts"]
    a = slow[0]
    assert a["state"] == "resolved" and a["variant"] == "B" and a["app"] == "bot"
    started, ended = datetime.fromisoformat(a["started"]), datetime.fromisoformat(a["ended"])
    assert DAY + timedelta(minutes=SLOW_B.start) < started <= DAY + timedelta(minutes=SLOW_B.start + 10)
    assert DAY + timedelta(minutes=SLOW_B.stop) < ended <= DAY + timedelta(minutes=SLOW_B.stop + 15)
    assert a["time_to_recover_s"] == (ended - started).total_seconds()
    assert a["metric"] == "p95_latency_s" and a["severity"] == "critical"
    stored = {r.alert_id: r for r in store.events.list_alerts(limit=None)}
    assert len(data["alerts"]) == len(stored)
    assert all(x["started"] is None or x["started"] <= (x["ended"] or "9") for x in data["alerts"])


def test_thresholds_come_from_the_rules_or_the_alerts(
    store: Store, filled: tuple[str, MonitorConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no config found: the alert's generated summary still gives the metric and the bound
    data = monitoring_data(store)
    rule = next(r for r in data["rules"] if r["name"] == "slow_answers")
    assert rule["source"] == "alerts" and (rule["metric"], rule["op"], rule["value"]) == (
        "p95_latency_s",
        ">",
        1.5,
    )
    assert "error_burst" not in {r["name"] for r in data["rules"]}  # never fired, and no config to name it
    assert _series(data, "p95_latency_s", "B")["threshold"] == {"max": 1.5}
    assert _series(data, "volume")["threshold"] is None
    # the rules given explicitly: every one is listed, with its own thresholds
    data = monitoring_data(store, rules=filled[1].rules)
    by_name = {r["name"]: r for r in data["rules"]}
    assert set(by_name) == {"slow_answers", "error_burst"} and by_name["error_burst"]["source"] == "config"
    assert _series(data, "error_rate")["threshold"] == {"max": 0.5}
    assert _series(data, "error_rate")["rules"] == ["error_burst"]
    # the monitor config the CLI uses, through $ASSAY_MONITOR_CONFIG
    cfg = tmp_path / "mon.yaml"
    cfg.write_text("rules:\n  - {name: too_quiet, expr: 'volume < 40', window: 15m}\n", encoding="utf-8")
    monkeypatch.setenv("ASSAY_MONITOR_CONFIG", str(cfg))
    data = monitoring_data(store)
    assert _series(data, "volume")["threshold"] == {"min": 40.0}
    assert {r["name"]: r["source"] for r in data["rules"]}["too_quiet"] == "config"


def test_window_step_and_metrics_options(store: Store) -> None:
    data = monitoring_data(store, window="1h", step="5m", metrics=["volume", "score.abstention", "nps"])
    assert data["range"]["windows"] == 12
    assert data["range"]["end"] == (DAY + timedelta(hours=HOURS)).isoformat()
    assert {s["metric"] for s in data["series"]} == {"volume", "score.abstention", "nps"}  # asked for: kept
    assert all(p["value"] is None for p in _series(data, "nps")["points"])
    # an alert that ended before the range is left out
    assert [a["rule"] for a in data["alerts"]] == []
    everything = monitoring_data(store, window=None)
    assert everything["range"]["start"] == DAY.isoformat()
    end = DAY + timedelta(hours=2)
    early = monitoring_data(store, window="2h", step="1h", end=end)
    assert early["range"]["end"] == end.isoformat() and early["range"]["windows"] == 2
    with pytest.raises(ValueError, match="unknown metric"):
        monitoring_data(store, metrics=["p95_latency"])
    with pytest.raises(ValueError, match="whole number of minutes"):
        monitoring_data(store, step="90s")
    with pytest.raises(ValueError, match="not a duration"):
        monitoring_data(store, window="yesterday")


def test_empty_store(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path}/empty.db")
    try:
        data = monitoring_data(s)
    finally:
        s.close()
    assert data["available"] is False and data["events"] == 0
    assert data["series"] == [] and data["alerts"] == [] and data["range"] is None
