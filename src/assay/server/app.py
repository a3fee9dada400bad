"""The dashboard: a FastAPI app with server-rendered pages (Jinja2) and a JSON API under ``/api/``.

``create_app(store_url, token=None)`` opens the store once and serves: runs (``/``), run detail with a
paginated case table (``/runs/{id}``), one case (``/runs/{id}/cases/{case_id}``), compare (``/compare``,
a baseline against any number of candidates), monitoring (``/monitoring``, with a query form) and health
(``/health``); with a token, ``/login`` and ``/logout``; the JSON behind each page under ``/api/``; and
plotly.js from the installed ``plotly`` package (never a CDN). If ``assay.monitor.http`` provides an
``APIRouter`` named ``router`` (event ingest), it is included.

Pages contain no inline script (data travels in ``application/json`` blocks), and a strict
Content-Security-Policy header forbids any other script, so an output that slips past escaping still
could not run.

Example:
    >>> app = create_app("sqlite:///.assay/assay.db")            # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, port=8321)                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import OrderedDict
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from assay.report.view import RunView
    from assay.store.store import Store

__all__ = ["create_app"]

log = logging.getLogger(__name__)
TEMPLATES: Final = Path(__file__).parent / "templates"
CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
PAGE_SIZE: Final = 50
_SESSION: ContextVar[str | None] = ContextVar("assay_session_cookie", default=None)
"""The current request's session cookie, for the page header's logout form (set by the middleware)."""


class ViewCache:
    """Recently built run views, keyed by run, status, result count and the run's human labels."""

    def __init__(self, size: int = 16) -> None:
        self._items: OrderedDict[tuple[str, str, int, str], RunView] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, store: Store, run_id: str) -> RunView:
        from assay.report.view import build_run_view

        run = store.find_run(run_id)
        from assay.report.judges import labels_hash

        # human labels change without the run changing: they are part of the key
        key = (run.run_id, run.status, store.count_results(run.run_id), labels_hash(store, run.run_id))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        view = build_run_view(store, run.run_id)
        with self._lock:
            self._items[key] = view
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return view


def create_app(store_url: str | None = None, *, token: str | None = None) -> FastAPI:
    """The dashboard app over the store at ``store_url`` (default: ``$ASSAY_STORE`` or the local store).

    With ``token`` every request must carry it (header ``Authorization: Bearer``/``X-Assay-Token``, or
    the session cookie the ``/login`` form sets).
    """
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, RedirectResponse, Response
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the dashboard needs fastapi and uvicorn: pip install fastapi uvicorn jinja2 plotly"
        ) from exc

    from assay.report.html import make_environment
    from assay.server import auth
    from assay.store import open_store
    from assay.types import StoreError

    store = open_store(store_url)
    env = make_environment([TEMPLATES])

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="assay", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.env = env
    app.state.views = ViewCache()
    app.state.token = token or None
    app.state.sessions = auth.Sessions(token) if token else None

    def page_session() -> dict[str, Any]:
        """What the header needs about the viewer's sign-in: a logout form for a session cookie."""
        cookie = _SESSION.get()
        sessions = app.state.sessions
        csrf = sessions.csrf_for(cookie) if sessions is not None else None
        return {"auth_on": sessions is not None, "logout_csrf": csrf}

    env.globals["page_session"] = page_session

    def render(name: str, status_code: int = 200, **ctx: Any) -> Response:
        html = env.get_template(name).render(**ctx)
        return Response(html, status_code=status_code, media_type="text/html; charset=utf-8")

    app.state.render = render

    @app.middleware("http")
    async def security(request: Request, call_next: Any) -> Response:
        tok = app.state.token
        path = request.url.path
        _SESSION.set(request.cookies.get(auth.SESSION_COOKIE))
        if (
            tok
            and path not in auth.PUBLIC_PATHS
            and not auth.is_authorized(request.headers, request.cookies, tok, app.state.sessions)
        ):
            wants_html = "text/html" in request.headers.get("accept", "") and not path.startswith(
                ("/api/", "/v1/")
            )
            if wants_html and request.method == "GET":
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response: Response = RedirectResponse(auth.login_url(target), status_code=303)
            else:
                response = JSONResponse(
                    {"error": "unauthorized: send the token as 'Authorization: Bearer TOKEN'"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="assay"'},
                )
        else:
            try:
                response = await call_next(request)
            except StoreError as exc:
                log.warning("store error on %s: %s", path, exc)
                response = JSONResponse({"error": str(exc)}, status_code=503)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault(
            "Referrer-Policy", "same-origin"
        )  # no-referrer would make form posts Origin: null
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    from assay.server import api, pages

    pages.register(app)
    api.register(app)
    from assay.label.http import router as label_router

    app.include_router(label_router)  # the labelling pages and their JSON endpoints (/label, /api/label)
    _include_monitor_router(app)
    return app


def _include_monitor_router(app: FastAPI) -> None:
    """Monitoring's ingest routes (``POST /v1/events`` ...) join through ``assay.monitor.http.router``."""
    try:
        module = importlib.import_module("assay.monitor.http")
    except ImportError:
        return
    router = getattr(module, "router", None)
    if router is None:
        return
    from fastapi import APIRouter

    if isinstance(router, APIRouter):
        app.include_router(router)
        log.debug("included the monitoring routes of assay.monitor.http")
