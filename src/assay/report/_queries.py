"""Read-only SQL over the store's tables, for reports and the dashboard.

The store's public API streams whole results; reports also need narrower reads: every value of every
metric of a run (comparisons, slices), the scalar columns (latency and cost distributions), and one
filtered page of cases (the dashboard's case table). These queries use ``Store.engine`` and the tables of
``assay.store.schema`` and never write.

Example:
    >>> cols = metric_columns(store, run_id)            # doctest: +SKIP
    >>> cols["exact_match"].values[("c1", 0)]            # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from assay.store.records import ResultRecord

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = [
    "FAILING_TARGET_ERROR",
    "CasePage",
    "MetricColumn",
    "case_metadata",
    "case_page",
    "get_result",
    "metric_columns",
    "scalar_columns",
]

Key = tuple[str, int]
FAILING_TARGET_ERROR: Final = "__target_error__"
"""The ``failing`` filter value that selects results whose target call failed."""

PROPORTION_PASS: Final = 0.5
"""A proportion score below this counts as failing in the case filter (binary scores: False fails)."""


@dataclass
class MetricColumn:
    """Every value of one metric in a run, keyed by ``(case_id, repeat)``; None marks a scorer error."""

    name: str
    kind: str
    higher_is_better: bool
    values: dict[Key, float | None] = field(default_factory=dict)

    def ok_values(self) -> dict[Key, float]:
        """Only the values that exist (scorer errors left out)."""
        return {k: v for k, v in self.values.items() if v is not None}


def metric_columns(store: Store, run_id: str) -> dict[str, MetricColumn]:
    """Every score of a run, one column per metric (one indexed scan of the ``scores`` table)."""
    from sqlalchemy import select

    from assay.store import schema

    s = schema.scores
    stmt = (
        select(s.c.case_id, s.c.repeat, s.c.name, s.c.value, s.c.error, s.c.kind, s.c.higher_is_better)
        .where(s.c.run_id == run_id)
        .order_by(s.c.seq, s.c.idx)
    )
    out: dict[str, MetricColumn] = {}
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()  # one fetch: much faster than row-by-row iteration
    for case_id, repeat, name, value, error, kind, hib in rows:
        col = out.get(name)
        if col is None:
            col = out[name] = MetricColumn(name=name, kind=kind, higher_is_better=bool(hib))
        col.values[(case_id, repeat)] = None if (error is not None or value is None) else float(value)
    return out


@dataclass
class ScalarColumns:
    """Per-result scalars of a run: which results failed (and how), latencies and costs."""

    error_kind: dict[Key, str | None] = field(default_factory=dict)
    latency_s: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


def scalar_columns(store: Store, run_id: str) -> ScalarColumns:
    """Latency, cost, tokens and error kind of every result of a run, from the real columns."""
    from sqlalchemy import select

    from assay.store import schema

    r = schema.results
    stmt = select(
        r.c.case_id,
        r.c.repeat,
        r.c.error_kind,
        r.c.latency_s,
        r.c.cost_usd,
        r.c.input_tokens,
        r.c.output_tokens,
    ).where(r.c.run_id == run_id)
    out = ScalarColumns()
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    for case_id, repeat, ek, lat, cost, itok, otok in rows:
        out.error_kind[(case_id, repeat)] = ek
        if ek is None and lat is not None:
            out.latency_s.append(float(lat))
        if cost is not None:
            out.cost_usd.append(float(cost))
        out.input_tokens += itok or 0
        out.output_tokens += otok or 0
    return out


def case_metadata(
    store: Store, run_id: str, *, batch_size: int = 5000
) -> Iterator[tuple[Key, dict[str, Any]]]:
    """``((case_id, repeat), metadata)`` for every result of a run, streamed in pages."""
    from sqlalchemy import func, select

    from assay.store import schema

    r = schema.results
    # SQLite extracts the metadata itself: no need to parse (possibly long) inputs in Python
    sqlite = store.dialect == "sqlite"
    meta_col = func.json_extract(r.c.case_json, "$.metadata") if sqlite else r.c.case_json
    last = 0
    while True:
        stmt = (
            select(r.c.seq, r.c.case_id, r.c.repeat, meta_col)
            .where(r.c.run_id == run_id, r.c.seq > last)
            .order_by(r.c.seq)
            .limit(batch_size)
        )
        with store.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for _seq, case_id, repeat, text in rows:
            if sqlite:
                meta = json.loads(text) if text and text.startswith("{") else {}
            else:
                meta = json.loads(text).get("metadata") or {}
            yield (case_id, repeat), meta if isinstance(meta, dict) else {}
        if len(rows) < batch_size:
            return
        last = rows[-1][0]


@dataclass
class CasePage:
    """One page of a run's case table: the results on it and how many match the filter in total."""

    results: list[ResultRecord]
    total: int
    offset: int
    limit: int


def _score_dicts(conn: Any, run_id: str, seqs: list[int]) -> dict[int, list[dict[str, Any]]]:
    from sqlalchemy import select

    from assay.store import schema

    s = schema.scores
    out: dict[int, list[dict[str, Any]]] = {}
    if not seqs:
        return out
    stmt = (
        select(
            s.c.seq,
            s.c.name,
            s.c.value,
            s.c.value_is_bool,
            s.c.kind,
            s.c.higher_is_better,
            s.c.error,
            s.c.explanation,
            s.c.metadata_json,
        )
        .where(s.c.run_id == run_id, s.c.seq.in_(seqs))
        .order_by(s.c.seq, s.c.idx)
    )
    for seq, name, value, is_bool, kind, hib, error, expl, meta in conn.execute(stmt):
        out.setdefault(seq, []).append(
            {
                "name": name,
                "value": bool(value) if is_bool and value is not None else value,
                "kind": kind,
                "higher_is_better": bool(hib),
                "explanation": expl,
                "metadata": json.loads(meta) if meta and meta != "{}" else {},
                "error": error,
            }
        )
    return out


def _record(run_id: str, row: Any, scores: list[dict[str, Any]]) -> ResultRecord:
    return ResultRecord(
        run_id=run_id,
        case_id=row.case_id,
        repeat=row.repeat,
        case=json.loads(row.case_json),
        output=json.loads(row.output_json),
        scores=scores,
        error_kind=row.error_kind,
        error_message=row.error_message,
        latency_s=row.latency_s,
        ttft_s=row.ttft_s,
        cost_usd=row.cost_usd,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        attempts=row.attempts,
        cached=bool(row.cached),
        created_at=row.created_at,
    )


def case_page(
    store: Store,
    run_id: str,
    *,
    offset: int = 0,
    limit: int = 50,
    query: str | None = None,
    failing: str | None = None,
    sort: str | None = None,
) -> CasePage:
    """One page of a run's results, filtered and sorted in SQL (so a 10,000-case run stays fast).

    ``query`` matches case id, case fields and output (case-insensitive substring). ``failing`` keeps
    results where that scorer failed (a scorer error, a binary score on the wrong side, or a proportion below 0.5);
    ``FAILING_TARGET_ERROR`` keeps results whose target call failed. ``sort`` is ``None`` (run order) or
    a metric name, worst values first (the metric's ``higher_is_better`` decides the direction).
    """
    from sqlalchemy import and_, func, or_, select

    from assay.store import schema

    if offset < 0 or limit < 1:
        raise ValueError(f"offset must be >= 0 and limit >= 1, got offset={offset}, limit={limit}")
    r, s = schema.results, schema.scores
    conds: list[Any] = [r.c.run_id == run_id]
    if query:
        conds.append(
            or_(
                r.c.case_id.icontains(query, autoescape=True),
                r.c.case_json.icontains(query, autoescape=True),
                r.c.output_json.icontains(query, autoescape=True),
            )
        )
    source: Any = r
    if failing == FAILING_TARGET_ERROR:
        conds.append(r.c.error_kind.is_not(None))
    elif failing:
        # joins, not correlated subqueries: SQLite would run those once per row through the
        # (run_id, name) index, i.e. n^2 score rows for a 10,000-case run
        sf = s.alias("sf")
        bad = or_(
            sf.c.error.is_not(None),
            and_(
                sf.c.kind == "binary",
                or_(
                    and_(sf.c.higher_is_better.is_(True), sf.c.value == 0),
                    and_(sf.c.higher_is_better.is_(False), sf.c.value == 1),
                ),
            ),
            and_(sf.c.kind == "proportion", sf.c.higher_is_better.is_(True), sf.c.value < PROPORTION_PASS),
        )
        source = source.join(
            sf, and_(sf.c.run_id == r.c.run_id, sf.c.seq == r.c.seq, sf.c.name == failing, bad)
        )
    cols = [
        r.c.seq,
        r.c.case_id,
        r.c.repeat,
        r.c.case_json,
        r.c.output_json,
        r.c.error_kind,
        r.c.error_message,
        r.c.latency_s,
        r.c.ttft_s,
        r.c.cost_usd,
        r.c.input_tokens,
        r.c.output_tokens,
        r.c.attempts,
        r.c.cached,
        r.c.created_at,
    ]
    if not sort:
        stmt = select(*cols).select_from(source).where(*conds).order_by(r.c.seq)
        with store.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(source).where(*conds)).scalar_one())
            rows = conn.execute(stmt.offset(offset).limit(limit)).all()
            scores = _score_dicts(conn, run_id, [row.seq for row in rows])
    else:
        # Sorting by a metric: read the matching seqs and the metric's values (two index range scans),
        # order them here, then load only the page. Every SQL form of this (correlated subquery, join,
        # materialised CTE) made SQLite read n^2 score rows on a 10,000-case run.
        with store.engine.connect() as conn:
            seqs = [row[0] for row in conn.execute(select(r.c.seq).select_from(source).where(*conds))]
            values: dict[int, float | None] = {}
            hib = True
            for seq, value, higher in conn.execute(
                select(s.c.seq, s.c.value, s.c.higher_is_better).where(s.c.run_id == run_id, s.c.name == sort)
            ):
                values.setdefault(seq, value)
                hib = bool(higher)
            sign = 1.0 if hib else -1.0

            def worst_first(seq: int) -> tuple[int, float, int]:
                v = values.get(seq)
                return (0, 0.0, seq) if v is None else (1, sign * v, seq)  # no value: the worst of all

            total = len(seqs)
            page_seqs = sorted(seqs, key=worst_first)[offset : offset + limit]
            by_seq = {
                row.seq: row
                for row in conn.execute(select(*cols).where(r.c.run_id == run_id, r.c.seq.in_(page_seqs)))
            }
            rows = [by_seq[q] for q in page_seqs if q in by_seq]
            scores = _score_dicts(conn, run_id, page_seqs)
    return CasePage(
        results=[_record(run_id, row, scores.get(row.seq, [])) for row in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def get_result(store: Store, run_id: str, case_id: str, repeat: int = 0) -> ResultRecord | None:
    """One result of a run, with its scores, or None."""
    from sqlalchemy import select

    from assay.store import schema

    r = schema.results
    with store.engine.connect() as conn:
        row = conn.execute(
            select(r).where(r.c.run_id == run_id, r.c.case_id == case_id, r.c.repeat == repeat)
        ).first()
        if row is None:
            return None
        scores = _score_dicts(conn, run_id, [row.seq])
    return _record(run_id, row, scores.get(row.seq, []))
