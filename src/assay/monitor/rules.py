"""Alerting rules (YAML) and their evaluation: threshold, change vs a baseline, drift, volume anomaly.

Each rule is evaluated at a time ``now`` over the window ``[now - window, now)``, for each label set of
its ``group_by`` keys (app, variant, model), and yields one ``Sample`` per group: whether the condition
holds, the value, and a one-line summary. ``assay.monitor.alerts`` turns samples into alerts.

=============  =============================================================================================
type           condition
=============  =============================================================================================
``threshold``  ``expr: "p95_latency_s > 2 for 10m"``: a window metric (``assay.monitor.windows.METRICS`` or
               ``score.<name>``) compared with a number (``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``)
``change``     ``metric`` in the window differs from the ``baseline`` window just before it (or ``offset``
               earlier) by a statistical test at level ``alpha`` (chi-square for rates, Mann-Whitney or
               Welch for continuous values, from ``assay.stats``), in ``direction``, by at least
               ``min_change``
``drift``      the distribution of ``field`` (latency_s, ttft_s, input_chars, output_chars, input_tokens,
               output_tokens, cost_usd, ``score.<name>``, or categorical ``metadata.<key>``) in the window
               vs a ``reference`` window: ``psi`` above ``threshold`` (default 0.25), or ``ks`` p-value
               below ``alpha``
``volume``     the window's event count is anomalous against the same-sized windows of the ``baseline``
               period: ``|z| > z`` (std floored at the Poisson sqrt(mean)), ``direction`` drop/spike/any
=============  =============================================================================================

Example (YAML)::

    rules:
      - name: slow_answers
        expr: "p95_latency_s > 2 for 10m"
        window: 5m
      - {name: more_errors, type: change, metric: error_rate, window: 1h, baseline: 1d, direction: increase}
      - {name: new_topics, type: drift, field: metadata.topic, window: 1h, reference: {window: 1d, offset: 1d}}
      - {name: traffic_drop, type: volume, window: 10m, baseline: 1d, direction: drop}
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import and_, func, select

from assay.monitor.clock import parse_duration
from assay.monitor.windows import GROUP_KEYS, METRICS, WindowAggregate, aggregate
from assay.store.events import event_scores, events

if TYPE_CHECKING:
    from assay.store import Store

__all__ = [
    "ChangeRule",
    "DriftRule",
    "Rule",
    "Sample",
    "ThresholdRule",
    "VolumeRule",
    "evaluate_rule",
    "parse_rule",
    "save_rules",
    "stored_rules",
]

logger = logging.getLogger(__name__)

_EXPR = re.compile(
    r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|!=|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*(?:for\s+(\S+))?\s*$"
)
_OPS: Final = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_NUMERIC_FIELDS: Final = (
    "latency_s",
    "ttft_s",
    "input_chars",
    "output_chars",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
_RATE_METRICS: Final = (
    "error_rate",
    "thumbs_up_rate",
    "resolution_rate",
    "escalation_rate",
    "acceptance_rate",
)
MAX_SAMPLE: Final = 20_000


def _check_metric(name: str) -> str:
    if name.startswith("score.") and len(name) > 6:
        return name
    if name not in METRICS:
        import difflib

        close = difflib.get_close_matches(name, METRICS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}, score.<scorer>.{hint}")
    return name


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, description="Unique rule name (the alert's name).")
    window: float = Field(default=300.0, description="Evaluation window, e.g. 5m.")
    for_s: float = Field(default=0.0, alias="for", description="How long the condition must hold to fire.")
    severity: Literal["info", "warning", "critical"] = "warning"
    group_by: list[str] = Field(
        default_factory=lambda: ["app"], description="Label keys: app, variant, model."
    )
    where: dict[str, str] = Field(default_factory=dict, description="Only these apps/variants/models.")
    min_events: int = Field(default=1, ge=0, description="Fewer events in the window: no data, no alert.")
    cooldown_s: float = Field(default=0.0, alias="cooldown", description="Quiet time after a resolution.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the alert.")
    summary: str | None = Field(default=None, description="Overrides the generated one-line summary.")

    @field_validator("window", "for_s", "cooldown_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("group_by")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        bad = [k for k in value if k not in GROUP_KEYS]
        if bad:
            raise ValueError(f"unknown group key(s) {bad}; use some of {list(GROUP_KEYS)}")
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: dict[str, str]) -> dict[str, str]:
        cls._keys(list(value))
        return value


class ThresholdRule(_RuleBase):
    """A window metric compared with a number (``expr: "p95_latency_s > 2 for 10m"``)."""

    type: Literal["threshold"] = "threshold"
    expr: str | None = None
    metric: str = ""
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    value: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _parse_expr(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("expr"), str):
            m = _EXPR.match(data["expr"])
            if not m:
                raise ValueError(
                    f"cannot parse expr {data['expr']!r}; expected e.g. 'p95_latency_s > 2 for 10m'"
                )
            data = {**data, "metric": m.group(1), "op": m.group(2), "value": float(m.group(3))}
            if m.group(4):
                data.setdefault("for", m.group(4))
        return data

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return _check_metric(value)


class ChangeRule(_RuleBase):
    """The metric moved vs the baseline window, by a statistical test."""

    type: Literal["change"]
    metric: str
    baseline: float = Field(default=86400.0, description="Baseline window length.")
    offset: float | None = Field(
        default=None, description="Baseline ends this long before now (default: window)."
    )
    test: Literal["auto", "chi_square", "mann_whitney", "welch"] = "auto"
    alpha: float = Field(default=0.01, gt=0, lt=1)
    direction: Literal["increase", "decrease", "any"] = "any"
    min_change: float = Field(default=0.0, ge=0, description="Smallest absolute change worth an alert.")

    @field_validator("baseline", "offset", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value in _RATE_METRICS or value in _NUMERIC_FIELDS or value.startswith("score."):
            return value
        raise ValueError(
            f"change rules compare per-event values: metric must be one of {[*_RATE_METRICS, *_NUMERIC_FIELDS]} "
            f"or score.<name>, got {value!r}"
        )


class Reference(BaseModel):
    """The reference period: relative (``window`` ending ``offset`` before now) or fixed (``start``-``end``)."""

    model_config = ConfigDict(extra="forbid")
    window: float = Field(default=86400.0)
    offset: float = Field(default=86400.0, description="The reference ends this long before now.")
    start: datetime | None = Field(default=None, description="A fixed reference (e.g. a known-good week).")
    end: datetime | None = None

    @field_validator("window", "offset", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime | None:
        from assay.monitor.event import parse_ts

        return parse_ts(value)

    @model_validator(mode="after")
    def _both(self) -> Reference:
        if (self.start is None) != (self.end is None) or (self.start and self.end and self.end <= self.start):
            raise ValueError("a fixed reference needs both start and end, with end after start")
        return self

    def span(self, now: datetime) -> tuple[datetime, datetime]:
        if self.start is not None and self.end is not None:
            return self.start, self.end
        end = now - timedelta(seconds=self.offset)
        return end - timedelta(seconds=self.window), end


class DriftRule(_RuleBase):
    """The distribution of a field shifted vs a reference window (PSI or KS)."""

    type: Literal["drift"]
    field: str
    method: Literal["psi", "ks"] = "psi"
    threshold: float = Field(default=0.25, gt=0, description="PSI above this is drift.")
    alpha: float = Field(default=0.01, gt=0, lt=1, description="KS p-value below this is drift.")
    reference: Reference = Field(default_factory=Reference)
    min_events: int = Field(default=30, ge=1)

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        if value in _NUMERIC_FIELDS or (
            value.startswith(("metadata.", "score.")) and len(value.split(".", 1)[1]) > 0
        ):
            return value
        raise ValueError(
            f"drift field must be one of {list(_NUMERIC_FIELDS)}, metadata.<key> or score.<name>"
        )

    @model_validator(mode="after")
    def _categorical_needs_psi(self) -> DriftRule:
        if self.field.startswith("metadata.") and self.method == "ks":
            raise ValueError("ks needs a numeric field; use method: psi for metadata.<key>")
        return self


class VolumeRule(_RuleBase):
    """The event count of the window is anomalous against the baseline period's windows."""

    type: Literal["volume"]
    baseline: float = Field(default=86400.0)
    z: float = Field(default=4.0, gt=0)
    direction: Literal["drop", "spike", "any"] = "any"
    min_events: int = Field(default=0, ge=0)

    @field_validator("baseline", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)


def _rule_type(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("type", "threshold"))
    return getattr(value, "type", None)


Rule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[ChangeRule, Tag("change")]
    | Annotated[DriftRule, Tag("drift")]
    | Annotated[VolumeRule, Tag("volume")],
    Discriminator(_rule_type),
]
"""Any rule; ``type`` defaults to ``threshold``."""


@cache
def _rule_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(Rule)


def parse_rule(definition: dict[str, Any]) -> Any:
    """A rule from its definition (a mapping as in the YAML, or as ``save_rules`` stored it).

    Raises ``ValueError`` (a pydantic ``ValidationError``) when the definition is not a valid rule.

    Example:
        >>> r = parse_rule({"name": "slow", "expr": "p95_latency_s > 2 for 10m"})
        >>> (r.type, r.metric, r.op, r.value, r.for_s)
        ('threshold', 'p95_latency_s', '>', 2.0, 600.0)
    """
    return _rule_adapter().validate_python(definition)


def save_rules(store: Store, rules: Sequence[Any], *, source: str) -> None:
    """Store ``rules`` as the monitor's current rule set (replacing the previous one).

    The CLI calls this whenever it runs with a config that has a ``rules:`` section, so the dashboard
    can show threshold bands from the store when no config file is at hand. ``source`` says where
    they came from (the config path).

    Example:
        >>> save_rules(store, config.rules, source="monitor.yaml")  # doctest: +SKIP
    """
    store.events.save_rules(
        [(r.name, r.type, r.model_dump(mode="json", by_alias=True)) for r in rules], source=source
    )


def stored_rules(store: Store) -> list[Any]:
    """The rules last saved with ``save_rules``; a definition this version cannot read is skipped
    (with a warning) rather than hiding the others.

    Example:
        >>> [r.name for r in stored_rules(store)]  # doctest: +SKIP
        ['slow_answers']
    """
    out = []
    for rec in store.events.list_rules():
        try:
            out.append(parse_rule(rec.definition))
        except ValidationError as exc:
            logger.warning("stored rule %r (from %s) is not valid here: %s", rec.name, rec.source, exc)
    return out


@dataclass(frozen=True, slots=True)
class Sample:
    """One rule evaluated for one label set: ``active`` when the condition holds."""

    rule: str
    labels: dict[str, str]
    active: bool
    value: float | None
    summary: str


def _labels(rule: _RuleBase, group: dict[str, Any]) -> dict[str, str]:
    out = {k: str(group.get(k) or "") for k in rule.group_by}
    out.update(rule.labels)
    return out


def _filters(rule: _RuleBase, labels: dict[str, str]) -> dict[str, str | None]:
    f: dict[str, str | None] = dict(rule.where)
    for k in rule.group_by:
        f[k] = labels[k] or None
    return f


def _groups(store: Store, rule: _RuleBase, start: datetime, end: datetime) -> list[WindowAggregate]:
    return aggregate(store, start=start, end=end, by=rule.group_by, where=_where(rule))


def _where(rule: _RuleBase) -> dict[str, str | None] | None:
    return {k: v for k, v in rule.where.items()} or None


def evaluate_rule(store: Store, rule: Any, now: datetime) -> list[Sample]:
    """Evaluate one rule at ``now``: one ``Sample`` per label set with data."""
    start = now - timedelta(seconds=rule.window)
    if isinstance(rule, ThresholdRule):
        return _threshold(store, rule, start, now)
    if isinstance(rule, ChangeRule):
        return _change(store, rule, start, now)
    if isinstance(rule, DriftRule):
        return _drift(store, rule, start, now)
    if isinstance(rule, VolumeRule):
        return _volume(store, rule, start, now)
    raise TypeError(f"not a rule: {rule!r}")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _threshold(store: Store, rule: ThresholdRule, start: datetime, now: datetime) -> list[Sample]:
    out = []
    scores = rule.metric.startswith("score.")
    for agg in aggregate(store, start=start, end=now, by=rule.group_by, where=_where(rule), scores=scores):
        labels = _labels(rule, agg.model_dump())
        value = agg.metric(rule.metric)
        enough = agg.volume >= rule.min_events and value is not None
        active = bool(enough and _OPS[rule.op](value, rule.value))
        summary = (
            rule.summary
            or f"{rule.metric} = {_fmt(value)} ({rule.op} {rule.value:g}) over {agg.volume} events"
        )
        out.append(Sample(rule.name, labels, active, value, summary))
    return out


def _values(
    store: Store, field: str, start: datetime, end: datetime, filters: dict[str, str | None]
) -> list[Any]:
    """Per-event values of a field in ``[start, end)`` (the most recent ``MAX_SAMPLE``)."""
    lo, hi = start.timestamp(), end.timestamp()
    if field.startswith("score."):
        t = event_scores
        col: Any = t.c.value
        cond = [t.c.name == field[6:], t.c.value.isnot(None)]
    else:
        t = events
        if field.startswith("metadata."):
            key = field.split(".", 1)[1]
            if store.dialect == "postgresql":
                col = func.cast(t.c.event_json, _jsonb()).op("->")("metadata").op("->>")(key)
            else:
                col = func.json_extract(t.c.event_json, f'$.metadata."{key}"')
            cond = []
        elif field in _RATE_METRICS:
            col = {
                "error_rate": t.c.is_error,
                "thumbs_up_rate": t.c.thumbs_up,
                "resolution_rate": t.c.resolved,
                "escalation_rate": t.c.escalated,
                "acceptance_rate": t.c.accepted,
            }[field]
            cond = [col.isnot(None)]
        else:
            col = t.c[field]
            cond = [col.isnot(None)]
    cond += [t.c.t_unix >= lo, t.c.t_unix < hi]
    for k, v in filters.items():
        cond.append(t.c[k].is_(None) if v is None else t.c[k] == v)
    stmt = select(col).where(and_(*cond)).order_by(t.c.t_unix.desc()).limit(MAX_SAMPLE)
    with store._read(f"read {field} values") as conn:
        return [r[0] for r in conn.execute(stmt)]


def _jsonb() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB


def _change(store: Store, rule: ChangeRule, start: datetime, now: datetime) -> list[Sample]:
    from assay import stats

    offset = rule.offset if rule.offset is not None else rule.window
    b_end = now - timedelta(seconds=offset)
    b_start = b_end - timedelta(seconds=rule.baseline)
    out = []
    for agg in _groups(store, rule, start, now):
        labels = _labels(rule, agg.model_dump())
        filters = _filters(rule, labels)
        cur = [float(v) for v in _values(store, rule.metric, start, now, filters) if v is not None]
        base = [float(v) for v in _values(store, rule.metric, b_start, b_end, filters) if v is not None]
        if len(cur) < max(rule.min_events, 2) or len(base) < 2:
            out.append(
                Sample(
                    rule.name,
                    labels,
                    False,
                    None,
                    f"{rule.metric}: not enough data ({len(cur)} vs {len(base)})",
                )
            )
            continue
        diff = sum(cur) / len(cur) - sum(base) / len(base)
        binary = rule.metric in _RATE_METRICS or set(cur) | set(base) <= {0.0, 1.0}
        test = rule.test if rule.test != "auto" else ("chi_square" if binary else "mann_whitney")
        if test == "chi_square":
            p = stats.chi_square([bool(v) for v in base], [bool(v) for v in cur]).p_value
        elif test == "welch":
            p = stats.welch(cur, base).p_value
        else:
            p = stats.mann_whitney(cur, base).p_value
        direction_ok = rule.direction == "any" or (diff > 0) == (rule.direction == "increase")
        active = p < rule.alpha and direction_ok and abs(diff) >= rule.min_change and diff != 0
        summary = rule.summary or (
            f"{rule.metric} changed by {diff:+.4g} ({sum(cur) / len(cur):.4g} vs baseline {sum(base) / len(base):.4g}, "
            f"{test} p={p:.2g}, n={len(cur)}/{len(base)})"
        )
        out.append(Sample(rule.name, labels, bool(active), diff, summary))
    return out


def _drift(store: Store, rule: DriftRule, start: datetime, now: datetime) -> list[Sample]:
    from assay import stats

    r_start, r_end = rule.reference.span(now)
    if r_end > now:  # a fixed reference that is not over yet
        return []
    categorical = rule.field.startswith("metadata.")
    out = []
    for agg in _groups(store, rule, start, now):
        labels = _labels(rule, agg.model_dump())
        filters = _filters(rule, labels)

        def clean(values: list[Any]) -> list[Any]:
            if categorical:
                return ["(none)" if v is None else str(v) for v in values]
            return [float(v) for v in values if v is not None]

        cur = clean(_values(store, rule.field, start, now, filters))
        ref = clean(_values(store, rule.field, r_start, r_end, filters))
        if len(cur) < rule.min_events or len(ref) < rule.min_events:
            out.append(
                Sample(
                    rule.name,
                    labels,
                    False,
                    None,
                    f"{rule.field}: not enough data ({len(cur)} vs {len(ref)})",
                )
            )
            continue
        if rule.method == "psi":
            value = stats.psi(ref, cur, categorical=categorical or None)
            active = value > rule.threshold
            detail = f"PSI {value:.3f} (> {rule.threshold:g} is drift)"
        else:
            res = stats.ks_2samp(ref, cur)
            value, active = res.statistic, res.p_value < rule.alpha
            detail = f"KS D={res.statistic:.3f}, p={res.p_value:.2g}"
        summary = (
            rule.summary or f"{rule.field} drifted from the reference: {detail}, n={len(cur)}/{len(ref)}"
        )
        out.append(Sample(rule.name, labels, bool(active), float(value), summary))
    return out


def _volume(store: Store, rule: VolumeRule, start: datetime, now: datetime) -> list[Sample]:
    b_start = start - timedelta(seconds=rule.baseline)
    width = rule.window
    n_windows = max(1, int(rule.baseline // width))
    where: dict[str, str | None] | None = dict(rule.where) or None
    current = {
        tuple((a.model_dump()[k] or "") for k in rule.group_by): a.volume
        for a in aggregate(store, start=start, end=now, by=rule.group_by, where=where, scores=False)
    }
    counts: dict[tuple[str, ...], list[int]] = {}
    for i in range(n_windows):  # baseline windows end where the current one starts, same size and phase
        w_end = start - timedelta(seconds=i * width)
        w_start = w_end - timedelta(seconds=width)
        if w_start < b_start:
            break
        for a in aggregate(store, start=w_start, end=w_end, by=rule.group_by, where=where, scores=False):
            counts.setdefault(tuple((a.model_dump()[k] or "") for k in rule.group_by), [0] * n_windows)[i] = (
                a.volume
            )
    out = []
    for key in sorted(set(counts) | set(current)):
        labels = {**dict(zip(rule.group_by, key, strict=True)), **rule.labels}
        base = counts.get(key, [0] * n_windows)
        n = current.get(key, 0)
        mean = sum(base) / len(base)
        var = sum((c - mean) ** 2 for c in base) / max(1, len(base) - 1)
        sd = max(math.sqrt(var), math.sqrt(mean), 1.0)
        z = (n - mean) / sd
        direction_ok = rule.direction == "any" or (z < 0) == (rule.direction == "drop")
        active = abs(z) > rule.z and direction_ok and max(n, mean) >= rule.min_events
        summary = rule.summary or f"{n} events in the window vs {mean:.1f} expected (z={z:+.1f})"
        out.append(Sample(rule.name, labels, bool(active), float(n), summary))
    return out
