"""Window aggregates of stored events: volume, errors, latency/TTFT percentiles, tokens, cost, online
scores with 95% intervals, feedback, outcomes and queue depth, per window and per app/variant/model.

Everything but the scores is read from the per-minute rollups the store keeps at ingest
(``assay.store.events``), so a day of a million events aggregates in well under a second; windows have
a resolution of one minute. Percentiles come from the log-scale bins stored with each event
(``assay.monitor.sketch``): accurate to 1% relative error. Online score means carry a Wilson interval
(binary scores) or a Student-t interval (others), from ``assay.stats``.

Example:
    >>> aggs = aggregate(store, start=t0, end=t0 + timedelta(hours=24), step="1h")  # doctest: +SKIP
    >>> aggs[0].metric("p95_latency_s"), aggs[0].metric("score.faithfulness")  # doctest: +SKIP
    (0.42, 0.91)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select

from assay.aggregates import MeanWithCI, Percentiles
from assay.monitor.clock import parse_duration
from assay.monitor.sketch import quantile_from_bins
from assay.store.events import ROLLUP_SUMS, event_rollup_bins, event_rollups, event_scores

if TYPE_CHECKING:
    from assay.store import Store

__all__ = ["GROUP_KEYS", "METRICS", "Percentiles", "ScoreSummary", "WindowAggregate", "aggregate"]

GROUP_KEYS: Final = ("app", "variant", "model")
METRICS: Final = (
    "volume",
    "errors",
    "error_rate",
    "p50_latency_s",
    "p95_latency_s",
    "p99_latency_s",
    "mean_latency_s",
    "p50_ttft_s",
    "p95_ttft_s",
    "p99_ttft_s",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost_usd",
    "thumbs_up_rate",
    "mean_rating",
    "nps",
    "resolution_rate",
    "escalation_rate",
    "mean_handle_time_s",
    "acceptance_rate",
    "mean_queue_depth",
    "max_queue_depth",
)
"""Names ``WindowAggregate.metric`` knows, besides ``score.<scorer name>`` (an online score's mean)."""


class ScoreSummary(MeanWithCI):
    """One online score over a window: mean with a 95% interval; ``n_errors`` scores that failed."""


class WindowAggregate(BaseModel):
    """Everything measured over one window for one (app, variant, model) group (None: all of them)."""

    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime
    app: str | None = None
    variant: str | None = None
    model: str | None = None
    volume: int = 0
    errors: int = 0
    latency_s: Percentiles = Field(default_factory=Percentiles)
    ttft_s: Percentiles = Field(default_factory=Percentiles)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    n_thumbs: int = 0
    thumbs_up_rate: float | None = None
    n_ratings: int = 0
    mean_rating: float | None = None
    n_nps: int = 0
    nps: float | None = Field(default=None, description="% promoters (9-10) minus % detractors (0-6).")
    n_resolved: int = 0
    resolution_rate: float | None = None
    n_escalated: int = 0
    escalation_rate: float | None = None
    mean_handle_time_s: float | None = None
    n_accepted: int = 0
    acceptance_rate: float | None = None
    mean_queue_depth: float | None = None
    max_queue_depth: int | None = None
    scores: dict[str, ScoreSummary] = Field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.volume if self.volume else None

    def metric(self, name: str) -> float | None:
        """A metric by name (``METRICS`` or ``score.<name>``); None when the window has no data for it."""
        if name.startswith("score."):
            s = self.scores.get(name[6:])
            return None if s is None else s.mean
        if name in ("volume", "errors", "input_tokens", "output_tokens", "cost_usd"):
            return float(getattr(self, name))
        if name == "error_rate":
            return self.error_rate
        if name == "tokens":
            return float(self.input_tokens + self.output_tokens)
        for prefix, attr in (("latency_s", "latency_s"), ("ttft_s", "ttft_s")):
            if name.endswith("_" + prefix):
                stat = name[: -len(prefix) - 1]
                if stat in ("p50", "p95", "p99", "mean"):
                    value: float | None = getattr(getattr(self, attr), stat)
                    return value
        if name in METRICS:
            v = getattr(self, name)
            return None if v is None else float(v)
        if name in self.scores:
            return self.scores[name].mean
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}, score.<scorer>")

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["error_rate"] = self.error_rate
        return data


def aggregate(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    step: str | float | None = None,
    by: Sequence[str] = GROUP_KEYS,
    where: dict[str, str | None] | None = None,
    scores: bool = True,
) -> list[WindowAggregate]:
    """Aggregate the events with ``start <= ts < end``, at the rollups' resolution of one minute.

    ``step`` (``"1m"``, ``"1h"``, ``"1d"`` or seconds, a multiple of 60) cuts the range into windows
    aligned to multiples of the step since the Unix epoch (comparable across calls); None makes one
    window ``[start, end)``. Range ends are rounded out to whole minutes. ``by`` chooses the group keys
    (a subset of app, variant, model); ``where`` filters on them exactly (None matches events without
    a variant/model). Windows without events are left out. Sorted by window start, then group.
    """
    bad = [k for k in (*by, *(where or {})) if k not in GROUP_KEYS]
    if bad:
        raise ValueError(f"unknown group key(s) {bad}; expected some of {GROUP_KEYS}")
    lo, hi = start.timestamp(), end.timestamp()
    if hi <= lo:
        raise ValueError("end must be after start")
    m_lo, m_hi = math.floor(lo / 60), math.ceil(hi / 60)
    if step is None:
        width_m = m_hi - m_lo
        origin_m = m_lo
    else:
        width = parse_duration(step)
        if width < 60 or width % 60:
            raise ValueError(f"step must be a whole number of minutes, got {step!r}")
        width_m = int(width // 60)
        origin_m = (m_lo // width_m) * width_m
    r, rb = event_rollups, event_rollup_bins
    filters = {k: ("" if v is None and k != "app" else v) for k, v in (where or {}).items()}

    def bucket(table: Any) -> Any:
        return ((table.c.minute - origin_m) // width_m).label("b")  # >= 0, so floor division

    # whole hours from the hourly rollups, the unaligned edges from the minute rollups
    h_lo, h_hi = -(-m_lo // 60) * 60, (m_hi // 60) * 60
    use_hours = (step is None or width_m % 60 == 0) and h_hi > h_lo

    def conds(table: Any) -> list[Any]:
        c = table.c
        if use_hours:
            span = or_(
                and_(c.res_m == 60, c.minute >= h_lo, c.minute < h_hi),
                and_(
                    c.res_m == 1,
                    or_(and_(c.minute >= m_lo, c.minute < h_lo), and_(c.minute >= h_hi, c.minute < m_hi)),
                ),
            )
        else:
            span = and_(c.res_m == 1, c.minute >= m_lo, c.minute < m_hi)
        return [span, *(c[k] == v for k, v in filters.items())]

    b = bucket(r)
    keys = [r.c[k] for k in by]
    main = (
        select(b, *keys, *(func.sum(r.c[c]) for c in ROLLUP_SUMS), func.max(r.c.queue_max))
        .where(and_(*conds(r)))
        .group_by(b, *keys)
    )
    bb = bucket(rb)
    hist = (
        select(bb, *(rb.c[k] for k in by), rb.c.metric, rb.c.bin, func.sum(rb.c["count"]))
        .where(and_(*conds(rb)))
        .group_by(bb, *(rb.c[k] for k in by), rb.c.metric, rb.c.bin)
    )
    nk = len(keys)
    bins: dict[tuple[Any, ...], dict[str, dict[int, int]]] = defaultdict(lambda: {"l": {}, "t": {}})
    with store._read("aggregate events") as conn:
        main_rows = conn.execute(main).all()
        for row in conn.execute(hist):
            bins[_key(row, nk)][row[nk + 1]][int(row[nk + 2])] = int(row[nk + 3])
        score_rows = _score_rows(conn, origin_m, width_m, lo, hi, by, filters) if scores else []
    out: dict[tuple[Any, ...], WindowAggregate] = {}
    for row in main_rows:
        key = _key(row, nk)
        v = dict(zip(ROLLUP_SUMS, row[nk + 1 : nk + 1 + len(ROLLUP_SUMS)], strict=True))
        q_max = row[-1]
        w0 = (origin_m + int(row[0]) * width_m) * 60
        w_start, w_end = (lo, hi) if step is None else (w0, w0 + width_m * 60)
        nps_n = int(v["nps_n"])
        group: dict[str, Any] = {
            k: (key[1 + i] or None) if k != "app" else key[1 + i] for i, k in enumerate(by)
        }
        out[key] = WindowAggregate(
            start=datetime.fromtimestamp(w_start, UTC),
            end=datetime.fromtimestamp(w_end, UTC),
            app=group.get("app"),
            variant=group.get("variant"),
            model=group.get("model"),
            volume=int(v["n"]),
            errors=int(v["errors"]),
            latency_s=_percentiles(bins[key]["l"], v["lat_sum"], v["lat_n"]),
            ttft_s=_percentiles(bins[key]["t"], v["ttft_sum"], v["ttft_n"]),
            input_tokens=int(v["input_tokens"]),
            output_tokens=int(v["output_tokens"]),
            cost_usd=float(v["cost_usd"]),
            n_thumbs=int(v["thumbs_n"]),
            thumbs_up_rate=_ratio(v["thumbs_up"], v["thumbs_n"]),
            n_ratings=int(v["rating_n"]),
            mean_rating=_ratio(v["rating_sum"], v["rating_n"]),
            n_nps=nps_n,
            nps=None if not nps_n else 100.0 * (int(v["nps_promoters"]) - int(v["nps_detractors"])) / nps_n,
            n_resolved=int(v["resolved_n"]),
            resolution_rate=_ratio(v["resolved"], v["resolved_n"]),
            n_escalated=int(v["escalated_n"]),
            escalation_rate=_ratio(v["escalated"], v["escalated_n"]),
            mean_handle_time_s=_ratio(v["handle_sum"], v["handle_n"]),
            n_accepted=int(v["accepted_n"]),
            acceptance_rate=_ratio(v["accepted"], v["accepted_n"]),
            mean_queue_depth=_ratio(v["queue_sum"], v["queue_n"]),
            max_queue_depth=None if q_max is None else int(q_max),
        )
    _attach_scores(out, score_rows, nk)
    return sorted(out.values(), key=lambda a: (a.start, a.app or "", a.variant or "", a.model or ""))


def _key(row: Any, nk: int) -> tuple[Any, ...]:
    return (int(row[0]), *(row[1 : nk + 1]))


def _ratio(num: Any, den: Any) -> float | None:
    return None if not den else float(num or 0) / float(den)


def _percentiles(bins: dict[int, int] | None, total: Any, n: Any) -> Percentiles:
    if not n:
        return Percentiles()
    bins = bins or {}
    return Percentiles(
        p50=quantile_from_bins(bins, 0.50),
        p95=quantile_from_bins(bins, 0.95),
        p99=quantile_from_bins(bins, 0.99),
        mean=float(total) / float(n),
        n=int(n),
    )


def _score_rows(
    conn: Any, origin_m: int, width_m: int, lo: float, hi: float, by: Sequence[str], filters: dict[str, Any]
) -> list[Any]:
    s = event_scores
    cond = [s.c.t_unix >= math.floor(lo / 60) * 60, s.c.t_unix < math.ceil(hi / 60) * 60]
    for k, v in filters.items():
        cond.append(s.c[k].is_(None) if v == "" else s.c[k] == v)
    keys = [func.coalesce(s.c[k], "") if k != "app" else s.c[k] for k in by]
    stmt = select(s.c.t_unix, *keys, s.c.name, s.c.value, s.c.value_is_bool, s.c.kind, s.c.higher_is_better)
    return [
        (int((row[0] // 60 - origin_m) // width_m), *row[1:]) for row in conn.execute(stmt.where(and_(*cond)))
    ]


def _attach_scores(out: dict[tuple[Any, ...], WindowAggregate], rows: list[Any], nk: int) -> None:
    from assay import stats

    grouped: dict[tuple[Any, ...], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    info: dict[str, tuple[str, bool, bool]] = {}
    for row in rows:
        key = _key(row, nk)
        name, value, is_bool, kind, hib = row[nk + 1 :]
        grouped[key][name].append(value)
        info[name] = (kind, bool(is_bool), bool(hib))
    for key, by_name in grouped.items():
        agg = out.get(key)
        if agg is None:
            continue
        for name, values in by_name.items():
            kind, is_bool, hib = info[name]
            vals = [float(v) for v in values if v is not None]
            n_err = len(values) - len(vals)
            mean = sum(vals) / len(vals) if vals else None
            low = high = mean
            if vals and (kind == "binary" or is_bool):
                low, high = stats.wilson_interval(round(sum(vals)), len(vals))
            elif len(vals) >= 2 and min(vals) != max(vals):
                low, high = stats.t_interval(vals)
            agg.scores[name] = ScoreSummary(
                mean=mean,
                ci_low=low,
                ci_high=high,
                n=len(vals),
                n_errors=n_err,
                kind=kind,
                higher_is_better=hib,
            )
