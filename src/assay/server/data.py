"""Data shared by the dashboard's pages and its JSON API (so both always show the same numbers)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.report.compare import ComparisonView
    from assay.store.records import ResultRecord, RunRecord
    from assay.store.store import Store

__all__ = [
    "MAX_COMPARE_RUNS",
    "CompareSelection",
    "case_cells",
    "comparison_matrix",
    "history_points",
    "run_row",
    "run_rows",
    "select_comparison",
    "word_diff",
]

MAX_COMPARE_RUNS: Final = 12
"""Runs (baseline included) one comparison may hold: each candidate adds a paired test per metric."""

_TOKENS = re.compile(r"\s+|[^\s]+")
MAX_DIFF_TOKENS = 4000


def run_row(run: RunRecord) -> dict[str, Any]:
    """One run for the runs list: header fields, threshold status and headline metrics (from its summary)."""
    summary = run.summary or {}
    metrics = [
        {
            "name": name,
            "mean": m.get("mean"),
            "ci_low": m.get("ci_low"),
            "ci_high": m.get("ci_high"),
            "n": m.get("n"),
        }
        for name, m in (summary.get("metrics") or {}).items()
    ]
    thresholds = summary.get("thresholds") or {}
    return {
        "run_id": run.run_id,
        "suite": run.suite,
        "status": run.status,
        "created_at": run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "created_at_iso": run.created_at.isoformat(),
        "n_planned": run.n_planned,
        "n_results": summary.get("n_results"),
        "passed": None if not thresholds else all(bool(t.get("passed")) for t in thresholds.values()),
        "metrics": metrics,
        "thresholds": thresholds,
    }


def run_rows(
    store: Store, *, suite: str | None, status: str | None, limit: int = 200
) -> list[dict[str, Any]]:
    runs = store.list_runs(suite=suite or None, limit=limit)
    return [run_row(r) for r in runs if not status or r.status == status]


def history_points(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """A metric's mean and CI over the given runs (oldest first), for the suite's history plot."""
    out = []
    for r in reversed(rows):
        m = next((m for m in r["metrics"] if m["name"] == metric), None)
        if m is not None and m["mean"] is not None:
            out.append(
                {
                    "run_id": r["run_id"],
                    "created_at": r["created_at_iso"],
                    **{k: m[k] for k in ("mean", "ci_low", "ci_high")},
                }
            )
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    return json.dumps(value, ensure_ascii=False)


def case_cells(rec: ResultRecord, metrics: list[Any], *, clip: int = 400) -> dict[str, Any]:
    """One row of the run page's case table: clipped texts and each metric's value and failing flag."""
    from assay.report._queries import PROPORTION_PASS

    by_name = {s["name"]: s for s in rec.scores}
    values = []
    for m in metrics:
        s = by_name.get(m.name)
        v = None if s is None or s.get("error") else s.get("value")
        failing = (
            rec.error_kind is None
            and s is not None
            and (
                v is None
                or (m.kind == "binary" and (bool(v) != m.higher_is_better))
                or (m.kind == "proportion" and m.higher_is_better and float(v) < PROPORTION_PASS)
            )
        )
        values.append({"value": v, "failing": failing})

    def cut(text: str) -> str:
        return text if len(text) <= clip else text[:clip] + "…"

    return {
        "case_id": rec.case_id,
        "repeat": rec.repeat,
        "input": cut(_text(rec.case.get("input"))),
        "expected": cut(_text(rec.case.get("expected"))),
        "output": cut(rec.output.get("text") or ""),
        "error": f"{rec.error_kind}: {rec.error_message or ''}" if rec.error_kind else None,
        "cells": values,
    }


def word_diff(expected: str, output: str) -> list[tuple[str, str]]:
    """``[(op, text)]`` with op ``eq``/``ins``/``del`` turning ``expected`` into ``output``, word by word."""
    a, b = _TOKENS.findall(expected), _TOKENS.findall(output)
    if len(a) + len(b) > MAX_DIFF_TOKENS:
        return [("eq", output)]
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("eq", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(("del", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            out.append(("ins", "".join(b[j1:j2])))
    return out


def text_of(value: Any) -> str:
    return _text(value)


@dataclass(frozen=True)
class CompareSelection:
    """The runs a comparison was asked for: the baseline and the candidates, as full run ids."""

    base: str
    candidates: list[str]


def select_comparison(store: Store, runs: Sequence[str], base: str = "") -> CompareSelection | None:
    """Which runs to compare, from the picker's (or the URL's) ``runs`` and ``base``.

    ``base`` names the baseline; without it the first of ``runs`` is (so ``/compare?runs=A&runs=B``
    compares B with A). Ids may be unique prefixes; each run counts once, and the baseline is never its
    own candidate, so ``candidates`` is empty when only one run was picked. None when nothing was picked.
    Raises ``ValueError`` (a message for the user) for more than ``MAX_COMPARE_RUNS`` runs, and
    ``StoreError`` for a run the store does not have.

    Example:
        >>> select_comparison(store, ["run-b", "run-c"], base="run-a")   # doctest: +SKIP
        CompareSelection(base='run-a', candidates=['run-b', 'run-c'])
    """
    wanted = [r.strip() for r in runs if r.strip()]
    base = base.strip()
    if not wanted and not base:
        return None
    if len(set(wanted) | ({base} if base else set())) > 4 * MAX_COMPARE_RUNS:  # bound the look-ups
        raise ValueError(f"too many runs picked; compare at most {MAX_COMPARE_RUNS} at once")
    ids: list[str] = []
    for given in ([base] if base else []) + wanted:
        run_id = store.find_run(given).run_id
        if run_id not in ids:
            ids.append(run_id)
    if len(ids) > MAX_COMPARE_RUNS:
        raise ValueError(
            f"{len(ids)} runs picked; compare at most {MAX_COMPARE_RUNS} at once (the baseline included)"
        )
    return CompareSelection(ids[0], ids[1:])


def comparison_matrix(cmp: ComparisonView) -> list[dict[str, Any]]:
    """The N-way comparison at a glance: one row per metric, one cell per candidate (in ``cmp.others``
    order) holding that candidate's ``MetricComparison`` against the baseline, or None when the
    candidate lacks the metric; ``base_mean`` is the baseline's mean over all its cases (its summary),
    while each cell's ``base_mean`` is over the cases paired with that candidate. The statistics are
    ``compare_runs``'s, only rearranged."""
    order = [o.run_id for o in cmp.others]
    summary = (cmp.base.summary or {}).get("metrics") or {}
    rows: dict[str, dict[str, Any]] = {}
    for m in cmp.metrics:
        base_mean = (summary.get(m.metric) or {}).get("mean", m.base_mean)
        row = rows.setdefault(
            m.metric, {"metric": m.metric, "base_mean": base_mean, "cells": dict.fromkeys(order)}
        )
        row["cells"][m.run_id] = m
    return [{**row, "cells": [row["cells"][r] for r in order]} for row in rows.values()]
