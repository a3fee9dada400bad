"""Window aggregates against values computed by hand (numpy) from the same events."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from assay.monitor.ingest import Ingestor
from assay.monitor.sketch import RELATIVE_ACCURACY, bin_value, quantile_from_bins, value_bin
from assay.monitor.windows import aggregate
from assay.store import Store
from tests.monitor.conftest import KEY, T0, make_event


def test_sketch_relative_accuracy() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(-1, 1, 5000)
    for v in values[:500]:
        assert abs(bin_value(value_bin(float(v))) - v) <= RELATIVE_ACCURACY * v + 1e-12
    counts: dict[int, int] = {}
    for v in values:
        b = value_bin(float(v))
        counts[b] = counts.get(b, 0) + 1
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(values, q, method="lower"))
        assert abs(quantile_from_bins(counts, q) - exact) <= 2 * RELATIVE_ACCURACY * exact  # type: ignore[operator]
    assert quantile_from_bins({}, 0.5) is None
    assert value_bin(0.0) == value_bin(1e-9) and bin_value(value_bin(0.0)) == 0.0


def _events(n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        ev = make_event(
            i * 7,  # one event every 7 s from T0: ~51 per 6 minutes
            variant="A" if i % 3 else "B",
            latency_s=float(rng.lognormal(-1, 0.6)),
            ttft_s=0.05 if i % 2 else None,
            usage={"input_tokens": 10 + i % 5, "output_tokens": 3},
            cost_usd=0.002,
            feedback={"thumbs_up": i % 4 != 0, "rating": 1 + i % 5, "nps": i % 11},
            outcome={
                "resolved": i % 5 != 0,
                "escalated": i % 5 == 0,
                "handle_time_s": float(i % 30),
                "accepted": i % 2 == 0,
            },
            queue_depth=i % 9,
        )
        if i % 10 == 0:
            ev["error"] = {"kind": "timeout", "message": "x"}
        out.append(ev)
    return out


def test_aggregates_match_the_events(store: Store) -> None:
    evs = _events(600)  # 70 minutes of traffic
    assert Ingestor(store, key=KEY).ingest(evs).accepted == 600
    aggs = aggregate(store, start=T0, end=T0 + timedelta(hours=2), step="10m", by=["app", "variant"])
    assert sum(a.volume for a in aggs) == 600
    a = next(x for x in aggs if x.variant == "A" and x.start == T0 + timedelta(minutes=10))
    sel = [e for i, e in enumerate(evs) if 600 <= e["ts"] - T0.timestamp() < 1200 and i % 3]
    assert a.volume == len(sel) and a.end - a.start == timedelta(minutes=10)
    assert a.errors == sum(1 for e in sel if "error" in e)
    lat = np.array([e["latency_s"] for e in sel])
    assert a.latency_s.mean == pytest.approx(lat.mean())
    assert a.latency_s.p95 == pytest.approx(np.quantile(lat, 0.95, method="lower"), rel=0.021)
    assert a.latency_s.p50 == pytest.approx(np.quantile(lat, 0.50, method="lower"), rel=0.021)
    assert a.ttft_s.n == sum(1 for e in sel if e["ttft_s"] is not None)
    assert a.input_tokens == sum(e["usage"]["input_tokens"] for e in sel)
    assert a.cost_usd == pytest.approx(0.002 * len(sel))
    assert a.thumbs_up_rate == pytest.approx(np.mean([e["feedback"]["thumbs_up"] for e in sel]))
    assert a.mean_rating == pytest.approx(np.mean([e["feedback"]["rating"] for e in sel]))
    nps = [e["feedback"]["nps"] for e in sel]
    assert a.nps == pytest.approx(100 * (sum(v >= 9 for v in nps) - sum(v <= 6 for v in nps)) / len(nps))
    assert a.resolution_rate == pytest.approx(np.mean([e["outcome"]["resolved"] for e in sel]))
    assert a.escalation_rate == pytest.approx(np.mean([e["outcome"]["escalated"] for e in sel]))
    assert a.mean_handle_time_s == pytest.approx(np.mean([e["outcome"]["handle_time_s"] for e in sel]))
    assert a.acceptance_rate == pytest.approx(np.mean([e["outcome"]["accepted"] for e in sel]))
    assert a.max_queue_depth == max(e["queue_depth"] for e in sel)
    assert a.metric("error_rate") == pytest.approx(a.errors / a.volume)
    assert a.metric("p95_latency_s") == a.latency_s.p95
    with pytest.raises(KeyError, match="unknown metric"):
        a.metric("p97_latency")
    # one window over an unaligned range: hourly rollups in the middle, minute rollups at the edges
    start, end = T0 + timedelta(minutes=13), T0 + timedelta(minutes=67)
    (whole,) = aggregate(store, start=start, end=end, by=[])
    inside = [e for e in evs if start.timestamp() <= e["ts"] < end.timestamp()]
    assert whole.volume == len(inside) and whole.app is None
    assert whole.latency_s.mean == pytest.approx(np.mean([e["latency_s"] for e in inside]))
    # duplicates never count twice in the rollups
    Ingestor(store, key=KEY).ingest(evs[:100])
    (again,) = aggregate(store, start=start, end=end, by=[])
    assert again.volume == whole.volume


def test_bad_arguments(sqlite_store: Store) -> None:
    with pytest.raises(ValueError, match="unknown group key"):
        aggregate(sqlite_store, start=T0, end=T0 + timedelta(hours=1), by=["user"])
    with pytest.raises(ValueError, match="whole number of minutes"):
        aggregate(sqlite_store, start=T0, end=T0 + timedelta(hours=1), step="90s")
    assert aggregate(sqlite_store, start=T0, end=T0 + timedelta(hours=1)) == []
