"""Can this scorer stand in for people? Agreement between scorers (judges) and human labels.

For each scorer, over the items that have both a score and at least one human label:

* ``cohen_kappa`` — the scorer against the human consensus (majority label; the mean for continuous
  labels). Scores are mapped to the nearest human label level first (a judge's P(true) of 0.8 counts as
  1), so a continuous judge can be compared with categorical labels. With more than two ordered levels
  ``weighted_kappa`` (quadratic) is given too.
* ``krippendorff_alpha`` — the scorer as one more rater beside every annotator (missing labels allowed;
  nominal for two levels, ordinal for more, interval for continuous labels).
* ``correlation`` — Pearson's r between raw scores and the human consensus, with a 95% interval.
* ``confusion`` — rows are the scorer's (mapped) values, columns the humans'.
* ``inter_annotator`` — how well the annotators agree with each other (Krippendorff's alpha over the
  items labelled by two or more): the ceiling no scorer can be expected to beat.
* ``verdict`` — ``fit`` (kappa/alpha ≥ 0.8, or ≥ 0.6 and within 0.05 of the annotators' own agreement),
  ``borderline`` (≥ 0.6: use it with human spot checks or PPI), ``unfit`` (below), or ``insufficient``
  (fewer than 30 items with both).

Every number comes from ``assay.stats``; a statistic that is undefined on the data (a constant series)
is None with the reason in ``notes``, never NaN.

Example:
    >>> r = agreement_from_values({"a": 1, "b": 0, "c": 1, "d": 0},
    ...                           [("a", "x", 1), ("b", "x", 0), ("c", "x", 1), ("d", "x", 1)])
    >>> round(r.cohen_kappa, 3), r.verdict
    (0.5, 'insufficient')
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from assay.types import ConfigError

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = [
    "FIT_THRESHOLD",
    "MIN_ITEMS",
    "AgreementReport",
    "agreement_for_queue",
    "agreement_for_run",
    "agreement_from_values",
    "consensus",
]

MIN_ITEMS: Final = 30
FIT_THRESHOLD: Final = 0.8
BORDERLINE_THRESHOLD: Final = 0.6
MAX_LEVELS: Final = 10

HumanLabel = tuple[str, str, float]  # (item_id, annotator, value)


@dataclass(frozen=True)
class AgreementReport:
    """Agreement of one scorer with human labels (see the module docs for each field)."""

    scorer: str
    n: int
    n_annotators: int
    levels: list[float] | None
    cohen_kappa: float | None
    weighted_kappa: float | None
    krippendorff_alpha: float | None
    correlation: dict[str, Any] | None
    confusion: dict[str, Any] | None
    exact_agreement: float | None
    inter_annotator: dict[str, Any]
    verdict: str
    reason: str
    test_retest: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "n": self.n,
            "n_annotators": self.n_annotators,
            "levels": self.levels,
            "cohen_kappa": self.cohen_kappa,
            "weighted_kappa": self.weighted_kappa,
            "krippendorff_alpha": self.krippendorff_alpha,
            "correlation": self.correlation,
            "confusion": self.confusion,
            "exact_agreement": self.exact_agreement,
            "inter_annotator": self.inter_annotator,
            "verdict": self.verdict,
            "reason": self.reason,
            "test_retest": self.test_retest,
            "notes": self.notes,
        }


def _is_discrete(values: Sequence[float]) -> bool:
    return len(set(values)) <= MAX_LEVELS


def consensus(labels: Sequence[HumanLabel], *, discrete: bool) -> dict[str, float]:
    """The human consensus per item: the majority label (ties: the lower value) or the mean.

    Example:
        >>> consensus([("a", "x", 1), ("a", "y", 1), ("a", "z", 0)], discrete=True)
        {'a': 1.0}
    """
    per_item: dict[str, list[float]] = {}
    for item, _, value in labels:
        per_item.setdefault(item, []).append(float(value))
    out = {}
    for item, vals in per_item.items():
        if discrete:
            counts = Counter(vals)
            top = max(counts.values())
            out[item] = min(v for v, c in counts.items() if c == top)
        else:
            out[item] = sum(vals) / len(vals)
    return out


def _nearest(value: float, levels: Sequence[float]) -> float:
    return min(levels, key=lambda lv: (abs(lv - value), lv))


def _alpha(rows: list[list[float]], level: str, notes: list[str], what: str) -> float | None:
    from assay.stats import krippendorff_alpha

    try:
        return float(krippendorff_alpha(rows, level=level))  # type: ignore[arg-type]
    except ValueError as exc:
        notes.append(f"{what}: {exc}")
        return None


def _inter_annotator(labels: Sequence[HumanLabel], level: str, notes: list[str]) -> dict[str, Any]:
    from assay.stats import cohen_kappa

    annotators = sorted({a for _, a, _ in labels})
    per_item: dict[str, dict[str, float]] = {}
    for item, ann, value in labels:
        per_item.setdefault(item, {})[ann] = float(value)
    shared = [i for i, d in per_item.items() if len(d) >= 2]
    out: dict[str, Any] = {
        "n_items": len(shared),
        "n_annotators": len(annotators),
        "krippendorff_alpha": None,
    }
    if len(annotators) < 2 or not shared:
        notes.append("inter-annotator agreement: no item was labelled by two or more annotators")
        return out
    rows = [[per_item[i].get(a, math.nan) for i in shared] for a in annotators]
    out["krippendorff_alpha"] = _alpha(rows, level, notes, "inter-annotator alpha")
    if len(annotators) == 2:
        a, b = annotators
        both = [i for i in shared if a in per_item[i] and b in per_item[i]]
        if both:
            out["cohen_kappa"] = float(
                cohen_kappa([per_item[i][a] for i in both], [per_item[i][b] for i in both])
            )
    return out


def agreement_from_values(
    judged: Mapping[str, float | bool],
    labels: Sequence[HumanLabel],
    *,
    scorer: str = "judge",
    samples: Mapping[str, Sequence[float]] | None = None,
) -> AgreementReport:
    """Agreement of one scorer's values (``{item_id: value}``) with human labels ``(item, annotator, value)``.

    ``samples`` (``{item_id: [value per repeat]}``) adds the scorer's test–retest consistency.

    Example:
        >>> agreement_from_values({"a": 1}, [("a", "x", 1)]).verdict
        'insufficient'
    """
    from assay.stats import cohen_kappa, confusion_matrix, correlation, test_retest

    notes: list[str] = []
    labels = [(str(i), str(a), float(v)) for i, a, v in labels]
    if not labels:
        raise ConfigError("there are no human labels to compare with")
    human_values = [v for _, _, v in labels]
    discrete = _is_discrete(human_values)
    levels = sorted(set(human_values)) if discrete else None
    cons = consensus(labels, discrete=discrete)
    items = [i for i in cons if i in judged]
    missing = len(cons) - len(items)
    if missing:
        notes.append(f"{missing} labelled item(s) have no value from this scorer and were left out")
    annotators = sorted({a for _, a, _ in labels})
    level = "interval" if not discrete else ("nominal" if len(levels or ()) <= 2 else "ordinal")
    inter = _inter_annotator(labels, level, notes)
    raw = [float(judged[i]) for i in items]
    human = [cons[i] for i in items]
    n = len(items)
    kappa = wkappa = alpha = exact = None
    corr: dict[str, Any] | None = None
    conf: dict[str, Any] | None = None
    if n >= 2:
        if discrete and levels is not None:
            mapped = [_nearest(v, levels) for v in raw]
            kappa = float(cohen_kappa(mapped, human, labels=levels))
            if len(levels) > 2:
                wkappa = float(cohen_kappa(mapped, human, labels=levels, weights="quadratic"))
            matrix, labs = confusion_matrix(mapped, human, labels=levels)
            conf = {"labels": [float(x) for x in labs.tolist()], "matrix": matrix.tolist(), "rows": "scorer"}
            exact = sum(1 for a, b in zip(mapped, human, strict=True) if a == b) / n
            judge_row = {i: m for i, m in zip(items, mapped, strict=True)}
        else:
            judge_row = dict(zip(items, raw, strict=True))
        per_item: dict[str, dict[str, float]] = {}
        for item, ann, value in labels:
            if item in judge_row:
                per_item.setdefault(item, {})[ann] = value
        rows = [[judge_row[i] for i in items]] + [
            [per_item[i].get(a, math.nan) for i in items] for a in annotators
        ]
        alpha = _alpha(rows, level, notes, "scorer-and-annotators alpha")
    if n >= 3:
        try:
            c = correlation(raw, human, method="pearson")
            corr = {
                "method": c.method,
                "estimate": c.estimate,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "p_value": c.p_value,
                "n": c.n,
            }
        except ValueError as exc:
            notes.append(f"correlation: {exc}")
    retest = None
    if samples:
        pairs = [(s[0], s[1]) for s in samples.values() if len(s) >= 2]
        if len(pairs) >= 2:
            tr = test_retest([p[0] for p in pairs], [p[1] for p in pairs])
            retest = {
                "icc": tr.icc,
                "exact_agreement": tr.exact_agreement,
                "n": tr.n,
                "n_changed": tr.n_changed,
            }
    primary = (wkappa if wkappa is not None else kappa) if discrete else (corr or {}).get("estimate")
    if not discrete and alpha is not None:
        primary = alpha
    ceiling = inter.get("krippendorff_alpha")
    verdict, reason = _verdict(
        n, primary, ceiling, "weighted kappa" if wkappa is not None else "kappa" if discrete else "alpha"
    )
    return AgreementReport(
        scorer=scorer,
        n=n,
        n_annotators=len(annotators),
        levels=levels,
        cohen_kappa=kappa,
        weighted_kappa=wkappa,
        krippendorff_alpha=alpha,
        correlation=corr,
        confusion=conf,
        exact_agreement=exact,
        inter_annotator=inter,
        verdict=verdict,
        reason=reason,
        test_retest=retest,
        notes=notes,
    )


def _verdict(n: int, stat: float | None, ceiling: float | None, what: str) -> tuple[str, str]:
    if n < MIN_ITEMS:
        return (
            "insufficient",
            f"only {n} item(s) have both a score and a human label; at least {MIN_ITEMS} are needed",
        )
    if stat is None:
        return "insufficient", f"{what} is undefined on these labels"
    shown = f"{what} {stat:.2f}"
    if ceiling is not None:
        shown += f" (annotators among themselves: {ceiling:.2f})"
    if stat >= FIT_THRESHOLD:
        return (
            "fit",
            f"{shown} ≥ {FIT_THRESHOLD}: the scorer agrees with people about as well as they can be asked to",
        )
    if stat >= BORDERLINE_THRESHOLD and ceiling is not None and stat >= ceiling - 0.05:
        return "fit", f"{shown}: within 0.05 of the annotators' own agreement"
    if stat >= BORDERLINE_THRESHOLD:
        return "borderline", f"{shown}: usable with human spot checks, or combined with labels through PPI"
    return (
        "unfit",
        f"{shown} < {BORDERLINE_THRESHOLD}: do not let this scorer stand in for people on this data",
    )


# ------------------------------------------------------------------------------------ from the store
def _human_labels(
    store: Store, *, queue_id: str | None, item_ids: Sequence[str] | None, name: str | None
) -> tuple[list[HumanLabel], str]:
    from assay.store.labels import LabelStore

    recs = LabelStore(store).labels(queue_id=queue_id, item_ids=item_ids, include_skipped=False)
    recs = [r for r in recs if r.value is not None]
    if name is None:
        names = Counter(r.name for r in recs)
        if not names:
            return [], ""
        name = names.most_common(1)[0][0]
    return [
        (r.item_id, r.annotator, float(r.value)) for r in recs if r.name == name and r.value is not None
    ], name


def agreement_for_queue(store: Store, queue: str, *, label_name: str | None = None) -> list[AgreementReport]:
    """Per scorer, agreement with the labels of one queue (scores as they were when it was built).

    Items showing monitored events also get the online scores stored since the queue was built (events
    are scored asynchronously, so a queue may be built before its events were scored).
    """
    from assay.label.queue import event_scores_for
    from assay.store.labels import LabelStore

    ls = LabelStore(store)
    q = ls.find_queue(queue)
    items = ls.items(q.queue_id)
    name = label_name or q.label_name
    labels, _ = _human_labels(store, queue_id=q.queue_id, item_ids=None, name=name)
    if not labels:
        raise ConfigError(
            f"queue {q.queue_id} ({q.name}) has no {name!r} labels yet: label it at /label/{q.queue_id} in "
            f"`assay serve`, or import labels with `assay label import FILE --queue {q.queue_id}`"
        )
    scores: dict[str, dict[str, float | None]] = {
        it.item_id: dict(it.payload.get("scores") or {}) for it in items
    }
    event_items = {it.event_id: it.item_id for it in items if it.event_id is not None}
    if event_items:
        for event_id, now in event_scores_for(store, list(event_items)).items():
            shown = scores[event_items[event_id]]
            for scorer, value in now.items():
                shown.setdefault(scorer, value)
    names = sorted({s for sc in scores.values() for s in sc})
    reports = []
    for scorer in names:
        judged = {i: float(v) for i, sc in scores.items() if (v := sc.get(scorer)) is not None}
        if judged:
            reports.append(agreement_from_values(judged, labels, scorer=scorer))
    return reports


def agreement_for_run(
    store: Store, run_id: str, *, label_name: str | None = None, queue: str | None = None
) -> list[AgreementReport]:
    """Per scorer of a run, agreement with every human label of the run's results (any queue).

    ``run_id`` may be a unique prefix (as ``assay show`` takes). ``queue`` restricts the labels to one
    queue sampled from the run (``agreement_for_queue``). A run without labels is a ``ConfigError``
    naming the command that builds a queue.

    Example:
        >>> [r.scorer for r in agreement_for_run(store, "2025")]      # doctest: +SKIP
        ['rubric']
    """
    from assay.label.queue import candidates_from_run
    from assay.label.runs import no_labels_message, queue_of_run, run_labels

    found = run_labels(store, run_id)
    if queue is not None:
        q = queue_of_run(found, store, queue)
        return agreement_for_queue(store, q.queue_id, label_name=label_name)
    if not found.has_labels:
        raise ConfigError(no_labels_message(found))
    run = found.run
    cands = candidates_from_run(store, run.run_id)
    ids = [c.item_id for c in cands]
    labels, name = _human_labels(store, queue_id=None, item_ids=ids, name=label_name)
    if not labels:
        raise ConfigError(f"run {run.run_id} has no {name or label_name!r} labels", field="label_name")
    names = sorted({s for c in cands for s in c.scores})
    reports = []
    for scorer in names:
        judged = {c.item_id: v for c in cands if (v := c.scores.get(scorer)) is not None}
        samples = {c.item_id: c.samples[scorer] for c in cands if scorer in c.samples}
        if judged:
            reports.append(agreement_from_values(judged, labels, scorer=scorer, samples=samples or None))
    return reports
