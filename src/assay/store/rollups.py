"""The column order of event rows and their rollups, with no SQLAlchemy in sight.

Event rows (tuples in ``EVENT_COLUMNS`` order) are built by ingest, possibly in worker processes that
never import SQLAlchemy; ``accumulate`` turns a batch of rows into the additions to the per-minute and
per-hour rollups (``event_rollups``, ``event_rollup_bins``), so a worker can do that work too and the
process that commits only adds them up. ``assay.store.events`` defines the tables and checks, when it is
imported, that ``EVENT_COLUMNS`` follows the ``events`` table.

Example:
    >>> row = [None] * len(EVENT_COLUMNS)
    >>> row[EVENT_COLUMNS.index("t_unix")], row[EVENT_COLUMNS.index("app")] = 120.0, "bot"
    >>> sums, qmax, bins = accumulate([tuple(row)])
    >>> sums[(1, 2, "bot", "", "")][0]  # one event in minute 2
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

__all__ = ["EVENT_COLUMNS", "ROLLUP_RESOLUTIONS_M", "ROLLUP_SUMS", "Rollups", "accumulate"]

EVENT_COLUMNS: Final = (
    "event_id", "ts", "t_unix", "app", "variant", "model", "is_error", "error_kind", "latency_s", "ttft_s",
    "latency_bin", "ttft_bin", "input_tokens", "output_tokens", "cost_usd", "input_chars", "output_chars",
    "thumbs_up", "rating", "nps", "resolved", "escalated", "handle_time_s", "accepted", "queue_depth",
    "session_hash", "user_hash", "event_json", "ingested_at",
)  # fmt: skip
"""The ``events`` table's columns but ``seq``, in the order rows are built and inserted."""

_ROLLUP_KEYS: Final = ("res_m", "minute", "app", "variant", "model")
ROLLUP_RESOLUTIONS_M: Final = (1, 60)
"""Rollup resolutions in minutes: per minute, and per hour (``minute`` is then the hour's first minute)."""
ROLLUP_SUMS: Final = (
    "n", "errors", "lat_n", "lat_sum", "ttft_n", "ttft_sum", "input_tokens", "output_tokens", "cost_usd",
    "thumbs_n", "thumbs_up", "rating_n", "rating_sum", "nps_n", "nps_promoters", "nps_detractors",
    "resolved_n", "resolved", "escalated_n", "escalated", "handle_n", "handle_sum", "accepted_n", "accepted",
    "queue_n", "queue_sum",
)  # fmt: skip
"""Additive columns of ``event_rollups`` (``queue_max`` is the one maximum)."""
_RollupKey = tuple[Any, ...]
Rollups = tuple[dict[_RollupKey, list[Any]], dict[_RollupKey, int | None], dict[_RollupKey, int]]
"""Per rollup key: the ``ROLLUP_SUMS``, the maximum queue depth, and the histogram bin counts."""
_POS: Final = {c: i for i, c in enumerate(EVENT_COLUMNS)}


def accumulate(rows: Sequence[Sequence[Any]]) -> Rollups:
    """Per rollup key: the ``ROLLUP_SUMS`` of the rows, their maximum queue depth, and histogram bins.

    Column-wise per minute: each minute's rows are transposed once (``zip``) and every sum and count
    is a C-level pass over one column (``sum``, ``count``, ``filter``), not a branch per field per
    row; then the minutes are added up into their hours. Booleans are the driver's (0/1 or
    False/True): both sum and count alike.
    """
    p = _POS
    i_t, i_app, i_var, i_model = p["t_unix"], p["app"], p["variant"], p["model"]
    by_minute: dict[_RollupKey, list[Sequence[Any]]] = {}
    for row in rows:
        key = (1, int(row[i_t] // 60), row[i_app], row[i_var] or "", row[i_model] or "")
        group = by_minute.get(key)
        if group is None:
            by_minute[key] = [row]
        else:
            group.append(row)
    sums: dict[_RollupKey, list[Any]] = {}
    qmax: dict[_RollupKey, int | None] = {}
    bins: dict[_RollupKey, int] = {}
    i_err, i_lat, i_ttft, i_lb, i_tb = (
        p["is_error"],
        p["latency_s"],
        p["ttft_s"],
        p["latency_bin"],
        p["ttft_bin"],
    )
    i_in, i_out, i_cost = p["input_tokens"], p["output_tokens"], p["cost_usd"]
    i_th, i_ra, i_np, i_res, i_esc = p["thumbs_up"], p["rating"], p["nps"], p["resolved"], p["escalated"]
    i_ht, i_acc, i_q = p["handle_time_s"], p["accepted"], p["queue_depth"]

    def present(col: Sequence[Any]) -> list[Any]:
        return [v for v in col if v is not None] if None in col else list(col)

    for key, rs in by_minute.items():
        cols = list(zip(*rs, strict=True))
        lat, ttft = present(cols[i_lat]), present(cols[i_ttft])
        th, ra, np_ = present(cols[i_th]), present(cols[i_ra]), present(cols[i_np])
        res, esc, ht, acc, q = (present(cols[i]) for i in (i_res, i_esc, i_ht, i_acc, i_q))
        minute_sums = [
            len(rs), sum(map(bool, cols[i_err])), len(lat), sum(lat), len(ttft), sum(ttft),
            sum(filter(None, cols[i_in])), sum(filter(None, cols[i_out])), sum(filter(None, cols[i_cost]), 0.0),
            len(th), sum(map(bool, th)), len(ra), sum(ra),
            len(np_), sum(1 for v in np_ if v >= 9), sum(1 for v in np_ if v <= 6),
            len(res), sum(map(bool, res)), len(esc), sum(map(bool, esc)), len(ht), sum(ht),
            len(acc), sum(map(bool, acc)), len(q), sum(q),
        ]  # fmt: skip
        hour_key = (60, key[1] - key[1] % 60, *key[2:])
        sums[key] = minute_sums
        qmax[key] = max(q) if q else None
        hour = sums.get(hour_key)
        if hour is None:
            sums[hour_key] = list(minute_sums)
            qmax[hour_key] = qmax[key]
        else:
            for j, v in enumerate(minute_sums):
                hour[j] += v
            if q and (qmax[hour_key] is None or qmax[key] > qmax[hour_key]):  # type: ignore[operator]
                qmax[hour_key] = qmax[key]
        for metric, values, i_bin in (("l", lat, i_lb), ("t", ttft, i_tb)):
            if not values:
                continue
            counts: dict[int, int] = {}
            for b in cols[i_bin]:
                if b is not None:
                    counts[b] = counts.get(b, 0) + 1
            for b, n in counts.items():
                mk, hk = (*key, metric, b), (*hour_key, metric, b)
                bins[mk] = n
                bins[hk] = bins.get(hk, 0) + n
    return sums, qmax, bins
