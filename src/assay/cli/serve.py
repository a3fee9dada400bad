"""``assay serve``: the dashboard (runs, compare, monitoring, health) and its JSON API on uvicorn."""

from __future__ import annotations

import ipaddress
import os

import typer

from assay.cli.app import STORE_HELP, app, console, fail, handle_errors


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve")
@handle_errors
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (non-loopback needs a token)."),
    port: int = typer.Option(8321, "--port", min=1, max=65535, help="Port to listen on."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    token: str | None = typer.Option(
        None,
        "--token",
        help="Require this token on every request (default: $ASSAY_TOKEN).",
        show_default=False,
    ),
) -> None:
    """Serve the dashboard. Binding to anything but loopback requires --token or ASSAY_TOKEN."""
    token = token or os.environ.get("ASSAY_TOKEN") or None
    if not is_loopback(host) and not token:
        fail(
            f"refusing to serve on {host} without a token: anyone on the network could read every run. "
            "Give --token T (or set ASSAY_TOKEN), or bind to 127.0.0.1."
        )
    try:
        import uvicorn
    except ImportError:
        fail("assay serve needs uvicorn and fastapi: pip install fastapi uvicorn jinja2 plotly")
    from assay.server import create_app

    application = create_app(store, token=token)
    console(stderr=True).print(
        f"assay dashboard on http://{host}:{port}/ (store {application.state.store.safe_url})"
        + (" · token required" if token else "")
    )
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)
