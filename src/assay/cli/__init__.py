"""The ``assay`` command line. Each command group lives in its own module; heavy imports stay inside
the command functions so ``assay --help`` is fast."""

from __future__ import annotations

from assay.cli.app import app, main

__all__ = ["app", "main"]
