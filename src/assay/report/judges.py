"""What judging cost and how far the judges can be trusted: judge usage and human-label results of a run.

Two read-only sections for the run view, the static report, the dashboard and the evaluation card:

* ``judge_usage_for_run`` — per judge scorer, the calls, cache hits, tokens and cost of *judging*, summed
  (by ``assay.scorer.judge_core.judge_usage``) from the ``metadata["judge"]`` of the stored scores, so
  they are shown apart from the evaluated target's tokens and cost.
* ``human_labels_for_run`` — for every labelling queue built from the run: its progress and, per scorer,
  the agreement with the humans (``assay.label.agreement_for_queue``) and the metric estimated three
  ways (judge only, humans only, PPI; ``assay.label.estimate_for_queue``). Nothing is recomputed here:
  the numbers are the label package's own.

``labels_hash`` is the SHA-256 of the run's queues, items and labels as stored, for the card's manifest.

Example:
    >>> usage = judge_usage_for_run(store, run_id)                 # doctest: +SKIP
    >>> usage[0].scorer, usage[0].calls, usage[0].cost_usd          # doctest: +SKIP
    ('rubric', 40, 0.0021)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.types import ConfigError

if TYPE_CHECKING:
    from assay.label.agreement import AgreementReport
    from assay.label.estimate import EstimateReport
    from assay.report._queries import MetricColumn
    from assay.store.store import Store

__all__ = [
    "JudgeUsageRow",
    "QueueLabels",
    "ScorerLabels",
    "human_labels_for_run",
    "judge_usage_for_run",
    "labels_hash",
    "run_queue_ids",
]


@dataclass(frozen=True)
class JudgeUsageRow:
    """What one judge scorer cost over a run (``n`` scores carried judge usage).

    Cached verdicts count in ``cached``, not in ``calls``, and add no tokens or cost: what is shown was
    spent by this run (the judge scorers record a cached verdict's original usage apart, under
    ``metadata["judge"]["cache_saved"]``).
    """

    scorer: str
    n: int
    calls: int
    cached: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "n": self.n,
            "calls": self.calls,
            "cached": self.cached,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }


def judge_usage_for_run(store: Store, run_id: str) -> list[JudgeUsageRow]:
    """Per judge scorer of a run (sorted by name), its usage summed over the stored scores.

    Only scores whose metadata mentions ``"judge"`` are read and parsed; an empty list means the run
    has no judge scores.
    """
    from sqlalchemy import select

    from assay.scorer.judge_core import judge_usage
    from assay.store import schema

    s = schema.scores
    stmt = (
        select(s.c.name, s.c.metadata_json)
        .where(s.c.run_id == run_id, s.c.metadata_json.contains('"judge"', autoescape=True))
        .order_by(s.c.seq, s.c.idx)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    scores = [{"name": name, "metadata": json.loads(meta)} for name, meta in rows if meta]
    totals = judge_usage(scores)
    return [
        JudgeUsageRow(
            scorer=name,
            n=int(t["n"]),
            calls=int(t["calls"]),
            cached=int(t["cached"]),
            input_tokens=int(t["input_tokens"]),
            output_tokens=int(t["output_tokens"]),
            cost_usd=t["cost_usd"],
        )
        for name, t in sorted(totals.items())
    ]


@dataclass(frozen=True)
class ScorerLabels:
    """One scorer against one queue's human labels: agreement and the three estimates (None: see notes)."""

    scorer: str
    agreement: AgreementReport | None
    estimate: EstimateReport | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "agreement": self.agreement.to_dict() if self.agreement else None,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class QueueLabels:
    """A labelling queue built from the run: its design, progress and per-scorer results."""

    queue_id: str
    name: str
    label_name: str
    strategy: str | None
    n_items: int
    n_labelled: int
    annotators: list[str]
    scorers: list[ScorerLabels]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "name": self.name,
            "label_name": self.label_name,
            "strategy": self.strategy,
            "n_items": self.n_items,
            "n_labelled": self.n_labelled,
            "annotators": list(self.annotators),
            "scorers": [s.to_dict() for s in self.scorers],
            "notes": list(self.notes),
        }


def _has_label_tables(store: Store) -> bool:
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        return bool(inspect(conn).has_table("label_items"))


def run_queue_ids(store: Store, run_id: str) -> list[str]:
    """The ids of the label queues holding items of ``run_id`` (sorted). Never creates tables."""
    from sqlalchemy import select

    if not _has_label_tables(store):
        return []
    from assay.store.labels import label_items

    stmt = select(label_items.c.queue_id).where(label_items.c.run_id == run_id).distinct()
    with store.engine.connect() as conn:
        return sorted(str(r[0]) for r in conn.execute(stmt))


def _population(
    run_id: str, columns: Mapping[str, MetricColumn], failed: Collection[tuple[str, int]]
) -> dict[str, dict[str, float]]:
    """Per scorer, ``{item_id: value}`` over the run's successful results: what ``candidates_from_run``
    gives ``estimate_for_queue``, taken from the metric columns the view has already read."""
    from assay.label.queue import item_id_for

    return {
        name: {
            item_id_for(run_id, case_id, repeat): v
            for (case_id, repeat), v in col.values.items()
            if v is not None and (case_id, repeat) not in failed
        }
        for name, col in columns.items()
    }


def human_labels_for_run(
    store: Store,
    run_id: str,
    *,
    columns: Mapping[str, MetricColumn] | None = None,
    failed: Collection[tuple[str, int]] = (),
) -> list[QueueLabels]:
    """For each label queue built from ``run_id`` (oldest first): progress, agreement and estimates.

    A queue without labels yet, or a scorer whose estimate is undefined (fewer than two labelled items,
    constant values), is kept with the reason in ``notes``: never dropped, never a NaN. ``columns`` and
    ``failed`` (the run's metric columns and the keys of results whose target call failed, as the run
    view has them) spare a re-read of the whole run per scorer; the numbers are the same.

    Example:
        >>> [q.name for q in human_labels_for_run(store, run_id)]  # doctest: +SKIP
        ['week 12']
    """
    from assay.label.agreement import agreement_for_queue
    from assay.label.estimate import estimate_for_queue
    from assay.store.labels import LabelStore

    queue_ids = run_queue_ids(store, run_id)
    if not queue_ids:
        return []
    ls = LabelStore(store)
    population = _population(run_id, columns, failed) if columns is not None else None
    queues = sorted(
        (q for q in (ls.get_queue(i) for i in queue_ids) if q is not None), key=lambda q: q.created_at
    )
    out: list[QueueLabels] = []
    for q in queues:
        progress = ls.progress(q.queue_id)
        items = ls.items(q.queue_id)
        names = sorted({s for it in items for s in (it.payload.get("scores") or {})})
        notes: list[str] = []
        agreements: dict[str, AgreementReport] = {}
        try:
            agreements = {r.scorer: r for r in agreement_for_queue(store, q.queue_id)}
        except ConfigError as exc:
            notes.append(exc.message)
        scorers: list[ScorerLabels] = []
        if agreements or not notes:
            for name in names:
                s_notes: list[str] = []
                est: EstimateReport | None = None
                try:
                    own_run = population is not None and q.source.get("run_id") == run_id
                    judged = population.get(name, {}) if own_run and population is not None else None
                    est = estimate_for_queue(store, q.queue_id, scorer=name, judged=judged)
                except ConfigError as exc:
                    s_notes.append(f"no estimate: {exc.message}")
                except ValueError as exc:  # undefined on these values (e.g. too few distinct items)
                    s_notes.append(f"no estimate: {exc}")
                ag = agreements.get(name)
                if ag is None:
                    s_notes.append("no agreement: the scorer has no value on the labelled items")
                scorers.append(ScorerLabels(scorer=name, agreement=ag, estimate=est, notes=s_notes))
        out.append(
            QueueLabels(
                queue_id=q.queue_id,
                name=q.name,
                label_name=q.label_name,
                strategy=q.source.get("strategy"),
                n_items=q.n_items,
                n_labelled=int(progress["n_labelled"]),
                annotators=sorted(progress["annotators"]),
                scorers=scorers,
                notes=notes,
            )
        )
    return out


def labels_hash(store: Store, run_id: str) -> str:
    """SHA-256 of the run's label queues, their items and labels as stored (the empty list when none).

    Changes when a label is added, changed or removed, or a queue of the run is created, so a card's
    agreement and PPI numbers can be checked against the labels they were computed from.
    """
    from assay.store.labels import LabelStore

    digest = hashlib.sha256()
    queue_ids = run_queue_ids(store, run_id)
    if queue_ids:
        ls = LabelStore(store)
        for qid in queue_ids:
            q = ls.get_queue(qid)
            if q is None:
                continue
            head = [q.queue_id, q.name, q.source, q.rubric, q.overlap_k, q.n_items]
            digest.update(_canonical(head) + b"\n")
            for it in ls.items(qid):
                digest.update(_canonical(it.to_dict()) + b"\n")
            for lab in sorted(
                ls.labels(queue_id=qid), key=lambda r: (r.item_id, r.annotator, r.name, r.created_at)
            ):
                digest.update(_canonical(lab.to_dict()) + b"\n")
    return digest.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode(
        "utf-8"
    )
