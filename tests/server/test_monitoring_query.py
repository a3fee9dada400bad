"""``MonitoringQuery``: the monitoring form's and ``/api/monitoring``'s options, turned into the keyword
arguments of ``monitoring_data`` and checked field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from assay.server.monitoring_query import MonitoringQuery, MonitoringQueryError, filter_monitoring

NOW = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def _options(**params: Any) -> dict[str, Any]:
    return MonitoringQuery.from_params(**params).options(now=NOW)


def _errors(**params: Any) -> dict[str, str]:
    with pytest.raises(MonitoringQueryError) as info:
        _options(**params)
    return info.value.errors


def test_defaults_pass_nothing_so_the_monitor_decides() -> None:
    assert _options() == {}
    assert MonitoringQuery.from_params(window=" ", step="", metrics=["", " "]).params() == []


def test_windows_steps_and_metrics() -> None:
    assert _options(window="all") == {"window": None}
    assert _options(window="6h", step="15m") == {"window": "6h", "step": "15m"}
    q = MonitoringQuery.from_params(metrics=["volume", " score.abstention ", "volume"])
    assert q.metrics == ("volume", "score.abstention") and q.options() == {
        "metrics": ["volume", "score.abstention"]
    }
    assert q.params() == [("metric", "volume"), ("metric", "score.abstention")]


def test_since_and_until_make_the_range() -> None:
    ten, noon = datetime(2025, 3, 3, 10, tzinfo=UTC), datetime(2025, 3, 3, 12, tzinfo=UTC)
    assert _options(since="2025-03-03T10:00", until="2025-03-03T12:00") == {
        "window": timedelta(hours=2),
        "end": noon,
    }
    assert _options(since="2025-03-03T11:00+01:00") == {"window": NOW - ten, "end": NOW}  # to now
    assert _options(until="2025-03-03T12:00Z", window="1h") == {"window": "1h", "end": noon}
    assert _options(until="2025-03-03") == {"end": datetime(2025, 3, 3, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"window": "soon"}, "window", "not a duration"),
        ({"window": "30s"}, "window", "at least one minute"),
        ({"step": "90s"}, "step", "whole number of minutes"),
        ({"step": "-5m"}, "step", "not a duration"),
        ({"since": "3 March"}, "since", "not a date and time"),
        ({"until": "2025-13-01"}, "until", "not a date and time"),
        ({"since": "2025-03-03T15:00"}, "since", "before now"),
        ({"since": "2025-03-03T12:00", "until": "2025-03-03T12:00:30"}, "until", "at least one minute"),
        ({"since": "2025-03-03T12:00", "window": "6h"}, "window", "not both"),
        ({"metrics": ["p95_latency"]}, "metric", "unknown metric"),
        ({"metrics": ["score."]}, "metric", "unknown metric"),
        ({"variants": "per-app"}, "variants", "split, combined"),
    ],
)
def test_each_bad_field_is_named(params: dict[str, object], field: str, words: str) -> None:
    errors = _errors(**params)
    assert list(errors) == [field] and words in errors[field]


def test_all_bad_fields_at_once() -> None:
    errors = _errors(window="x", step="y", since="z", metrics=["nope"], variants="w")
    assert set(errors) == {"window", "step", "since", "metric", "variants"}
    assert str(MonitoringQueryError(errors)).startswith("window: not a duration")


def test_filter_keeps_one_app_and_global_alerts() -> None:
    data: dict[str, Any] = {
        "available": True,
        "events": 30,
        "apps": {"a": 10, "b": 20},
        "metrics": ["volume", "p95_latency_s"],
        "series": [
            {"metric": "volume", "app": "a", "variant": None},
            {"metric": "volume", "app": "a", "variant": "X"},
            {"metric": "p95_latency_s", "app": "b", "variant": None},
        ],
        "variants": [{"app": "a", "variant": "X"}, {"app": "b", "variant": None}],
        "alerts": [{"rule": "r1", "app": "a"}, {"rule": "r2", "app": "b"}, {"rule": "r3", "app": None}],
    }
    only_a = filter_monitoring(data, MonitoringQuery(app="a"))
    assert only_a["apps"] == {"a": 10} and only_a["events"] == 10
    assert only_a["metrics"] == ["volume"] and len(only_a["series"]) == 2
    assert [a["rule"] for a in only_a["alerts"]] == ["r1", "r3"]
    assert only_a["variants"] == [{"app": "a", "variant": "X"}]
    combined = filter_monitoring(data, MonitoringQuery(variants="combined"))
    assert [s["variant"] for s in combined["series"]] == [None, None] and combined["variants"] == []
    assert data["apps"] == {"a": 10, "b": 20} and len(data["series"]) == 3  # the input is not changed
    with pytest.raises(MonitoringQueryError, match="no events from app 'c'; apps: 'a', 'b'"):
        filter_monitoring(data, MonitoringQuery(app="c"))
    empty = {"available": False, "apps": {}, "series": []}
    assert filter_monitoring(empty, MonitoringQuery(app="c")) is empty  # nothing stored: the empty state
