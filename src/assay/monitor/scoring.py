"""Online scoring: a worker scores a sample of stored events with the same scorers as offline suites.

The worker reads events in ingest order after its cursor (kept in the store's ``monitor_state``), picks
a sample per app (``sample_rate``; the choice is a hash of the event id, so it is stable across
restarts and the same event is never re-drawn), turns each event into ``Case`` + ``Output``, runs the
app's scorers concurrently, and stores the scores together with the new cursor in one transaction. After
downtime it simply continues from the cursor: the backlog is caught up in batches.

Judge-based scorers (an LLM judge costs money) respect ``judge_budget_per_hour``: at most that many
events per hour of *event time* are judged, so a caught-up backlog spends what its hours would have
spent, not more. Events over the budget are not judged (counted in ``skipped_budget``); the other
scorers still run. A scorer whose case-side requirements (``expected``, ``context``) the event lacks
is skipped for that event, not failed.

Example:
    >>> worker = ScoringWorker(store, config)  # doctest: +SKIP
    >>> worker.run_once().scored  # doctest: +SKIP
    42
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from assay.monitor.config import AppConfig, MonitorConfig
from assay.monitor.event import Event, event_to_case_output
from assay.scorer.base import CASE_FIELDS, Scorer, create_scorer
from assay.types import Case, Output, Score

if TYPE_CHECKING:
    from assay.store import Store

__all__ = ["ScoringReport", "ScoringWorker", "sampled"]

logger = logging.getLogger(__name__)

CURSOR_KEY: Final = "scoring.cursor"
BUDGET_KEY: Final = "scoring.judge_budget"


def sampled(event_id: str, rate: float) -> bool:
    """Whether ``event_id`` is in a ``rate`` sample (a stable hash: the same answer every time).

    Example:
        >>> sampled("e-1", 1.0), sampled("e-1", 0.0)
        (True, False)
    """
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    h = int.from_bytes(hashlib.sha256(event_id.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < rate


@dataclass
class ScoringReport:
    """What one pass did."""

    scanned: int = 0
    sampled: int = 0
    scores: int = 0
    failed_scores: int = 0
    skipped_budget: int = 0
    skipped_requirements: int = 0
    cursor: int = 0

    def add(self, other: ScoringReport) -> None:
        for name in (
            "scanned",
            "sampled",
            "scores",
            "failed_scores",
            "skipped_budget",
            "skipped_requirements",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cursor = other.cursor


class ScoringWorker:
    """Scores sampled events of a store as ``config.apps`` says; call ``run_once`` or ``run``."""

    def __init__(
        self, store: Store, config: MonitorConfig, *, batch_size: int = 500, concurrency: int = 16
    ) -> None:
        self.store = store
        self.config = config
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._scorers: dict[str, list[tuple[Scorer, bool]]] = {}
        for app, cfg in config.apps.items():  # build now: a misconfigured scorer fails at start
            self._scorers[app] = [(create_scorer(s.name, **s.options), s.is_judge) for s in cfg.scorers]

    def _app(self, name: str) -> tuple[AppConfig | None, list[tuple[Scorer, bool]]]:
        if name in self.config.apps:
            return self.config.apps[name], self._scorers[name]
        if "*" in self.config.apps:
            return self.config.apps["*"], self._scorers["*"]
        return None, []

    def run_once(self) -> ScoringReport:
        """Score the next batch of events after the cursor; returns what was done (scanned 0: caught up)."""
        es = self.store.events
        cursor = int(es.get_state(CURSOR_KEY, 0))
        budget: dict[str, dict[str, int]] = es.get_state(BUDGET_KEY, {}) or {}
        batch = es.events_after(cursor, limit=self.batch_size)
        report = ScoringReport(scanned=len(batch), cursor=cursor)
        if not batch:
            return report
        jobs: list[tuple[int, Event, Case, Output, list[Scorer]]] = []
        for seq, data in batch:
            report.cursor = seq
            try:
                event = Event.model_validate(data)
            except Exception as exc:  # written by an older/newer version: skip, do not stall the cursor
                logger.warning("event #%d cannot be read for scoring: %s", seq, exc)
                continue
            cfg, scorers = self._app(event.app)
            if cfg is None or not scorers or not sampled(event.event_id, cfg.sample_rate):
                continue
            report.sampled += 1
            case, output = event_to_case_output(event)
            chosen = []
            judge_allowed = self._judge_allowed(budget, event, cfg)
            for scorer, is_judge in scorers:
                missing = (scorer.requires & CASE_FIELDS) - _present(case)
                if missing:
                    report.skipped_requirements += 1
                    continue
                if is_judge and not judge_allowed:
                    report.skipped_budget += 1
                    continue
                chosen.append(scorer)
            if chosen:
                jobs.append((seq, event, case, output, chosen))
        rows = asyncio.run(self._score_all(jobs, report)) if jobs else []
        _prune(budget)
        es.add_scores(rows, state={CURSOR_KEY: report.cursor, BUDGET_KEY: budget})
        return report

    def _judge_allowed(self, budget: dict[str, dict[str, int]], event: Event, cfg: AppConfig) -> bool:
        if cfg.judge_budget_per_hour is None:
            return True
        ts = event.ts or datetime.now(UTC)
        hour = ts.strftime("%Y-%m-%dT%H")
        used = budget.setdefault(event.app, {}).get(hour, 0)
        if used >= cfg.judge_budget_per_hour:
            return False
        budget[event.app][hour] = used + 1
        return True

    async def _score_all(
        self, jobs: list[tuple[int, Event, Case, Output, list[Scorer]]], report: ScoringReport
    ) -> list[tuple[Any, ...]]:
        sem = asyncio.Semaphore(self.concurrency)
        now = self.store.events.db_datetime(datetime.now(UTC))
        db_bool = self.store.events.db_bool

        async def one(scorer: Scorer, case: Case, output: Output) -> list[Score]:
            async with sem:
                try:
                    result = await scorer.score(case, output)
                except Exception as exc:  # a scorer bug is a failed score, never a crash of the worker
                    return [Score.failed(scorer.name, f"{type(exc).__name__}: {exc}")]
            return result if isinstance(result, list) else [result]

        tasks = [
            (seq, ev, asyncio.ensure_future(one(sc, case, out)))
            for seq, ev, case, out, scorers in jobs
            for sc in scorers
        ]
        rows: list[tuple[Any, ...]] = []
        for seq, ev, task in tasks:
            for sc in await task:
                value = sc.value
                if value is not None and not isinstance(value, bool) and value != value:
                    sc = Score.failed(sc.name, "the scorer returned NaN", kind=sc.kind)
                    value = None
                report.scores += 1
                report.failed_scores += sc.error is not None or value is None
                rows.append(
                    (
                        seq,
                        sc.name,
                        ev.ts.timestamp() if ev.ts else 0.0,
                        ev.app,
                        ev.variant,
                        ev.model,
                        None if value is None else float(value),
                        db_bool(isinstance(value, bool)),
                        sc.kind,
                        db_bool(sc.higher_is_better),
                        sc.error,
                        sc.explanation or "",
                        json.dumps(sc.metadata or {}, default=str),
                        now,
                    )
                )
        return rows

    def catch_up(self, *, max_batches: int | None = None) -> ScoringReport:
        """Score everything after the cursor (the backlog after downtime); returns the totals."""
        total = ScoringReport()
        n = 0
        while max_batches is None or n < max_batches:
            r = self.run_once()
            total.add(r)
            n += 1
            if r.scanned < self.batch_size:
                break
        return total

    def run(self, stop: threading.Event, *, poll_s: float = 1.0) -> ScoringReport:
        """Keep scoring until ``stop`` is set (errors are logged, the worker keeps going)."""
        total = ScoringReport()
        while not stop.is_set():
            try:
                r = self.catch_up()
                total.add(r)
            except Exception:
                logger.exception("online scoring pass failed; retrying")
            stop.wait(poll_s)
        return total


def _present(case: Case) -> set[str]:
    have = set()
    if case.expected is not None:
        have.add("expected")
    if case.context:
        have.add("context")
    return have


def _prune(budget: dict[str, dict[str, int]], keep: int = 72) -> None:
    """Keep the budget counters of the latest ``keep`` hours per app."""
    for app, hours in budget.items():
        if len(hours) > keep:
            budget[app] = dict(sorted(hours.items())[-keep:])
