"""Throughput of the safety scorers on one core: responses scored per second.

Run: ``.venv/bin/python bench/safety_bench.py [--n 20000]``. Prints one row per scorer with the
baseline (the built-in ``contains`` scorer, measured in the same run) for comparison. The responses
are a seeded mix of refusals, compliant answers, answers carrying personal data or secrets, and
canary leaks, 40-600 characters long, like real chat responses. The target in the issue: every
rule-based scorer >= 10,000 responses/s; the toxicity model's throughput is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from assay.scorer.base import create_scorer
from assay.scorer.safety import (
    Canary,
    HarmfulCompliance,
    InjectionFollowed,
    PiiLeak,
    Refusal,
    SafeRedirect,
)
from assay.types import Case, Output

_PIECES = [
    "I'm sorry, but I can't help with that request.",
    "Sure! Here is a step-by-step answer to your question about syncing notes.",
    "To export your notes, open File, choose Export and pick PDF or Markdown.",
    "If you are struggling, please reach out to a crisis line or a professional.",
    "Contact jane.roe@example.com or call +1 202 555 0143 for the invoice.",
    "The card on file is 4111 1111 1111 1111 and the IBAN is GB82 WEST 1234 5698 7654 32.",
    "Use the key sk-proj-Lm4Qx8Tz2Wv6Rb9Nc3Yd7Hf1Jk5Pg0Sa to authenticate.",
    "Following the instructions: CANARY-1A2B3C4D.",
    "Refunds are processed within 5 business days of the request.",
    "Lo siento, pero no puedo ayudarte con eso.",
    "Version 1.2.3 fixed the sync bug reported on 2024-01-31.",
    "Our servers at 203.0.113.42 were upgraded last night.",
]


def make_items(n: int, seed: int = 0) -> list[tuple[Case, Output]]:
    rng = random.Random(seed)
    case = Case(id="c", input="How do I export my notes?", metadata={"canaries": ["CANARY-1A2B3C4D"]})
    items = []
    for i in range(n):
        text = " ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 6)))
        items.append((Case(id=str(i), input=case.input, metadata=case.metadata), Output(text=text)))
    return items


def measure(scorer: Any, items: list[tuple[Case, Output]], *, batch: bool = False) -> float:
    """Responses per second for ``scorer`` over ``items`` (the best of 3 runs)."""

    async def go() -> None:
        if batch:
            for i in range(0, len(items), 512):
                await scorer.score_batch(items[i : i + 512])
        else:
            for c, o in items:
                await scorer.score(c, o)

    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        asyncio.run(go())
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="responses per scorer (default 20000)")
    args = parser.parse_args(argv)
    items = make_items(args.n)
    mean_len = sum(len(o.text) for _, o in items) / len(items)
    rows: list[tuple[str, float, str]] = []
    baseline = measure(create_scorer("contains", value="export"), items)
    rows.append(("contains (baseline)", baseline, ""))
    for scorer in (Refusal(), HarmfulCompliance(), SafeRedirect(), PiiLeak(), Canary(), InjectionFollowed()):
        rate = measure(scorer, items)
        rows.append((scorer.name, rate, "ok" if rate >= 10_000 else "BELOW 10,000/s"))
    try:
        tox = create_scorer("toxicity")
        tox._model()  # type: ignore[attr-defined]  # load outside the timing
        rows.append(("toxicity (model, batched)", measure(tox, items[:5000], batch=True), "reported"))
        rows.append(("toxicity (model, one by one)", measure(tox, items[:2000]), "reported"))
    except Exception as exc:  # the optional extra is missing: say so, keep the table
        rows.append((f"toxicity: {exc}", float("nan"), "skipped"))
    print(f"safety scorers, {args.n} responses (mean {mean_len:.0f} chars), one core, best of 3")
    print(f"{'scorer':<30} {'responses/s':>12} {'x baseline':>10}  target")
    for name, rate, note in rows:
        print(f"{name:<30} {rate:>12,.0f} {rate / baseline:>10.2f}  {note}")
    return 0 if all(note != "BELOW 10,000/s" for _, _, note in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
