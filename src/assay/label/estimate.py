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
     "weighted": false, "confidence": 0.95, "scorer": "rubric", "notes": [],
     "source": {"queue_id": "...", "run_id": "..."}}

``notes`` say what the numbers rest on when that is not the obvious (labelled items left out, a
population that changed since the queue was sampled); ``source`` where the labels came from.

Example:
    >>> judged = {str(i): float(i % 3 == 0) for i in range(30)}
    >>> human = {str(i): float(i % 3 == 0) for i in range(0, 30, 3)} | {"1": 1.0}
    >>> r = estimate_from_values(judged, human)
    >>> r.judge_only.n, r.human_only.n
    (30, 11)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from assay.types import ConfigError

if TYPE_CHECKING:
    from assay.label.queue import Candidate
    from assay.store.labels import QueueItem, QueueRecord
    from assay.store.store import Store

__all__ = [
    "Estimate",
    "EstimateReport",
    "estimate_for_queue",
    "estimate_from_values",
    "mean_interval",
    "queue_population",
]


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
    """The three estimates side by side, plus PPI's diagnostics (``scorer``: the judge, when known)."""

    metric: str
    judge_only: Estimate
    human_only: Estimate
    ppi: Estimate
    n_labeled: int
    lam: float
    effective_n: float
    weighted: bool
    confidence: float
    scorer: str | None = None
    notes: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "scorer": self.scorer,
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
            "notes": list(self.notes),
            "source": dict(self.source),
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


def queue_population(store: Store, queue: QueueRecord) -> list[Candidate] | None:
    """The candidates ``queue`` was sampled from, read again from the store (None when unknown).

    A queue built from a run (``source["run_id"]``) has the run's successful results; one built from
    monitored events (``source["events"]``) has the events of ``source["app"]`` up to the ingest number
    ``source["until_seq"]`` (at most ``source["limit"]``), with the online scores stored *now*. A queue
    built from a hand-made list of candidates has no population to read again.

    Example:
        >>> len(queue_population(store, LabelStore(store).find_queue("week 12")))   # doctest: +SKIP
        2000
    """
    from assay.label.queue import candidates_from_events, candidates_from_run

    src = queue.source
    if src.get("run_id"):
        return candidates_from_run(store, str(src["run_id"]))
    if src.get("events"):
        until, limit = src.get("until_seq"), src.get("limit")
        return candidates_from_events(
            store,
            app=src.get("app"),
            until_seq=int(until) if until is not None else None,
            limit=int(limit) if limit is not None else None,
        )
    return None


def _payload_scores(items: list[QueueItem], scorer: str) -> dict[str, float]:
    return {
        it.item_id: float(v)
        for it in items
        if (v := (it.payload.get("scores") or {}).get(scorer)) is not None
    }


def estimate_for_queue(
    store: Store,
    queue: str,
    *,
    scorer: str | None = None,
    judged: Mapping[str, float] | None = None,
    label_name: str | None = None,
    run_scores: bool = True,
    confidence: float = 0.95,
) -> EstimateReport:
    """Estimate a queue's label from its labels and a scorer's values on the whole population.

    The population is what the queue was sampled from (``queue_population``: the run's results, or the
    monitored events up to the queue's creation, with their scores as stored now) when ``run_scores``;
    otherwise, or when it is unknown, the queue's own items with the scores they were shown with (a note
    says so). ``judged`` gives the scorer's values on the population directly (``{item_id: value}``, e.g.
    from columns a caller has already read) and skips reading it. Labelled items are weighted by
    ``1 / inclusion probability``; labelled items without a value from the scorer are left out (noted).
    ``label_name`` picks the human label (default: the one the queue asks for).

    Example:
        >>> r = estimate_for_queue(store, "week 12", scorer="rubric")     # doctest: +SKIP
        >>> r.judge_only.n, r.n_labeled                                     # doctest: +SKIP
        (2000, 100)
    """
    from assay.label.agreement import MAX_LEVELS, consensus
    from assay.store.labels import LabelStore

    ls = LabelStore(store)
    q = ls.find_queue(queue)
    items = ls.items(q.queue_id)
    notes: list[str] = []
    names = {s for it in items for s in (it.payload.get("scores") or {})}
    population = queue_population(store, q) if judged is None and run_scores else None
    if population is not None:
        names |= {s for c in population for s in c.scores}
        n_pop = q.source.get("n_population")
        if isinstance(n_pop, int) and n_pop != len(population):
            notes.append(
                f"the queue was sampled from {n_pop} items but {len(population)} are in its population now "
                "(results or events were added or removed since): its inclusion probabilities may be off"
            )
    if scorer is None:
        if len(names) != 1:
            raise ConfigError(
                "choose the scorer with --scorer; the queue's items have: "
                f"{', '.join(sorted(names)) or '(none)'}",
                field="scorer",
            )
        scorer = next(iter(names))
    elif judged is None and scorer not in names:
        raise ConfigError(
            f"no item of queue {q.queue_id} has a score {scorer!r}; known: {', '.join(sorted(names)) or '(none)'}",
            field="scorer",
        )
    if judged is None:
        if population is not None:
            judged = {c.item_id: v for c in population if (v := c.scores.get(scorer)) is not None}
        else:
            judged = _payload_scores(items, scorer)
            if run_scores:
                notes.append(
                    "the population the queue was sampled from is unknown: the judge-only and PPI "
                    "estimates use the queue's own items only"
                )
    name = label_name or q.label_name
    recs = [
        r for r in ls.labels(queue_id=q.queue_id, name=name, include_skipped=False) if r.value is not None
    ]
    pairs = [(r.item_id, r.annotator, float(r.value)) for r in recs if r.value is not None]
    if not pairs:
        raise ConfigError(
            f"queue {q.queue_id} ({q.name}) has no {name!r} labels yet: label it at /label/{q.queue_id} "
            f"in `assay serve`, or import labels with `assay label import FILE --queue {q.queue_id}`"
        )
    human_all = consensus(pairs, discrete=len({v for _, _, v in pairs}) <= MAX_LEVELS)
    human = {i: v for i, v in human_all.items() if i in judged}
    if len(human) < len(human_all):
        notes.append(
            f"{len(human_all) - len(human)} labelled item(s) have no {scorer!r} value (failed or not scored) "
            "and were left out"
        )
    pi = {it.item_id: it.inclusion_prob for it in items}
    report = estimate_from_values(judged, human, inclusion_prob=pi, metric=name, confidence=confidence)
    source = {"queue_id": q.queue_id, "run_id": q.source.get("run_id")}
    if q.source.get("events"):
        source = {"queue_id": q.queue_id, "events": True, "app": q.source.get("app")}
    return replace(report, scorer=scorer, notes=notes, source=source)
