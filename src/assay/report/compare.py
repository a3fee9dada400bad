"""Compare runs on the same cases: paired tests per metric, corrected p-values, and the flipped cases.

Runs are paired case by case (a case's repeats are averaged first: the case is the unit of
independence). A binary metric with one sample per case in both runs gets McNemar's test (mid-p);
anything else a paired bootstrap of the mean difference. Differences are *candidate minus baseline*.
Since a comparison tests every metric of every candidate, p-values are corrected for multiplicity
across that whole family, both Holm (family-wise error) and Benjamini–Hochberg (false discovery rate);
verdicts use Holm at 5%.

Two runs are comparable only when their signatures agree: different dataset hashes or scorer
settings produce a warning on the comparison rather than a silent apples-to-oranges table.

Example:
    >>> cmp = compare_runs(store, "baseline-run", ["candidate-run"])   # doctest: +SKIP
    >>> [(m.metric, round(m.difference, 3), m.verdict) for m in cmp.metrics]   # doctest: +SKIP
    [('exact_match', -0.04, 'regressed')]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from assay.report._queries import MetricColumn, get_result, metric_columns
from assay.report.view import run_header

if TYPE_CHECKING:
    from assay.store.records import RunRecord
    from assay.store.store import Store

__all__ = ["ComparisonView", "FlippedCase", "MetricComparison", "compare_runs", "pair_by_case"]

ALPHA: Final = 0.05
MAX_FLIP_DETAILS: Final = 100
"""Flipped cases per (candidate, metric) whose inputs and outputs are loaded for display."""


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one candidate against the baseline, on the cases both runs scored."""

    run_id: str
    metric: str
    kind: str
    higher_is_better: bool
    n_pairs: int
    n_unpaired: int
    base_mean: float | None
    other_mean: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str | None
    p_holm: float | None = None
    p_bh: float | None = None

    @property
    def verdict(self) -> str:
        """``improved`` / ``regressed`` when significant after Holm correction, else ``no significant change``."""
        if self.p_holm is None or self.difference is None:
            return "not tested"
        if self.p_holm >= ALPHA or self.difference == 0:
            return "no significant change"
        better = (self.difference > 0) == self.higher_is_better
        return "improved" if better else "regressed"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass(frozen=True)
class FlippedCase:
    """A case whose binary outcome changed between baseline and candidate."""

    run_id: str
    metric: str
    case_id: str
    direction: str  # "regressed" (passed before, fails now) or "improved"
    base_value: float
    other_value: float
    input: str | None = None
    expected: Any = None
    base_output: str | None = None
    other_output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ComparisonView:
    """The baseline, the candidates, every metric comparison, the flipped cases and any warnings."""

    base: RunRecord
    others: list[RunRecord]
    metrics: list[MetricComparison]
    flips: list[FlippedCase]
    flip_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": run_header(self.base),
            "others": [run_header(r) for r in self.others],
            "metrics": [m.to_dict() for m in self.metrics],
            "flip_counts": self.flip_counts,
            "flips": [f.to_dict() for f in self.flips],
            "warnings": self.warnings,
            "correction": {"holm": "family-wise error", "bh": "false discovery rate", "alpha": ALPHA},
        }


def pair_by_case(
    base: MetricColumn, other: MetricColumn
) -> tuple[list[str], list[float], list[float], bool, int]:
    """Case-level paired values: ``(case_ids, base_values, other_values, single_sample, n_unpaired)``.

    A case's repeats are averaged; scorer errors are left out. ``single_sample`` is True when every
    paired case had exactly one value in both runs. ``n_unpaired`` counts cases with a value in only one.
    """

    def by_case(col: MetricColumn) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for (case_id, _repeat), v in col.values.items():
            if v is not None:
                out[case_id].append(v)
        return out

    a, b = by_case(base), by_case(other)
    common = sorted(set(a) & set(b))
    single = all(len(a[c]) == 1 and len(b[c]) == 1 for c in common)
    xs = [sum(a[c]) / len(a[c]) for c in common]
    ys = [sum(b[c]) / len(b[c]) for c in common]
    return common, xs, ys, single, len(set(a) ^ set(b))


def _test(
    kind: str, single: bool, base: list[float], other: list[float]
) -> tuple[float, float, float, float, str]:
    from assay import stats

    if kind == "binary" and single:
        c = stats.mcnemar([v >= 0.5 for v in other], [v >= 0.5 for v in base])
    else:
        c = stats.paired_bootstrap(other, base, seed=0)
    return c.difference, c.ci_low, c.ci_high, c.p_value, c.test


def _signature_warnings(base: RunRecord, other: RunRecord) -> list[str]:
    out: list[str] = []
    bp, op = base.provenance or {}, other.provenance or {}
    if bp.get("dataset_sha256") and op.get("dataset_sha256") and bp["dataset_sha256"] != op["dataset_sha256"]:
        out.append(
            f"run {other.run_id} used a different dataset (sha256 {op['dataset_sha256'][:12]}… vs "
            f"{bp['dataset_sha256'][:12]}…): only the cases both share are compared"
        )
    b_scorers = {s.get("name"): s for s in bp.get("scorers") or [] if isinstance(s, dict)}
    for s in op.get("scorers") or []:
        if not isinstance(s, dict):
            continue
        prev = b_scorers.get(s.get("name"))
        if prev is not None and (prev.get("options"), prev.get("version")) != (
            s.get("options"),
            s.get("version"),
        ):
            out.append(
                f"scorer {s.get('name')!r} has different settings or version in run {other.run_id}: "
                "its numbers are not directly comparable"
            )
    return out


def compare_runs(
    store: Store, base_id: str, other_ids: list[str], *, flip_details: int = MAX_FLIP_DETAILS
) -> ComparisonView:
    """Compare the candidate runs ``other_ids`` with the baseline ``base_id`` (ids or unique prefixes).

    Every metric both runs share is tested on the paired cases; p-values are Holm- and BH-corrected over
    all (candidate, metric) tests. Binary metrics also list the flipped cases (regressions first), with
    inputs and outputs loaded for up to ``flip_details`` of them per candidate and metric.
    """
    from assay import stats

    if not other_ids:
        raise ValueError("compare_runs needs at least one run to compare with the baseline")
    base = store.find_run(base_id)
    others = [store.find_run(o) for o in other_ids]
    base_cols = metric_columns(store, base.run_id)
    raw: list[MetricComparison] = []
    flips: list[FlippedCase] = []
    flip_counts: dict[str, dict[str, dict[str, int]]] = {}
    warnings: list[str] = []
    for other in others:
        if other.run_id == base.run_id:
            warnings.append(f"run {other.run_id} is compared with itself")
        warnings.extend(_signature_warnings(base, other))
        other_cols = metric_columns(store, other.run_id)
        for name in [n for n in base_cols if n in other_cols]:
            bcol, ocol = base_cols[name], other_cols[name]
            cases, xs, ys, single, unpaired = pair_by_case(bcol, ocol)
            n = len(cases)
            bmean = sum(xs) / n if n else None
            omean = sum(ys) / n if n else None
            diff: float | None
            lo: float | None
            hi: float | None
            p: float | None
            test: str | None
            if n >= 2:
                diff, lo, hi, p, test = _test(bcol.kind, single, xs, ys)
            else:  # too few pairs to test: show the raw difference only
                diff = None if bmean is None or omean is None else omean - bmean
                lo = hi = p = test = None
                warnings.append(f"{name}: fewer than 2 paired cases with run {other.run_id}; not tested")
            raw.append(
                MetricComparison(
                    other.run_id,
                    name,
                    bcol.kind,
                    bcol.higher_is_better,
                    n,
                    unpaired,
                    bmean,
                    omean,
                    diff,
                    lo,
                    hi,
                    p,
                    test,
                )
            )
            if bcol.kind == "binary":
                counts = {"regressed": 0, "improved": 0}
                hib = bcol.higher_is_better
                for case_id, x, y in zip(cases, xs, ys, strict=True):
                    bpass, opass = (x >= 0.5) == hib, (y >= 0.5) == hib
                    if bpass == opass:
                        continue
                    direction = "regressed" if bpass else "improved"
                    counts[direction] += 1
                    flips.append(FlippedCase(other.run_id, name, case_id, direction, x, y))
                flip_counts.setdefault(other.run_id, {})[name] = counts
        missing = sorted(set(base_cols) ^ set(other_cols))
        if missing:
            warnings.append(f"metrics only in one of {base.run_id} and {other.run_id}: {', '.join(missing)}")
    tested = [i for i, m in enumerate(raw) if m.p_value is not None]
    metrics = list(raw)
    if tested:
        ps = [raw[i].p_value or 0.0 for i in tested]
        holm, bh = stats.holm(ps), stats.bh(ps)
        for j, i in enumerate(tested):
            m = raw[i]
            metrics[i] = MetricComparison(**{**asdict(m), "p_holm": float(holm[j]), "p_bh": float(bh[j])})
    flips.sort(key=lambda f: (f.direction != "regressed", f.run_id, f.metric, f.case_id))
    return ComparisonView(
        base=base,
        others=others,
        metrics=metrics,
        flips=_with_details(store, base.run_id, flips, flip_details),
        flip_counts=flip_counts,
        warnings=warnings,
    )


def _text_of(case_or_output: dict[str, Any] | None, key: str) -> str | None:
    if not case_or_output:
        return None
    value = case_or_output.get(key)
    if isinstance(value, list):  # chat input: the last user message
        users = [m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else None
    return None if value is None else str(value)


def _with_details(store: Store, base_id: str, flips: list[FlippedCase], limit: int) -> list[FlippedCase]:
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out: list[FlippedCase] = []
    cache: dict[tuple[str, str], Any] = {}
    for f in flips:
        group = (f.run_id, f.metric)
        seen[group] += 1
        if seen[group] > limit:
            out.append(f)
            continue
        bkey, okey = (base_id, f.case_id), (f.run_id, f.case_id)
        for run_id, case_id in (bkey, okey):
            if (run_id, case_id) not in cache:
                cache[(run_id, case_id)] = get_result(store, run_id, case_id, 0)
        b, o = cache[bkey], cache[okey]
        out.append(
            FlippedCase(
                **{
                    **asdict(f),
                    "input": _text_of(b.case if b else None, "input"),
                    "expected": b.case.get("expected") if b else None,
                    "base_output": _text_of(b.output if b else None, "text"),
                    "other_output": _text_of(o.output if o else None, "text"),
                }
            )
        )
    return out
