"""What the monitoring page shows, read through one small function that is empty until events exist.

Monitoring (``assay.monitor``) owns the events, windows and alerts. When it provides
``assay.monitor.dashboard.monitoring_data(store) -> dict`` the page shows that; otherwise this module
reads what it safely can (counts of an ``events`` table and the rows of an ``alerts`` table, when the
store has them) and otherwise returns the empty state.

The dict: ``{"available": bool, "events": int, "apps": {app: n}, "series": [{"metric", "app",
"variant", "points": [{"t", "value", "ci_low", "ci_high"}], "threshold": {"min"|"max": x} | None}],
"alerts": [{"rule", "state", "started", "ended", "detail"}]}``. Optional keys the page shows when
present: ``range`` (``{"start", "end", "step"}``), ``rules`` (``[{"name", "type", "metric", "op",
"value", "source"}]``), ``variants`` (one summary row per app and variant) and, per alert, ``metric``,
``app``, ``severity``, ``labels`` and ``time_to_recover_s`` (an alert is shaded on the plots of its
metric and app). A series with a ``variant`` is drawn as a trace beside its app's.

Example:
    >>> monitoring_data(store)["available"]     # doctest: +SKIP
    False
"""

from __future__ import annotations

import html
import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = ["alert_timeline", "empty_monitoring", "monitoring_data", "monitoring_plots"]

log = logging.getLogger(__name__)


def empty_monitoring() -> dict[str, Any]:
    return {"available": False, "events": 0, "apps": {}, "series": [], "alerts": []}


def _provider() -> Any:
    try:
        module = importlib.import_module("assay.monitor.dashboard")
    except ImportError:
        return None
    return getattr(module, "monitoring_data", None)


def monitoring_data(store: Store, **options: Any) -> dict[str, Any]:
    """Events, series and alerts for the monitoring page; the empty state when there are none.

    ``options`` (``window``, ``step``, ``metrics`` …) go to the provider; a provider that does not take
    them is called with the store only. A ``ValueError`` from the provider (a bad window or metric) is
    the caller's to report.
    """
    provider = _provider()
    if provider is not None:
        raw = provider(store, **options) if options else provider(store)
        data = {**empty_monitoring(), **raw}
        data["available"] = bool(data.get("events") or data.get("series") or data.get("alerts"))
        return data if data["available"] else empty_monitoring()
    from sqlalchemy import MetaData, Table, func, inspect, select

    out = empty_monitoring()
    with store.engine.connect() as conn:
        insp = inspect(conn)
        if not insp.has_table("events"):
            return out
        events = Table("events", MetaData(), autoload_with=conn)
        out["events"] = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
        if "app" in events.c:
            rows = conn.execute(select(events.c.app, func.count()).group_by(events.c.app)).all()
            out["apps"] = {str(app): int(n) for app, n in rows}
        if insp.has_table("alerts"):
            alerts = Table("alerts", MetaData(), autoload_with=conn)
            cols = [c for c in ("rule", "state", "started", "ended", "detail") if c in alerts.c]
            if cols:
                for row in conn.execute(select(*[alerts.c[c] for c in cols]).limit(200)):
                    out["alerts"].append(
                        {c: (str(v) if v is not None else None) for c, v in zip(cols, row, strict=True)}
                    )
    out["available"] = bool(out["events"] or out["alerts"])
    return out


_COLORS = ("#1f5fbf", "#c46a00", "#2a8a4a", "#8e44ad", "#b03a48", "#16838a", "#6b6b00")
_ALERT_FILL = {"firing": "rgba(198,40,40,0.14)", "resolved": "rgba(26,127,55,0.12)"}
_ALERT_LINE = {"firing": "#c62828", "resolved": "#1a7f37", "pending": "#a15c00"}
_BAND_FILL = "rgba(161,92,0,0.08)"


def _t(value: Any) -> Any:
    """A time for plotly.js, which reads neither ``+00:00`` nor ``Z``: every time here is UTC."""
    if isinstance(value, str):
        for suffix in ("+00:00", "Z"):
            if value.endswith(suffix):
                return value[: -len(suffix)]
    return value


def _label(value: Any) -> str:
    """Text for a plotly title, legend or hover: plotly reads a subset of HTML, so it is escaped."""
    return html.escape(str(value), quote=False)


def _series_trace(s: dict[str, Any], color: str, many: bool) -> dict[str, Any] | None:
    pts = s.get("points") or []
    if not pts:
        return None
    variant = s.get("variant")
    name = s.get("metric") if not many else ("all" if variant is None else f"variant {variant}")
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "lines+markers",
        "x": [_t(p["t"]) for p in pts],
        "y": [p.get("value") for p in pts],
        "name": _label(name),
        "connectgaps": False,
        "line": {
            "color": color,
            "width": 2.5 if variant is None else 1.5,
            "dash": "solid" if variant is None else "dot",
        },
        "marker": {"size": 4},
    }
    if any(p.get("ci_low") is not None for p in pts):
        trace["error_y"] = {
            "type": "data",
            "symmetric": False,
            "color": color,
            "thickness": 1,
            "width": 0,
            "array": [
                None if p.get("ci_high") is None or p.get("value") is None else p["ci_high"] - p["value"]
                for p in pts
            ],
            "arrayminus": [
                None if p.get("ci_low") is None or p.get("value") is None else p["value"] - p["ci_low"]
                for p in pts
            ],
        }
    return trace


def _threshold_shapes(threshold: dict[str, Any], ys: list[float]) -> list[dict[str, Any]]:
    """A dashed line at each bound and a shaded band over the side that breaks the rule."""
    shapes: list[dict[str, Any]] = []
    values = [v for v in ys if v is not None]
    for bound in ("min", "max"):
        x = threshold.get(bound)
        if x is None:
            continue
        hi = max([*values, x]) or 1.0
        lo = min([*values, x, 0.0])
        y0, y1 = (x, hi + 0.15 * (abs(hi - lo) or abs(hi) or 1.0)) if bound == "max" else (lo, x)
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": y0,
                "y1": y1,
                "fillcolor": _BAND_FILL,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": x,
                "y1": x,
                "line": {"dash": "dash", "color": "#a15c00"},
            }
        )
    return shapes


def _alert_applies(alert: dict[str, Any], metric: Any, app: Any) -> bool:
    return (
        bool(alert.get("started"))
        and alert.get("metric") in (None, metric)
        and alert.get("app") in (None, app)
    )


def monitoring_plots(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One time-series figure per metric and app (a trace per variant beside the whole app's), with its
    threshold band and the periods its alerts fired shaded; then one timeline of every alert."""
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for s in data.get("series") or []:
        groups.setdefault((s.get("metric"), s.get("app")), []).append(s)
    alerts = data.get("alerts") or []
    end = _t((data.get("range") or {}).get("end"))
    plots: dict[str, dict[str, Any]] = {}
    for i, ((metric, app), members) in enumerate(groups.items()):
        many = len(members) > 1
        traces = [
            t
            for k, s in enumerate(members)
            if (t := _series_trace(s, _COLORS[k % len(_COLORS)], many)) is not None
        ]
        if not traces:
            continue
        x_last = traces[0]["x"][-1]
        shapes: list[dict[str, Any]] = []
        threshold = next((s["threshold"] for s in members if s.get("threshold")), None)
        if threshold:
            ys = [
                y + (e or 0)
                for t in traces
                for y, e in zip(
                    t["y"], (t.get("error_y") or {}).get("array") or [0] * len(t["y"]), strict=True
                )
                if y is not None
            ]
            shapes += _threshold_shapes(threshold, ys)
        for a in alerts:
            if _alert_applies(a, metric, app):
                shapes.append(
                    {
                        "type": "rect",
                        "yref": "paper",
                        "y0": 0,
                        "y1": 1,
                        "x0": _t(a["started"]),
                        "x1": _t(a.get("ended")) or end or x_last,
                        "fillcolor": _ALERT_FILL.get(str(a.get("state")), _ALERT_FILL["firing"]),
                        "line": {"width": 0},
                        "layer": "below",
                    }
                )
        title = " · ".join(str(v) for v in (metric, app) if v)
        plots[f"series-{i}"] = {
            "data": traces,
            "layout": {
                "title": {"text": _label(title), "x": 0},
                "height": 300,
                "shapes": shapes,
                "showlegend": many,
                "xaxis": {"type": "date"},
                "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
            },
        }
    timeline = alert_timeline(alerts, start=_t((data.get("range") or {}).get("start")), end=end)
    if timeline is not None:
        plots["alerts-timeline"] = timeline
    return plots


def alert_timeline(
    alerts: list[dict[str, Any]], *, start: Any = None, end: Any = None
) -> dict[str, Any] | None:
    """Every alert as a bar on the time axis, from when it fired (or became pending) to when it resolved
    (or ``end`` while still active): one row per rule and label set. ``start``-``end`` is the axis range
    (the series' range, so the timeline lines up with the plots below it)."""
    traces: list[dict[str, Any]] = []
    rows: list[str] = []
    for a in alerts:
        began = a.get("started") or a.get("pending_since")
        if not began:
            continue
        labels = a.get("labels") or {k: a[k] for k in ("app", "variant") if a.get(k)}
        row = _label(" ".join([str(a.get("rule")), *(f"{k}={v}" for k, v in sorted(labels.items()) if v)]))
        if row not in rows:
            rows.append(row)
        state = str(a.get("state"))
        stop = _t(a.get("ended")) or end or _t(began)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [_t(began), stop],
                "y": [row, row],
                "name": _label(f"{a.get('rule')} ({state})"),
                "showlegend": False,
                "line": {"width": 12, "color": _ALERT_LINE.get(state, "#555")},
                "marker": {"size": 12, "color": _ALERT_LINE.get(state, "#555")},
                "hovertext": _label(f"{a.get('rule')}: {state} — {a.get('detail') or ''}"),
                "hoverinfo": "text+x",
            }
        )
    if not traces:
        return None
    return {
        "data": traces,
        "layout": {
            "title": {"text": "Alerts (red: firing, green: resolved, amber: pending)", "x": 0},
            "height": max(300, 90 + 34 * len(rows)),  # the page's .plot is at least 300 px high
            "xaxis": {"type": "date", **({"range": [start, end]} if start and end else {})},
            "yaxis": {
                "type": "category",
                "categoryorder": "array",
                "categoryarray": rows[::-1],
                "automargin": True,
            },
            "margin": {"l": 20, "r": 20, "t": 40, "b": 40},
        },
    }
