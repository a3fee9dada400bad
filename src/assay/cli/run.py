"""``assay run``: run a suite file through the runner into the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import typer

from assay.cli.app import EXIT_INCOMPLETE, STORE_HELP, app, console, fail, handle_errors


def execute_suite(
    suite_path: Path,
    *,
    store_url: str | None,
    run_id: str | None = None,
    resume: str | None = None,
    no_cache: bool = False,
    repeats: int | None = None,
    concurrency: int | None = None,
    quiet: bool = False,
    json_out: Path | None = None,
    judge_repeats: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int | None = None,
) -> dict[str, Any]:
    """Load, run and print; returns the summary dict. Shared by ``assay run`` and ``assay demo``.

    ``engine="ray"`` processes the cases on Ray actors (``ray_actors``, default 2) that rebuild the
    suite's target and scorers from its config; ``ray_address`` connects to an existing cluster.
    """
    from assay.cli.progress import make_progress
    from assay.cli.render import facts_table, summary_table
    from assay.runner.api import plan_from_suite, run_plan
    from assay.runner.engine import Runner, RunOptions
    from assay.runner.ray_engine import SuiteComponents, check_engine
    from assay.store import open_store
    from assay.suite import load_suite

    check_engine(engine)
    suite = load_suite(suite_path)
    cfg = suite.config
    if judge_repeats is not None:
        judges = [s for s in suite.scorers if hasattr(s, "set_repeats")]
        if not judges:
            fail("--judge-repeats: the suite has no judge scorer (rubric, pairwise, reference_guided)")
        for scorer in judges:
            scorer.set_repeats(judge_repeats)
    rate = cfg.rate_limit
    options = RunOptions(
        concurrency=concurrency or cfg.concurrency,
        repeats=repeats or cfg.repeats,
        max_error_rate=cfg.max_error_rate,
        use_cache=cfg.cache and not no_cache,
        requests_per_min=rate.requests_per_min if rate else None,
        tokens_per_min=rate.tokens_per_min if rate else None,
        seed=cfg.seed,
    )
    plan = plan_from_suite(suite)
    components = SuiteComponents.from_suite(suite, judge_repeats=judge_repeats) if engine == "ray" else None
    store = open_store(store_url)
    out = console()
    try:

        async def go() -> Any:
            loop = asyncio.get_running_loop()

            def on_start(runner: Runner) -> None:
                # installed once the engine is up: Ctrl-C while a Ray cluster starts aborts, nothing run
                for sig in (signal.SIGINT, signal.SIGTERM):
                    # not available off the main thread or on some platforms: Ctrl-C then just aborts
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.add_signal_handler(sig, runner.request_stop, "interrupted by signal")

            return await run_plan(
                plan,
                store,
                options,
                run_id=run_id,
                resume=resume,
                progress=make_progress(quiet),
                engine=engine,
                ray_address=ray_address,
                ray_actors=ray_actors,
                components=components,
                on_start=on_start,
            )

        summary = asyncio.run(go())
    finally:
        store.close()
    data = summary.to_json_dict()
    if json_out is not None:
        tmp = json_out.with_name(json_out.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, json_out)
    out.print(summary_table(data))
    out.print(facts_table(data))
    rid = data["run_id"]
    out.print(f"results: run [bold]{rid}[/] in {store.safe_url}  (assay show {rid})")
    if data["status"] != "completed":
        store_arg = f" --store {store_url}" if store_url else ""
        if engine != "local":
            store_arg += f" --engine {engine}"
            store_arg += f" --ray-address {ray_address}" if ray_address else ""
            store_arg += f" --ray-actors {ray_actors}" if ray_actors else ""
        out.print(
            f"[yellow]run did not complete ({data.get('stop_reason')}). Resume with:[/] "
            f"assay run {suite_path} --resume {rid}{store_arg}"
        )
    return data


@app.command("run")
@handle_errors
def run_command(
    suite: Path = typer.Argument(..., help="Suite file (YAML).", exists=False),
    json_out: Path | None = typer.Option(None, "--json", help="Write the summary JSON here."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    run_id: str | None = typer.Option(None, "--run-id", help="Use this id for the new run."),
    resume: str | None = typer.Option(None, "--resume", help="Continue an interrupted run (id or prefix)."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Call the target even when a cached response exists."
    ),
    repeats: int | None = typer.Option(
        None, "--repeats", min=1, help="Samples per case (bypasses the cache)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Override the suite's concurrency."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    judge_repeats: int | None = typer.Option(
        None, "--judge-repeats", min=1, help="Ask each judge K times per item (test-retest consistency)."
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        metavar="[local|ray]",
        help="Where cases run: this process, or Ray actors (needs the 'ray' extra).",
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to use (auto, HOST:PORT, ray://HOST:10001); default: start a local one.",
    ),
    ray_actors: int | None = typer.Option(
        None, "--ray-actors", min=1, help="Ray actors processing cases (default 2)."
    ),
) -> None:
    """Run SUITE against its target, score, store; exit 0 ok, 1 threshold failed, 2 bad input, 3 incomplete."""
    if run_id and resume:
        fail("--run-id and --resume cannot be used together")
    if not suite.exists():
        fail(f"suite file not found: {suite}")
    data = execute_suite(
        suite,
        store_url=store,
        run_id=run_id,
        resume=resume,
        no_cache=no_cache,
        repeats=repeats,
        concurrency=concurrency,
        quiet=quiet,
        json_out=json_out,
        judge_repeats=judge_repeats,
        engine=engine,
        ray_address=ray_address,
        ray_actors=ray_actors,
    )
    if data["status"] != "completed":
        raise typer.Exit(EXIT_INCOMPLETE)
    if not all(t["passed"] for t in data["thresholds"].values()):
        raise typer.Exit(1)
