"""The data behind the dashboard's monitoring page: time series per metric and app (and per variant),
threshold bands from the rules, and the alerts that fired and resolved, as one JSON-able dict.

The series are ``aggregate()``'s numbers, unchanged: one point per window over the range, ``volume`` 0
and every other metric ``None`` (a gap, never a made-up 0) in windows without events. Online scores
carry their 95% interval from ``aggregate``; rates (error, thumbs-up, resolution, escalation,
acceptance) get a Wilson interval from their counts.

The range ends with the window holding the newest stored event (not the wall clock: a store filled
yesterday, or by the demo, still shows its day) and spans ``window`` before it.

Thresholds come from ``rules`` when given, else from the monitor config the CLI uses
(``$ASSAY_MONITOR_CONFIG``, or ``monitor.yaml`` in the working directory; ``source: "config"``), else
from the rules stored in the store by the last ``assay monitor check/ingest/score --config``
(``source: "store"``): ``assay serve`` shows the bands without the config file. Rules known only from
their alerts are listed too (``source: "alerts"``); a threshold rule's generated summary
(``"p95_latency_s = 2.4 (> 2) over 130 events"``) still gives its metric and bound.

Example:
    >>> data = monitoring_data(store, window="24h", step="1h")  # doctest: +SKIP
    >>> [(s["metric"], s["variant"], len(s["points"])) for s in data["series"]][:2]  # doctest: +SKIP
    [('volume', None, 24), ('error_rate', None, 24)]
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from assay.monitor.clock import parse_duration
from assay.monitor.windows import METRICS, WindowAggregate, aggregate

if TYPE_CHECKING:
    from assay.store import Store
    from assay.store.events import AlertRecord

__all__ = ["DEFAULT_METRICS", "STEPS", "monitoring_data"]

log = logging.getLogger(__name__)

DEFAULT_METRICS: Final = (
    "volume",
    "error_rate",
    "p95_latency_s",
    "p95_ttft_s",
    "score.*",
    "thumbs_up_rate",
    "mean_rating",
    "nps",
    "resolution_rate",
    "escalation_rate",
    "mean_handle_time_s",
    "acceptance_rate",
    "mean_queue_depth",
)
"""Shown by default, in this order, when any window has data for them; ``score.*`` is every online score."""

STEPS: Final = (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
"""Window widths (seconds) the automatic step chooses from."""
MAX_POINTS: Final = 120
MAX_ALERTS: Final = 500

_RATE_COUNTS: Final = {
    "error_rate": "volume",
    "thumbs_up_rate": "n_thumbs",
    "resolution_rate": "n_resolved",
    "escalation_rate": "n_escalated",
    "acceptance_rate": "n_accepted",
}
_SUMMARY_THRESHOLD = re.compile(
    r"^(?P<metric>[A-Za-z_][\w.]*) = \S+ \((?P<op>>=|<=|==|!=|>|<) (?P<value>\S+)\) over "
)
_SUMMARY_CHANGE = re.compile(r"^(?P<metric>[A-Za-z_][\w.]*) (?:changed by |: not enough data)")
_SUMMARY_DRIFT = re.compile(r"^(?P<metric>[A-Za-z_][\w.]*) (?:drifted from |: not enough data)")


def monitoring_data(
    store: Store,
    *,
    window: str | float | timedelta | None = "24h",
    step: str | float | None = None,
    metrics: Sequence[str] | None = None,
    rules: Sequence[Any] | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Series, thresholds, alerts and the per-variant split for the monitoring page.

    ``window``: how far back from ``end`` (default: the end of the newest event's window); None shows
    every stored event. ``step``: the window width (``"5m"``, ``"1h"`` …; default: the smallest of
    ``STEPS`` giving at most 120 points). ``metrics``: names from ``assay.monitor.windows.METRICS`` or
    ``score.<name>`` (default ``DEFAULT_METRICS``, those with data). ``rules``: rule objects (default:
    the monitor config's, see the module docstring).

    Returns ``{"available", "events", "apps", "range", "metrics", "series", "alerts", "rules",
    "variants"}``; each series is ``{"metric", "app", "variant", "points": [{"t", "value", "ci_low",
    "ci_high", "n"}], "threshold": {"min"|"max": x} | None, "rules": [names]}`` with ``variant`` None
    for the app as a whole.

    Example:
        >>> monitoring_data(store)["alerts"][0]["rule"]  # doctest: +SKIP
        'slow_answers'
    """
    if metrics is not None:
        _check_metrics(metrics)
    es = store.events
    total = es.count_events()
    apps = es.counts_by_app()
    alerts = es.list_alerts(limit=MAX_ALERTS)
    out: dict[str, Any] = {
        "available": bool(total or alerts),
        "events": total,
        "apps": apps,
        "range": None,
        "metrics": [],
        "series": [],
        "alerts": [],
        "rules": [],
        "variants": [],
    }
    if rules is None:
        rule_list, source = _configured_rules(store)
    else:
        rule_list, source = list(rules), "config"
    rule_info = _rule_info(rule_list, alerts, source=source)
    out["rules"] = rule_info
    span = es.time_range()
    if span is None:
        out["alerts"] = [_alert_json(a) for a in sorted(alerts, key=_alert_order)]
        return out
    start, stop, width = _range(span, window, step, end)
    step_arg = float(width)
    by_app = aggregate(store, start=start, end=stop, step=step_arg, by=["app"])
    by_variant = aggregate(store, start=start, end=stop, step=step_arg, by=["app", "variant"])
    names = list(metrics) if metrics is not None else _default_metrics(by_app)
    times = [
        start + timedelta(seconds=i * width) for i in range(int((stop - start).total_seconds() // width))
    ]
    out["range"] = {
        "start": start.isoformat(),
        "end": stop.isoformat(),
        "step": _fmt_duration(width),
        "step_s": width,
        "windows": len(times),
    }
    out["metrics"] = names
    variants_of: dict[str, list[str]] = {}
    for agg in by_variant:
        if agg.variant is not None and agg.app is not None:
            variants_of.setdefault(agg.app, [])
            if agg.variant not in variants_of[agg.app]:
                variants_of[agg.app].append(agg.variant)
    series: list[dict[str, Any]] = []
    for metric in names:
        for app in sorted({a.app for a in by_app if a.app is not None}):
            groups: list[tuple[str | None, list[WindowAggregate]]] = [
                (None, [a for a in by_app if a.app == app])
            ]
            groups += [
                (v, [a for a in by_variant if a.app == app and a.variant == v])
                for v in sorted(variants_of.get(app, []))
            ]
            for variant, aggs in groups:
                if metrics is None and metric != "volume" and all(a.metric(metric) is None for a in aggs):
                    continue
                threshold, applied = _threshold(rule_info, metric, app, variant)
                series.append(
                    {
                        "metric": metric,
                        "app": app,
                        "variant": variant,
                        "points": _points(metric, aggs, times),
                        "threshold": threshold,
                        "rules": applied,
                    }
                )
    out["series"] = series
    out["metrics"] = [m for m in names if any(s["metric"] == m for s in series)]
    whole = aggregate(store, start=start, end=stop, step=None, by=["app", "variant"])
    out["variants"] = [_variant_row(a) for a in whole]
    out["alerts"] = [
        _alert_json(a, rule_info)
        for a in sorted(alerts, key=_alert_order)
        if a.ended_at is None or a.ended_at >= start
    ]
    return out


# ---------------------------------------------------------------------------------------------- range
def _range(
    span: tuple[float, float],
    window: str | float | timedelta | None,
    step: str | float | None,
    end: datetime | None,
) -> tuple[datetime, datetime, int]:
    first, last = span
    hi = end.timestamp() if end is not None else last
    if window is None:
        length = max(hi - first, 60.0)
    else:
        length = window.total_seconds() if isinstance(window, timedelta) else parse_duration(window)
        if length < 60:
            raise ValueError(f"window must be at least one minute, got {window!r}")
    if step is None:
        width = next((s for s in STEPS if length / s <= MAX_POINTS), STEPS[-1])
    else:
        width_f = parse_duration(step)
        if width_f < 60 or width_f % 60:
            raise ValueError(f"step must be a whole number of minutes, got {step!r}")
        width = int(width_f)
        if length / width > 10 * MAX_POINTS:
            raise ValueError(
                f"step {step!r} gives more than {10 * MAX_POINTS} windows over the range; use a larger one"
            )
    stop_s = (math.floor(hi / width) + 1) * width if end is None else math.ceil(hi / width) * width
    start_s = stop_s - math.ceil(length / width) * width
    if window is None or start_s < first:
        start_s = max(start_s, math.floor(first / width) * width)
    return datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(stop_s, UTC), width


def _fmt_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------------------------- metrics
def _check_metrics(metrics: Sequence[str]) -> None:
    bad = [m for m in metrics if not (m in METRICS or (m.startswith("score.") and len(m) > 6))]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; known: {', '.join(METRICS)}, score.<scorer>")


def _default_metrics(aggs: Sequence[WindowAggregate]) -> list[str]:
    scores = sorted({name for a in aggs for name in a.scores})
    out: list[str] = []
    for m in DEFAULT_METRICS:
        if m == "score.*":
            out.extend(f"score.{s}" for s in scores)
        else:
            out.append(m)
    return out


def _points(metric: str, aggs: Sequence[WindowAggregate], times: Sequence[datetime]) -> list[dict[str, Any]]:
    at = {a.start: a for a in aggs}
    pts = []
    for t in times:
        a = at.get(t)
        pt: dict[str, Any] = {"t": t.isoformat(), "value": None, "ci_low": None, "ci_high": None, "n": 0}
        if a is None:
            if metric == "volume":
                pt["value"] = 0.0
            pts.append(pt)
            continue
        pt["value"] = a.metric(metric)
        pt["n"] = a.volume
        if metric.startswith("score."):
            s = a.scores.get(metric[6:])
            if s is not None:
                pt.update(ci_low=s.ci_low, ci_high=s.ci_high, n=s.n, n_errors=s.n_errors)
        elif metric in _RATE_COUNTS and pt["value"] is not None:
            n = int(getattr(a, _RATE_COUNTS[metric]))
            if n:
                from assay import stats

                pt["ci_low"], pt["ci_high"] = stats.wilson_interval(round(pt["value"] * n), n)
                pt["n"] = n
        pts.append(pt)
    return pts


def _variant_row(a: WindowAggregate) -> dict[str, Any]:
    return {
        "app": a.app,
        "variant": a.variant,
        "volume": a.volume,
        "error_rate": a.error_rate,
        "p95_latency_s": a.latency_s.p95,
        "thumbs_up_rate": a.thumbs_up_rate,
        "scores": {
            name: {"mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}
            for name, s in a.scores.items()
        },
    }


# ---------------------------------------------------------------------------------------------- rules
def _configured_rules(store: Store) -> tuple[list[Any], str]:
    """The rules to draw and where they came from: the monitor config the CLI would use, else the
    rules stored by the monitor's last run with a config; ([], "store") when there are none."""
    env = os.environ.get("ASSAY_MONITOR_CONFIG")
    path = Path(env) if env else Path("monitor.yaml")
    if path.is_file():
        from assay.monitor.config import load_monitor_config
        from assay.types import AssayError

        try:
            return list(load_monitor_config(path).rules), "config"
        except AssayError as exc:
            log.warning("cannot read the rules of %s: %s; using the stored rules", path, exc)
    elif env:
        log.warning("ASSAY_MONITOR_CONFIG=%s is not a file; using the stored rules", env)
    from assay.monitor.rules import stored_rules
    from assay.types import StoreError

    try:
        return stored_rules(store), "store"
    except StoreError as exc:  # a read-only or older store: the alerts still say something
        log.warning("cannot read the stored rules: %s; thresholds come from the alerts only", exc)
        return [], "store"


def _rule_info(
    rules: Sequence[Any], alerts: Sequence[AlertRecord], *, source: str = "config"
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in rules:
        kind = getattr(r, "type", "threshold")
        metric = (
            getattr(r, "metric", None)
            or getattr(r, "field", None)
            or ("volume" if kind == "volume" else None)
        )
        out.append(
            {
                "name": r.name,
                "type": kind,
                "metric": metric,
                "op": getattr(r, "op", None) if kind == "threshold" else None,
                "value": getattr(r, "value", None) if kind == "threshold" else None,
                "where": dict(getattr(r, "where", {}) or {}),
                "severity": getattr(r, "severity", None),
                "source": source,
            }
        )
    known = {r["name"] for r in out}
    for a in sorted(alerts, key=lambda a: a.pending_since, reverse=True):  # newest summary first
        if a.rule in known:
            continue
        known.add(a.rule)
        info: dict[str, Any] = {
            "name": a.rule,
            "type": None,
            "metric": None,
            "op": None,
            "value": None,
            "where": {},
            "severity": a.severity,
            "source": "alerts",
        }
        if (m := _SUMMARY_THRESHOLD.match(a.summary)) and (bound := _number(m["value"])) is not None:
            info.update(type="threshold", metric=m["metric"], op=m["op"], value=bound)
        elif m := _SUMMARY_CHANGE.match(a.summary):
            info.update(type="change", metric=m["metric"])
        elif m := _SUMMARY_DRIFT.match(a.summary):
            info.update(type="drift", metric=m["metric"])
        elif " events in the window vs " in a.summary:
            info.update(type="volume", metric="volume")
        out.append(info)
    return out


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _threshold(
    rules: Sequence[dict[str, Any]], metric: str, app: str, variant: str | None
) -> tuple[dict[str, float] | None, list[str]]:
    """The first threshold rule on ``metric`` that covers this app/variant, as a ``{"min"|"max": x}``."""
    applied: list[str] = []
    band: dict[str, float] | None = None
    for r in rules:
        where = r["where"]
        if r["metric"] != metric or where.get("app", app) != app:
            continue
        if "variant" in where and variant is not None and where["variant"] != variant:
            continue
        applied.append(r["name"])
        if (
            band is None
            and r["type"] == "threshold"
            and r["value"] is not None
            and r["op"] in (">", ">=", "<", "<=")
        ):
            band = {"max" if r["op"] in (">", ">=") else "min": float(r["value"])}
    return band, applied


# ---------------------------------------------------------------------------------------------- alerts
def _alert_order(a: AlertRecord) -> tuple[datetime, str]:
    return (a.started_at or a.pending_since, a.rule)


def _alert_json(a: AlertRecord, rules: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    metric = next((r["metric"] for r in rules if r["name"] == a.rule), None)
    iso = lambda d: None if d is None else d.astimezone(UTC).isoformat()  # noqa: E731
    return {
        "rule": a.rule,
        "state": a.state,
        "severity": a.severity,
        "metric": metric,
        "app": a.labels.get("app") or None,
        "variant": a.labels.get("variant") or None,
        "labels": a.labels,
        "pending_since": iso(a.pending_since),
        "started": iso(a.started_at),
        "ended": iso(a.ended_at),
        "time_to_recover_s": a.time_to_recover_s,
        "value": a.value,
        "detail": a.summary,
    }
