"""The dashboard's JSON API: everything a page shows, under ``/api/``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# route signatures are resolved against this module's globals
from assay.server.monitoring_query import MonitoringQuery, query_params

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assay.store.store import Store

__all__ = ["health_info", "register"]


def health_info(store: Store) -> dict[str, Any]:
    """Server and store status (no secrets: the store URL has its password masked)."""
    import assay

    runs = store.list_runs(limit=1)
    return {
        "status": "ok",
        "version": assay.__version__,
        "store": store.safe_url,
        "dialect": store.dialect,
        "latest_run": runs[0].run_id if runs else None,
    }


def register(app: FastAPI) -> None:
    """Attach the ``/api/`` routes to ``app``."""
    from fastapi import Depends, HTTPException, Query

    from assay.report._queries import case_page, get_result
    from assay.report.compare import compare_runs
    from assay.server.data import history_points, run_rows, select_comparison
    from assay.server.monitoring_query import MonitoringQueryError, load_monitoring
    from assay.types import StoreError

    store = app.state.store

    def run_view(run_id: str) -> Any:
        try:
            return app.state.views.get(store, run_id)
        except StoreError as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.get("/api/health")
    def api_health() -> dict[str, Any]:
        return health_info(store)

    @app.get("/api/runs")
    def api_runs(suite: str = "", status: str = "", limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
        return {"runs": run_rows(store, suite=suite, status=status, limit=limit)}

    @app.get("/api/runs/{run_id}")
    def api_run(run_id: str, distributions: bool = False) -> dict[str, Any]:
        return run_view(run_id).to_dict(include_distributions=distributions)

    @app.get("/api/runs/{run_id}/cases")
    def api_cases(
        run_id: str,
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=1000),
        q: str = "",
        failing: str = "",
        sort: str = "",
    ) -> dict[str, Any]:
        view = run_view(run_id)
        page = case_page(
            store,
            view.run.run_id,
            offset=offset,
            limit=limit,
            query=q or None,
            failing=failing or None,
            sort=sort if sort in {m.name for m in view.metrics} else None,
        )
        return {
            "run_id": view.run.run_id,
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "cases": [_result_json(r) for r in page.results],
        }

    @app.get("/api/runs/{run_id}/cases/{case_id}")
    def api_case(run_id: str, case_id: str, repeat: int = 0) -> dict[str, Any]:
        view = run_view(run_id)
        rec = get_result(store, view.run.run_id, case_id, repeat)
        if rec is None:
            raise HTTPException(404, f"run {view.run.run_id} has no case {case_id!r} (repeat {repeat})")
        return _result_json(rec)

    @app.get("/api/compare")
    def api_compare(
        runs: list[str] = Query([]),  # noqa: B008 - FastAPI's idiom
        base: str = "",
    ) -> dict[str, Any]:
        """The compare page's comparison: ``base`` (else the first of ``runs``) against the other runs."""
        try:
            selection = select_comparison(store, runs, base)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        except StoreError as exc:
            raise HTTPException(404, str(exc)) from exc
        if selection is None or not selection.candidates:
            raise HTTPException(
                400, "give at least two runs: /api/compare?base=BASELINE&runs=CANDIDATE[&runs=...]"
            )
        try:
            return compare_runs(store, selection.base, selection.candidates).to_dict()
        except StoreError as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.get("/api/suites/{suite}/history")
    def api_history(suite: str, metric: str) -> dict[str, Any]:
        rows = run_rows(store, suite=suite, status="")
        return {"suite": suite, "metric": metric, "points": history_points(rows, metric)}

    @app.get("/api/monitoring")
    def api_monitoring(query: MonitoringQuery = Depends(query_params)) -> dict[str, Any]:  # noqa: B008
        """What the monitoring page shows, for the same query (see ``assay.server.monitoring_query``)."""
        try:
            return load_monitoring(store, query)
        except MonitoringQueryError as exc:
            raise HTTPException(400, str(exc)) from exc


def _result_json(rec: Any) -> dict[str, Any]:
    return {
        "case_id": rec.case_id,
        "repeat": rec.repeat,
        "case": rec.case,
        "output": rec.output,
        "scores": rec.scores,
        "error": {"kind": rec.error_kind, "message": rec.error_message} if rec.error_kind else None,
        "latency_s": rec.latency_s,
        "cost_usd": rec.cost_usd,
        "input_tokens": rec.input_tokens,
        "output_tokens": rec.output_tokens,
        "attempts": rec.attempts,
        "cached": rec.cached,
        "created_at": rec.created_at.isoformat(),
    }
