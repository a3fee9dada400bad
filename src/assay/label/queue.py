"""Labelling queues: which items people should label, chosen by a design whose probabilities are kept.

Candidates come from a run (one per result) or from monitored events, or from any list of items. A
sampling design picks the queue's items and records each item's **inclusion probability** ``pi``, so
estimates from the labels can be re-weighted by ``1/pi`` (Horvitz–Thompson) and stay unbiased for the
whole population even when rare slices or uncertain verdicts were over-sampled:

* ``random``      — simple random sample of ``n`` of ``N`` items: ``pi = n/N``.
* ``stratified``  — strata by a slice (``by="slice:category"``, a case metadata key) or by a scorer's
                    verdict (``by="score:rubric"``; continuous scores go into quartile bins); ``n`` is
                    spread equally over strata (capped by their size, the rest redistributed), and a
                    stratum ``h`` has ``pi = n_h/N_h``.
* ``uncertainty`` — Poisson sampling with ``pi`` proportional to the verdict's uncertainty (``1-|2s-1|``
                    for scores in [0, 1]; the spread of repeated samples; 1 for a failed score) plus a
                    floor, so every item keeps a positive probability. Items are presented most
                    uncertain first. The queue size is ``n`` on average.

A share ``overlap`` of the items is marked for labelling by ``overlap_k`` annotators (inter-annotator
agreement, the ceiling any judge can reach).

Example:
    >>> cands = [Candidate(item_id=str(i), payload={}) for i in range(10)]
    >>> items = sample_items(cands, 4, strategy="random", seed=1)
    >>> len(items), items[0].inclusion_prob
    (4, 0.4)
"""

from __future__ import annotations

import json
import logging
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from assay.store.labels import LabelStore, QueueItem, QueueRecord
from assay.types import Case, ConfigError, Output

if TYPE_CHECKING:
    from assay.store.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "STRATEGIES",
    "Candidate",
    "candidates_from_events",
    "candidates_from_run",
    "create_queue",
    "event_scores_for",
    "item_id_for",
    "sample_items",
]

STRATEGIES: Final = ("random", "stratified", "uncertainty")
UNCERTAINTY_FLOOR: Final = 0.05


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item that may be put in a queue: what annotators see (``payload``) and what it joins to.

    ``scores`` maps scorer names to values (None for a failed score) and ``samples`` to repeated
    samples when the judge ran with ``repeats``; ``metadata`` holds slices such as ``category``.
    ``seq`` is a monitored event's ingest number.
    """

    item_id: str
    payload: dict[str, Any]
    scores: dict[str, float | None] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    case_id: str | None = None
    repeat: int | None = None
    event_id: str | None = None
    seq: int | None = None


def item_id_for(run_id: str, case_id: str, repeat: int = 0) -> str:
    """The id of a run result as a label item: ``"<run_id>/<case_id>/<repeat>"``."""
    return f"{run_id}/{case_id}/{repeat}"


def _payload(case: dict[str, Any], output: dict[str, Any], scores: dict[str, Any]) -> dict[str, Any]:
    inp = case.get("input")
    if isinstance(inp, list):
        inp = "\n\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in inp if isinstance(m, dict))
    context = [d.get("text", "") for d in case.get("context") or () if isinstance(d, dict)]
    context += [d.get("text", "") for d in output.get("contexts") or () if isinstance(d, dict)]
    return {
        "input": str(inp or ""),
        "context": context,
        "output": str(output.get("text") or ""),
        "expected": case.get("expected"),
        "scores": scores,
        "metadata": case.get("metadata") or {},
    }


def candidates_from_run(store: Store, run_id: str) -> list[Candidate]:
    """One candidate per result of a run (results whose target call failed are left out)."""
    run = store.find_run(run_id)
    out = []
    for r in store.iter_results(run.run_id):
        if r.error_kind is not None:
            continue
        scores: dict[str, float | None] = {}
        samples: dict[str, list[float]] = {}
        for s in r.scores:
            v = s.get("value")
            scores[s["name"]] = None if v is None or s.get("error") else float(v)
            smp = (s.get("metadata") or {}).get("samples")
            if isinstance(smp, list) and smp:
                samples[s["name"]] = [float(x) for x in smp]
        out.append(
            Candidate(
                item_id=item_id_for(run.run_id, r.case_id, r.repeat),
                payload=_payload(r.case, r.output, scores),
                scores=scores,
                samples=samples,
                metadata=dict(r.case.get("metadata") or {}),
                run_id=run.run_id,
                case_id=r.case_id,
                repeat=r.repeat,
            )
        )
    return out


def _event_scores(store: Store, seqs: Sequence[int]) -> dict[int, dict[str, float | None]]:
    """``{event seq: {scorer: value}}`` of the online scores of these events (None for a failed score)."""
    from sqlalchemy import select

    from assay.store.events import event_scores as es

    out: dict[int, dict[str, float | None]] = {}
    if not seqs:
        return out
    stmt = select(es.c.event_seq, es.c.name, es.c.value, es.c.error)
    with store._read("read the online scores of events") as conn:
        for start in range(0, len(seqs), 500):
            rows = conn.execute(
                stmt.where(es.c.event_seq.in_(list(seqs[start : start + 500]))).order_by(es.c.scored_at)
            )
            for seq, name, value, error in rows:
                out.setdefault(int(seq), {})[name] = None if value is None or error else float(value)
    return out


def event_scores_for(store: Store, event_ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """``{event_id: {scorer: value}}``: the online scores stored now for these events (None: failed).

    Events are scored asynchronously (``assay.monitor.scoring``), so an event may have been scored after
    a queue showing it was built; this reads what the store holds now.
    """
    from sqlalchemy import select

    from assay.store.events import events as ev

    _ = store.events  # creates the monitoring tables on first use
    ids = list(dict.fromkeys(event_ids))
    seq_of: dict[int, str] = {}
    with store._read("look up events") as conn:
        for start in range(0, len(ids), 500):
            rows = conn.execute(
                select(ev.c.seq, ev.c.event_id).where(ev.c.event_id.in_(ids[start : start + 500]))
            )
            seq_of.update({int(seq): str(eid) for seq, eid in rows})
    by_seq = _event_scores(store, list(seq_of))
    return {seq_of[seq]: scores for seq, scores in by_seq.items()}


def candidates_from_events(
    store: Store, *, app: str | None = None, limit: int | None = None, until_seq: int | None = None
) -> list[Candidate]:
    """One candidate per stored monitoring event (optionally of one ``app``), with its online scores.

    Events whose app call failed (``error`` set) are left out, like failed results of a run. Events are
    read in ingest order; ``until_seq`` stops at that ingest number (``store.events.max_seq()`` when a
    queue is built), so the population a queue was sampled from can be read again later although new
    events keep arriving. An event that cannot be read (written by another version) is skipped with a
    warning. ``Candidate.seq`` holds the ingest number.

    Example:
        >>> cands = candidates_from_events(store, app="support-bot")          # doctest: +SKIP
        >>> cands[0].item_id, cands[0].scores                                   # doctest: +SKIP
        ('event/7f3a...', {'rubric': 1.0})
    """
    from sqlalchemy import select

    from assay.monitor.event import EventError, event_to_case_output, parse_event
    from assay.store.events import events as ev

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of events, got {limit!r}", field="limit")
    _ = store.events  # creates the monitoring tables on first use
    out: list[Candidate] = []
    cursor = 0
    skipped = 0
    while True:
        stmt = select(ev.c.seq, ev.c.event_json).where(ev.c.seq > cursor, ev.c.is_error.is_(False))
        if app is not None:
            stmt = stmt.where(ev.c.app == app)
        if until_seq is not None:
            stmt = stmt.where(ev.c.seq <= until_seq)
        with store._read("read events") as conn:
            page = [(int(s), str(j)) for s, j in conn.execute(stmt.order_by(ev.c.seq).limit(500))]
        if not page:
            break
        cursor = page[-1][0]
        parsed: list[tuple[int, Case, Output]] = []
        for seq, raw in page:
            try:
                case, output = event_to_case_output(parse_event(json.loads(raw)))
            except (EventError, ValueError) as exc:
                skipped += 1
                log.warning("event #%d cannot be read for a label queue and is left out: %s", seq, exc)
                continue
            if output.error is not None:
                continue
            parsed.append((seq, case, output))
        scores_by_seq = _event_scores(store, [seq for seq, _, _ in parsed])
        for seq, case, output in parsed:
            scores = scores_by_seq.get(seq, {})
            out.append(
                Candidate(
                    item_id=f"event/{case.id}",
                    payload=_payload(case.to_dict(), output.to_dict(), scores),
                    scores=scores,
                    metadata=dict(case.metadata),
                    event_id=case.id,
                    seq=seq,
                )
            )
            if limit is not None and len(out) >= limit:
                return out
    if skipped:
        log.warning("%d event(s) could not be read and are not in the candidates", skipped)
    return out


# ------------------------------------------------------------------------------------ designs
def _stratum(c: Candidate, by: str, bins: dict[str, list[float]]) -> str:
    kind, _, key = by.partition(":")
    if kind == "slice":
        value = c.metadata.get(key)
        return "(none)" if value is None else str(value)
    value = c.scores.get(key)
    if value is None:
        return "(error)" if key in c.scores else "(none)"
    edges = bins.get(key)
    if not edges:
        return str(bool(value)) if value in (0.0, 1.0) else f"{value:g}"
    q = sum(1 for e in edges if value > e)
    return f"q{q + 1}"


def _quartile_edges(values: list[float]) -> list[float]:
    distinct = sorted(set(values))
    if len(distinct) <= 4:
        return []
    s = sorted(values)
    return sorted({s[min(len(s) - 1, int(len(s) * q))] for q in (0.25, 0.5, 0.75)})


def _uncertainty(c: Candidate, score: str | None) -> float:
    names = [score] if score else list(c.scores)
    us = []
    for name in names:
        smp = c.samples.get(name)
        if smp and len(smp) > 1:
            mean = sum(smp) / len(smp)
            sd = math.sqrt(sum((x - mean) ** 2 for x in smp) / (len(smp) - 1))
            spread = (max(smp) - min(smp)) or 1.0
            us.append(min(1.0, 2 * sd / spread) if sd > 0 else 0.0)
            continue
        v = c.scores.get(name)
        if v is None:
            us.append(1.0)  # a failed or missing verdict is the most uncertain of all
        elif 0.0 <= v <= 1.0:
            us.append(1.0 - abs(2.0 * v - 1.0))
        else:
            us.append(0.5)
    return max(us) if us else 1.0


def _pps_probs(weights: list[float], n: int) -> list[float]:
    """Inclusion probabilities proportional to ``weights`` summing to ``n``, each capped at 1."""
    probs = [0.0] * len(weights)
    free = list(range(len(weights)))
    target = float(n)
    while free:
        total = sum(weights[i] for i in free)
        c = target / total
        capped = [i for i in free if c * weights[i] >= 1.0]
        if not capped:
            for i in free:
                probs[i] = c * weights[i]
            break
        for i in capped:
            probs[i] = 1.0
        target -= len(capped)
        free = [i for i in free if i not in set(capped)]
        if target <= 0:
            break
    return probs


def sample_items(
    candidates: Sequence[Candidate],
    n: int,
    *,
    strategy: str = "random",
    by: str | None = None,
    score: str | None = None,
    overlap: float = 0.0,
    seed: int = 0,
) -> list[QueueItem]:
    """Choose items for a queue by ``strategy`` and record each one's inclusion probability.

    ``by`` (stratified) is ``"slice:<metadata key>"`` or ``"score:<scorer name>"``; ``score``
    (uncertainty) names the verdict whose uncertainty drives the sampling (default: the most uncertain
    of all scores). ``overlap`` is the share of chosen items marked for several annotators.

    Example:
        >>> cands = [Candidate(item_id=str(i), payload={}, metadata={"lang": "en" if i < 8 else "de"}) for i in range(10)]
        >>> items = sample_items(cands, 4, strategy="stratified", by="slice:lang")
        >>> sorted((it.stratum, it.inclusion_prob) for it in items)
        [('de', 1.0), ('de', 1.0), ('en', 0.25), ('en', 0.25)]
    """
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"unknown sampling strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}",
            field="strategy",
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"the queue size must be a positive integer, got {n!r}", field="n")
    if not 0.0 <= overlap <= 1.0:
        raise ConfigError(f"overlap must be a share between 0 and 1, got {overlap!r}", field="overlap")
    if not candidates:
        raise ConfigError("there are no items to sample from (no successful results or events)")
    ids = [c.item_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ConfigError("candidate item ids must be unique")
    rng = random.Random(seed)
    big_n = len(candidates)
    n = min(n, big_n)
    chosen: list[tuple[Candidate, float, str | None]] = []
    if strategy == "random":
        picked = rng.sample(range(big_n), n)
        chosen = [(candidates[i], n / big_n, None) for i in picked]
    elif strategy == "stratified":
        if not by or not (by.startswith("slice:") or by.startswith("score:")) or not by.partition(":")[2]:
            raise ConfigError(
                "stratified sampling needs by='slice:<metadata key>' or by='score:<scorer>'", field="by"
            )
        key = by.partition(":")[2]
        if by.startswith("score:") and not any(key in c.scores for c in candidates):
            known = sorted({s for c in candidates for s in c.scores})
            raise ConfigError(
                f"no item has a score named {key!r}; scores: {', '.join(known) or '(none)'}", field="by"
            )
        bins: dict[str, list[float]] = {}
        if by.startswith("score:"):
            vals = [v for c in candidates if (v := c.scores.get(key)) is not None]
            bins[key] = _quartile_edges(vals)
        strata: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            strata.setdefault(_stratum(c, by, bins), []).append(i)
        alloc = {h: 0 for h in strata}
        left = n
        open_strata = sorted(strata)
        while left > 0 and open_strata:
            share = max(1, left // len(open_strata))
            for h in list(open_strata):
                take = min(share, len(strata[h]) - alloc[h], left)
                alloc[h] += take
                left -= take
                if alloc[h] >= len(strata[h]):
                    open_strata.remove(h)
                if left == 0:
                    break
        for h in sorted(strata):
            members = strata[h]
            if alloc[h] == 0:
                continue
            for i in rng.sample(members, alloc[h]):
                chosen.append((candidates[i], alloc[h] / len(members), h))
        rng.shuffle(chosen)
    else:  # uncertainty
        if score is not None and not any(score in c.scores for c in candidates):
            raise ConfigError(f"no item has a score named {score!r}", field="score")
        u = [_uncertainty(c, score) for c in candidates]
        probs = _pps_probs([x + UNCERTAINTY_FLOOR for x in u], n)
        picked = [i for i in range(big_n) if rng.random() < probs[i]]
        picked.sort(key=lambda i: (-u[i], rng.random()))
        chosen = [(candidates[i], probs[i], f"u={u[i]:.2f}") for i in picked]
    n_overlap = round(overlap * len(chosen))
    overlap_ids = {c.item_id for c, _, _ in rng.sample(chosen, n_overlap)} if n_overlap else set()
    return [
        QueueItem(
            item_id=c.item_id,
            position=pos,
            inclusion_prob=float(pi),
            payload=c.payload,
            stratum=stratum,
            overlap=c.item_id in overlap_ids,
            run_id=c.run_id,
            case_id=c.case_id,
            repeat=c.repeat,
            event_id=c.event_id,
        )
        for pos, (c, pi, stratum) in enumerate(chosen)
    ]


def create_queue(
    store: Store,
    candidates: Sequence[Candidate],
    n: int,
    *,
    name: str,
    strategy: str = "random",
    by: str | None = None,
    score: str | None = None,
    overlap: float = 0.0,
    overlap_k: int = 2,
    seed: int = 0,
    rubric: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    queue_id: str | None = None,
) -> QueueRecord:
    """Sample a queue from ``candidates`` and store it. Returns the stored queue.

    ``rubric`` says what is asked: ``{"name": "correct", "choices": {"yes": 1, "no": 0},
    "instructions": "..."}`` (the default is a binary ``label`` with choices yes=1 / no=0).

    ``source`` says where the candidates came from, so estimates can read the population again:
    ``{"run_id": ...}`` for a run; for monitored events ``{"events": True, "app": ...}`` (the ingest
    number of the last candidate is added as ``until_seq``).

    Example:
        >>> q = create_queue(store, candidates_from_run(store, run_id), 100, name="week 12")  # doctest: +SKIP
    """
    if overlap_k < 2:
        raise ConfigError(f"overlap_k must be at least 2 annotators, got {overlap_k}", field="overlap_k")
    items = sample_items(candidates, n, strategy=strategy, by=by, score=score, overlap=overlap, seed=seed)
    rub = dict(rubric or {})
    rub.setdefault("name", "label")
    rub.setdefault("choices", {"yes": 1, "no": 0})
    choices = rub["choices"]
    if (
        not isinstance(choices, dict)
        or not choices
        or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in choices.items()
        )
    ):
        raise ConfigError("rubric choices must map labels to numbers, e.g. {yes: 1, no: 0}", field="choices")
    src = dict(source or {})
    seqs = [c.seq for c in candidates if c.event_id is not None and c.seq is not None]
    if seqs and len(seqs) == len(candidates) and not src.get("run_id"):
        # monitored events: record how to read the same population again (new events keep arriving)
        src.setdefault("events", True)
        src.setdefault("until_seq", max(seqs))
    queue = QueueRecord(
        queue_id=queue_id or uuid.uuid4().hex[:12],
        name=name,
        created_at=datetime.now(UTC),
        source={
            **src,
            "strategy": strategy,
            "by": by,
            "score": score,
            "seed": seed,
            "n_requested": n,
            "n_population": len(candidates),
            "overlap": overlap,
        },
        rubric=rub,
        overlap_k=overlap_k,
        n_items=len(items),
    )
    LabelStore(store).create_queue(queue, items)
    return queue
