"""Rules stored in the store: saved by ``assay monitor check/ingest/score --config``, listed by
``assay monitor rules``, and used by the dashboard (``assay serve``) when no config file is at hand."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import assay.cli.monitor  # noqa: F401  (registers the sub-app)
from assay.cli.app import app
from assay.monitor.rules import parse_rule, save_rules, stored_rules
from assay.store import Store, open_store
from assay.types import StoreError
from tests.monitor.conftest import T0, make_event

runner = CliRunner()

RULES: list[dict[str, Any]] = [
    {"name": "slow", "expr": "p95_latency_s > 2 for 5m", "window": "10m", "severity": "critical"},
    {"name": "more_errors", "type": "change", "metric": "error_rate", "window": "1h", "baseline": "1d"},
    {
        "name": "new_topics",
        "type": "drift",
        "field": "metadata.topic",
        "reference": {"start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z"},
    },
    {"name": "traffic_drop", "type": "volume", "window": "10m", "direction": "drop"},
]


def test_rules_round_trip_and_replace(store: Store) -> None:
    assert stored_rules(store) == [] and store.events.list_rules() == []
    rules = [parse_rule(d) for d in RULES]
    save_rules(store, rules, source="/etc/assay/monitor.yaml")
    back = {r.name: r for r in stored_rules(store)}
    assert back == {r.name: r for r in rules}  # every field survives, durations and dates included
    listed = store.events.list_rules()
    assert [r.name for r in listed] == sorted(r.name for r in rules)
    assert {r.type for r in listed} == {"threshold", "change", "drift", "volume"}
    assert listed[0].source == "/etc/assay/monitor.yaml" and listed[0].saved_at.tzinfo is not None

    save_rules(store, rules[:1], source="b.yaml")  # the set mirrors the last config: the others go
    assert [(r.name, r.source) for r in store.events.list_rules()] == [("slow", "b.yaml")]
    save_rules(store, [], source="c.yaml")
    assert store.events.list_rules() == []

    with pytest.raises(StoreError, match="repeated: slow"):
        save_rules(store, [rules[0], rules[0]], source="d.yaml")


def test_a_stored_rule_this_version_cannot_read_is_skipped(sqlite_store: Store) -> None:
    sqlite_store.events.save_rules(
        [
            ("slow", "threshold", parse_rule(RULES[0]).model_dump(mode="json", by_alias=True)),
            ("future", "threshold", {"name": "future", "expr": "p95_latency_s > 1", "new_option": 3}),
        ],
        source="x.yaml",
    )
    assert [r.name for r in stored_rules(sqlite_store)] == ["slow"]


def _events_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(make_event(i, latency_s=3.0)) + "\n" for i in range(n)))
    return path


def _api_monitoring(store_url: str) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    with TestClient(create_app(store_url)) as client:
        resp = client.get("/api/monitoring", params={"window": "all"})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _p95_threshold(data: dict[str, Any]) -> Any:
    series = [s for s in data["series"] if s["metric"] == "p95_latency_s" and s["variant"] is None]
    assert series, [s["metric"] for s in data["series"]]
    return series[0]["threshold"]


def test_serve_shows_thresholds_of_stored_rules_without_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no monitor.yaml here, and no $ASSAY_MONITOR_CONFIG
    monkeypatch.delenv("ASSAY_MONITOR_CONFIG", raising=False)
    store = f"sqlite:///{tmp_path}/m.db"
    r = runner.invoke(app, ["monitor", "ingest", str(_events_file(tmp_path, 120)), "--store", store])
    assert r.exit_code == 0, r.output
    assert _p95_threshold(_api_monitoring(store)) is None  # nothing tells the dashboard the bound yet

    cfg = tmp_path / "config" / "rules.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        "rules:\n"
        "  - {name: fast_enough, expr: 'p95_latency_s > 5', window: 10m}\n"  # does not fire: no alert
        "  - {name: errors, expr: 'error_rate >= 0.5', window: 10m}\n"
        "notify: {receivers: []}\n"
    )
    at = (T0 + timedelta(minutes=3)).isoformat()
    r = runner.invoke(app, ["monitor", "check", "--config", str(cfg), "--store", store, "--at", at])
    assert r.exit_code == 0, r.output  # nothing fires, so the band can only come from the stored rule
    cfg.unlink()

    r = runner.invoke(app, ["monitor", "rules", "--store", store, "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.output)
    assert [(x["name"], x["definition"]["metric"]) for x in listed] == [
        ("errors", "error_rate"),
        ("fast_enough", "p95_latency_s"),
    ]
    assert listed[0]["source"] == str(cfg.resolve())
    r = runner.invoke(app, ["monitor", "rules", "--store", store])
    assert r.exit_code == 0 and "p95_latency_s > 5" in r.output

    data = _api_monitoring(store)
    assert _p95_threshold(data) == {"max": 5.0}
    rules = {x["name"]: x for x in data["rules"]}
    assert rules["fast_enough"]["source"] == "store" and rules["fast_enough"]["op"] == ">"

    # a config file present again wins over the stored rules
    (tmp_path / "monitor.yaml").write_text("rules:\n  - {name: strict, expr: 'p95_latency_s > 1'}\n")
    assert _p95_threshold(_api_monitoring(store)) == {"max": 1.0}


def test_ingest_keeps_or_replaces_stored_rules_as_its_config_says(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/m.db"
    events = _events_file(tmp_path, 5)
    with_rules = tmp_path / "a.yaml"
    with_rules.write_text("rules:\n  - {name: slow, expr: 'p95_latency_s > 2'}\n")
    no_rules_section = tmp_path / "b.yaml"
    no_rules_section.write_text("anonymise: {fields: {output: keep}}\n")
    empty_rules = tmp_path / "c.yaml"
    empty_rules.write_text("rules: []\n")

    def names() -> list[str]:
        with open_store(store) as s:
            return [r.name for r in s.events.list_rules()]

    for cfg, expected in ((with_rules, ["slow"]), (no_rules_section, ["slow"]), (empty_rules, [])):
        r = runner.invoke(app, ["monitor", "ingest", str(events), "--store", store, "--config", str(cfg)])
        assert r.exit_code == 0, r.output
        assert names() == expected, cfg.name
