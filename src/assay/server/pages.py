"""The dashboard's HTML pages: runs, run detail, case, compare, monitoring, health, login.

Imported by ``create_app`` only: FastAPI resolves the route signatures against this module's globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import Query, Request  # this module is imported by create_app only, never by the CLI
from fastapi.responses import RedirectResponse, Response

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["register"]


def register(app: FastAPI) -> None:
    """Attach the page routes and the static assets to ``app``."""
    from assay.report._queries import case_page, get_result
    from assay.report.html import asset_text, plotly_js
    from assay.report.plots import comparison_forest, histogram, history, metrics_figure
    from assay.server import auth
    from assay.server.app import PAGE_SIZE
    from assay.server.data import case_cells, history_points, run_rows, text_of, word_diff
    from assay.server.monitoring import monitoring_data, monitoring_plots
    from assay.types import StoreError

    store = app.state.store
    render = app.state.render

    def not_found(message: str) -> Response:
        return render(
            "error.html.j2", status_code=404, status="Not found", message=message, nav="", plots_needed=False
        )

    # ------------------------------------------------------------------ static assets
    @app.get("/static/plotly.min.js", include_in_schema=False)
    def static_plotly() -> Response:
        return Response(
            plotly_js(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/static/assay.js", include_in_schema=False)
    def static_js() -> Response:
        return Response(asset_text("assay.js"), media_type="text/javascript; charset=utf-8")

    @app.get("/static/assay.css", include_in_schema=False)
    def static_css() -> Response:
        return Response(asset_text("assay.css"), media_type="text/css; charset=utf-8")

    # ------------------------------------------------------------------ runs
    @app.get("/", include_in_schema=False)
    def runs_page(suite: str = "", status: str = "") -> Response:
        rows = run_rows(store, suite=suite, status=status)
        suites = sorted({r.suite for r in store.list_runs(limit=1000)})
        chart = None
        shown_suite = suite or (suites[0] if len(suites) == 1 else "")
        if shown_suite:
            suite_rows = [r for r in rows if r["suite"] == shown_suite]
            if suite_rows:
                latest = suite_rows[0]
                names = [m["name"] for m in latest["metrics"]]
                metric = next((n for n in latest["thresholds"] if n in names), names[0] if names else None)
                if metric:
                    th = (latest["thresholds"].get(metric) or {}).get("min")
                    chart = history(history_points(suite_rows, metric), metric=metric, threshold=th)
        return render(
            "runs.html.j2",
            runs=rows,
            suites=suites,
            suite=suite,
            status=status,
            history=chart,
            store_url=store.safe_url,
            nav="runs",
            plots_needed=chart is not None,
        )

    @app.get("/runs/{run_id}", include_in_schema=False)
    def run_page(
        run_id: str, q: str = "", failing: str = "", sort: str = "", page: int = Query(1, ge=1)
    ) -> Response:
        try:
            view = app.state.views.get(store, run_id)
        except StoreError as exc:
            return not_found(str(exc))
        sort_metric = sort if sort in {m.name for m in view.metrics} else None
        result = case_page(
            store,
            view.run.run_id,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            query=q or None,
            failing=failing or None,
            sort=sort_metric,
        )
        rows = [case_cells(r, view.metrics) for r in result.results]

        def page_url(n: int) -> str:
            params = {k: v for k, v in (("q", q), ("failing", failing), ("sort", sort)) if v}
            return f"/runs/{view.run.run_id}?" + urlencode({**params, "page": n}) + "#cases"

        plots = {
            "metrics": metrics_figure(view.metrics),
            "latency": histogram(view.latency_s, title="Latency", x_title="seconds"),
            "cost": histogram(view.cost_usd, title="Cost per result", x_title="USD"),
        }
        return render(
            "run.html.j2",
            view=view,
            page=result,
            rows=rows,
            q=q,
            failing=failing,
            sort=sort,
            plots=plots,
            prev_url=page_url(page - 1) if page > 1 else None,
            next_url=page_url(page + 1) if result.offset + len(result.results) < result.total else None,
            nav="runs",
            plots_needed=True,
        )

    @app.get("/runs/{run_id}/cases/{case_id}", include_in_schema=False)
    def case_detail(run_id: str, case_id: str, repeat: int = 0) -> Response:
        try:
            run = store.find_run(run_id)
        except StoreError as exc:
            return not_found(str(exc))
        rec = get_result(store, run.run_id, case_id, repeat)
        if rec is None:
            return not_found(f"run {run.run_id} has no case {case_id!r} (repeat {repeat})")
        expected = text_of(rec.case.get("expected"))
        others = [r for r in store.list_runs(suite=run.suite, limit=20) if r.run_id != run.run_id]
        return render(
            "case.html.j2",
            r=rec,
            input_text=text_of(rec.case.get("input")),
            expected_text=expected,
            diff=word_diff(expected, rec.output.get("text") or ""),
            contexts=rec.output.get("contexts") or [],
            other_runs=others[:10],
            suite=run.suite,
            nav="runs",
            plots_needed=False,
        )

    # ------------------------------------------------------------------ compare
    @app.get("/compare", include_in_schema=False)
    def compare_page(runs: list[str] = Query([])) -> Response:  # noqa: B008 - FastAPI's idiom
        from assay.report.compare import compare_runs

        all_runs = store.list_runs(limit=200)
        cmp, error = None, None
        if len(runs) >= 2:
            try:
                cmp = compare_runs(store, runs[0], runs[1:])
            except (StoreError, ValueError) as exc:
                error = str(exc)
        elif runs:
            error = "Pick at least two runs: a baseline and a candidate."
        plots = {"forest": comparison_forest(cmp.metrics) if cmp else None}
        return render(
            "compare.html.j2",
            cmp=cmp,
            error=error,
            all_runs=all_runs,
            selected=runs,
            plots=plots,
            nav="compare",
            plots_needed=cmp is not None,
        )

    # ------------------------------------------------------------------ monitoring and health
    @app.get("/monitoring", include_in_schema=False)
    def monitoring_page() -> Response:
        mon = monitoring_data(store)
        plots = monitoring_plots(mon)
        return render("monitoring.html.j2", mon=mon, plots=plots, nav="monitoring", plots_needed=bool(plots))

    @app.get("/health", include_in_schema=False)
    def health_page() -> Response:
        from assay.server.api import health_info

        return render("health.html.j2", health=health_info(store), nav="health", plots_needed=False)

    # ------------------------------------------------------------------ login (only useful with a token)
    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        if not app.state.token:
            return RedirectResponse("/", status_code=303)
        csrf = request.cookies.get(auth.CSRF_COOKIE) or auth.new_csrf()
        resp = render(
            "login.html.j2", csrf=csrf, next=auth.safe_next(next), error=None, nav="", plots_needed=False
        )
        resp.set_cookie(
            auth.CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/login",
        )
        return resp

    @app.post("/login", include_in_schema=False)
    async def login_submit(request: Request) -> Response:
        tok = app.state.token
        if not tok:
            return RedirectResponse("/", status_code=303)
        form = auth.parse_form(await request.body())
        origin = request.headers.get("origin")
        same_origin = origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"
        cookie = request.cookies.get(auth.CSRF_COOKIE) or ""
        csrf_ok = bool(cookie) and auth.token_matches(form.get("csrf"), cookie)
        next_path = auth.safe_next(form.get("next"))
        if not (same_origin and csrf_ok):
            return render(
                "login.html.j2",
                status_code=403,
                csrf=cookie or auth.new_csrf(),
                next=next_path,
                error="the form expired or came from another site; try again",
                nav="",
                plots_needed=False,
            )
        if not auth.token_matches(form.get("token"), tok):
            return render(
                "login.html.j2",
                status_code=401,
                csrf=cookie,
                next=next_path,
                error="wrong token",
                nav="",
                plots_needed=False,
            )
        resp = RedirectResponse(next_path, status_code=303)
        resp.set_cookie(
            auth.SESSION_COOKIE,
            auth.session_value(tok),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        resp.delete_cookie(auth.CSRF_COOKIE, path="/login")
        return resp
