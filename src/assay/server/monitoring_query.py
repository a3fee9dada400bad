"""The monitoring page's query: the options of its form and of ``/api/monitoring``, parsed and checked once.

Both take the same GET parameters, so a page's address is shareable and its JSON is one link away:

- ``window``: how far back to look (``6h``, ``7d``; ``all`` for every event; default 24 hours before the
  newest event);
- ``since`` / ``until``: a time range instead (ISO 8601, UTC unless an offset is given); ``since`` alone
  runs to now, ``until`` alone looks ``window`` back from it;
- ``step``: the width of one window (``5m``, ``1h``; default: chosen for about 120 points);
- ``metric`` (repeatable): the metrics to draw (default: every metric with data);
- ``app``: one app only (default: all);
- ``variants``: ``split`` (a trace and a table row per variant, the default) or ``combined``.

Bad values raise ``MonitoringQueryError`` naming each field and what is wrong with it: the page shows
the messages beside its form (status 400), the API answers 400 with them.

Example:
    >>> q = MonitoringQuery(window="6h", step="15m", metrics=("volume",))
    >>> q.options()
    {'step': '15m', 'window': '6h', 'metrics': ['volume']}
    >>> MonitoringQuery(step="soon").options()
    Traceback (most recent call last):
    ...
    assay.server.monitoring_query.MonitoringQueryError: step: not a duration: 'soon' (use e.g. 30s, 10m, 1h, 1d)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from fastapi import Query  # only the server imports this module

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = [
    "STEP_CHOICES",
    "VARIANT_MODES",
    "WINDOW_CHOICES",
    "MonitoringQuery",
    "MonitoringQueryError",
    "filter_monitoring",
    "known_metrics",
    "load_monitoring",
    "monitoring_form",
    "query_params",
]

WINDOW_CHOICES: Final = ("1h", "6h", "24h", "7d", "30d", "all")
STEP_CHOICES: Final = ("1m", "5m", "15m", "1h", "6h", "1d")
VARIANT_MODES: Final = ("split", "combined")
MAX_METRICS: Final = 64


class MonitoringQueryError(ValueError):
    """Bad monitoring options: ``errors`` maps each field (``""`` for the query as a whole) to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in self.errors.items()))


def known_metrics() -> tuple[str, ...]:
    """The metric names the monitor computes (``score.<name>`` besides), or () without the monitor."""
    try:
        from assay.monitor.windows import METRICS
    except ImportError:  # pragma: no cover - the monitor ships with assay
        return ()
    return tuple(METRICS)


def _duration_s(text: str) -> float:
    from assay.monitor.clock import parse_duration

    return parse_duration(text)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a date and time: {text!r} (use e.g. 2025-03-03T09:00, in UTC)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class MonitoringQuery:
    """The monitoring options as given (strings, so the form can show them back unchanged)."""

    window: str = ""
    step: str = ""
    metrics: tuple[str, ...] = ()
    since: str = ""
    until: str = ""
    app: str = ""
    variants: str = "split"

    @classmethod
    def from_params(
        cls,
        *,
        window: str = "",
        step: str = "",
        metrics: list[str] | tuple[str, ...] = (),
        since: str = "",
        until: str = "",
        app: str = "",
        variants: str = "",
    ) -> MonitoringQuery:
        """From query parameters: blanks trimmed, repeated metrics once each, in the order given."""
        names = tuple(dict.fromkeys(m.strip() for m in metrics if m.strip()))
        return cls(
            window=window.strip(),
            step=step.strip(),
            metrics=names,
            since=since.strip(),
            until=until.strip(),
            app=app,
            variants=variants.strip() or "split",
        )

    def params(self) -> list[tuple[str, str]]:
        """The query as GET parameters (only those that differ from the defaults)."""
        out = [(k, getattr(self, k)) for k in ("window", "since", "until", "step", "app") if getattr(self, k)]
        out += [("metric", m) for m in self.metrics]
        if self.variants != "split":
            out.append(("variants", self.variants))
        return out

    def options(self, *, now: datetime | None = None) -> dict[str, Any]:
        """Keyword arguments for ``monitoring_data`` (empty for the defaults); raises
        ``MonitoringQueryError`` for every bad field at once. ``now`` (UTC) ends a range given by
        ``since`` alone."""
        errors: dict[str, str] = {}
        options: dict[str, Any] = {}
        if self.window and self.window != "all":
            try:
                if _duration_s(self.window) < 60:
                    errors["window"] = f"must be at least one minute, got {self.window!r}"
            except ValueError as exc:
                errors["window"] = str(exc)
        if self.step:
            try:
                width = _duration_s(self.step)
                if width < 60 or width % 60:
                    errors["step"] = f"must be a whole number of minutes, got {self.step!r}"
            except ValueError as exc:
                errors["step"] = str(exc)
            else:
                options["step"] = self.step
        start = end = None
        for name in ("since", "until"):
            text = getattr(self, name)
            if text:
                try:
                    value = _instant(text)
                except ValueError as exc:
                    errors[name] = str(exc)
                    continue
                if name == "since":
                    start = value
                else:
                    end = value
        if self.since and self.window:
            errors.setdefault("window", "give either a window (the last 6h …) or a since time, not both")
        if start is not None:
            stop = end or (now or datetime.now(UTC))
            if stop - start < timedelta(minutes=1):
                errors["since" if end is None else "until"] = "since must be at least one minute before " + (
                    "now" if end is None else f"until ({end.isoformat()})"
                )
            options["window"] = stop - start
            options["end"] = stop
        elif end is not None:
            options["end"] = end
        if self.window and "window" not in options:
            options["window"] = None if self.window == "all" else self.window
        if self.metrics:
            known = known_metrics()
            bad = [m for m in self.metrics if not (m in known or (m.startswith("score.") and len(m) > 6))]
            if known and bad:
                errors["metric"] = f"unknown metric(s) {bad}; known: {', '.join(known)}, score.<scorer>"
            elif len(self.metrics) > MAX_METRICS:
                errors["metric"] = f"at most {MAX_METRICS} metrics at once"
            options["metrics"] = list(self.metrics)
        if self.variants not in VARIANT_MODES:
            errors["variants"] = f"must be one of {', '.join(VARIANT_MODES)}, got {self.variants!r}"
        if errors:
            raise MonitoringQueryError(errors)
        return options


def filter_monitoring(data: dict[str, Any], query: MonitoringQuery) -> dict[str, Any]:
    """``data`` narrowed to ``query.app`` and without the per-variant split when ``variants=combined``.

    Alerts without an app label concern every app and stay. Raises ``MonitoringQueryError`` for an app
    with no events.
    """
    if not data.get("available") or (not query.app and query.variants == "split"):
        return data
    out = dict(data)
    series = list(out.get("series") or [])
    if query.app:
        apps = out.get("apps") or {}
        if query.app not in apps:
            known = ", ".join(repr(a) for a in sorted(apps)) or "none"
            raise MonitoringQueryError({"app": f"no events from app {query.app!r}; apps: {known}"})
        series = [s for s in series if s.get("app") == query.app]
        out["apps"] = {query.app: apps[query.app]}
        out["events"] = apps[query.app]
        out["variants"] = [v for v in out.get("variants") or [] if v.get("app") == query.app]
        out["alerts"] = [a for a in out.get("alerts") or [] if a.get("app") in (None, query.app)]
    if query.variants == "combined":
        series = [s for s in series if s.get("variant") is None]
        out["variants"] = []
    out["series"] = series
    if "metrics" in out:
        out["metrics"] = [m for m in out["metrics"] if any(s.get("metric") == m for s in series)]
    return out


_FIELD_OF_MESSAGE: Final = (("window", "window"), ("step", "step"), ("unknown metric", "metric"))


def load_monitoring(store: Store, query: MonitoringQuery, *, now: datetime | None = None) -> dict[str, Any]:
    """The monitoring data for ``query``: ``monitoring_data`` called with its options, then filtered.

    Raises ``MonitoringQueryError`` for bad options, including those only the monitor can judge (a step
    giving too many windows over the range).

    Example:
        >>> load_monitoring(store, MonitoringQuery(window="6h", app="bot"))["apps"]   # doctest: +SKIP
        {'bot': 1200}
    """
    from assay.server.monitoring import monitoring_data

    options = query.options(now=now)
    try:
        data = monitoring_data(store, **options)
    except ValueError as exc:
        message = str(exc)
        field = next((f for prefix, f in _FIELD_OF_MESSAGE if message.startswith(prefix)), "")
        raise MonitoringQueryError({field: message}) from exc
    return filter_monitoring(data, query)


def monitoring_form(store: Store, query: MonitoringQuery, data: dict[str, Any]) -> dict[str, Any]:
    """The choices the page's form offers: every app with events (not only the one shown), the metrics
    the monitor knows plus the online scores seen, and the usual windows and steps. The current values
    are always among the choices, so the form shows them back even when they are wrong."""
    from assay.types import StoreError

    try:
        apps = list(store.events.counts_by_app())
    except (AttributeError, StoreError):  # a store without the events table: what the data says
        apps = list(data.get("apps") or {})
    if query.app and query.app not in apps:
        apps.append(query.app)
    scores = {m for m in data.get("metrics") or [] if m.startswith("score.")}
    scores |= {f"score.{n}" for v in data.get("variants") or [] for n in v.get("scores") or {}}
    metrics = list(dict.fromkeys([*known_metrics(), *sorted(scores), *query.metrics]))
    return {
        "apps": sorted(apps, key=str),
        "metrics": metrics,
        "windows": WINDOW_CHOICES,
        "steps": STEP_CHOICES,
        "variant_modes": VARIANT_MODES,
    }


def query_params(
    window: str = "",
    step: str = "",
    metric: list[str] = Query([]),  # noqa: B008 - FastAPI's idiom
    since: str = "",
    until: str = "",
    app_name: str = Query("", alias="app"),
    variants: str = "",
) -> MonitoringQuery:
    """The GET parameters the monitoring page and ``/api/monitoring`` share, as a FastAPI dependency:
    ``window`` (``24h``, ``7d``, ``all``) or ``since``/``until``, ``step`` (``5m``, ``1h``), ``metric``
    (repeatable), ``app`` and ``variants`` (``split`` or ``combined``)."""
    return MonitoringQuery.from_params(
        window=window, step=step, metrics=metric, since=since, until=until, app=app_name, variants=variants
    )
