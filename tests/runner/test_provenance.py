"""A run's provenance names the git commit it ran from and whether the tree was dirty."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from assay.runner.provenance import environment_provenance, git_provenance

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def test_git_commit_and_dirty_state(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "suite.yaml").write_text("name: s\n")
    _git(repo, "add", "suite.yaml")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_provenance(repo) == {"commit": head, "dirty": False}
    (repo / "untracked.txt").write_text("not part of the tree's state\n")
    assert git_provenance(repo) == {"commit": head, "dirty": False}
    (repo / "suite.yaml").write_text("name: changed\n")
    assert git_provenance(repo) == {"commit": head, "dirty": True}
    prov = environment_provenance(repo)
    assert prov["git"] == {"commit": head, "dirty": True} and prov["python"] and prov["packages"]


def test_outside_a_repository_there_is_no_git_state(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_provenance(plain) is None
    assert environment_provenance(plain)["git"] is None
