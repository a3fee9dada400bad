"""A seeded store shared by the report and server tests: two runs of the same suite, offline and fast.

The cases carry slices (category, language, tags), a target exception, and outputs that try to inject
HTML (a <script> tag and an <img onerror>): reports must show them as text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from assay.types import Case, Usage

if TYPE_CHECKING:
    from assay.scorer.base import Scorer

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '<img src=x onerror="alert(2)">'
XSS_BREAKOUT = "</script><script>alert(3)</script>"
CATEGORIES = ("billing", "shipping", "tech")


def make_cases(n: int = 60) -> list[Case]:
    cases = []
    for i in range(n):
        meta: dict[str, Any] = {
            "category": CATEGORIES[i % 3],
            "language": "de" if i % 4 == 0 else "en",
            "row": i,
        }
        if i % 5 == 0:
            meta["tags"] = ["refund"]
        cases.append(Case(id=f"c{i:03d}", input=f"question {i}", expected=f"answer {i}", metadata=meta))
    cases.append(
        Case(id="xss-script", input=XSS_SCRIPT, expected=XSS_BREAKOUT, metadata={"category": "billing"})
    )
    cases.append(Case(id="xss-img", input=XSS_IMG, expected="fine", metadata={"category": "tech"}))
    cases.append(Case(id="boom", input="explode", expected="never", metadata={"category": "tech"}))
    return cases


def baseline(text: str) -> str:
    """Right except for billing questions whose number is divisible by 3 (i % 6 == 0) and the XSS cases."""
    if text == "explode":
        raise RuntimeError("the target crashed")
    if text in (XSS_SCRIPT, XSS_IMG):
        return XSS_SCRIPT if text == XSS_SCRIPT else XSS_IMG
    i = int(text.split()[1])
    return "no idea" if i % 6 == 0 else f"answer {i}"


def candidate(text: str) -> str:
    """Fixes every billing case and the <img> case, breaks shipping cases with i % 4 == 1."""
    if text == "explode":
        raise RuntimeError("the target crashed")
    if text in (XSS_SCRIPT, XSS_IMG):
        return XSS_IMG if text == XSS_SCRIPT else "fine"
    i = int(text.split()[1])
    return "sorry" if (i % 3 == 1 and i % 4 == 1) else f"answer {i}"


@dataclass
class Seeded:
    url: str
    base_id: str
    cand_id: str
    cases: list[Case]


def record_run(
    url: str,
    cases: list[Case],
    fn: Callable[[str], str],
    *,
    suite: str = "support",
    scorers: Sequence[str | Scorer] = ("exact_match", "token_f1"),
    thresholds: dict[str, dict[str, float | None]] | None = None,
    run_id: str | None = None,
    created_at: datetime | None = None,
    dataset_sha256: str = "d" * 64,
    latency: Callable[[int], float] = lambda i: 0.05 + (i % 7) * 0.01,
    cost: Callable[[int], float | None] = lambda i: 0.0001 * (1 + i % 3),
    usage: Callable[[int], Usage] = lambda i: Usage(10 + i % 5, 3),
) -> str:
    """Store a completed run of ``fn`` over ``cases`` scored by the real scorers, as the runner would.

    Written straight through the Store API (deterministic and fast); the summary is computed by the
    runner's own ``MetricAccumulator`` and ``evaluate_thresholds``, so it is the summary a run stores.
    ``scorers``: registered names, or scorer objects (a judge set up by the test); every scorer with an
    ``aclose`` is closed when scoring ends, in the event loop that used it (a judge's HTTP client
    belongs to that loop). ``latency``, ``cost`` and ``usage`` give the target's numbers for case ``i``.
    """
    from assay.runner.summary import MetricAccumulator, RunSummary, evaluate_thresholds
    from assay.scorer.base import create_scorer
    from assay.store import open_store
    from assay.store.records import ResultRecord, RunRecord
    from assay.types import Output, TargetError

    objs = [create_scorer(s) if isinstance(s, str) else s for s in scorers]
    run_id = run_id or f"run-{uuid.uuid4().hex[:10]}"
    created = created_at or datetime.now(UTC)
    records: list[ResultRecord] = []

    async def score_all() -> None:
        try:
            for i, case in enumerate(cases):
                try:
                    out = Output(
                        text=fn(case.input_text),
                        latency_s=latency(i),
                        cost_usd=cost(i),
                        usage=usage(i),
                    )
                except RuntimeError as exc:
                    out = Output(error=TargetError("target_exception", f"RuntimeError: {exc}"))
                scores = []
                if out.error is None:
                    for s in objs:
                        r = await s.score(case, out)
                        scores.extend([r] if not isinstance(r, list) else r)
                records.append(
                    ResultRecord(
                        run_id=run_id,
                        case_id=case.id,
                        repeat=0,
                        case=case.to_dict(),
                        output=out.to_dict(),
                        scores=[s.to_dict() for s in scores],
                        error_kind=out.error.kind if out.error else None,
                        error_message=out.error.message if out.error else None,
                        latency_s=out.latency_s,
                        ttft_s=None,
                        cost_usd=out.cost_usd,
                        input_tokens=out.usage.input_tokens if out.usage else None,
                        output_tokens=out.usage.output_tokens if out.usage else None,
                        attempts=1,
                        cached=False,
                        created_at=created,
                    )
                )
        finally:
            for s in objs:
                closer = getattr(s, "aclose", None)
                if closer is not None:
                    await closer()

    # in a thread of its own: Playwright's sync API may already run an event loop in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, score_all()).result()
    acc = MetricAccumulator()
    for r in records:
        acc.add_record(r)
    metrics = acc.metric_summaries(repeats=1)
    latency_summary = acc.latency_summary()
    summary = RunSummary(
        run_id=run_id,
        suite=suite,
        status="completed",
        n_cases=len(cases),
        n_results=len(records),
        n_errors=acc.n_target_errors,
        errors_by_kind=dict(acc.errors_by_kind),
        metrics=metrics,
        latency_s=latency_summary,
        tokens={"input": acc.input_tokens, "output": acc.output_tokens},
        cost_usd=acc.cost_usd,
        thresholds=evaluate_thresholds(thresholds or {}, metrics, latency_summary),
    )
    provenance = {
        "dataset_sha256": dataset_sha256,
        "dataset_name": "support-cases",
        "n_cases": len(cases),
        "target": {
            "type": "python",
            "ref": f"tests.report._seed:{fn.__name__}",
            "api_key": "sk-SECRET-DO-NOT-SHOW",
        },
        "scorers": [s.spec() for s in objs],
        "seed": 0,
        "python": "3.11",
        "packages": {"assay": "0.1.0"},
        "git": {"commit": "abc123", "dirty": False},
    }
    with open_store(url) as st:
        st.create_run(
            RunRecord(
                run_id=run_id,
                suite=suite,
                status="running",
                created_at=created,
                finished_at=None,
                n_planned=len(cases),
                config={"name": suite, "thresholds": thresholds or {}},
                provenance=provenance,
                summary=None,
            )
        )
        st.add_results(records)
        st.update_run(
            run_id,
            status="completed",
            summary=summary.to_json_dict(),
            finished_at=created + timedelta(seconds=5),
        )
    return run_id


def seed(url: str) -> Seeded:
    cases = make_cases()
    thresholds: dict[str, dict[str, float | None]] = {"exact_match": {"min": 0.9}}
    t0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    base = record_run(url, cases, baseline, thresholds=thresholds, run_id="run-base-0001", created_at=t0)
    cand = record_run(
        url,
        cases,
        candidate,
        thresholds=thresholds,
        run_id="run-cand-0002",
        created_at=t0 + timedelta(hours=1),
    )
    return Seeded(url=url, base_id=base, cand_id=cand, cases=cases)
