"""What the monitoring page shows, read through one small function that is empty until events exist.

Monitoring (``assay.monitor``) owns the events, windows and alerts. When it provides
``assay.monitor.dashboard.monitoring_data(store) -> dict`` the page shows that; otherwise this module
reads what it safely can (counts of an ``events`` table and the rows of an ``alerts`` table, when the
store has them) and otherwise returns the empty state.

The dict: ``{"available": bool, "events": int, "apps": {app: n}, "series": [{"metric", "app",
"variant", "points": [{"t", "value", "ci_low", "ci_high"}], "threshold": {"min"|"max": x} | None}],
"alerts": [{"rule", "state", "started", "ended", "detail"}]}``.

Example:
    >>> monitoring_data(store)["available"]     # doctest: +SKIP
    False
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = ["empty_monitoring", "monitoring_data", "monitoring_plots"]

log = logging.getLogger(__name__)


def empty_monitoring() -> dict[str, Any]:
    return {"available": False, "events": 0, "apps": {}, "series": [], "alerts": []}


def _provider() -> Any:
    try:
        module = importlib.import_module("assay.monitor.dashboard")
    except ImportError:
        return None
    return getattr(module, "monitoring_data", None)


def monitoring_data(store: Store) -> dict[str, Any]:
    """Events, series and alerts for the monitoring page; the empty state when there are none."""
    provider = _provider()
    if provider is not None:
        data = {**empty_monitoring(), **provider(store)}
        data["available"] = bool(data.get("events") or data.get("series") or data.get("alerts"))
        return data
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


def monitoring_plots(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One time-series figure per series, with its threshold band and alert periods shaded."""
    plots: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(data.get("series") or []):
        pts = s.get("points") or []
        if not pts:
            continue
        x = [p["t"] for p in pts]
        y = [p.get("value") for p in pts]
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": y,
            "name": s.get("metric"),
        }
        if any(p.get("ci_low") is not None for p in pts):
            trace["error_y"] = {
                "type": "data",
                "symmetric": False,
                "color": "#1d2330",
                "array": [
                    None if p.get("ci_high") is None or p.get("value") is None else p["ci_high"] - p["value"]
                    for p in pts
                ],
                "arrayminus": [
                    None if p.get("ci_low") is None or p.get("value") is None else p["value"] - p["ci_low"]
                    for p in pts
                ],
            }
        shapes: list[dict[str, Any]] = []
        th = s.get("threshold") or {}
        for bound in ("min", "max"):
            if th.get(bound) is not None:
                shapes.append(
                    {
                        "type": "line",
                        "xref": "paper",
                        "x0": 0,
                        "x1": 1,
                        "y0": th[bound],
                        "y1": th[bound],
                        "line": {"dash": "dash", "color": "#a15c00"},
                    }
                )
        for a in data.get("alerts") or []:
            if a.get("metric") in (None, s.get("metric")) and a.get("started"):
                color = "rgba(198,40,40,0.12)" if a.get("state") == "firing" else "rgba(26,127,55,0.10)"
                shapes.append(
                    {
                        "type": "rect",
                        "yref": "paper",
                        "y0": 0,
                        "y1": 1,
                        "x0": a["started"],
                        "x1": a.get("ended") or x[-1],
                        "fillcolor": color,
                        "line": {"width": 0},
                    }
                )
        title = " · ".join(str(v) for v in (s.get("metric"), s.get("app"), s.get("variant")) if v)
        plots[f"series-{i}"] = {
            "data": [trace],
            "layout": {
                "title": {"text": title, "x": 0},
                "height": 300,
                "shapes": shapes,
                "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
            },
        }
    return plots
