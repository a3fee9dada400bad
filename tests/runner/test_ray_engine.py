"""The Ray engine against a real local Ray cluster (one per module) and the loopback OpenAI server.

What a user relies on: ``--engine ray`` stores the same results as the local engine, retries happen in
the actors, a python target and a failing scorer behave as they do locally, a dying actor is a typed
per-case error, a hard stop cancels the remote calls, and an interrupted run resumes with every case
stored exactly once (also through the CLI after kill -9).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration._server import server_process, write_suite

from assay.runner.api import aevaluate, plan_from_suite, run_plan
from assay.runner.engine import RunOptions
from assay.scorer.base import BaseScorer
from assay.store import Store, open_store
from assay.suite import load_suite
from assay.testing.fake_openai import FakeOpenAIServer, Fault, read_call_log
from assay.types import Case, ConfigError, Output, Score

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Ray engine tests: ray is not installed (pip install 'assay[ray]')")
        pytest.skip("ray is not installed (pip install 'assay[ray]')")
    return ray


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One local Ray cluster for the module; yields its address for other processes to connect to."""
    import logging

    ray = _import_ray()
    import cloudpickle

    # the functions and scorer classes defined here travel by value (workers cannot import this module)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield str(ray.get_runtime_context().gcs_address)
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    if started:
        ray.shutdown()


def stored(store: Store, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """What a user reads back: per (case, repeat) the output text, error kind, attempts and scores."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in store.iter_results(run_id):
        assert (r.case_id, r.repeat) not in out, f"{r.case_id} stored twice"
        out[(r.case_id, r.repeat)] = {
            "text": r.output.get("text"),
            "error_kind": r.error_kind,
            "attempts": r.attempts,
            "scores": {s["name"]: (s["value"], s["error"]) for s in r.scores},
        }
    return out


def run_suite(suite_path: Path, store: Store, **kwargs: Any) -> Any:
    from assay.runner.ray_engine import SuiteComponents

    suite = load_suite(suite_path)
    options = RunOptions(
        concurrency=suite.config.concurrency,
        use_cache=kwargs.pop("use_cache", False),
        max_error_rate=kwargs.pop("max_error_rate", 0.1),
    )
    components = SuiteComponents.from_suite(suite) if kwargs.get("engine") == "ray" else None
    return asyncio.run(run_plan(plan_from_suite(suite), store, options, components=components, **kwargs))


# ----------------------------------------------------------------------------------------------- parity
def _faults() -> list[Fault]:
    return [
        Fault("429", prompt="question 1", times=2, retry_after="0.2"),
        Fault("500", prompt="question 2", times=1),
        Fault("500", prompt="question 3"),  # never recovers: max_attempts (3), then a typed error
    ]


def test_local_and_ray_engines_store_identical_results_retrying_alike(
    ray_address: str, tmp_path: Path
) -> None:
    answers = {f"question {i}": f"wrong {i}" for i in range(4, 30, 7)}  # some wrong answers too
    with FakeOpenAIServer(latency_ms=5, answers=answers, faults=_faults()) as server:
        suite = write_suite(tmp_path, server.base_url, 30, scorers=("exact_match", "token_f1"), concurrency=8)
        with open_store(f"sqlite:///{tmp_path}/s.db") as store:
            local = run_suite(suite, store, engine="local", max_error_rate=0.5)
            calls_local = Counter(server.prompt_counts)
            server.faults = _faults()  # the same faults again, for the ray run
            remote = run_suite(suite, store, engine="ray", ray_actors=2, max_error_rate=0.5)
            calls_remote = Counter(server.prompt_counts) - calls_local
            a, b = stored(store, local.run_id), stored(store, remote.run_id)
            configs = {r.run_id: r.config for r in store.list_runs()}
    # the ray run made its own calls, retried inside the actors exactly as the local engine did
    assert calls_remote == calls_local and sum(calls_remote.values()) == 30 + 2 + 1 + 2
    assert len(a) == 30 and a == b
    assert b[("c0001", 0)]["attempts"] == 3 and b[("c0001", 0)]["error_kind"] is None
    assert b[("c0002", 0)]["attempts"] == 2 and b[("c0002", 0)]["scores"]["exact_match"] == (True, None)
    assert b[("c0003", 0)] == {"text": "", "error_kind": "http_error", "attempts": 3, "scores": {}}
    assert b[("c0004", 0)]["scores"]["exact_match"] == (False, None)
    for summary in (local, remote):
        assert summary.n_errors == 1 and summary.errors_by_kind == {"http_error": 1}
        assert summary.metrics["exact_match"].n == 29 and summary.metrics["exact_match"].mean == 25 / 29
    # (the summary sums in completion order, which differs between runs: equal up to rounding)
    assert local.metrics["token_f1"].mean == pytest.approx(remote.metrics["token_f1"].mean, rel=1e-12)
    assert configs[local.run_id]["engine"] == "local"
    assert configs[remote.run_id]["engine"] == "ray" and configs[remote.run_id]["ray_actors"] == 2


# ----------------------------------------------------------------------------------------------- python
def shout(text: str) -> str:
    return text.upper()


class Picky(BaseScorer):
    """A scorer with a bug: it raises on one output."""

    kind = "binary"
    registered_name = "picky"

    async def score(self, case: Case, output: Output) -> Score:
        if output.text == "BOOM":
            raise RuntimeError("picky cannot score this")
        return self.make(output.text.isupper())


def test_python_function_target_and_a_raising_scorer(ray_address: str, tmp_path: Path) -> None:
    cases = [{"id": f"p{i}", "input": f"hello {i}", "expected": f"HELLO {i}"} for i in range(8)]
    cases.append({"id": "boom", "input": "boom", "expected": "BOOM"})
    summary = asyncio.run(
        aevaluate(
            cases,
            shout,
            ["exact_match", Picky()],
            store=f"sqlite:///{tmp_path}/p.db",
            engine="ray",
            ray_actors=1,
            concurrency=4,
        )
    )
    with open_store(f"sqlite:///{tmp_path}/p.db") as store:
        rows = stored(store, summary.run_id)
    assert summary.status == "completed" and summary.n_errors == 0
    assert summary.metrics["exact_match"].mean == 1.0 and summary.metrics["exact_match"].n == 9
    assert summary.metrics["picky"].n == 8 and summary.metrics["picky"].n_errors == 1
    assert rows[("boom", 0)]["scores"]["picky"] == (None, "RuntimeError: picky cannot score this")
    assert rows[("boom", 0)]["scores"]["exact_match"] == (True, None)


APP = """
import os


def answer(text):
    if text == "die":
        os._exit(1)  # the actor's process dies mid-case
    return text[::-1]
"""


def test_module_target_from_the_suite_folder_and_a_dying_actor(ray_address: str, tmp_path: Path) -> None:
    from assay.runner.ray_engine import ENGINE_ERROR_KIND

    (tmp_path / "ray_app_mod.py").write_text(APP)
    cases = [
        {"id": f"m{i}", "input": "die" if i == 2 else f"abc{i}", "expected": f"{i}cba"} for i in range(5)
    ]
    (tmp_path / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: mod\ndataset: cases.jsonl\ntarget: {type: python, ref: 'ray_app_mod:answer'}\n"
        "scorers: [exact_match]\nconcurrency: 1\n"
    )
    with open_store(f"sqlite:///{tmp_path}/m.db") as store:
        summary = run_suite(suite, store, engine="ray", ray_actors=1, max_error_rate=0.5)
        rows = {r.case_id: r for r in store.iter_results(summary.run_id)}
    assert set(rows) == {f"m{i}" for i in range(5)}
    dead = rows["m2"]  # a typed, retryable-kind error on the case whose actor died, not a crash
    assert dead.error_kind == ENGINE_ERROR_KIND == "engine_error"
    assert "Ray actor running this case" in (dead.error_message or "")
    # Ray restarted the actor, which rebuilt the target from the suite folder and answered the rest
    assert all(rows[f"m{i}"].error_kind is None for i in (0, 1, 3, 4))
    assert rows["m3"].output["text"] == "3cba"
    assert summary.status == "completed" and summary.n_errors == 1
    assert summary.metrics["exact_match"].n == 4 and summary.metrics["exact_match"].mean == 1.0


def test_judge_verdicts_made_in_the_actors_are_cached_in_the_runs_store(
    ray_address: str, tmp_path: Path
) -> None:
    from assay.scorer.judge import RubricJudge

    cases = [{"id": f"q{i}", "input": f"question {i}"} for i in range(4)]
    url = f"sqlite:///{tmp_path / 'judge.db'}"
    with FakeOpenAIServer() as server:
        judge = {"type": "openai", "base_url": server.base_url, "model": "judge", "timeout_s": 5}
        rubric = {"rubric": {"judge": judge, "criterion": "Does the answer repeat the question?"}}
        probe = RubricJudge(judge=judge, criterion="Does the answer repeat the question?")
        for i, c in enumerate(cases):
            prompt = probe.prompt_for(Case.from_dict(c), Output(text=f"answer: {c['input']}"))
            server.answers[prompt] = '{"reasoning": "r", "score": %s}' % ("true" if i % 2 else "false")
        target = {"type": "openai", "base_url": server.base_url, "model": "m"}
        runs = [
            asyncio.run(
                aevaluate(cases, target, [rubric], store=url, cache=False, engine="ray", ray_actors=2)
            )
            for _ in range(2)
        ]
        calls = Counter(server.prompt_counts)
    first, second = (r.model_dump() for r in runs)
    # the first run's actors asked the judge and wrote the verdicts to the run's store ...
    assert first["judges"]["rubric"]["calls"] == 4 and first["judges"]["rubric"]["cached"] == 0
    # ... where the second run's (new) actors found every one: the judge was asked only once per case
    assert second["judges"]["rubric"]["calls"] == 0 and second["judges"]["rubric"]["cached"] == 4
    assert sum(n for p, n in calls.items() if p.startswith("question")) == 8  # the target: both runs
    assert sum(n for p, n in calls.items() if not p.startswith("question")) == 4  # the judge: once
    assert first["metrics"]["rubric"]["mean"] == second["metrics"]["rubric"]["mean"] == 0.5


def test_hard_stop_cancels_the_remote_call_and_a_stopping_run_retries_nothing(
    ray_address: str, tmp_path: Path
) -> None:
    from assay.runner.ray_engine import ObjectComponents, RayExecutor
    from assay.target.base import create_target

    faults = [Fault("hang", prompt="hang"), Fault("500", prompt="fail")]
    with FakeOpenAIServer(faults=faults, hang_max_s=60) as server:
        target = create_target("openai", base_url=server.base_url, model="m", timeout_s=45, max_attempts=3)
        stop = {"now": False}

        async def go() -> tuple[int, int, Output, int]:
            ex = RayExecutor(
                ObjectComponents(target, ()), n_actors=1, concurrency=2, stopping=lambda: stop["now"]
            )
            await ex.start()
            try:
                output, _, attempts = await ex.process(Case(id="f1", input="fail"))
                assert output.error is not None and output.error.kind == "http_error" and attempts == 3
                task = asyncio.create_task(ex.process(Case(id="h", input="hang")))
                for _ in range(400):  # wait until the server holds the request
                    await asyncio.sleep(0.05)
                    if _open_connections(server):
                        break
                task.cancel()  # what the runner does to its workers on a hard stop
                with pytest.raises(asyncio.CancelledError):
                    await task
                # the remote call was cancelled: the actor closed the connection (long before its
                # 45 s timeout); the server records a hang request once its client has gone
                for _ in range(400):
                    if server.prompt_counts["hang"]:
                        break
                    await asyncio.sleep(0.05)
                hung = server.prompt_counts["hang"]
                stop["now"] = True  # the run is stopping: the actors hear of it and retry nothing
                assert ex._watcher is not None
                await asyncio.wait_for(ex._watcher, timeout=30)
                output, _, attempts = await ex.process(Case(id="f2", input="fail"))
                return hung, attempts, output, server.prompt_counts["fail"]
            finally:
                await ex.aclose()

        hung, attempts, output, fail_calls = asyncio.run(go())
    assert hung == 1
    assert attempts == 1 and output.error is not None and output.error.kind == "http_error"
    assert fail_calls == 3 + 1


def _open_connections(server: FakeOpenAIServer) -> int:
    """How many client connections the server holds open (the hanging request's, here)."""
    runner = server._runner
    return len(runner.server.connections) if runner is not None and runner.server is not None else 0


def test_unknown_engine_and_missing_ray_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.runner.ray_engine import import_ray

    with pytest.raises(ConfigError, match=r"unknown engine 'rya'\. Known: local, ray\. Did you mean 'ray'"):
        asyncio.run(aevaluate([{"input": "x"}], shout, ["latency"], store="sqlite:///:memory:", engine="rya"))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'assay\[ray\]'"):
        import_ray()


def test_outputs_cross_the_process_boundary_with_their_error_intact() -> None:
    import pickle

    from assay.runner.ray_engine import _pack, _unpack
    from assay.types import TargetError, Usage

    err = TargetError("rate_limited", "slow down", retryable=True, retry_after=2.5, status=429)
    out = Output(text="t", usage=Usage(3, 4), latency_s=0.5, raw={"big": "response"}, error=err)
    score = Score(name="m", value=True, kind="binary")
    back, scores, attempts = _unpack(pickle.loads(pickle.dumps(_pack(out, [score], 3))))
    assert back.error is not None
    assert (back.error.kind, back.error.message, back.error.status) == ("rate_limited", "slow down", 429)
    assert back.error.retryable is True and back.error.retry_after == 2.5
    assert (back.text, back.usage, back.latency_s, back.raw) == ("t", Usage(3, 4), 0.5, None)
    assert scores == [score] and attempts == 3


def test_assay_help_does_not_import_ray() -> None:
    code = (
        "import sys\nfrom assay.cli.app import app, _register\n_register()\n"
        "from typer.testing import CliRunner\n"
        "res = CliRunner().invoke(app, ['run', '--help'])\n"
        "assert res.exit_code == 0 and '--engine' in res.output and '--ray-address' in res.output, res.output\n"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------------------------- CLI
ASSAY = [sys.executable, "-m", "assay.cli"]


def test_cli_engine_ray_kill_9_then_resume_stores_every_case_once(ray_address: str, tmp_path: Path) -> None:
    log, db, n = tmp_path / "calls.jsonl", tmp_path / "k.db", 80
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray_args = ["--engine", "ray", "--ray-address", ray_address, "--ray-actors", "1"]
    with server_process(log, "--latency-ms", "60") as url:
        suite = write_suite(tmp_path, url, n, concurrency=4)
        store_args = ["--store", f"sqlite:///{db}"]
        proc = subprocess.Popen(
            [*ASSAY, "run", str(suite), *store_args, "--run-id", "K1", "-q", *ray_args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        committed, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    committed = conn.execute("select count(*) from results where run_id='K1'").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet
                continue
            if committed >= 20:
                break
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
        assert 20 <= committed < n, f"the run finished or never started before the kill: {err[-2000:]}"
        with sqlite3.connect(db) as conn:
            before = {r[0] for r in conn.execute("select case_id from results where run_id='K1'")}
        ok_before = Counter(r["prompt"] for r in read_call_log(log) if r["status"] == 200)
        res = subprocess.run(
            [*ASSAY, "run", str(suite), *store_args, "--resume", "K1", "--json", "out.json", "-q", *ray_args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert res.returncode == 0, res.stdout + res.stderr
    with sqlite3.connect(db) as conn:
        case_ids = [r[0] for r in conn.execute("select case_id from results where run_id='K1'")]
    with open_store(f"sqlite:///{db}") as store:
        config = store.find_run("K1").config
    assert len(case_ids) == len(set(case_ids)) == n  # every case exactly once
    ok_after = Counter(r["prompt"] for r in read_call_log(log) if r["status"] == 200)
    for case_id in before:  # a committed case is never called again
        prompt = f"question {int(case_id[1:])}"
        assert ok_after[prompt] == ok_before[prompt] == 1
    assert set(ok_after) == {f"question {i}" for i in range(n)}
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["status"] == "completed" and summary["metrics"]["exact_match"]["mean"] == 1.0
    assert config["engine"] == "ray" and config["ray_actors"] == 1
