"""The static HTML report: one self-contained file that works offline (plotly.js is inlined).

Every case field and model output is escaped: Jinja2 autoescapes the page, data for scripts is embedded
as JSON whose ``<``, ``>`` and ``&`` are written as ``\\u003c``-style escapes (no ``</script>`` breakout),
the browser-side code inserts text with ``textContent`` only, and a Content-Security-Policy with a
per-report nonce refuses any script the report did not put there itself.

Example:
    >>> from assay.store import open_store
    >>> with open_store("sqlite:///.assay/assay.db") as store:          # doctest: +SKIP
    ...     write_report(store, "20260101-120000-abc123", "report.html", compare=["20260102-..."])
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from assay.types import AssayError

if TYPE_CHECKING:
    import jinja2

    from assay.store.records import ResultRecord
    from assay.store.store import Store

__all__ = [
    "MAX_FIELD_CHARS",
    "asset_text",
    "case_row",
    "json_for_script",
    "make_environment",
    "plotly_js",
    "render_report",
    "write_report",
]

MAX_FIELD_CHARS: Final = 2000
"""Inputs, expected answers and outputs longer than this are shortened in the report's case table."""
MAX_EXPLANATION_CHARS: Final = 300

_SCRIPT_ESCAPES: Final = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def json_for_script(obj: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``: no ``</script>`` or ``<!--``.

    ``<``, ``>`` and ``&`` only ever occur inside JSON strings, where ``\\u003c`` means the same
    character, so ``JSON.parse`` returns exactly the original data. NaN is refused (never a silent NaN).

    Example:
        >>> json_for_script({"out": "</script><script>alert(1)</script>"})
        '{"out":"\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return text.translate(_SCRIPT_ESCAPES)


@lru_cache(maxsize=8)
def asset_text(name: str) -> str:
    """The text of one of this package's browser assets (``assay.js``, ``assay.css``)."""
    return resources.files("assay.report").joinpath("assets", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js as shipped inside the ``plotly`` Python package (never fetched from a CDN)."""
    try:
        text = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise AssayError(
            "HTML reports and the dashboard draw plots with plotly.js from the 'plotly' package: pip install plotly"
        ) from exc
    return _safe_inline_script(text)


def _safe_inline_script(code: str) -> str:
    # A literal "</script" inside inlined code would end the element early; in JS source "<\/" is the same.
    return code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10 ** (-digits) or abs(value) >= 1e6):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def _pval(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def make_environment(extra_template_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """The Jinja2 environment for reports (and the dashboard): autoescaping always on, shared filters."""
    import jinja2
    from markupsafe import Markup

    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader([str(p) for p in extra_template_dirs])]
    loaders.append(jinja2.PackageLoader("assay.report", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["pval"] = _pval
    env.filters["as_text"] = _as_text
    env.filters["tojson_script"] = lambda obj: Markup(json_for_script(obj))
    env.filters["pretty_json"] = lambda obj: json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    return env


def _clip(text: str | None, limit: int) -> tuple[str | None, bool]:
    if text is None or len(text) <= limit:
        return text, False
    return f"{text[:limit]}… [{len(text) - limit} more characters]", True


def _input_text(case: dict[str, Any]) -> str:
    value = case.get("input")
    if isinstance(value, list):
        return "\n".join(
            f"{m.get('role', '?')}: {m.get('content', '')}" for m in value if isinstance(m, dict)
        )
    return "" if value is None else str(value)


def case_row(
    rec: ResultRecord, metric_names: Sequence[str], *, max_chars: int = MAX_FIELD_CHARS
) -> tuple[dict[str, Any], bool]:
    """One result as the compact row the report's case table uses, and whether a field was shortened."""
    by_name = {s["name"]: s for s in rec.scores}
    values: list[float | None] = []
    explanations: list[str] = []
    for name in metric_names:
        s = by_name.get(name)
        if s is None:
            values.append(None)
            explanations.append("")
            continue
        v = s.get("value")
        values.append(None if s.get("error") or v is None else float(v))
        expl = f"scorer error: {s['error']}" if s.get("error") else (s.get("explanation") or "")
        explanations.append(_clip(expl, MAX_EXPLANATION_CHARS)[0] or "")
    inp, c1 = _clip(_input_text(rec.case), max_chars)
    exp, c2 = _clip(_as_text(rec.case.get("expected")) or None, max_chars)
    out, c3 = _clip(rec.output.get("text") or "", max_chars)
    err = f"{rec.error_kind}: {rec.error_message or ''}".strip() if rec.error_kind else None
    row = {
        "id": rec.case_id,
        "r": rec.repeat,
        "in": inp,
        "ex": exp,
        "out": out,
        "err": err,
        "s": values,
        "e": explanations,
    }
    meta = rec.case.get("metadata")
    if meta:
        row["m"] = meta
    return row, c1 or c2 or c3


def render_report(
    store: Store, run_id: str, *, compare: Sequence[str] = (), max_chars: int = MAX_FIELD_CHARS
) -> str:
    """The report of one run (id or unique prefix) as an HTML string; with ``compare``, the comparison too."""
    from assay.report.compare import compare_runs
    from assay.report.plots import comparison_forest, histogram, metrics_figure
    from assay.report.view import build_run_view

    view = build_run_view(store, run_id)
    cmp = compare_runs(store, view.run.run_id, list(compare)) if compare else None
    metric_info = [
        {"name": m.name, "kind": m.kind, "higher_is_better": m.higher_is_better} for m in view.metrics
    ]
    names = [m.name for m in view.metrics]
    rows: list[dict[str, Any]] = []
    truncated = False
    for rec in store.iter_results(view.run.run_id):
        row, clipped = case_row(rec, names, max_chars=max_chars)
        truncated = truncated or clipped
        rows.append(row)
    plots = {
        "metrics": metrics_figure(view.metrics),
        "latency": histogram(view.latency_s, title="Latency", x_title="seconds"),
        "cost": histogram(view.cost_usd, title="Cost per result", x_title="USD"),
        "forest": comparison_forest(cmp.metrics) if cmp else None,
    }
    from markupsafe import Markup

    env = make_environment()
    html = env.get_template("report.html.j2").render(
        view=view,
        cmp=cmp,
        plots=plots,
        cases={"metrics": metric_info, "rows": rows},
        n_cases_embedded=len(rows),
        truncated_fields=truncated,
        max_chars=max_chars,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        css=Markup(asset_text("assay.css")),
        assay_js=Markup(_safe_inline_script(asset_text("assay.js"))),
        plotly_js=Markup(plotly_js()),
        nonce=secrets.token_urlsafe(16),
    )
    return html


def write_report(store: Store, run_id: str, path: str | Path, *, compare: Sequence[str] = ()) -> Path:
    """Render the report and write it to ``path`` (UTF-8); returns the path written."""
    out = Path(path)
    html = render_report(store, run_id, compare=compare)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
