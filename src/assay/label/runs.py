"""Human labels of one run: which queues hold its results, and the run's estimate against people.

``assay estimate RUN_ID`` and ``assay agreement RUN_ID`` start from a run rather than a queue. A run's
labels live in the queues sampled from it (each a sample with its own design) and, when labels were
imported without a queue, directly on its items (``"<run_id>/<case_id>/<repeat>"``). This module finds
them (``run_labels``), resolves what a user typed (``find_queue_or_run``: a queue id or name, or a run
id or unique prefix, as ``assay show`` takes) and computes the estimate for the run
(``estimate_for_run``). When there is nothing to compare with, the error says the exact command that
builds a queue (``no_labels_message``).

Example:
    >>> r = estimate_for_run(store, "20250301-1200", scorer="rubric")   # doctest: +SKIP
    >>> r.ppi.mean, r.source["queue_id"]                                # doctest: +SKIP
    (0.71, '3f2a9c01d2e4')
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from assay.types import ConfigError, StoreError

if TYPE_CHECKING:
    from assay.label.estimate import EstimateReport
    from assay.store.labels import QueueRecord
    from assay.store.records import RunRecord
    from assay.store.store import Store

__all__ = [
    "RunLabels",
    "RunQueue",
    "estimate_for_run",
    "find_queue_or_run",
    "no_labels_message",
    "queue_of_run",
    "run_labels",
]


@dataclass(frozen=True)
class RunQueue:
    """A label queue holding ``n_items`` results of the run, ``n_labelled`` of them labelled."""

    queue: QueueRecord
    n_items: int
    n_labelled: int


@dataclass(frozen=True)
class RunLabels:
    """Where a run's human labels are: its queues (oldest first) and labels outside any queue."""

    run: RunRecord
    queues: list[RunQueue]
    n_loose: int

    @property
    def has_labels(self) -> bool:
        return self.n_loose > 0 or any(q.n_labelled for q in self.queues)


def run_labels(store: Store, run_id: str) -> RunLabels:
    """Find the run (an id or unique prefix; ``StoreError`` when unknown or ambiguous) and its labels.

    Example:
        >>> [q.queue.name for q in run_labels(store, "2025").queues]    # doctest: +SKIP
        ['week 12']
    """
    from assay.label.queue import item_id_for
    from assay.store.labels import LabelStore

    run = store.find_run(run_id)
    ls = LabelStore(store)
    per_queue: dict[str, list[str]] = {}
    for it in ls.items_for_run(run.run_id):
        per_queue.setdefault(it.queue_id, []).append(it.item_id)
    queues: list[RunQueue] = []
    for qid, item_ids in per_queue.items():
        q = ls.get_queue(qid)
        if q is None:
            continue
        labelled = {
            r.item_id
            for r in ls.labels(queue_id=qid, item_ids=item_ids, include_skipped=False)
            if r.value is not None
        }
        queues.append(RunQueue(queue=q, n_items=len(item_ids), n_labelled=len(labelled)))
    queues.sort(key=lambda rq: (rq.queue.created_at, rq.queue.queue_id))
    ids = [item_id_for(run.run_id, r.case_id, r.repeat) for r in store.iter_results(run.run_id)]
    loose = [r for r in ls.labels(queue_id="", item_ids=ids, include_skipped=False) if r.value is not None]
    return RunLabels(run=run, queues=queues, n_loose=len(loose))


def no_labels_message(labels: RunLabels, *, store_arg: str | None = None) -> str:
    """What to do when a run has no human labels: the exact commands (with ``--store`` when given)."""
    run_id = labels.run.run_id
    opt = f" --store {store_arg}" if store_arg else ""
    waiting = [rq.queue for rq in labels.queues]
    if waiting:
        shown = ", ".join(f"{q.queue_id} ({q.name})" for q in waiting)
        q = waiting[-1]
        return (
            f"run {run_id} has no human labels yet; its queue(s) {shown} wait for them: label in "
            f"`assay serve{opt}` at /label/{q.queue_id}, or `assay label import FILE --queue {q.queue_id}{opt}`"
        )
    return (
        f"run {run_id} has no human labels; create a queue with `assay label queue {run_id} --n 100 "
        f"--label-name correct{opt}`, then label it in `assay serve{opt}` (/label) or import labels with "
        f"`assay label import FILE --queue QUEUE{opt}`"
    )


def queue_of_run(labels: RunLabels, store: Store, queue: str) -> QueueRecord:
    """The queue named by ``queue`` (id, name or id prefix), which must hold results of the run."""
    from assay.store.labels import LabelStore

    q = LabelStore(store).find_queue(queue)
    if any(rq.queue.queue_id == q.queue_id for rq in labels.queues):
        return q
    mine = ", ".join(f"{rq.queue.queue_id} ({rq.queue.name})" for rq in labels.queues) or "none"
    raise ConfigError(
        f"label queue {q.queue_id} ({q.name}) holds no result of run {labels.run.run_id}; "
        f"the run's queues: {mine}",
        field="label_queue",
    )


def find_queue_or_run(store: Store, text: str) -> QueueRecord | RunRecord:
    """What ``text`` names: a label queue (id, name or id prefix) or a run (id or unique prefix).

    Exact ids and names win over prefixes; a prefix matching both a queue and a run is an error that
    lists both, and a text matching neither says where to look. Raises ``StoreError``.

    Example:
        >>> find_queue_or_run(store, "3f2a").run_id          # doctest: +SKIP
        '20250301-120000-3f2a9c'
    """
    from assay.store.labels import LabelStore

    ls = LabelStore(store)
    exact_queue = ls.get_queue(text)
    if exact_queue is not None:
        return exact_queue
    exact_run = store.get_run(text)
    if exact_run is not None:
        return exact_run
    queues = ls.list_queues()
    named = [q for q in queues if q.name == text]
    if len(named) == 1:
        return named[0]
    prefixed = named or [q for q in queues if q.queue_id.startswith(text)]
    run: RunRecord | None = None
    run_error: StoreError | None = None
    try:
        run = store.find_run(text)
    except StoreError as exc:
        run_error = exc
    if len(prefixed) == 1 and run is not None:
        q = prefixed[0]
        raise StoreError(
            f"{text!r} names both label queue {q.queue_id} ({q.name}) and run {run.run_id}; "
            "give more characters"
        )
    if run is not None:
        return run
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        shown = ", ".join(f"{q.queue_id} ({q.name})" for q in prefixed[:10])
        raise StoreError(f"label queue {text!r} is ambiguous: {shown}")
    if run_error is not None and _runs_with_prefix(store, text):
        raise run_error  # several runs start with it: find_run lists them
    raise StoreError(
        f"no run or label queue {text!r} in {store.safe_url}; `assay runs` lists the runs, "
        "`assay label list` the queues"
    )


def _runs_with_prefix(store: Store, text: str) -> int:
    from sqlalchemy import func, select

    from assay.store import schema

    runs = schema.runs
    stmt = select(func.count()).where(func.substr(runs.c.run_id, 1, len(text)) == text)
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def estimate_for_run(
    store: Store,
    run_id: str,
    *,
    scorer: str | None = None,
    queue: str | None = None,
    label_name: str | None = None,
    confidence: float = 0.95,
) -> EstimateReport:
    """The run's metric from its judge scores and human labels: judge only, humans only and PPI.

    The labels come from ``queue`` (which must hold the run's results), else from the one queue of the
    run that has labels; several labelled queues are several samples with their own designs, so one must
    be chosen. Without a queue, labels imported straight onto the run's items are used as a simple random
    sample (a note says so). No labels at all is a ``ConfigError`` saying how to create a queue.

    Example:
        >>> estimate_for_run(store, "2025", scorer="rubric").to_dict()["ppi"]["mean"]   # doctest: +SKIP
        0.71
    """
    from assay.label.estimate import estimate_for_queue

    labels = run_labels(store, run_id)
    run = labels.run
    if queue is not None:
        q = queue_of_run(labels, store, queue)
        return estimate_for_queue(
            store, q.queue_id, scorer=scorer, label_name=label_name, confidence=confidence
        )
    labelled = [rq for rq in labels.queues if rq.n_labelled]
    if len(labelled) > 1:
        shown = ", ".join(
            f"{rq.queue.queue_id} ({rq.queue.name}, {rq.n_labelled} labelled)" for rq in labelled
        )
        raise ConfigError(
            f"run {run.run_id} has labels in {len(labelled)} queues, each a sample with its own design: "
            f"choose one with --label-queue ({shown})",
            field="label_queue",
        )
    if labelled:
        report = estimate_for_queue(
            store, labelled[0].queue.queue_id, scorer=scorer, label_name=label_name, confidence=confidence
        )
        if labels.n_loose:
            report = replace(
                report,
                notes=[
                    *report.notes,
                    f"{labels.n_loose} label(s) imported without a queue were not used",
                ],
            )
        return report
    if labels.n_loose:
        return _estimate_from_loose_labels(store, run, scorer, label_name, confidence)
    raise ConfigError(no_labels_message(labels))


def _estimate_from_loose_labels(
    store: Store, run: RunRecord, scorer: str | None, label_name: str | None, confidence: float
) -> EstimateReport:
    from assay.label.agreement import MAX_LEVELS, consensus
    from assay.label.estimate import estimate_from_values
    from assay.label.queue import candidates_from_run
    from assay.store.labels import LabelStore

    cands = candidates_from_run(store, run.run_id)
    names = sorted({s for c in cands for s in c.scores})
    if scorer is None:
        if len(names) != 1:
            raise ConfigError(
                f"choose the scorer with --scorer; run {run.run_id} has: {', '.join(names) or '(none)'}",
                field="scorer",
            )
        scorer = names[0]
    elif scorer not in names:
        raise ConfigError(
            f"run {run.run_id} has no scorer {scorer!r}; known: {', '.join(names) or '(none)'}",
            field="scorer",
        )
    judged = {c.item_id: v for c in cands if (v := c.scores.get(scorer)) is not None}
    recs = [
        r
        for r in LabelStore(store).labels(
            queue_id="", item_ids=[c.item_id for c in cands], include_skipped=False
        )
        if r.value is not None
    ]
    if label_name is None:
        counts = Counter(r.name for r in recs)
        if len(counts) > 1:
            raise ConfigError(
                f"the run's labels have several names ({', '.join(sorted(counts))}): choose one with --label-name",
                field="label_name",
            )
        label_name = next(iter(counts))
    pairs = [
        (r.item_id, r.annotator, float(r.value)) for r in recs if r.name == label_name and r.value is not None
    ]
    if not pairs:
        raise ConfigError(f"run {run.run_id} has no {label_name!r} labels", field="label_name")
    human_all = consensus(pairs, discrete=len({v for _, _, v in pairs}) <= MAX_LEVELS)
    human = {i: v for i, v in human_all.items() if i in judged}
    notes = [
        f"{len(human_all)} labelled item(s) were imported without a queue: their sampling design is unknown, "
        "so they are treated as a simple random sample of the run's results"
    ]
    if len(human) < len(human_all):
        notes.append(
            f"{len(human_all) - len(human)} labelled item(s) have no {scorer!r} value and were left out"
        )
    report = estimate_from_values(judged, human, metric=label_name, confidence=confidence)
    return replace(report, scorer=scorer, notes=notes, source={"run_id": run.run_id, "queue_id": None})
