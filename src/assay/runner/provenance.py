"""What a run records about how its numbers were made: versions, hashes, git commit, platform.

Example:
    >>> "python" in environment_provenance()
    True
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["environment_provenance", "git_provenance"]

_PACKAGES = ("assay", "numpy", "scipy", "pydantic", "httpx", "aiohttp", "SQLAlchemy", "jsonschema")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_provenance(cwd: Path | None = None) -> dict[str, Any] | None:
    """The git commit (and whether the tree is dirty) of ``cwd``, or None outside a repository."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)} if commit else None


def environment_provenance(cwd: Path | None = None) -> dict[str, Any]:
    """Python, platform, package versions and git state, for a run's provenance."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: v for p in _PACKAGES if (v := _version(p)) is not None},
        "git": git_provenance(cwd),
    }
