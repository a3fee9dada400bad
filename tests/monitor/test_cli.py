"""``assay monitor ingest|status|check|score`` and the monitor demo."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import assay.cli.monitor  # noqa: F401  (registers the sub-app; the lead imports it in app._register)
from assay.cli.app import app
from tests.monitor.conftest import T0, make_event

runner = CliRunner()


def _events_file(tmp_path: Path, n: int, **kw: object) -> Path:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(make_event(i, **kw)) for i in range(n)]
    lines.insert(3, '{"event_id": "bad", "latency_s": "slow"}')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ingest_status_check(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/m.db"
    events = _events_file(tmp_path, 200, latency_s=3.0)
    r = runner.invoke(app, ["monitor", "ingest", str(events), "--store", store, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert (
        data["accepted"] == 200
        and data["rejected"][0]["line"] == 4
        and "latency_s" in data["rejected"][0]["error"]
    )
    r = runner.invoke(app, ["monitor", "ingest", str(events), "--store", store])
    assert r.exit_code == 0 and "0 events stored, 200 duplicates, 1 rejected" in r.output

    at = (T0 + timedelta(minutes=4)).isoformat()
    r = runner.invoke(app, ["monitor", "status", "--store", store, "--json", "--at", at, "--window", "10m"])
    assert r.exit_code == 0, r.output
    status = json.loads(r.output)
    assert status["events"] == 200 and status["apps"] == {"bot": 200} and status["alerts"] == []
    assert status["windows"][0]["volume"] == 200 and status["windows"][0]["latency_s"][
        "p95"
    ] == pytest.approx(3.0, rel=0.02)
    r = runner.invoke(app, ["monitor", "status", "--store", store, "--at", at])
    assert r.exit_code == 0 and "200 events stored" in r.output

    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        "rules:\n  - {name: slow, expr: 'p95_latency_s > 2', window: 10m}\n"
        f"notify:\n  receivers: [{{type: file, path: '{tmp_path / 'alerts.jsonl'}'}}]\n"
    )
    r = runner.invoke(app, ["monitor", "check", "--config", str(cfg), "--store", store, "--json", "--at", at])
    assert r.exit_code == 1, r.output  # an alert fires: cron/CI sees exit 1
    assert json.loads(r.output)["firing"][0]["rule"] == "slow"
    assert json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[0])["status"] == "firing"
    r = runner.invoke(app, ["monitor", "status", "--store", store, "--json"])
    alert = json.loads(r.output)["alerts"][0]
    assert {k: alert[k] for k in ("rule", "state")} == {"rule": "slow", "state": "firing"} and alert[
        "ended"
    ] is None

    quiet = tmp_path / "quiet.yaml"
    quiet.write_text("rules:\n  - {name: errors, expr: 'error_rate > 0.5', window: 10m}\n")
    r = runner.invoke(app, ["monitor", "check", "--config", str(quiet), "--store", store, "--at", at])
    assert r.exit_code == 0 and "0 firing" in r.output  # only the configured rules count


def test_score_command_and_errors(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/m.db"
    runner.invoke(app, ["monitor", "ingest", str(_events_file(tmp_path, 50)), "--store", store])
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("apps:\n  bot: {sample_rate: 1.0, scorers: [latency]}\n")
    r = runner.invoke(app, ["monitor", "score", "--config", str(cfg), "--store", store])
    assert r.exit_code == 0 and "50 sampled, 50 scores stored" in r.output, r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("apps:\n  bot: {sample_rate: 1.0, scorers: [latencyy]}\n")
    r = runner.invoke(app, ["monitor", "score", "--config", str(bad), "--store", store])
    assert r.exit_code == 2 and "Did you mean 'latency'" in r.output
    r = runner.invoke(app, ["monitor", "check", "--config", str(tmp_path / "nope.yaml"), "--store", store])
    assert r.exit_code == 2 and "file not found" in r.output
    r = runner.invoke(app, ["monitor", "ingest", str(tmp_path / "missing.jsonl"), "--store", store])
    assert r.exit_code == 2


@pytest.mark.slow
def test_monitor_demo_fires_and_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no monitor.yaml: the dashboard's thresholds come from the store
    monkeypatch.delenv("ASSAY_MONITOR_CONFIG", raising=False)
    from assay.monitor.demo import run_monitor_demo

    lines: list[str] = []
    report = run_monitor_demo(f"sqlite:///{tmp_path}/demo.db", peak_per_min=5, write=lines.append)
    by_rule = {a.rule: a for a in report.alerts}
    slow = by_rule["slow_answers"]
    assert slow.state == "resolved" and slow.started_at is not None and slow.ended_at is not None
    assert (
        14 <= slow.started_at.hour <= 15 and 16 <= slow.ended_at.hour <= 17
    )  # the slow retriever, 14:00-16:30
    assert by_rule["new_topics"].started_at is not None and by_rule["new_topics"].started_at.hour == 13
    assert report.events > 3000 and report.scores > 0
    assert any("FIRING   slow_answers" in line for line in lines)
    assert any("RESOLVED slow_answers" in line for line in lines)

    # the A/B test: both prompt versions carry about half of the traffic, and the dashboard splits them
    from assay.monitor.dashboard import monitoring_data
    from assay.monitor.demo import DAY, VARIANTS
    from assay.monitor.windows import aggregate
    from assay.store import open_store

    with open_store(f"sqlite:///{tmp_path}/demo.db") as store:
        whole = aggregate(store, start=DAY, end=DAY + timedelta(days=1), by=["variant"])
        volume = {a.variant: a.volume for a in whole}
        assert set(volume) == set(VARIANTS) and min(volume.values()) > 0.4 * report.events
        tokens = {a.variant: a.output_tokens / a.volume for a in whole}
        assert tokens["prompt-v2"] < tokens["prompt-v1"]  # the concise prompt answers in fewer tokens
        data = monitoring_data(store, window=None)
    assert [(v["variant"], v["volume"]) for v in data["variants"]] == [(v, volume[v]) for v in VARIANTS]
    p95 = {s["variant"]: s["threshold"] for s in data["series"] if s["metric"] == "p95_latency_s"}
    assert p95 == {None: {"max": 2.0}, "prompt-v1": {"max": 2.0}, "prompt-v2": {"max": 2.0}}
    assert {r["name"]: r["source"] for r in data["rules"]} == {
        "slow_answers": "store",  # the demo stored its rules: the dashboard needs no config file
        "new_topics": "store",
        "unhappy_users": "store",
    }
