"""Alert delivery: grouping of notifications and the receivers (log, file, webhook, Slack-style webhook).

Notifications are grouped like Alertmanager routes: alerts whose ``group_by`` labels agree travel in one
message. A new group waits ``group_wait`` before its first message (to collect alerts that fire
together); after a message, further changes in the group wait ``group_interval``. Webhooks get a JSON
POST (the Alertmanager webhook shape, or ``format: slack``: ``{"text": ...}``), retried with exponential
backoff on connection errors, 429 (honouring ``Retry-After``) and 5xx. Delivery never raises: failures
are logged and reported in the result.

Example (YAML)::

    notify:
      group_by: [rule]
      group_wait: 30s
      receivers:
        - {type: log}
        - {type: file, path: alerts.jsonl}
        - {type: webhook, url: "https://hooks.example.com/x", format: slack, max_attempts: 5}
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.monitor.clock import Clock, SystemClock, parse_duration
from assay.store.events import AlertRecord

__all__ = [
    "Dispatcher",
    "FileReceiver",
    "LogReceiver",
    "Notification",
    "NotifyConfig",
    "WebhookReceiver",
    "send",
]

logger = logging.getLogger(__name__)


class LogReceiver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["log"]
    level: Literal["info", "warning", "error"] = "warning"


class FileReceiver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["file"]
    path: str = Field(description="JSON Lines file; one message per line (appended).")


class WebhookReceiver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"]
    url: str
    format: Literal["json", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = 5.0
    max_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(
        default=0.5, ge=0, description="First retry delay; doubles each time (max 30 s)."
    )


Receiver = Annotated[LogReceiver | FileReceiver | WebhookReceiver, Field(discriminator="type")]


class NotifyConfig(BaseModel):
    """The ``notify:`` block: grouping and receivers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    group_by: list[str] = Field(default_factory=lambda: ["rule"])
    group_wait_s: float = Field(default=0.0, alias="group_wait")
    group_interval_s: float = Field(default=300.0, alias="group_interval")
    repeat_interval_s: float = Field(default=4 * 3600.0, alias="repeat_interval")
    receivers: list[Receiver] = Field(default_factory=lambda: [LogReceiver(type="log")])  # type: ignore[arg-type]

    @field_validator("group_wait_s", "group_interval_s", "repeat_interval_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


@dataclass
class Notification:
    """One message: a group of alerts that changed (fired, resolved, or are repeated)."""

    group_key: str
    group_labels: dict[str, str]
    alerts: list[AlertRecord]

    @property
    def status(self) -> str:
        return "firing" if any(a.state == "firing" for a in self.alerts) else "resolved"

    def payload(self) -> dict[str, Any]:
        """The Alertmanager-webhook-shaped JSON body."""
        return {
            "version": "1",
            "source": "assay",
            "status": self.status,
            "groupKey": self.group_key,
            "groupLabels": self.group_labels,
            "alerts": [
                {
                    "status": a.state,
                    "rule": a.rule,
                    "labels": {"alertname": a.rule, "severity": a.severity, **a.labels},
                    "annotations": {"summary": a.summary, **a.annotations},
                    "value": a.value,
                    "startsAt": (a.started_at or a.pending_since).isoformat(),
                    "endsAt": a.ended_at.isoformat() if a.ended_at else None,
                    "timeToRecoverS": a.time_to_recover_s,
                    "fingerprint": a.fingerprint,
                }
                for a in self.alerts
            ],
        }

    def text(self) -> str:
        """A human line per alert (log lines, Slack messages)."""
        lines = []
        for a in self.alerts:
            labels = ",".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if v)
            extra = (
                f" after {a.time_to_recover_s:.0f}s"
                if a.state == "resolved" and a.time_to_recover_s is not None
                else ""
            )
            lines.append(f"[{a.state.upper()}] {a.rule}{{{labels}}} ({a.severity}){extra}: {a.summary}")
        return "\n".join(lines)


@dataclass
class Delivery:
    receiver: str
    ok: bool
    attempts: int
    error: str | None = None


def _post(rcv: WebhookReceiver, body: dict[str, Any], sleep: Callable[[float], None]) -> Delivery:
    import httpx

    error = ""
    for attempt in range(1, rcv.max_attempts + 1):
        retry_after: float | None = None
        try:
            r = httpx.post(rcv.url, json=body, headers=rcv.headers, timeout=rcv.timeout_s)
            if r.status_code < 300:
                return Delivery(rcv.url, True, attempt)
            error = f"HTTP {r.status_code}"
            if r.status_code != 429 and r.status_code < 500:
                return Delivery(rcv.url, False, attempt, error)  # a client error does not heal by retrying
            ra = r.headers.get("retry-after", "")
            retry_after = float(ra) if ra.replace(".", "", 1).isdigit() else None
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < rcv.max_attempts:
            delay = retry_after if retry_after is not None else min(30.0, rcv.backoff_s * 2 ** (attempt - 1))
            sleep(delay)
    logger.error("alert webhook %s failed after %d attempts: %s", rcv.url, rcv.max_attempts, error)
    return Delivery(rcv.url, False, rcv.max_attempts, error)


def send(
    note: Notification, receivers: list[Any], *, sleep: Callable[[float], None] = time.sleep
) -> list[Delivery]:
    """Deliver one notification to every receiver; never raises."""
    results = []
    for rcv in receivers:
        try:
            if isinstance(rcv, LogReceiver):
                logger.log(logging.getLevelName(rcv.level.upper()), "alert: %s", note.text())
                results.append(Delivery("log", True, 1))
            elif isinstance(rcv, FileReceiver):
                path = Path(rcv.path)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(note.payload(), ensure_ascii=False) + "\n")
                results.append(Delivery(str(path), True, 1))
            else:
                body = {"text": note.text()} if rcv.format == "slack" else note.payload()
                results.append(_post(rcv, body, sleep))
        except Exception as exc:
            logger.exception("alert delivery failed")
            results.append(Delivery(getattr(rcv, "type", "?"), False, 1, str(exc)))
    return results


@dataclass
class _Group:
    labels: dict[str, str]
    pending: dict[str, AlertRecord] = field(default_factory=dict)  # fingerprint -> latest record
    next_flush: datetime | None = None
    last_flush: datetime | None = None


class Dispatcher:
    """Groups alert changes and sends them per ``NotifyConfig`` (group_wait / group_interval) on a clock."""

    def __init__(
        self,
        config: NotifyConfig | None = None,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or NotifyConfig()
        self.clock = clock or SystemClock()
        self.sleep = sleep
        self._groups: dict[str, _Group] = {}
        self.sent: list[Notification] = []
        """Every notification sent so far (the demo prints them; tests inspect them)."""

    def submit(self, alerts: list[AlertRecord]) -> None:
        """Queue alerts that changed state (or are due for a repeat)."""
        now = self.clock.now()
        for a in alerts:
            labels = {k: (a.rule if k == "rule" else a.labels.get(k, "")) for k in self.config.group_by}
            key = json.dumps(labels, sort_keys=True)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(labels)
            if group.next_flush is None:
                if group.last_flush is None:  # a new group waits to collect alerts that fire together
                    group.next_flush = now + timedelta(seconds=self.config.group_wait_s)
                else:  # later changes go out at most once per group_interval
                    group.next_flush = group.last_flush + timedelta(seconds=self.config.group_interval_s)
            group.pending[a.fingerprint] = a

    def flush(self, *, force: bool = False) -> list[Notification]:
        """Send every group that is due (all of them with ``force``); returns what was sent."""
        now = self.clock.now()
        out = []
        for key, group in self._groups.items():
            if not group.pending or group.next_flush is None:
                continue
            if force or group.next_flush <= now:
                note = Notification(key, group.labels, list(group.pending.values()))
                send(note, list(self.config.receivers), sleep=self.sleep)
                group.pending.clear()
                group.last_flush = now
                group.next_flush = None
                out.append(note)
        self.sent.extend(out)
        return out
