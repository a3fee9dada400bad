"""HTTP ingest: ``POST /v1/events`` (a batch of events) and ``POST /v1/traces`` (OTLP/HTTP JSON).

``router`` is a FastAPI ``APIRouter``; ``assay serve`` (the dashboard app) includes it. The handlers find
their ``Ingestor`` on the app's state: ``app.state.monitor_ingestor`` if set, else one built (once) on
``app.state.store`` (an open ``Store``), else on ``app.state.store_url`` (or the default store).

``POST /v1/events`` takes ``{"events": [...]}``, a bare JSON array, or JSON Lines
(``Content-Type: application/x-ndjson``) and answers ``{"accepted": n, "duplicates": n, "rejected":
[{"index": i, "error": "..."}]}``: HTTP 200 unless every event was rejected (400); 413 when the body is
larger than ``MAX_BODY_BYTES``; 503 when the store cannot be written (retry). Events are committed
before the answer is sent: an acknowledged event survives ``kill -9`` of the server. Text that is not
valid UTF-8 rejects only the events holding it.

Run a standalone ingest server (tests, benchmarks)::

    python -m assay.monitor.http --store sqlite:///.assay/assay.db --port 8321
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assay.monitor.ingest import Ingestor, IngestResult, Rejection, decode_json
from assay.types import StoreError

if TYPE_CHECKING:
    from assay.store import Store

__all__ = ["MAX_BODY_BYTES", "create_ingest_app", "get_ingestor", "ingestor_for", "parse_batch", "router"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""Larger request bodies get 413 (split the batch)."""

router = APIRouter(tags=["monitoring"])
_INIT_LOCK = threading.Lock()


def get_ingestor(request: Request) -> Ingestor:
    """The app's ``Ingestor`` (created on first use from ``app.state.store`` or ``store_url``)."""
    return ingestor_for(request.app)


def ingestor_for(app: Any) -> Ingestor:
    """The ``Ingestor`` of a FastAPI/Starlette app (see the module docstring for where it comes from)."""
    state = app.state
    ing = getattr(state, "monitor_ingestor", None)
    if ing is not None:
        return ing
    with _INIT_LOCK:
        ing = getattr(state, "monitor_ingestor", None)
        if ing is None:
            store: Store | None = getattr(state, "store", None)
            if store is None:
                from assay.store import open_store

                store = open_store(getattr(state, "store_url", None))
                state.store = store
            ing = Ingestor(store, getattr(state, "monitor_anonymisation", None))
            state.monitor_ingestor = ing
    return ing


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"request body larger than {limit:,} bytes; send smaller batches"}, 413)


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": [], "error": message}, 400)


def parse_batch(body: bytes, content_type: str) -> tuple[list[Any], list[int | None], list[Rejection]]:
    """Decode a request body into raw events, their sizes, and lines that could not be decoded.

    Invalid UTF-8 is decoded with surrogate escapes, so it rejects only the events containing it.
    Raises ``ValueError`` when the body as a whole is not a batch.
    """
    if "ndjson" not in content_type and "jsonlines" not in content_type:
        try:  # the common case, fast (orjson when installed); anything unusual takes the path below
            data = decode_json(body)
        except ValueError:
            pass
        else:
            if isinstance(data, dict) and isinstance(data.get("events"), list):
                data = data["events"]
            if isinstance(data, list):
                return data, [], []
    text = body.decode("utf-8", errors="surrogateescape")
    if "ndjson" in content_type or "jsonlines" in content_type:
        objs: list[Any] = []
        sizes: list[int | None] = []
        bad: list[Rejection] = []
        for i, line in enumerate(x for x in text.split("\n") if x.strip()):
            try:
                objs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                objs.append(None)
                bad.append(Rejection(i, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            sizes.append(len(line))
        return objs, sizes, bad
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        data = data["events"]
    if not isinstance(data, list):
        raise ValueError('the body must be {"events": [...]}, a JSON array of events, or JSON Lines')
    return data, [], []


def _ingest_batch(
    ing: Ingestor, objs: list[Any], sizes: Sequence[int | None], bad: list[Rejection], body_len: int
) -> IngestResult:
    if not sizes and body_len > ing.max_event_bytes:  # only then can one event be over the limit
        sizes = [len(json.dumps(o, ensure_ascii=False)) for o in objs]
    bad_idx = {r.index for r in bad}
    keep = [i for i in range(len(objs)) if i not in bad_idx]
    if bad_idx:
        result = ing.ingest([objs[i] for i in keep], sizes=[sizes[i] for i in keep] if sizes else None)
        result.rejected = sorted(
            [*(Rejection(keep[r.index], r.error) for r in result.rejected), *bad], key=lambda r: r.index
        )
        return result
    return ing.ingest(objs, sizes=list(sizes) if sizes else None)


@router.post("/v1/events")
async def post_events(request: Request) -> JSONResponse:
    """Store a batch of events; per-event errors are returned and the valid events are stored."""
    limit = getattr(request.app.state, "max_body_bytes", MAX_BODY_BYTES)
    try:
        body = await _read_body(request, limit)
    except _BodyTooLarge:
        return _too_large(limit)
    try:
        objs, sizes, bad = parse_batch(body, request.headers.get("content-type", ""))
    except ValueError as exc:
        return _bad_request(str(exc))
    if not objs:
        return _bad_request("the batch holds no events")
    ing = get_ingestor(request)
    try:
        result = await run_in_threadpool(_ingest_batch, ing, objs, sizes, bad, len(body))
    except StoreError as exc:
        logger.error("cannot store events: %s", exc)
        return JSONResponse({"error": f"cannot store events now: {exc}"}, 503, headers={"Retry-After": "1"})
    status = 400 if result.accepted == 0 and result.duplicates == 0 else 200
    return JSONResponse(result.to_dict(), status)


@router.post("/v1/traces")
async def post_traces(request: Request) -> JSONResponse:
    """OTLP/HTTP JSON traces: GenAI spans become events (see ``assay.monitor.otlp``)."""
    from assay.monitor.otlp import spans_to_events

    limit = getattr(request.app.state, "max_body_bytes", MAX_BODY_BYTES)
    ctype = request.headers.get("content-type", "application/json")
    if "protobuf" in ctype:
        return JSONResponse(
            {"error": "only OTLP/HTTP JSON is supported: set the exporter's protocol to http/json"}, 415
        )
    try:
        body = await _read_body(request, limit)
    except _BodyTooLarge:
        return _too_large(limit)
    try:
        payload = json.loads(body.decode("utf-8", errors="surrogateescape"))
        events, rejected_spans, errors = spans_to_events(payload)
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": f"not an OTLP JSON trace export: {exc}"}, 400)
    ing = get_ingestor(request)
    try:
        result = await run_in_threadpool(ing.ingest, events) if events else IngestResult()
    except StoreError as exc:
        return JSONResponse({"error": f"cannot store events now: {exc}"}, 503, headers={"Retry-After": "1"})
    rejected_spans += len(result.rejected)
    errors.extend(r.error for r in result.rejected)
    if rejected_spans:
        return JSONResponse(
            {"partialSuccess": {"rejectedSpans": rejected_spans, "errorMessage": "; ".join(errors[:5])}}
        )
    return JSONResponse({})


def create_ingest_app(store: Store | str | None = None, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """A minimal FastAPI app serving only the ingest routes (the dashboard's ``create_app`` has them too)."""
    app = FastAPI(title="assay ingest", docs_url=None, redoc_url=None, openapi_url=None)
    if isinstance(store, str) or store is None:
        app.state.store_url = store
    else:
        app.state.store = store
    app.state.max_body_bytes = max_body_bytes
    app.include_router(router)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the ingest routes on 127.0.0.1; prints ``listening on http://127.0.0.1:PORT`` first."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m assay.monitor.http")
    parser.add_argument("--store", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8321)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    app = create_ingest_app(args.store)
    ingestor_for(app)  # open the store before accepting traffic
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
