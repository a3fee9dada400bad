"""``assay monitor``: ingest event files, show the current windows and alerts, evaluate rules, score online.

assay monitor ingest events.jsonl [--follow]      # JSON Lines, one event per line
assay monitor status [--json] [--window 1h]       # windows per app/variant/model and firing alerts
assay monitor check --config monitor.yaml         # evaluate rules now; exit 1 if any alert fires
assay monitor score --config monitor.yaml         # score the sampled events not scored yet
assay monitor rules [--json]                      # the rules stored by the last run with a config

Running with a config that has a ``rules:`` section stores those rules, so ``assay serve`` can draw
their thresholds without the config file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from assay.cli.app import EXIT_THRESHOLD, STORE_HELP, app, console, fail, handle_errors, open_store_or_fail

monitor_app = typer.Typer(
    name="monitor",
    help="Live telemetry: ingest events, windows, online scores, rules and alerts.",
    no_args_is_help=True,
    add_completion=False,
)

CONFIG_HELP = "Monitor config (YAML): apps and scorers, anonymisation, rules, notifications."


def _config(path: Path | None, *, required: bool) -> Any:
    return _config_and_path(path, required=required)[0]


def _config_and_path(path: Path | None, *, required: bool) -> tuple[Any, Path | None]:
    """The monitor config (``--config``, else ``monitor.yaml`` if present) and the file it came from."""
    from assay.monitor.config import MonitorConfig, load_monitor_config

    if path is None:
        default = Path("monitor.yaml")
        if default.is_file():
            return load_monitor_config(default), default
        if required:
            fail("give the monitor config with --config monitor.yaml (it holds the rules)")
        return MonitorConfig(), None
    return load_monitor_config(path), path


def _remember_rules(st: Any, cfg: Any, path: Path | None) -> None:
    """Store the config's rules (when it has a ``rules:`` section) for the dashboard's thresholds."""
    if path is None or "rules" not in cfg.model_fields_set:
        return
    from assay.monitor.rules import save_rules

    save_rules(st, cfg.rules, source=str(path.resolve()))


@monitor_app.command("ingest")
@handle_errors
def ingest_command(
    file: Path = typer.Argument(..., help="JSON Lines file of events."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep reading appended lines (like tail -F)."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP + " Only 'anonymise' is used."),
    batch_size: int = typer.Option(2000, "--batch-size", min=1, help="Events per transaction."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=0,
        help="Processes that decode, validate and anonymise while this one writes "
        "(default: one per core but one; 0: none). They start with the second batch.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest events from a JSON Lines file (anonymised as configured; duplicates are stored once)."""
    from assay.monitor.ingest import Ingestor, ingest_file

    if not file.is_file():
        fail(f"file not found: {file}")
    cfg, cfg_path = _config_and_path(config, required=False)
    st = open_store_or_fail(store)
    out = console(stderr=True)
    try:
        _remember_rules(st, cfg, cfg_path)
        ingestor = Ingestor(st, cfg.anonymise)

        def progress(rep: Any) -> None:
            if follow:
                out.print(
                    f"{rep.accepted} events stored, {rep.duplicates} duplicates, {len(rep.rejected)} rejected"
                )

        try:
            report = ingest_file(
                file, ingestor, follow=follow, batch_size=batch_size, on_batch=progress, workers=workers
            )
        except KeyboardInterrupt:
            out.print("stopped")
            return
    finally:
        st.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.markup import escape

        console().print(
            f"{report.accepted} events stored, {report.duplicates} duplicates, {len(report.rejected)} rejected "
            f"({report.lines} lines) into {st.safe_url}"
        )
        for r in report.rejected[:20]:
            out.print(f"[yellow]rejected[/] {escape(r.error)}")
        if len(report.rejected) > 20:
            out.print(f"... and {len(report.rejected) - 20} more (use --json for all)")
    if report.rejected and not report.accepted and not report.duplicates:
        raise typer.Exit(2)


def _status(st: Any, window_s: float, now: datetime) -> dict[str, Any]:
    from assay.monitor.windows import aggregate

    es = st.events
    windows = aggregate(st, start=now - timedelta(seconds=window_s), end=now)
    alerts = es.list_alerts(limit=100)
    return {
        "events": es.count_events(),
        "apps": es.counts_by_app(),
        "window": {"start": (now - timedelta(seconds=window_s)).isoformat(), "end": now.isoformat()},
        "windows": [w.to_json_dict() for w in windows],
        "alerts": [a.to_dict() for a in alerts],
    }


@monitor_app.command("status")
@handle_errors
def status_command(
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    window: str = typer.Option("1h", "--window", help="The window to show, ending now (e.g. 10m, 1h, 1d)."),
    at: str | None = typer.Option(
        None, "--at", help="Show the window ending at this ISO time instead of now."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Current windows per app/variant/model and the alerts (firing first)."""
    from assay.monitor.clock import parse_duration
    from assay.monitor.event import parse_ts

    try:
        window_s = parse_duration(window)
        now = parse_ts(at) if at else datetime.now(UTC)
    except ValueError as exc:
        fail(str(exc))
    assert now is not None
    st = open_store_or_fail(store)
    try:
        data = _status(st, window_s, now)
    finally:
        st.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    out = console()
    out.print(
        f"{data['events']} events stored · apps: " + ", ".join(f"{a} ({n})" for a, n in data["apps"].items())
    )
    out.print(windows_table(data["windows"], title=f"last {window} (until {now:%Y-%m-%d %H:%M} UTC)"))
    out.print(alerts_table(data["alerts"]))


@monitor_app.command("check")
@handle_errors
def check_command(
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    score: bool = typer.Option(False, "--score", help="Run the online scorers on new events first."),
    at: str | None = typer.Option(None, "--at", help="Evaluate as of this ISO time (replays, backfills)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Evaluate the rules now and deliver notifications; exit 1 when any alert is firing (for cron/CI)."""
    from assay.monitor.alerts import AlertEngine
    from assay.monitor.clock import ManualClock, SystemClock
    from assay.monitor.event import parse_ts
    from assay.monitor.scoring import ScoringWorker

    try:
        when = parse_ts(at) if at else None
    except ValueError as exc:
        fail(str(exc))
    clock = ManualClock(when) if when is not None else SystemClock()
    cfg, cfg_path = _config_and_path(config, required=True)
    if not cfg.rules:
        fail("the monitor config has no rules")
    st = open_store_or_fail(store)
    try:
        _remember_rules(st, cfg, cfg_path)
        if score and cfg.apps:
            ScoringWorker(st, cfg).catch_up()
        engine = AlertEngine(st, cfg.rules, notify=cfg.notify, clock=clock)
        changed = engine.evaluate(flush=False)
        engine.dispatcher.flush(force=True)  # a one-shot run cannot wait for group_wait
        names = {r.name for r in cfg.rules}  # alerts of rules no longer configured do not count
        firing = [a for a in st.events.list_alerts(states=("firing",), limit=None) if a.rule in names]
        pending = [a for a in st.events.list_alerts(states=("pending",), limit=None) if a.rule in names]
    finally:
        st.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "changed": [a.to_dict() for a in changed],
                    "firing": [a.to_dict() for a in firing],
                    "pending": [a.to_dict() for a in pending],
                },
                indent=2,
            )
        )
    else:
        out = console()
        out.print(f"{len(cfg.rules)} rules evaluated: {len(firing)} firing, {len(pending)} pending")
        if firing or pending:
            out.print(alerts_table([a.to_dict() for a in (*firing, *pending)]))
    if firing:
        raise typer.Exit(EXIT_THRESHOLD)


@monitor_app.command("score")
@handle_errors
def score_command(
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep scoring new events until interrupted."),
    poll_s: float = typer.Option(1.0, "--poll", help="Seconds between passes with --follow."),
) -> None:
    """Score the sampled events that are not scored yet (catches up after downtime)."""
    import threading

    from assay.monitor.scoring import ScoringWorker

    cfg, cfg_path = _config_and_path(config, required=True)
    if not cfg.apps:
        fail("the monitor config names no apps to score (apps: {name: {scorers: [...]}})")
    st = open_store_or_fail(store)
    try:
        _remember_rules(st, cfg, cfg_path)
        worker = ScoringWorker(st, cfg)
        if follow:
            stop = threading.Event()
            try:
                report = worker.run(stop, poll_s=poll_s)
            except KeyboardInterrupt:
                stop.set()
                return
        else:
            report = worker.catch_up()
    finally:
        st.close()
    console().print(
        f"{report.scanned} events read, {report.sampled} sampled, {report.scores} scores stored "
        f"({report.failed_scores} failed, {report.skipped_budget} over the judge budget)"
    )


@monitor_app.command("rules")
@handle_errors
def rules_command(
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the stored definitions as JSON."),
) -> None:
    """The rules stored by the last check/ingest/score run with a config (what the dashboard draws)."""
    from rich.markup import escape
    from rich.table import Table

    st = open_store_or_fail(store)
    try:
        stored = st.events.list_rules()
    finally:
        st.close()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in stored], indent=2))
        return
    if not stored:
        console().print("no stored rules: run assay monitor check --config monitor.yaml")
        return
    first = stored[0]  # the set is saved as a whole: one source, one time
    t = Table(
        title=f"{len(stored)} rules from {escape(first.source)}, saved {first.saved_at:%Y-%m-%d %H:%M} UTC",
        title_justify="left",
    )
    for col in ("rule", "type", "condition", "window", "for", "severity"):
        t.add_column(col, no_wrap=col == "condition")
    for r in stored:
        d = r.definition
        t.add_row(
            escape(r.name),
            r.type,
            escape(_condition(r.type, d)),
            _duration(d.get("window")),
            _duration(d.get("for")),
            str(d.get("severity", "")),
        )
    console().print(t)


def _condition(kind: str, d: dict[str, Any]) -> str:
    if kind == "threshold":
        return f"{d.get('metric')} {d.get('op')} {d.get('value'):g}"
    if kind == "change":
        return f"{d.get('metric')} {d.get('direction')} vs the previous {_duration(d.get('baseline'))}"
    if kind == "drift":
        return f"{d.get('field')} drift ({d.get('method')})"
    if kind == "volume":
        return f"volume {d.get('direction')} (|z| > {d.get('z')})"
    return ""


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return ""
    s = int(seconds)
    if s == 0:
        return "0"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def _fmt(x: Any, *, pct: bool = False, digits: int = 3) -> str:
    if x is None:
        return "–"
    if pct:
        return f"{100 * x:.1f}%"
    return f"{x:.{digits}g}"


def windows_table(windows: list[dict[str, Any]], *, title: str) -> Any:
    """Volume, errors, latency percentiles, cost, feedback and online scores per group."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in (
        "app",
        "variant",
        "model",
        "events",
        "errors",
        "p50 s",
        "p95 s",
        "p99 s",
        "cost $",
        "👍",
        "scores",
    ):
        t.add_column(col, justify="left" if col in ("app", "variant", "model", "scores") else "right")
    for w in windows:
        scores = ", ".join(
            f"{escape(name)} {_fmt(s['mean'])} [{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}] n={s['n']}"
            for name, s in w["scores"].items()
        )
        t.add_row(
            escape(w["app"] or ""),
            escape(w["variant"] or ""),
            escape(w["model"] or ""),
            str(w["volume"]),
            _fmt(w["error_rate"], pct=True),
            _fmt(w["latency_s"]["p50"]),
            _fmt(w["latency_s"]["p95"]),
            _fmt(w["latency_s"]["p99"]),
            f"{w['cost_usd']:.4f}",
            _fmt(w["thumbs_up_rate"], pct=True),
            scores or "–",
        )
    if not windows:
        t.add_row("(no events in this window)", *[""] * 10)
    return t


def alerts_table(alerts: list[dict[str, Any]]) -> Any:
    """Alerts, firing first: rule, labels, state, started, ended, time to recover, summary."""
    from rich.markup import escape
    from rich.table import Table

    order = {"firing": 0, "pending": 1, "resolved": 2}
    t = Table(title="alerts", title_justify="left")
    for col in ("rule", "labels", "state", "started", "ended", "recovered in", "summary"):
        t.add_column(col)
    for a in sorted(alerts, key=lambda a: (order.get(a["state"], 3), a["pending_since"]), reverse=False):
        colour = {"firing": "red", "pending": "yellow", "resolved": "green"}.get(a["state"], "white")
        ttr = a.get("time_to_recover_s")
        t.add_row(
            escape(a["rule"]),
            escape(",".join(f"{k}={v}" for k, v in a["labels"].items() if v)),
            f"[{colour}]{a['state']}[/]",
            (a.get("started") or a["pending_since"])[:19],
            (a.get("ended") or "")[:19],
            "" if ttr is None else f"{ttr / 60:.0f} min",
            escape(a["summary"]),
        )
    if not alerts:
        t.add_row("(none)", "", "", "", "", "", "")
    return t


app.add_typer(monitor_app, name="monitor")
