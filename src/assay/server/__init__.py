"""The dashboard server (FastAPI): pages, JSON API, token auth. FastAPI is imported by ``create_app``.

Example:
    >>> from assay.server import create_app        # doctest: +SKIP
    >>> app = create_app("sqlite:///.assay/assay.db", token="s3cret")   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from assay.server.app import create_app

        return create_app
    raise AttributeError(f"module 'assay.server' has no attribute {name!r}")
