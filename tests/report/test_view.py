"""The report data layer: a run's view, its slices and the case table queries, against a seeded store."""

from __future__ import annotations

import pytest

from assay import stats
from assay.report import build_run_view, compute_slices, metric_stat
from assay.report._queries import FAILING_TARGET_ERROR, case_page, get_result, metric_columns
from assay.report.slices import slice_keys
from assay.store import Store
from assay.types import StoreError
from tests.report._seed import CATEGORIES, Seeded


def test_headline_metrics_are_the_stored_summary(store: Store, seeded: Seeded) -> None:
    view = build_run_view(store, seeded.base_id[:8])  # a unique prefix is enough
    stored = store.get_run(seeded.base_id).summary  # type: ignore[union-attr]
    assert view.run.run_id == seeded.base_id and not view.live
    assert [m.name for m in view.metrics] == list(stored["metrics"])
    for m in view.metrics:
        s = stored["metrics"][m.name]
        assert (m.mean, m.ci_low, m.ci_high, m.n, m.n_errors) == (
            s["mean"],
            s["ci_low"],
            s["ci_high"],
            s["n"],
            s["n_errors"],
        )
    em = next(m for m in view.metrics if m.name == "exact_match")
    assert em.threshold_min == 0.9 and em.passed is False and view.passed is False
    assert view.errors_by_kind == {"target_exception": 1}
    assert view.n_results == len(seeded.cases)
    assert len(view.latency_s) == len(seeded.cases) - 1  # the failed call has no latency
    assert view.primary == "exact_match"


def test_slices_are_exact_and_worst_first(store: Store, seeded: Seeded) -> None:
    view = build_run_view(store, seeded.base_id)
    by = {(s.key, s.value): s for s in view.slices}
    assert {k for k, _ in by} == {"category", "language", "tags"}  # 'row' is an identifier, not a slice
    assert ("tags", "refund") in by and by[("tags", "refund")].small
    # billing: c000..c059 with i % 3 == 0 (20 cases) + xss-script; the baseline fails i % 6 == 0 and xss
    billing = by[("category", "billing")]
    assert billing.n == 21
    expected = [0.0 if i % 6 == 0 else 1.0 for i in range(0, 60, 3)] + [0.0]
    st = billing.metrics["exact_match"]
    assert st.mean == pytest.approx(sum(expected) / 21)
    assert (st.ci_low, st.ci_high) == pytest.approx(stats.wilson_interval(int(sum(expected)), 21))
    # the tech slice holds the failed call: it is an error of every metric, not a wrong answer
    tech = by[("category", "tech")]
    assert tech.n == 22 and tech.metrics["exact_match"].n == 21 and tech.metrics["exact_match"].n_errors == 1
    means = [s.metrics["exact_match"].mean for s in view.slices]
    assert means == sorted(means)  # higher is better: the worst slice comes first
    assert view.slices[0].key == "category" and view.slices[0].value == "billing"


def test_slice_order_follows_lower_is_better() -> None:
    from assay.report._queries import MetricColumn

    col = MetricColumn(
        "latency", "continuous", False, {("a", 0): 1.0, ("b", 0): 3.0, ("c", 0): 2.0, ("d", 0): 4.0}
    )
    groups = {"region": {"eu": [("a", 0), ("c", 0)], "us": [("b", 0), ("d", 0)]}}
    rows = compute_slices(groups, {"latency": col}, primary="latency")
    assert [r.value for r in rows] == ["us", "eu"]  # the slower slice is the worse one
    assert rows[0].metrics["latency"].mean == 3.5
    assert (rows[0].metrics["latency"].ci_low, rows[0].metrics["latency"].ci_high) == pytest.approx(
        stats.t_interval([3.0, 4.0])
    )


def test_slice_keys_skip_identifiers_and_unhashable_values() -> None:
    items = [
        ((f"c{i}", 0), {"id": f"x{i}", "lang": "en" if i % 2 else "de", "score": 0.5, "nested": {"a": 1}})
        for i in range(10)
    ]
    groups = slice_keys(items)
    assert set(groups) == {"lang"} and len(groups["lang"]["en"]) == 5


def test_metric_stat_never_returns_nan() -> None:
    empty = metric_stat([], kind="binary", n_errors=3)
    assert (empty.mean, empty.ci_low, empty.n, empty.n_errors) == (None, None, 0, 3)
    same = metric_stat([0.5, 0.5], kind="continuous")
    assert (same.ci_low, same.ci_high, same.method) == (0.5, 0.5, "degenerate")


def test_live_view_of_a_run_without_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from assay.store import open_store
    from assay.store.records import ResultRecord, RunRecord

    with open_store(f"sqlite:///{tmp_path / 'live.db'}") as st:
        now = datetime.now(UTC)
        st.create_run(RunRecord("live", "s", "running", now, None, 4, {}, {}, None))
        recs = [
            ResultRecord(
                "live",
                f"c{i}",
                0,
                {"id": f"c{i}", "input": "q", "metadata": {}},
                {"text": "a"},
                [{"name": "ok", "value": i < 2, "kind": "binary"}],
                None,
                None,
                0.1,
                None,
                None,
                None,
                None,
                1,
                False,
                now,
            )
            for i in range(3)
        ]
        st.add_results(recs)
        view = build_run_view(st, "live")
        assert view.live and view.n_results == 3
        (m,) = view.metrics
        assert (m.name, m.mean, m.n) == ("ok", pytest.approx(2 / 3), 3)
        assert (m.ci_low, m.ci_high) == pytest.approx(stats.wilson_interval(2, 3))


def test_unknown_run_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no run"):
        build_run_view(store, "nope-nope")


def test_metric_columns_mark_errors_as_missing(store: Store, seeded: Seeded) -> None:
    cols = metric_columns(store, seeded.base_id)
    assert set(cols) == {"exact_match", "token_f1"}
    em = cols["exact_match"]
    assert em.kind == "binary" and em.values[("c001", 0)] == 1.0 and em.values[("c000", 0)] == 0.0
    assert ("boom", 0) not in em.values  # the failed call was never scored


def test_case_page_filters_sorts_and_paginates(store: Store, seeded: Seeded) -> None:
    run = seeded.base_id
    page = case_page(store, run, offset=0, limit=10)
    assert page.total == len(seeded.cases) and [r.case_id for r in page.results][:3] == [
        "c000",
        "c001",
        "c002",
    ]
    assert case_page(store, run, offset=60, limit=10).total == 63
    assert len(case_page(store, run, offset=60, limit=10).results) == 3
    failing = case_page(store, run, failing="exact_match", limit=100)
    expected = {f"c{i:03d}" for i in range(0, 60, 6)} | {"xss-script", "xss-img"}
    assert {r.case_id for r in failing.results} == expected and failing.total == len(expected)
    errs = case_page(store, run, failing=FAILING_TARGET_ERROR)
    assert [r.case_id for r in errs.results] == ["boom"] and errs.results[0].error_kind == "target_exception"
    hits = case_page(store, run, query="ONERROR")  # case-insensitive substring of input/output
    assert [r.case_id for r in hits.results] == ["xss-img"]
    assert case_page(store, run, query="100%").total == 0  # LIKE wildcards are taken literally
    worst = case_page(store, run, sort="exact_match", limit=5)
    assert worst.results[0].case_id == "boom"  # no value at all sorts first
    assert all(s["value"] is False for r in worst.results[1:] for s in r.scores if s["name"] == "exact_match")
    with pytest.raises(ValueError):
        case_page(store, run, offset=-1)


def test_get_result_returns_scores(store: Store, seeded: Seeded) -> None:
    r = get_result(store, seeded.base_id, "c001")
    assert r is not None and r.output["text"] == "answer 1"
    assert {s["name"]: s["value"] for s in r.scores} == {"exact_match": True, "token_f1": 1.0}
    assert get_result(store, seeded.base_id, "missing") is None


def test_categories_constant_matches_seed(seeded: Seeded) -> None:
    assert {c.metadata.get("category") for c in seeded.cases} == set(CATEGORIES)
