"""Loopback servers for the monitoring tests: the ingest router on uvicorn (in a thread or a process)
and a webhook receiver that records what it is sent and can fail on purpose."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class ServerThread:
    """Serve a FastAPI app with uvicorn on 127.0.0.1 (an OS-chosen port) in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@contextmanager
def ingest_process(store_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m assay.monitor.http`` in its own process (so it can be killed with SIGKILL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay.monitor.http", "--store", store_url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(
                f"ingest server did not start: {line} {proc.stderr.read() if proc.stderr else ''}"
            )
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def webhook_app(received: list[dict[str, Any]], failures: list[int]) -> FastAPI:
    """Records each JSON body; answers ``failures.pop(0)`` as the status while that list is not empty."""
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        if failures:
            status = failures.pop(0)
            return JSONResponse({"error": "try later"}, status, headers={"Retry-After": "0"})
        received.append(json.loads(await request.body()))
        return JSONResponse({"ok": True})

    return app
