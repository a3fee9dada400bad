"""A FastAPI app of our own around the labelling router (the dashboard includes it the same way)."""

from __future__ import annotations

from typing import Any

CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'"


def make_app(store: Any) -> Any:
    from fastapi import FastAPI, Request

    from assay.label.http import router

    app = FastAPI()
    app.state.store = store

    @app.middleware("http")
    async def csp(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP  # no inline script may run
        return response

    app.include_router(router)
    return app
