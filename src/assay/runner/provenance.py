"""What a run records about how its numbers were made: versions, hashes, git commit, platform.

Example:
    >>> "python" in environment_provenance()
    True
"""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import cache
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
    """The git commit (and whether the tree is dirty) of ``cwd``, or None outside a repository.

    The two git commands run at the same time (each is mostly process start-up).
    """
    commands = (["git", "rev-parse", "HEAD"], ["git", "status", "--porcelain", "--untracked-files=no"])
    procs: list[subprocess.Popen[str]] = []
    try:
        for cmd in commands:
            procs.append(
                subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            )
        outputs = []
        for proc in procs:
            out, _ = proc.communicate(timeout=5)
            if proc.returncode != 0:
                return None
            outputs.append(out.strip())
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    commit, dirty = outputs
    return {"commit": commit, "dirty": bool(dirty)} if commit else None


@cache
def _interpreter_provenance() -> dict[str, Any]:
    """Python, platform and package versions: fixed for the life of a process, so looked up once."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: v for p in _PACKAGES if (v := _version(p)) is not None},
    }


def environment_provenance(cwd: Path | None = None) -> dict[str, Any]:
    """Python, platform, package versions and git state, for a run's provenance."""
    static = _interpreter_provenance()
    return {**static, "packages": dict(static["packages"]), "git": git_provenance(cwd)}
