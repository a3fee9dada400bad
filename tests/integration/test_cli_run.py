"""`assay run` end to end: a real loopback server process, a real SQLite file, the real CLI process.

Covers the kill -9 / resume contract, the response cache, exit codes and bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from assay.testing.fake_openai import read_call_log
from tests.integration._server import server_process, write_suite

ASSAY = [sys.executable, "-m", "assay.cli"]


def assay(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSAY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def prompts(log: Path) -> Counter[str]:
    return (
        Counter(r["prompt"] for r in read_call_log(log) if r.get("status") == 200)
        if log.exists()
        else Counter()
    )


def test_run_writes_the_summary_contract_and_exit_code_0(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with server_process(log) as url:
        suite = write_suite(tmp_path, url, 30, extra="thresholds: {exact_match: {min: 0.9}}\n")
        res = assay(
            "run", str(suite), "--json", "out.json", "--store", f"sqlite:///{tmp_path}/a.db", cwd=tmp_path
        )
    assert res.returncode == 0, res.stderr + res.stdout
    data = json.loads((tmp_path / "out.json").read_text())
    for key in (
        "run_id",
        "suite",
        "status",
        "n_cases",
        "n_errors",
        "metrics",
        "latency_s",
        "tokens",
        "cost_usd",
        "thresholds",
    ):
        assert key in data
    m = data["metrics"]["exact_match"]
    assert {k: m[k] for k in ("mean", "n", "n_errors")} == {"mean": 1.0, "n": 30, "n_errors": 0}
    assert 0.88 < m["ci_low"] < 1.0 and m["ci_high"] == 1.0
    assert set(data["latency_s"]) >= {"p50", "p95", "p99"}
    assert data["tokens"]["input"] > 0 and data["thresholds"]["exact_match"] == {
        "min": 0.9,
        "max": None,
        "value": 1.0,
        "passed": True,
        "reason": None,
    }
    assert len(prompts(log)) == 30


def test_kill_9_then_resume_loses_nothing_and_calls_no_committed_case_again(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    db = tmp_path / "k.db"
    n = 200
    with server_process(log, "--latency-ms", "40") as url:
        suite = write_suite(tmp_path, url, n, concurrency=4)
        proc = subprocess.Popen(
            [*ASSAY, "run", str(suite), "--store", f"sqlite:///{db}", "--run-id", "R1", "-q"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        committed = 0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=5) as conn:
                        committed = conn.execute("select count(*) from results where run_id='R1'").fetchone()[
                            0
                        ]
                except sqlite3.OperationalError:
                    continue
            if committed >= 40:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert 40 <= committed < n, "the run finished or never started before the kill"
        with sqlite3.connect(db) as conn:
            before = {r[0] for r in conn.execute("select case_id from results where run_id='R1'")}
            status = conn.execute("select status from runs where run_id='R1'").fetchone()[0]
        assert status == "running"
        calls_before = prompts(log)
        res = assay("run", str(suite), "--store", f"sqlite:///{db}", "--resume", "R1", "-q", cwd=tmp_path)
        assert res.returncode == 0, res.stderr + res.stdout
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select case_id, count(*) from results where run_id='R1' group by case_id"
        ).fetchall()
        status = conn.execute("select status from runs where run_id='R1'").fetchone()[0]
    assert status == "completed"
    assert len(rows) == n and all(c == 1 for _, c in rows)  # every case stored exactly once
    calls = prompts(log)
    for case_id in before:  # no committed case was called again after the kill
        prompt = f"question {int(case_id[1:])}"
        assert calls[prompt] == calls_before[prompt] == 1
    assert sum(calls.values()) < n + 4 * 2 + 60  # only in-flight / uncommitted ones were called twice


def test_second_run_of_an_unchanged_suite_makes_zero_calls(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with server_process(log) as url:
        suite = write_suite(tmp_path, url, 25)
        store = f"sqlite:///{tmp_path}/c.db"
        assert assay("run", str(suite), "--store", store, "-q", cwd=tmp_path).returncode == 0
        first = sum(prompts(log).values())
        res = assay("run", str(suite), "--store", store, "-q", "--json", "second.json", cwd=tmp_path)
        assert res.returncode == 0
        assert sum(prompts(log).values()) == first == 25
        assert json.loads((tmp_path / "second.json").read_text())["n_cached"] == 25
        assert assay("run", str(suite), "--store", store, "-q", "--no-cache", cwd=tmp_path).returncode == 0
        assert sum(prompts(log).values()) == 50


def test_threshold_failure_exits_1_and_error_flood_exits_3(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with server_process(log, "--fault", "500,rate=0.6") as url:
        suite = write_suite(tmp_path, url, 40, extra="max_error_rate: 0.1\n")
        res = assay(
            "run", str(suite), "--store", f"sqlite:///{tmp_path}/f.db", "-q", "--json", "o.json", cwd=tmp_path
        )
    assert res.returncode == 3, res.stdout + res.stderr
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["status"] == "failed" and data["errors_by_kind"].get("http_error", 0) > 4
    assert "--resume" in res.stdout
    log2 = tmp_path / "calls2.jsonl"
    with server_process(log2) as url:
        suite = write_suite(
            tmp_path,
            url,
            10,
            extra="thresholds: {exact_match: {min: 0.5}, latency: {max: 0.000001}}\n",
            scorers=("exact_match", "latency"),
        )
        res = assay("run", str(suite), "--store", f"sqlite:///{tmp_path}/g.db", "-q", cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL" in res.stdout


def test_bad_input_exits_2_naming_file_and_line_and_runs_nothing(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with server_process(log) as url:
        suite = write_suite(tmp_path, url, 5)
        with (tmp_path / "cases.jsonl").open("a") as f:
            f.write('{"id": "broken", "input": \n')
        store = f"sqlite:///{tmp_path}/b.db"
        res = assay("run", str(suite), "--store", store, cwd=tmp_path)
        assert res.returncode == 2
        assert "cases.jsonl:6" in res.stderr
        write_suite(tmp_path, url, 5, scorers=("exact_match", "exact_mach"))
        res = assay("run", str(suite), "--store", store, cwd=tmp_path)
        assert res.returncode == 2 and "exact_match" in res.stderr and "suite.yaml" in res.stderr
        write_suite(tmp_path, url, 5, extra="")
        text = suite.read_text().replace(
            "  model: fake\n", "  model: fake\n  api_key_env: ASSAY_TEST_MISSING_KEY\n"
        )
        suite.write_text(text)
        env = {k: v for k, v in os.environ.items() if k != "ASSAY_TEST_MISSING_KEY"}
        res = subprocess.run(
            [*ASSAY, "run", str(suite), "--store", store],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert res.returncode == 2 and "ASSAY_TEST_MISSING_KEY" in res.stderr
    assert prompts(log) == Counter()  # nothing was called
    out = assay("runs", "--store", f"sqlite:///{tmp_path}/b.db", "--json", cwd=tmp_path)
    assert json.loads(out.stdout) == []  # and no run was created


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_and_show(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "calls.jsonl"
    store = f"sqlite:///{tmp_path}/e.db"
    with server_process(log) as url:
        suite = write_suite(tmp_path, url, 12, scorers=("exact_match", "latency"))
        assert (
            assay("run", str(suite), "--store", store, "-q", "--run-id", "E1", cwd=tmp_path).returncode == 0
        )
    out = tmp_path / f"out.{fmt}"
    res = assay("export", "E1", "--format", fmt, "-o", str(out), "--store", store, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 12
        assert set(rows[0]) >= {"case_id", "input", "expected", "output", "scores", "error"}
        assert rows[0]["scores"]["exact_match"] is True and rows[0]["error"] is None
    elif fmt == "csv":
        import csv

        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 12 and rows[0]["score.exact_match"] == "1.0"
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.num_rows == 12 and "score.latency" in table.column_names
    show = assay("show", "E1", "--store", store, cwd=tmp_path)
    assert show.returncode == 0 and "exact_match" in show.stdout and "provenance" in show.stdout
    runs = assay("runs", "--store", store, cwd=tmp_path)
    assert "E1" in runs.stdout
    missing = assay("show", "nope", "--store", store, cwd=tmp_path)
    assert missing.returncode == 2


def test_ctrl_c_commits_prints_the_resume_command_and_resume_finishes(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    db = tmp_path / "i.db"
    n = 120
    with server_process(log, "--latency-ms", "50") as url:
        suite = write_suite(tmp_path, url, n, concurrency=4)
        proc = subprocess.Popen(
            [*ASSAY, "run", str(suite), "--store", f"sqlite:///{db}", "--run-id", "INT1", "-q"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(prompts(log).values()) < 20:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, out + err
        assert "--resume INT1" in out
        with sqlite3.connect(db) as conn:
            status = conn.execute("select status from runs where run_id='INT1'").fetchone()[0]
            stored = conn.execute("select count(*) from results where run_id='INT1'").fetchone()[0]
        assert status == "interrupted" and 20 <= stored < n
        # in-flight calls were allowed to finish and were committed: every call made so far is stored
        assert stored == sum(prompts(log).values())
        res = assay("run", str(suite), "--store", f"sqlite:///{db}", "--resume", "INT1", "-q", cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
    assert sum(prompts(log).values()) == n  # nothing was called twice
