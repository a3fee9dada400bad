"""Alerts with Prometheus Alertmanager semantics: pending -> firing -> resolved, ``for`` durations,
de-duplication, cooldown, repeat interval and grouped notifications. State lives in the store's
``alerts`` table, so ``assay monitor check`` run from cron continues where the last run stopped.

Per rule and label set (its *fingerprint*) there is at most one active alert:

* the condition starts to hold -> a **pending** alert (``pending_since`` = now); nobody is told;
* it still holds after ``for`` -> **firing** (``started_at`` = now) and a notification goes out; with
  ``for: 0`` it fires at once. Within ``cooldown`` after the previous alert of the same fingerprint
  resolved it stays pending (flapping does not page twice);
* it stops holding: a pending alert is dropped silently; a firing one is **resolved** (``ended_at``,
  time to recover = ended - started) and a notification goes out;
* while firing, the notification is repeated every ``repeat_interval`` (never more often).

Example:
    >>> engine = AlertEngine(store, rules, clock=clock)  # doctest: +SKIP
    >>> changed = engine.evaluate()  # at clock.now()  # doctest: +SKIP
    >>> [(a.rule, a.state) for a in changed]  # doctest: +SKIP
    [('slow_answers', 'firing')]
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from assay.monitor.clock import Clock, SystemClock
from assay.monitor.notify import Dispatcher, NotifyConfig
from assay.monitor.rules import Sample, evaluate_rule
from assay.store.events import AlertRecord

if TYPE_CHECKING:
    from assay.store import Store

__all__ = ["AlertEngine", "fingerprint"]

logger = logging.getLogger(__name__)


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """A stable id of a rule + label set (the de-duplication key)."""
    raw = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class AlertEngine:
    """Evaluates rules at ``clock.now()``, moves alerts through their states and dispatches notifications."""

    def __init__(
        self,
        store: Store,
        rules: Sequence[Any],
        *,
        notify: NotifyConfig | None = None,
        clock: Clock | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        names = [r.name for r in rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {dupes}")
        self.store = store
        self.rules = list(rules)
        self.clock = clock or SystemClock()
        self.dispatcher = dispatcher or Dispatcher(notify, clock=self.clock)

    def evaluate(self, now: datetime | None = None, *, flush: bool = True) -> list[AlertRecord]:
        """Evaluate every rule once; returns the alerts whose state changed (or were re-notified).

        A rule that fails to evaluate is logged and skipped (its alerts keep their state).
        """
        now = now or self.clock.now()
        es = self.store.events
        active = {a.fingerprint: a for a in es.list_alerts(states=("pending", "firing"), limit=None)}
        changed: list[AlertRecord] = []
        save: list[AlertRecord] = []
        delete: list[str] = []
        seen: set[str] = set()
        evaluated_rules: set[str] = set()
        for rule in self.rules:
            try:
                samples = evaluate_rule(self.store, rule, now)
            except Exception:
                logger.exception("rule %r could not be evaluated; its alerts keep their state", rule.name)
                seen.update(fp for fp, a in active.items() if a.rule == rule.name)
                continue
            evaluated_rules.add(rule.name)
            for sample in samples:
                fp = fingerprint(rule.name, sample.labels)
                seen.add(fp)
                self._step(rule, sample, fp, active.get(fp), now, changed, save, delete)
        by_name = {r.name: r for r in self.rules}
        for fp, alert in active.items():  # label sets without data now: their condition no longer holds
            if fp not in seen and alert.rule in evaluated_rules:
                gone = Sample(alert.rule, alert.labels, False, None, alert.summary)
                self._step(by_name[alert.rule], gone, fp, alert, now, changed, save, delete)
        es.save_alerts(save, delete=delete)
        notify = [a for a in changed if a.state in ("firing", "resolved")]
        if notify:
            self.dispatcher.submit(notify)
        if flush:
            self.dispatcher.flush()
        return changed

    def _step(
        self,
        rule: Any,
        sample: Sample,
        fp: str,
        alert: AlertRecord | None,
        now: datetime,
        changed: list[AlertRecord],
        save: list[AlertRecord],
        delete: list[str],
    ) -> None:
        repeat = timedelta(seconds=self.dispatcher.config.repeat_interval_s)
        if sample.active:
            if alert is None:
                alert = AlertRecord(
                    alert_id=f"{fp}-{int(now.timestamp() * 1000)}",
                    rule=rule.name,
                    fingerprint=fp,
                    labels=sample.labels,
                    state="pending",
                    severity=rule.severity,
                    value=sample.value,
                    summary=sample.summary,
                    pending_since=now,
                    started_at=None,
                    ended_at=None,
                    last_eval_at=now,
                    last_notified_at=None,
                    annotations={"for_s": rule.for_s, "window_s": rule.window},
                )
            else:
                alert = replace(alert, value=sample.value, summary=sample.summary, last_eval_at=now)
            if alert.state == "pending" and now - alert.pending_since >= timedelta(seconds=rule.for_s):
                if not self._cooling(rule, fp, now):  # in cooldown it stays pending
                    alert = replace(alert, state="firing", started_at=now, last_notified_at=now)
                    changed.append(alert)
            elif (
                alert.state == "firing"
                and alert.last_notified_at is not None
                and now - alert.last_notified_at >= repeat
            ):
                alert = replace(alert, last_notified_at=now)
                changed.append(alert)
            save.append(alert)
        elif alert is not None:
            if alert.state == "pending":
                delete.append(alert.alert_id)
            else:
                resolved = replace(
                    alert, state="resolved", ended_at=now, last_eval_at=now, last_notified_at=now
                )
                if sample.value is not None:  # what the rule sees now, not what it saw while firing
                    resolved = replace(resolved, value=sample.value, summary=sample.summary)
                changed.append(resolved)
                save.append(resolved)

    def _cooling(self, rule: Any, fp: str, now: datetime) -> bool:
        if rule.cooldown_s <= 0:
            return False
        last = next(
            (
                a
                for a in self.store.events.list_alerts(states=("resolved",), rule=rule.name, limit=50)
                if a.fingerprint == fp
            ),
            None,
        )
        return (
            last is not None
            and last.ended_at is not None
            and now - last.ended_at < timedelta(seconds=rule.cooldown_s)
        )
