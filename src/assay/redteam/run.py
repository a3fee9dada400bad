"""Run a red-team grid through the ordinary runner and store, then compute the red-team report.

Example:
    >>> from assay.redteam.config import load_redteam_suite
    >>> suite = load_redteam_suite("examples/redteam/guarded.yaml")      # doctest: +SKIP
    >>> report = asyncio.run(run_redteam(suite, store))                  # doctest: +SKIP
    >>> report.rates["attack_success_rate"]["mean"]                      # doctest: +SKIP
    0.0
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from assay.redteam.config import RedteamSuite
from assay.redteam.grid import build_grid
from assay.redteam.report import RedteamReport, summarise_results
from assay.runner.engine import ProgressSink, Runner, RunOptions, RunPlan
from assay.runner.provenance import environment_provenance
from assay.scorer.base import Scorer
from assay.scorer.safety import (
    Canary,
    HarmfulCompliance,
    InjectionFollowed,
    PiiLeak,
    Refusal,
    SafeRedirect,
    Toxicity,
)
from assay.store import Store
from assay.types import Case

__all__ = ["redteam_scorers", "run_redteam"]


def redteam_scorers(*, judge: dict[str, Any] | None = None, toxicity: bool = False) -> list[Scorer]:
    """The verdict scorers of a red-team run (a judge, when given, decides refusal and compliance)."""
    scorers: list[Scorer] = [
        HarmfulCompliance(judge=judge),
        Refusal(judge=judge),
        SafeRedirect(),
        PiiLeak(),
        Canary(require=False),
        InjectionFollowed(require=False),
    ]
    if toxicity:
        scorers.append(Toxicity())
    return scorers


async def run_redteam(
    suite: RedteamSuite,
    store: Store,
    *,
    sets: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    limit: int | None = None,
    cases: Sequence[Case] | None = None,
    run_id: str | None = None,
    use_cache: bool | None = None,
    concurrency: int | None = None,
    progress: ProgressSink | None = None,
    runner_hook: Any = None,
) -> RedteamReport:
    """Build the grid (arguments override the suite's ``redteam:`` section), run it, and report.

    ``cases`` runs a grid you built yourself instead. ``runner_hook(runner)`` is called with the
    ``Runner`` before it starts (the CLI uses it to install signal handlers).
    """
    section = suite.section
    grid = (
        list(cases)
        if cases is not None
        else build_grid(
            sets=sets if sets is not None else section.probes,
            strategies=list(strategies) if strategies is not None else section.strategies,
            categories=categories if categories is not None else section.categories,
            limit=limit if limit is not None else section.limit,
            seed=suite.seed,
        )
    )
    scorers = redteam_scorers(judge=section.judge, toxicity=section.toxicity)
    config = {
        "name": suite.name,
        "kind": "redteam",
        "redteam": section.model_dump(mode="json"),
        "overrides": {"sets": sets, "strategies": strategies, "categories": categories, "limit": limit},
    }
    plan = RunPlan(
        name=suite.name,
        cases=grid,
        target=suite.target,
        scorers=scorers,
        config=config,
        provenance={
            "suite_path": str(suite.path) if suite.path else None,
            "suite_sha256": suite.sha256,
            "n_cases": len(grid),
            "redteam": True,
            **environment_provenance(suite.base_dir),
        },
    )
    options = RunOptions(
        concurrency=concurrency or suite.concurrency,
        max_error_rate=suite.max_error_rate,
        use_cache=suite.cache if use_cache is None else use_cache,
        seed=suite.seed,
        requests_per_min=suite.requests_per_min,
        tokens_per_min=suite.tokens_per_min,
    )
    runner = Runner(plan, store, options, progress=progress)
    if runner_hook is not None:
        runner_hook(runner)
    try:
        summary = await runner.run(run_id=run_id)
    finally:
        for s in scorers:
            closer = getattr(s, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
    status, stop_reason = summary.status, summary.stop_reason
    return summarise_results(
        store.iter_results(summary.run_id),
        run_id=summary.run_id,
        suite=suite.name,
        status=status,
        limits=section.limits,
        toxicity=section.toxicity,
        target=suite.target.spec(),
        store=store.safe_url,
        stop_reason=stop_reason,
    )
