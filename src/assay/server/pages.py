"""The dashboard's HTML pages: runs, run detail, case, compare, monitoring, health, login and logout.

Imported by ``create_app`` only: FastAPI resolves the route signatures against this module's globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import Depends, Query, Request  # this module is imported by create_app only, never by the CLI
from fastapi.responses import RedirectResponse, Response

from assay.server.monitoring_query import MonitoringQuery, query_params

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["register"]

PICKER_RUNS = 100
"""Recent runs the compare page's picker lists (runs already picked are always listed too)."""


def register(app: FastAPI) -> None:
    """Attach the page routes and the static assets to ``app``."""
    from assay.report._queries import case_page, get_result
    from assay.report.html import asset_text, plotly_js
    from assay.report.plots import comparison_forest, histogram, history, metrics_figure
    from assay.server import auth
    from assay.server.app import PAGE_SIZE
    from assay.server.data import (
        MAX_COMPARE_RUNS,
        case_cells,
        comparison_matrix,
        history_points,
        run_row,
        run_rows,
        select_comparison,
        text_of,
        word_diff,
    )
    from assay.server.monitoring import empty_monitoring, monitoring_plots
    from assay.server.monitoring_query import MonitoringQueryError, load_monitoring, monitoring_form
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
    def compare_page(
        runs: list[str] = Query([]),  # noqa: B008 - FastAPI's idiom
        base: str = "",
        suite: str = "",
    ) -> Response:
        """A baseline against any number of candidates, and the picker that chooses them."""
        from assay.report.compare import compare_runs

        cmp, error, status, selection = None, None, 200, None
        try:
            selection = select_comparison(store, runs, base)
            if selection is not None and selection.candidates:
                cmp = compare_runs(store, selection.base, selection.candidates)
            elif selection is not None:
                error = "Pick at least one more run to compare with the baseline."
        except StoreError as exc:
            error, status = str(exc), 404
        except ValueError as exc:
            error, status = str(exc), 400
        if selection is not None:
            chosen, base_id = [selection.base, *selection.candidates], selection.base
        else:
            chosen = [r for r in runs if r]
            base_id = base or (chosen[0] if chosen else "")
        listed = store.list_runs(suite=suite or None, limit=PICKER_RUNS)
        by_id = {r.run_id: r for r in listed}
        first = [by_id.pop(i, None) or store.get_run(i) for i in chosen]
        picker = [run_row(r) for r in [*(r for r in first if r is not None), *by_id.values()]]

        def rebase_url(run_id: str) -> str:
            return "/compare?" + urlencode([("base", run_id), *(("runs", r) for r in chosen if r != run_id)])

        return render(
            "compare.html.j2",
            status_code=status,
            cmp=cmp,
            matrix=comparison_matrix(cmp) if cmp else [],
            rebase={o.run_id: rebase_url(o.run_id) for o in cmp.others} if cmp else {},
            error=error,
            picker=picker,
            checked=set(chosen),
            base_id=base_id,
            suites=sorted({r.suite for r in store.list_runs(limit=1000)}),
            suite=suite,
            max_runs=MAX_COMPARE_RUNS,
            plots={"forest": comparison_forest(cmp.metrics) if cmp else None},
            nav="compare",
            plots_needed=cmp is not None,
        )

    # ------------------------------------------------------------------ monitoring and health
    @app.get("/monitoring", include_in_schema=False)
    def monitoring_page(query: MonitoringQuery = Depends(query_params)) -> Response:  # noqa: B008
        """Series, alerts and variants for the query in the form (the same options as /api/monitoring)."""
        errors: dict[str, str] = {}
        try:
            mon = load_monitoring(store, query)
        except MonitoringQueryError as exc:
            errors, mon = exc.errors, empty_monitoring()
        plots = monitoring_plots(mon)
        return render(
            "monitoring.html.j2",
            status_code=400 if errors else 200,
            mon=mon,
            plots=plots,
            q=query,
            errors=errors,
            form=monitoring_form(store, query, mon),
            api_url="/api/monitoring" + ("?" + urlencode(query.params()) if query.params() else ""),
            nav="monitoring",
            plots_needed=bool(plots),
        )

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
        cookie = request.cookies.get(auth.CSRF_COOKIE) or ""
        csrf_ok = bool(cookie) and auth.token_matches(form.get("csrf"), cookie)
        next_path = auth.safe_next(form.get("next"))
        if not (auth.same_origin(request.headers, request.url.scheme, request.url.netloc) and csrf_ok):
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
            app.state.sessions.issue(),
            max_age=auth.SESSION_MAX_AGE_S,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        resp.delete_cookie(auth.CSRF_COOKIE, path="/login")
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        """End this browser's session (revoked on the server, cookie cleared) and go to the login form.

        CSRF-safe: the form carries a token bound to the session, and the ``Origin`` must be this site.
        A post without a valid session has nothing to end and only clears the cookie.
        """
        sessions = app.state.sessions
        if sessions is None:
            return RedirectResponse("/", status_code=303)
        form = auth.parse_form(await request.body())
        session = request.cookies.get(auth.SESSION_COOKIE)
        expected = sessions.csrf_for(session)
        if expected is not None:
            if not (
                auth.same_origin(request.headers, request.url.scheme, request.url.netloc)
                and auth.token_matches(form.get("csrf"), expected)
            ):
                return render(
                    "error.html.j2",
                    status_code=403,
                    status="Forbidden",
                    message="The sign-out form expired or came from another site; you are still signed in.",
                    nav="",
                    plots_needed=False,
                )
            sessions.revoke(session)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(
            auth.SESSION_COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return resp
