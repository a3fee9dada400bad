"""The monitor configuration file (YAML): online scoring per app, anonymisation, rules and notifications.

Example ``monitor.yaml``::

    apps:
      support-bot:
        sample_rate: 0.2                 # score 20% of the events (a stable choice per event id)
        scorers:
          - abstention
          - {name: refusal, judge: true, options: {judge: {type: openai, base_url: ..., model: ...}}}
        judge_budget_per_hour: 100       # judged events per hour of traffic, at most
      "*": {sample_rate: 0.05, scorers: [latency]}   # any other app
    anonymise:
      fields: {output: keep, metadata.customer: hash}
    rules:
      - {name: slow_answers, expr: "p95_latency_s > 2 for 10m", window: 5m}
    notify:
      receivers: [{type: log}, {type: webhook, url: "http://127.0.0.1:9000/hook"}]

Errors name the file, the line and the field, like the suite file's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.notify import NotifyConfig
from assay.monitor.rules import Rule
from assay.types import ConfigError

__all__ = ["AppConfig", "MonitorConfig", "ScorerEntry", "load_monitor_config"]


class ScorerEntry(BaseModel):
    """One online scorer: a registered scorer name, its options, and whether it calls a judge."""

    model_config = ConfigDict(extra="forbid")
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    judge: bool | None = Field(
        default=None, description="Counts against the judge budget (default: has a judge option)."
    )

    @property
    def is_judge(self) -> bool:
        return bool(self.judge) if self.judge is not None else self.options.get("judge") is not None


class AppConfig(BaseModel):
    """Online scoring for one app (or ``"*"``: every app not named)."""

    model_config = ConfigDict(extra="forbid")
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    scorers: list[ScorerEntry] = Field(default_factory=list)
    judge_budget_per_hour: int | None = Field(
        default=None, ge=0, description="Judged events per hour; None: no limit."
    )

    @field_validator("scorers", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class MonitorConfig(BaseModel):
    """Everything ``assay monitor`` needs besides the store."""

    model_config = ConfigDict(extra="forbid")
    apps: dict[str, AppConfig] = Field(default_factory=dict)
    anonymise: AnonymisationConfig = Field(default_factory=AnonymisationConfig)
    rules: list[Rule] = Field(default_factory=list)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    def app(self, name: str) -> AppConfig | None:
        """The scoring config of app ``name`` (or of ``"*"``), None when it is not scored."""
        return self.apps.get(name) or self.apps.get("*")


def load_monitor_config(path: str | os.PathLike[str]) -> MonitorConfig:
    """Read and validate a monitor YAML file; ``ConfigError`` names file, line and field.

    Example:
        >>> load_monitor_config("monitor.yaml").rules[0].name  # doctest: +SKIP
        'slow_answers'
    """
    from assay.dataset._yaml import YAMLProblem, compose, construct, decode_utf8, node_line

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(p)) from None
    try:
        node = compose(decode_utf8(raw))
        data = construct(node) if node is not None else {}
    except YAMLProblem as exc:
        raise ConfigError(exc.message, file=str(p), line=exc.line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the monitor config must be a mapping (apps, anonymise, rules, notify)", file=str(p), line=1
        )
    try:
        return MonitorConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [x for x in err.get("loc", ()) if isinstance(x, str | int)]
        clean = [
            x for x in loc if x not in ("threshold", "change", "drift", "volume", "log", "file", "webhook")
        ]
        line = node_line(node, clean) if node is not None else None
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        raise ConfigError(
            msg, file=str(p), line=line, field=".".join(str(x) for x in clean) or None
        ) from None
