"""Plot specifications (Plotly JSON: ``{"data": [...], "layout": {...}}``) for reports and the dashboard.

Figures are plain dicts built here in Python and drawn in the browser by plotly.js, so the static report
and the dashboard draw the same pictures and no Python plotting objects are needed. Distributions are
binned here (a histogram of 10,000 latencies is 40 bars, not 10,000 numbers in the page).

Example:
    >>> spec = histogram([0.1, 0.2, 0.2, 0.4], title="Latency", x_title="seconds")
    >>> spec["data"][0]["type"]
    'bar'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["comparison_forest", "histogram", "history", "metrics_figure"]

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "height": 320,
    "font": {"size": 12},
    "paper_bgcolor": "#fff",
    "plot_bgcolor": "#fff",
}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "title": {"text": title, "x": 0, "xanchor": "left"}, **extra}


def _ci_error(
    means: Sequence[float | None], lows: Sequence[float | None], highs: Sequence[float | None]
) -> dict[str, Any]:
    plus = [None if m is None or h is None else h - m for m, h in zip(means, highs, strict=True)]
    minus = [None if m is None or lo is None else m - lo for m, lo in zip(means, lows, strict=True)]
    return {
        "type": "data",
        "symmetric": False,
        "array": plus,
        "arrayminus": minus,
        "visible": True,
        "color": "#1d2330",
    }


def metrics_figure(rows: Sequence[Any]) -> dict[str, Any] | None:
    """Means with 95% intervals of the rate-like metrics (binary and proportion), threshold markers.

    ``rows`` are ``MetricRow``-like objects. Continuous metrics (latency, cost ...) have their own
    units and stay in the table. Returns None when there is nothing to draw.
    """
    rates = [r for r in rows if r.kind in ("binary", "proportion") and r.mean is not None]
    if not rates:
        return None
    names = [r.name for r in rates]
    means = [r.mean for r in rates]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": names,
            "y": means,
            "name": "mean (95% CI)",
            "marker": {"color": ["#c62828" if r.passed is False else "#2f5bd3" for r in rates]},
            "error_y": _ci_error(means, [r.ci_low for r in rates], [r.ci_high for r in rates]),
            "hovertemplate": "%{x}: %{y:.3f}<extra></extra>",
        }
    ]
    tx = [r.name for r in rates if r.threshold_min is not None]
    ty = [r.threshold_min for r in rates if r.threshold_min is not None]
    if tx:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": tx,
                "y": ty,
                "name": "threshold (min)",
                "marker": {"symbol": "line-ew-open", "size": 36, "line": {"width": 3, "color": "#a15c00"}},
            }
        )
    return {
        "data": data,
        "layout": _layout("Metrics with 95% CIs", yaxis={"range": [0, 1.05]}, showlegend=bool(tx)),
    }


def histogram(values: Sequence[float], *, title: str, x_title: str, bins: int = 40) -> dict[str, Any] | None:
    """A pre-binned histogram (bars), or None when there are no values."""
    if not values:
        return None
    import numpy as np

    arr = np.asarray(values, dtype=float)
    lo, hi = float(arr.min()), float(arr.max())
    if lo == hi:
        counts, edges = np.asarray([arr.size]), np.asarray([lo, lo + 1e-9])
    else:
        counts, edges = np.histogram(arr, bins=min(bins, max(5, int(arr.size**0.5))))
    centers = ((edges[:-1] + edges[1:]) / 2).tolist()
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    p50, p95 = (float(q) for q in np.quantile(arr, [0.5, 0.95]))
    return {
        "data": [
            {
                "type": "bar",
                "x": centers,
                "y": counts.tolist(),
                "width": width,
                "marker": {"color": "#2f5bd3"},
                "hovertemplate": "%{x:.4g}: %{y}<extra></extra>",
                "name": "count",
            }
        ],
        "layout": _layout(
            f"{title} (n={arr.size}, p50={p50:.4g}, p95={p95:.4g})",
            xaxis={"title": {"text": x_title}},
            yaxis={"title": {"text": "count"}},
            bargap=0.05,
            shapes=[
                {
                    "type": "line",
                    "x0": q,
                    "x1": q,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": {"dash": "dot", "color": c},
                }
                for q, c in ((p50, "#1a7f37"), (p95, "#c62828"))
            ],
        ),
    }


def comparison_forest(items: Sequence[Any]) -> dict[str, Any] | None:
    """Differences (candidate minus baseline) with 95% intervals, one row per candidate and metric."""
    tested = [m for m in items if m.difference is not None and m.ci_low is not None]
    if not tested:
        return None
    labels = [f"{m.metric} · {m.run_id[-12:]}" for m in tested]
    diffs = [m.difference for m in tested]
    colors = {"improved": "#1a7f37", "regressed": "#c62828"}
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "y": labels,
                "x": diffs,
                "marker": {"size": 10, "color": [colors.get(m.verdict, "#5b6475") for m in tested]},
                "error_x": _ci_error(diffs, [m.ci_low for m in tested], [m.ci_high for m in tested]),
                "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Difference vs baseline (95% CI)",
            height=max(220, 60 + 34 * len(tested)),
            xaxis={"zeroline": True, "zerolinewidth": 2},
            yaxis={"automargin": True},
            margin={"l": 200, "r": 20, "t": 40, "b": 40},
        ),
    }


def history(
    points: Sequence[dict[str, Any]], *, metric: str, threshold: float | None
) -> dict[str, Any] | None:
    """A metric over a suite's runs (x: run time) with its CI band and the threshold line.

    ``points`` are dicts with ``created_at`` (ISO), ``run_id``, ``mean``, ``ci_low``, ``ci_high``.
    """
    pts = [p for p in points if p.get("mean") is not None]
    if not pts:
        return None
    pts = sorted(pts, key=lambda p: p["created_at"])
    x = [p["created_at"] for p in pts]
    means = [p["mean"] for p in pts]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": means,
            "name": metric,
            "text": [p["run_id"] for p in pts],
            "error_y": _ci_error(means, [p.get("ci_low") for p in pts], [p.get("ci_high") for p in pts]),
            "hovertemplate": "%{text}<br>%{y:.3f}<extra></extra>",
        }
    ]
    shapes = []
    if threshold is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": threshold,
                "y1": threshold,
                "line": {"dash": "dash", "color": "#a15c00"},
            }
        )
    return {"data": data, "layout": _layout(f"{metric} over time", shapes=shapes, showlegend=False)}
