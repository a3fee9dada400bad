"""Seed a store with a run whose results carry judge scores (for the label tests)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from assay.store import ResultRecord, RunRecord, Store


def seed_run(
    store: Store,
    *,
    run_id: str = "run1",
    n: int = 40,
    seed: int = 0,
    scores: Any = None,
    categories: tuple[str, ...] = ("billing", "login", "export", "rare"),
) -> list[ResultRecord]:
    """A completed run of ``n`` results; ``scores(i, rng)`` returns each result's score dicts."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    store.create_run(
        RunRecord(
            run_id=run_id,
            suite="support",
            status="completed",
            created_at=now,
            finished_at=now,
            n_planned=n,
            config={},
            provenance={},
            summary=None,
        )
    )
    recs = []
    for i in range(n):
        cat = categories[-1] if i % 10 == 9 else categories[i % (len(categories) - 1)]
        sc = (
            scores(i, rng)
            if scores
            else [
                {
                    "name": "rubric",
                    "value": rng.random() < 0.6,
                    "kind": "binary",
                    "higher_is_better": True,
                    "explanation": "",
                    "metadata": {},
                    "error": None,
                }
            ]
        )
        recs.append(
            ResultRecord(
                run_id=run_id,
                case_id=f"c{i:03d}",
                repeat=0,
                case={
                    "id": f"c{i:03d}",
                    "input": f"question {i} <b>bold</b>",
                    "expected": None,
                    "context": [{"id": "d1", "text": f"doc for {i}"}],
                    "metadata": {"category": cat},
                },
                output={"text": f"answer {i} <script>alert({i})</script>", "contexts": []},
                scores=sc,
                error_kind=None,
                error_message=None,
                latency_s=0.1,
                ttft_s=None,
                cost_usd=None,
                input_tokens=3,
                output_tokens=4,
                attempts=1,
                cached=False,
                created_at=now,
            )
        )
    store.add_results(recs)
    return recs
