"""The labelling page and its JSON API: a FastAPI ``APIRouter`` named ``router``.

Include it in an app whose ``app.state.store`` is an open ``Store`` (the dashboard does)::

    app.include_router(assay.label.http.router)

Routes:
    GET  /label                                   the queues with their progress (HTML)
    GET  /label/{queue_id}?annotator=ID           the labelling page (asks for an annotator id first)
    GET  /label/static/label.js                   the page's script (no inline script: CSP-friendly)
    GET  /api/label/queues                        queues and progress (JSON)
    GET  /api/label/queues/{queue_id}/next        the annotator's next item (JSON)
    POST /api/label/queues/{queue_id}/items/{id}  store a label or a skip, return the next item (JSON)

Annotators name themselves with a login-free id (kept in a cookie). Every model output, input and
context is rendered as text: Jinja2 autoescaping on the server, ``textContent`` in the browser. POSTs are
CSRF-safe: they must be ``application/json`` (a cross-site form cannot send that without a CORS
preflight), carry the ``X-CSRF-Token`` header equal to the page's ``SameSite=Strict`` cookie, and come
from the same origin when the browser says where they come from.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from assay.store.labels import LabelRecord, LabelStore, QueueItem, QueueRecord

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "router"]

TEMPLATES: Final = Path(__file__).parent / "templates"
CSRF_COOKIE: Final = "assay_label_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
ANNOTATOR_COOKIE: Final = "assay_annotator"
_ANNOTATOR: Final = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
MAX_NOTE_CHARS: Final = 4000

router = APIRouter()
_env: Environment | None = None


def _environment() -> Environment:
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        _env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def _labels(request: Request) -> LabelStore:
    return LabelStore(request.app.state.store)


def _html(name: str, status_code: int = 200, **ctx: Any) -> Response:
    body = _environment().get_template(name).render(**ctx)
    return Response(body, status_code=status_code, media_type="text/html; charset=utf-8")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _choices(queue: QueueRecord) -> list[dict[str, Any]]:
    choices = queue.rubric.get("choices") or {"yes": 1, "no": 0}
    return [
        {"label": k, "value": float(v), "key": str(i + 1)}
        for i, (k, v) in enumerate(choices.items())
        if i < 9
    ]


def _item_json(item: QueueItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    p = item.payload
    return {
        "item_id": item.item_id,
        "position": item.position,
        "overlap": item.overlap,
        "input": str(p.get("input") or ""),
        "context": [str(c) for c in p.get("context") or ()],
        "output": str(p.get("output") or ""),
    }


def _valid_annotator(value: str | None) -> str | None:
    return value if value and _ANNOTATOR.match(value) else None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


# ------------------------------------------------------------------------------------------ pages
@router.get("/label", include_in_schema=False)
def queues_page(request: Request) -> Response:
    ls = _labels(request)
    rows = [ls.progress(q.queue_id) for q in ls.list_queues()]
    annotator = _valid_annotator(request.cookies.get(ANNOTATOR_COOKIE)) or ""
    return _html("queues.html.j2", queues=rows, annotator=annotator)


@router.get("/label/static/label.js", include_in_schema=False)
def label_js() -> Response:
    return Response((TEMPLATES / "label.js").read_text(encoding="utf-8"), media_type="text/javascript")


@router.get("/label/{queue_id}", include_in_schema=False)
def label_page(request: Request, queue_id: str, annotator: str | None = None) -> Response:
    ls = _labels(request)
    queue = ls.get_queue(queue_id)
    if queue is None:
        return _html("label_missing.html.j2", status_code=404, queue_id=queue_id)
    given = annotator if annotator is not None else request.cookies.get(ANNOTATOR_COOKIE)
    who = _valid_annotator(given)
    bad = annotator is not None and who is None
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    item = ls.next_item(queue_id, who) if who else None
    state = {
        "queue_id": queue_id,
        "annotator": who,
        "choices": _choices(queue),
        "item": _item_json(item),
        "progress": ls.progress(queue_id),
    }
    resp = _html(
        "label.html.j2",
        queue=queue,
        annotator=who,
        bad_annotator=bad,
        given=given or "",
        item=_item_json(item),
        choices=state["choices"],
        progress=state["progress"],
        instructions=str(queue.rubric.get("instructions") or ""),
        label_name=queue.label_name,
        csrf=csrf,
        state=state,
    )
    secure = request.url.scheme == "https"
    resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure, path="/")
    if who:
        resp.set_cookie(
            ANNOTATOR_COOKIE, who, samesite="strict", secure=secure, path="/", max_age=365 * 86400
        )
    return resp


# ------------------------------------------------------------------------------------------ JSON API
@router.get("/api/label/queues")
def api_queues(request: Request) -> JSONResponse:
    ls = _labels(request)
    return JSONResponse([ls.progress(q.queue_id) for q in ls.list_queues()])


@router.get("/api/label/queues/{queue_id}/next")
def api_next(request: Request, queue_id: str, annotator: str = "") -> JSONResponse:
    ls = _labels(request)
    if ls.get_queue(queue_id) is None:
        return _error(404, f"no label queue {queue_id!r}")
    who = _valid_annotator(annotator)
    if who is None:
        return _error(400, "annotator must be 1-64 letters, digits or _ . @ + -")
    return JSONResponse({"item": _item_json(ls.next_item(queue_id, who)), "progress": ls.progress(queue_id)})


@router.post("/api/label/queues/{queue_id}/items/{item_id:path}")
async def api_label(request: Request, queue_id: str, item_id: str) -> JSONResponse:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return _error(415, "send the label as application/json")
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    if (
        not cookie
        or not secrets.compare_digest(cookie, request.headers.get(CSRF_HEADER, ""))
        or not _same_origin(request)
    ):
        return _error(403, "CSRF check failed: reload the labelling page")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    ls = _labels(request)
    queue = ls.get_queue(queue_id)
    if queue is None:
        return _error(404, f"no label queue {queue_id!r}")
    item = ls.get_item(queue_id, item_id)
    if item is None:
        return _error(404, f"item {item_id!r} is not in queue {queue_id!r}")
    who = _valid_annotator(body.get("annotator"))
    if who is None:
        return _error(400, "annotator must be 1-64 letters, digits or _ . @ + -")
    note = body.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        return _error(400, f"note must be text of at most {MAX_NOTE_CHARS} characters")
    skipped = body.get("skipped") is True
    value: float | None = None
    label: str | None = None
    if not skipped:
        choices = {c["label"]: c["value"] for c in _choices(queue)}
        label = body.get("label")
        if not isinstance(label, str) or label not in choices:
            return _error(400, f"label must be one of {', '.join(choices)}")
        value = choices[label]
    ls.add_labels(
        [
            LabelRecord(
                queue_id=queue_id,
                item_id=item_id,
                annotator=who,
                name=queue.label_name,
                value=value,
                label=label,
                note=note,
                skipped=skipped,
            )
        ]
    )
    nxt = ls.next_item(queue_id, who, after=item.position)
    if nxt is None:
        nxt = ls.next_item(queue_id, who)
    return JSONResponse({"ok": True, "item": _item_json(nxt), "progress": ls.progress(queue_id)})
