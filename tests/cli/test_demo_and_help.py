"""The first commands a newcomer types: `assay --help` and `assay demo`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ASSAY = [sys.executable, "-m", "assay.cli"]


def test_help_lists_every_command_group() -> None:
    out = subprocess.run([*ASSAY, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    for command in (
        "run",
        "runs",
        "show",
        "export",
        "demo",
        "report",
        "card",
        "serve",
        "redteam",
        "monitor",
        "agreement",
        "estimate",
        "label",
    ):
        assert command in out, command


def test_demo_runs_offline_and_says_where_the_results_are(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [*ASSAY, "demo", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "contains" in res.stdout and "assay show" in res.stdout
    runs = subprocess.run(
        [*ASSAY, "runs", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    rows = json.loads(runs.stdout)
    assert len(rows) == 1 and rows[0]["suite"] == "support-bot" and rows[0]["status"] == "completed"
    assert (tmp_path / ".assay" / "assay.db").exists()
