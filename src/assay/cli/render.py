"""Rich tables for summaries, run lists and worst cases. Model outputs are untrusted: every string from a
case or an output is escaped before Rich sees it (no markup injection)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table


def _fmt(x: float | None, *, pct: bool = False) -> str:
    if x is None:
        return "–"
    if pct:
        return f"{100 * x:.1f}%"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.3f}".rstrip("0").rstrip(".")


def summary_table(summary: dict[str, Any]) -> Table:
    """Metric, mean, 95% CI, n, errors and threshold status."""
    t = Table(
        title=f"{escape(summary['suite'])} · run {summary['run_id']} · {summary['status']}",
        title_justify="left",
    )
    t.add_column("metric")
    t.add_column("mean", justify="right")
    t.add_column("95% CI", justify="right")
    t.add_column("n", justify="right")
    t.add_column("errors", justify="right")
    t.add_column("threshold")
    thresholds = summary.get("thresholds") or {}
    for name, m in (summary.get("metrics") or {}).items():
        pct = m.get("kind") in ("binary", "proportion")
        ci = (
            f"{_fmt(m['ci_low'], pct=pct)} – {_fmt(m['ci_high'], pct=pct)}"
            if m.get("mean") is not None
            else "–"
        )
        th = thresholds.get(name)
        status = ""
        if th:
            bound = (
                f"≥ {_fmt(th['min'], pct=pct)}"
                if th.get("min") is not None
                else f"≤ {_fmt(th['max'], pct=pct)}"
            )
            status = f"[green]pass[/] {bound}" if th["passed"] else f"[bold red]FAIL[/] {bound}"
        t.add_row(escape(name), _fmt(m.get("mean"), pct=pct), ci, str(m["n"]), str(m["n_errors"]), status)
    for name, th in thresholds.items():
        if name not in (summary.get("metrics") or {}):
            bound = f"≥ {_fmt(th['min'])}" if th.get("min") is not None else f"≤ {_fmt(th['max'])}"
            status = f"[green]pass[/] {bound}" if th["passed"] else f"[bold red]FAIL[/] {bound}"
            t.add_row(escape(name), _fmt(th.get("value")), "", "", "", status)
    return t


def facts_table(summary: dict[str, Any]) -> Table:
    """Cases, errors by kind, latency percentiles, tokens, cost, cache hits."""
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    n_results = summary.get("n_results", 0)
    t.add_row(
        "cases",
        f"{summary['n_cases']} × {summary.get('repeats', 1)} repeats = {n_results} results"
        if summary.get("repeats", 1) > 1
        else f"{summary['n_cases']} ({n_results} results)",
    )
    errs = summary.get("errors_by_kind") or {}
    err_txt = ", ".join(f"{k} {v}" for k, v in sorted(errs.items())) or "none"
    t.add_row("target errors", f"{summary['n_errors']} ({err_txt})")
    lat = summary.get("latency_s") or {}
    if lat.get("p50") is not None:
        t.add_row("latency", f"p50 {lat['p50']:.3f}s · p95 {lat['p95']:.3f}s · p99 {lat['p99']:.3f}s")
    tok = summary.get("tokens") or {}
    if tok.get("input") or tok.get("output"):
        t.add_row("tokens", f"{tok.get('input', 0):,} in · {tok.get('output', 0):,} out")
    if summary.get("cost_usd") is not None:
        t.add_row("cost", f"${summary['cost_usd']:.4f}")
    for name, j in (summary.get("judges") or {}).items():
        cost = f" · ${j['cost_usd']:.4f}" if j.get("cost_usd") is not None else ""
        t.add_row(
            f"judge {escape(name)}",
            f"{j['calls']} calls ({j['cached']} cached) · "
            f"{j['input_tokens']:,} in · {j['output_tokens']:,} out{cost}",
        )
    if summary.get("n_cached"):
        t.add_row("from cache", str(summary["n_cached"]))
    if summary.get("duration_s") is not None:
        t.add_row("duration", f"{summary['duration_s']:.1f}s")
    if summary.get("stop_reason"):
        t.add_row("stopped", f"[red]{escape(summary['stop_reason'])}[/]")
    return t


def runs_table(runs: list[Any]) -> Table:
    t = Table(title="runs", title_justify="left")
    for col in ("run id", "suite", "started (UTC)", "n", "status", "headline metrics"):
        t.add_column(col)
    for r in runs:
        s = r.summary or {}
        heads = []
        for name, m in list((s.get("metrics") or {}).items())[:3]:
            pct = m.get("kind") in ("binary", "proportion")
            heads.append(f"{escape(name)} {_fmt(m.get('mean'), pct=pct)}")
        status = {"completed": "[green]completed[/]", "running": "[yellow]running[/]"}.get(
            r.status, f"[red]{r.status}[/]"
        )
        t.add_row(
            r.run_id,
            escape(r.suite),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            str(s.get("n_results", r.n_planned)),
            status,
            " · ".join(heads),
        )
    return t


def clip(text: Any, n: int = 80) -> str:
    s = text if isinstance(text, str) else repr(text)
    s = " ".join(s.split())
    return escape(s if len(s) <= n else s[: n - 1] + "…")
