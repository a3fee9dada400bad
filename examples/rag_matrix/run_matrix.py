"""Run the support assistant under every retrieval configuration and print the joint metrics table.

    python examples/rag_matrix/run_matrix.py                 # all 125 cases, 4 configurations
    python examples/rag_matrix/run_matrix.py --limit 20      # a spread-out subset, faster
    python examples/rag_matrix/run_matrix.py --exclude hallucination --json matrix.json

Each configuration is a suite file of this folder (``bm25_k1.yaml`` ...) that differs from the others
only in its target. The suites run one after the other through ``assay.evaluate`` (the real runner and
store: every configuration is a run you can open with ``assay show <run id>``), and the table puts each
metric's mean and 95% interval side by side. Retrieval metrics score the passages against the gold
article derived by ``make_cases.py``; grounding metrics score the answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIGURATIONS = ("bm25_k1", "bm25_k3", "embedding_k1", "embedding_k3")
METRICS: tuple[tuple[str, str], ...] = (
    ("recall@1", "recall@1 (= hit@1)"),
    ("recall@3", "recall@3 (= hit@3)"),
    ("mrr", "MRR"),
    ("ndcg@3", "nDCG@3"),
    ("context_precision", "context precision"),
    ("contains", "contains (answer)"),
    ("abstention", "answered (not refused)"),
    ("faithfulness", "faithfulness"),
    ("hallucination", "hallucination (lower is better)"),
)

__all__ = ["CONFIGURATIONS", "METRICS", "format_table", "main", "run_matrix"]


def _subset(cases: Sequence[Any], limit: int | None) -> list[Any]:
    """``limit`` cases spread evenly over the file (every n-th), so each category is represented."""
    if limit is None or limit >= len(cases):
        return list(cases)
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    step = len(cases) / limit
    return [cases[int(i * step)] for i in range(limit)]


def run_matrix(
    configurations: Sequence[str] = CONFIGURATIONS,
    *,
    limit: int | None = None,
    store: str | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Run each configuration's suite and return ``{configuration: {"run_id", "metrics"}}``.

    ``metrics`` maps a metric name to its summary (``mean``, ``ci_low``, ``ci_high``, ``n``,
    ``n_errors``). ``exclude`` drops scorers by name (``hallucination`` needs the help-center index,
    the slowest part of a first run).

    Example:
        >>> results = run_matrix(["bm25_k1", "bm25_k3"], limit=10, store="sqlite:///:memory:")  # doctest: +SKIP
        >>> results["bm25_k3"]["metrics"]["recall@3"]["mean"] >= results["bm25_k1"]["metrics"]["recall@1"]["mean"]  # doctest: +SKIP
        True
    """
    import assay

    unknown = [c for c in configurations if c not in CONFIGURATIONS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGURATIONS)}")
    results: dict[str, dict[str, Any]] = {}
    for name in configurations:
        suite = assay.load_suite(HERE / f"{name}.yaml")
        scorers = [s for s in suite.scorers if s.name not in exclude]
        summary = assay.evaluate(
            _subset(suite.dataset.cases, limit),
            suite.target,
            scorers,
            name=suite.config.name,
            store=store,
            concurrency=suite.config.concurrency,
        )
        results[name] = {
            "run_id": summary.run_id,
            "status": summary.status,
            "metrics": {m: s.model_dump() for m, s in summary.metrics.items()},
        }
    return results


def _cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "—"
    mean, low, high = summary.get("mean"), summary.get("ci_low"), summary.get("ci_high")
    if mean is None:
        return f"error ({summary.get('n_errors', 0)})"
    interval = f" [{low:.2f}–{high:.2f}]" if low is not None and high is not None else ""
    errors = f" ({summary['n_errors']} err)" if summary.get("n_errors") else ""
    return f"{mean:.3f}{interval}{errors}"


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """The metrics (rows) of every configuration (columns): mean [95% CI], and the cases per run.

    Example:
        >>> print(format_table({"bm25_k1": {"metrics": {"mrr": {"mean": 0.5, "ci_low": 0.4,
        ...     "ci_high": 0.6, "n": 10, "n_errors": 0}}}}).splitlines()[2])
        MRR     0.500 [0.40–0.60]
    """
    configs = list(results)
    rows: list[list[str]] = [["metric", *configs]]
    for key, label in METRICS:
        cells = [_cell(results[c]["metrics"].get(key)) for c in configs]
        if any(cell != "—" for cell in cells):
            rows.append([label, *cells])
    ns = []
    for c in configs:
        metrics = results[c]["metrics"]
        ns.append(str(max((m.get("n", 0) + m.get("n_errors", 0) for m in metrics.values()), default=0)))
    rows.append(["cases", *ns])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the matrix, print the table (and the run ids), optionally write JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="run this many cases (spread over the file)")
    parser.add_argument("--store", default=None, help="store URL (default: ASSAY_STORE or .assay/assay.db)")
    parser.add_argument("--exclude", action="append", default=[], help="leave out a scorer (repeatable)")
    parser.add_argument(
        "--config", action="append", choices=CONFIGURATIONS, help="run only this configuration (repeatable)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run_matrix(
        args.config or CONFIGURATIONS, limit=args.limit, store=args.store, exclude=args.exclude
    )
    print(format_table(results))
    print("\nruns: " + ", ".join(f"{c} {r['run_id']}" for c, r in results.items()))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0 if all(r["status"] == "completed" for r in results.values()) else 3


if __name__ == "__main__":
    sys.exit(main())
