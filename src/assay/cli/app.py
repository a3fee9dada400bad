"""The Typer application and the pieces every command shares: the store option, errors, the console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="assay",
    help="Evaluate LLM systems: curated suites, live telemetry and human labels, with honest statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

STORE_HELP = "Store URL (default: $ASSAY_STORE, else sqlite:///.assay/assay.db)."
F = TypeVar("F", bound=Callable[..., Any])

#: exit codes (ARCHITECTURE.md): 0 ok, 1 threshold failed, 2 bad usage/config/input, 3 run did not complete
EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print an error to stderr and exit with ``code``."""
    from rich.markup import escape

    console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn assay's own errors into a one-line message and exit code 2 (nothing was run)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from assay.types import AssayError

        try:
            return fn(*args, **kwargs)
        except AssayError as exc:
            fail(str(exc), EXIT_USAGE)
        except FileNotFoundError as exc:
            fail(f"file not found: {exc.filename or exc}", EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


def open_store_or_fail(url: str | None) -> Any:
    from assay.store import open_store

    return open_store(url)


def _register() -> None:
    # importing the command modules attaches their commands to ``app``
    from assay.cli import demo, export, label, monitor, redteam, report, run, runs, serve  # noqa: F401


def main() -> None:
    _register()
    try:
        app()
    except KeyboardInterrupt:  # outside a run (a run handles Ctrl-C itself)
        sys.exit(130)
