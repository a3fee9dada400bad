"""A metric estimated three ways: judge only, humans only, and prediction-powered (both).

The judge scored all ``N`` items but may be biased; humans labelled ``n`` of them. Prediction-powered
inference (``assay.stats.ppi_mean``, PPI++ power tuning) estimates the *human* metric from the judge's
mean over all items corrected by the judge's measured bias on the labelled ones, with a valid interval,
never wider (asymptotically) than the human-only one. When the labelled items were sampled with unequal
probabilities (a stratified or uncertainty-first queue), every labelled item is weighted by
``1 / inclusion probability`` so the estimate is for the whole population.

``EstimateReport.to_dict()`` is what ``assay estimate --json`` writes::

    {"metric": "correct",
     "judge_only": {"mean", "ci_low", "ci_high", "n"},
     "human_only": {"mean", "ci_low", "ci_high", "n"},
     "ppi": {"mean", "ci_low", "ci_high", "n", "n_labeled", "lam", "effective_n"},
     "weighted": false, "confidence": 0.95}

Example:
    >>> judged = {str(i): float(i % 3 == 0) for i in range(30)}
    >>> human = {str(i): float(i % 3 == 0) for i in range(0, 30, 3)} | {"1": 1.0}
    >>> r = estimate_from_values(judged, human)
    >>> r.judge_only.n, r.human_only.n
    (30, 11)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.types import ConfigError

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = ["Estimate", "EstimateReport", "estimate_for_queue", "estimate_from_values", "mean_interval"]


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval over ``n`` items."""

    mean: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class EstimateReport:
    """The three estimates side by side, plus PPI's diagnostics."""

    metric: str
    judge_only: Estimate
    human_only: Estimate
    ppi: Estimate
    n_labeled: int
    lam: float
    effective_n: float
    weighted: bool
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "judge_only": self.judge_only.to_dict(),
            "human_only": self.human_only.to_dict(),
            "ppi": {
                **self.ppi.to_dict(),
                "n_labeled": self.n_labeled,
                "lam": self.lam,
                "effective_n": self.effective_n if self.effective_n != float("inf") else None,
            },
            "weighted": self.weighted,
            "confidence": self.confidence,
        }


def mean_interval(values: list[float], *, confidence: float = 0.95) -> Estimate:
    """Mean with a Wilson interval for 0/1 values, a Student-t interval otherwise.

    Example:
        >>> e = mean_interval([1, 1, 0, 1])
        >>> e.mean, e.n
        (0.75, 4)
    """
    from assay.stats import t_interval, wilson_interval

    n = len(values)
    if n < 2:
        raise ConfigError(f"at least 2 values are needed for an interval, got {n}")
    mean = sum(values) / n
    if all(v in (0.0, 1.0) for v in values):
        low, high = wilson_interval(int(sum(values)), n, confidence=confidence)
    else:
        low, high = t_interval(values, confidence=confidence)
    return Estimate(float(mean), float(low), float(high), n)


def estimate_from_values(
    judged: Mapping[str, float | bool],
    human: Mapping[str, float | bool],
    *,
    inclusion_prob: Mapping[str, float] | None = None,
    metric: str = "label",
    confidence: float = 0.95,
) -> EstimateReport:
    """Judge-only, human-only and PPI estimates of a metric.

    ``judged`` maps every item to the judge's score, ``human`` the labelled items to the human value
    (one per item: the consensus). ``inclusion_prob`` (item → probability it was sampled for labelling)
    turns on inverse-probability weighting. Every labelled item must have a judge score.

    Example:
        >>> r = estimate_from_values({"a": 1, "b": 0, "c": 1, "d": 1}, {"a": 1, "b": 0, "c": 0})
        >>> r.ppi.n, r.n_labeled
        (4, 3)
    """
    from assay.stats import ppi_mean

    missing = [i for i in human if i not in judged]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ConfigError(f"{len(missing)} labelled item(s) have no judge score: {shown}", field="item_id")
    items = list(human)
    if len(items) < 2:
        raise ConfigError(f"at least 2 labelled items are needed, got {len(items)}")
    f_all = [float(v) for v in judged.values()]
    y = [float(human[i]) for i in items]
    f = [float(judged[i]) for i in items]
    weights = None
    if inclusion_prob is not None:
        probs = []
        for i in items:
            p = inclusion_prob.get(i)
            if p is None or not 0.0 < p <= 1.0:
                raise ConfigError(
                    f"item {i!r} needs an inclusion probability in (0, 1], got {p!r}", field="inclusion_prob"
                )
            probs.append(p)
        if len(set(probs)) > 1:
            weights = [1.0 / p for p in probs]
    judge_only = mean_interval(f_all, confidence=confidence)
    if weights is None:
        human_only = mean_interval(y, confidence=confidence)
    else:  # Horvitz-Thompson mean of the labels with a normal interval: PPI with the judge switched off
        h = ppi_mean(y, f, f_all, lam=0.0, weights=weights, confidence=confidence)
        human_only = Estimate(h.estimate, h.ci_low, h.ci_high, len(y))
    r = ppi_mean(y, f, f_all, weights=weights, confidence=confidence)
    return EstimateReport(
        metric=metric,
        judge_only=judge_only,
        human_only=human_only,
        ppi=Estimate(r.estimate, r.ci_low, r.ci_high, len(f_all)),
        n_labeled=r.n_labeled,
        lam=r.lam,
        effective_n=r.effective_n,
        weighted=weights is not None,
        confidence=confidence,
    )


def estimate_for_queue(
    store: Store, queue: str, *, scorer: str | None = None, run_scores: bool = True, confidence: float = 0.95
) -> EstimateReport:
    """Estimate a queue's label from its labels and a scorer's values on the whole population.

    The population is the run the queue was sampled from (all its results' scores for ``scorer``) when
    ``run_scores`` and the queue came from a run; otherwise the queue's own items. Labelled items are
    weighted by ``1 / inclusion probability``.
    """
    from assay.label.agreement import consensus
    from assay.label.queue import candidates_from_run
    from assay.store.labels import LabelStore

    ls = LabelStore(store)
    q = ls.find_queue(queue)
    items = ls.items(q.queue_id)
    names = sorted({s for it in items for s in (it.payload.get("scores") or {})})
    if scorer is None:
        if len(names) != 1:
            raise ConfigError(
                f"choose the scorer with --scorer; the queue's items have: {', '.join(names) or '(none)'}",
                field="scorer",
            )
        scorer = names[0]
    elif scorer not in names:
        raise ConfigError(
            f"no item of queue {q.queue_id} has a score {scorer!r}; known: {', '.join(names) or '(none)'}",
            field="scorer",
        )
    run_id = q.source.get("run_id")
    if run_scores and run_id:
        judged = {
            c.item_id: v
            for c in candidates_from_run(store, run_id)
            if (v := c.scores.get(scorer)) is not None
        }
    else:
        judged = {
            it.item_id: float(v)
            for it in items
            if (v := (it.payload.get("scores") or {}).get(scorer)) is not None
        }
    recs = [
        r
        for r in ls.labels(queue_id=q.queue_id, name=q.label_name, include_skipped=False)
        if r.value is not None
    ]
    values = [float(r.value) for r in recs if r.value is not None]
    human = consensus(
        [(r.item_id, r.annotator, float(r.value)) for r in recs if r.value is not None],
        discrete=len(set(values)) <= 10,
    )
    human = {i: v for i, v in human.items() if i in judged}
    pi = {it.item_id: it.inclusion_prob for it in items}
    return estimate_from_values(judged, human, inclusion_prob=pi, metric=q.label_name, confidence=confidence)
