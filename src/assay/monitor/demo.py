"""``assay demo --monitor``: a simulated day of traffic through the demo support assistant, with an
afternoon shift, ingested, scored online and watched by rules; the alerts that fire and resolve are
reported as they happen.

The day (a synthetic clock, so it runs in seconds): questions from the bundled cases arrive at a
daytime rate; each is answered by ``examples/support_bot/app.py`` (BM25 retrieval + extractive
answers) and logged with its retrieved passages, stage timings (retrieval, generation), tokens, cost and
occasional thumbs up/down. Two things go wrong in the afternoon:

* 13:00-18:00 new topics (AI summaries, an outage, calendar sync) the help centre does not cover:
  the topic mix drifts (PSI) and users are less happy (thumbs-up rate falls, a change-vs-baseline test);
* 14:00-16:30 the retriever is slow: p95 latency passes 2 s (a threshold rule with ``for: 10m``).

An A/B test runs all day: half of the users (a stable split by user) get ``prompt-v2``, a concise
answer prompt (the first sentence of the answer), the others ``prompt-v1``. The concise answers are
shorter, cheaper and faster to generate, and liked as much: the dashboard's per-variant split shows
the trade-off.
The demo's rules are stored with the events, so ``assay serve`` draws their thresholds afterwards.

Example:
    >>> report = run_monitor_demo("sqlite:///:memory:", write=print)  # doctest: +SKIP
    >>> [(a.rule, a.state) for a in report.alerts]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from assay.monitor.alerts import AlertEngine
from assay.monitor.clock import ManualClock
from assay.monitor.config import MonitorConfig
from assay.monitor.ingest import Ingestor
from assay.monitor.notify import Dispatcher, Notification
from assay.monitor.rules import save_rules
from assay.monitor.scoring import ScoringWorker
from assay.store.events import AlertRecord
from assay.types import Case, Output

__all__ = ["DEMO_CONFIG", "DemoReport", "run_monitor_demo"]

APP: Final = "lumen-notes"
VARIANTS: Final = ("prompt-v1", "prompt-v2")
"""The A/B test: v1 the original answer prompt, v2 a concise one (shorter, cheaper, as well liked)."""
DAY: Final = datetime(2025, 3, 3, tzinfo=UTC)
STEP_MIN: Final = 5

DEMO_CONFIG: Final[dict[str, Any]] = {
    "apps": {APP: {"sample_rate": 0.5, "scorers": ["abstention"]}},
    "rules": [
        {
            "name": "slow_answers",
            "expr": "p95_latency_s > 2 for 10m",
            "window": "10m",
            "severity": "critical",
        },
        {
            "name": "new_topics",
            "type": "drift",
            "field": "metadata.topic",
            "window": "1h",
            "for": "15m",
            "min_events": 100,
            "reference": {"start": "2025-03-03T07:00:00Z", "end": "2025-03-03T12:00:00Z"},  # the morning
        },
        {
            "name": "unhappy_users",
            "type": "change",
            "metric": "thumbs_up_rate",
            "window": "1h",
            "baseline": "6h",
            "direction": "decrease",
            "alpha": 0.001,
            "min_change": 0.1,
            "for": "15m",
        },
    ],
    "notify": {"group_by": ["rule"], "receivers": [{"type": "log", "level": "info"}]},
}

NEW_TOPICS: Final = {
    "ai-summaries": [
        "Can Lumen Notes summarise my meeting recordings with AI?",
        "How do I turn on the new AI summary button?",
        "Why does the AI summary miss half of my note?",
        "Is the AI assistant included in the Plus plan?",
    ],
    "outage": [
        "Is Lumen Notes down right now?",
        "My notes stopped loading since 1pm, is there an outage?",
        "Why is every page showing error 503 today?",
    ],
    "calendar": [
        "How do I connect my Outlook calendar to Lumen Notes?",
        "Can meeting notes be created automatically from Google Calendar events?",
        "My calendar events are not showing up in my daily note",
    ],
}


@dataclass
class DemoReport:
    """What the simulated day produced."""

    store_url: str
    events: int = 0
    scores: int = 0
    notifications: list[Notification] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)


def _demo_dir() -> Path:
    import assay

    here = Path(assay.__file__).resolve().parent
    for candidate in (here / "examples" / "support_bot", here.parents[1] / "examples" / "support_bot"):
        if (candidate / "app.py").is_file():
            return candidate
    raise FileNotFoundError("the bundled demo (examples/support_bot) is not installed")


def _load_answer(folder: Path) -> Callable[[Case], Output]:
    import sys

    name = "assay_demo_support_bot_app"
    if name in sys.modules:
        return sys.modules[name].answer
    spec = importlib.util.spec_from_file_location(name, folder / "app.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module.answer


def _rate_per_min(minute_of_day: int, peak: float) -> float:
    h = minute_of_day / 60
    day = max(0.0, math.sin(math.pi * (h - 6) / 16)) if 6 <= h <= 22 else 0.0
    return peak * (0.25 + 0.75 * day)


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def run_monitor_demo(
    store_url: str | None = None,
    *,
    seed: int = 0,
    peak_per_min: float = 10.0,
    write: Callable[[str], None] = lambda line: None,
) -> DemoReport:
    """Simulate the day into the store at ``store_url`` (default: a fresh ``.assay/monitor-demo.db``).

    ``write`` receives the lines to show (the CLI passes its console's print): alerts as they fire and
    resolve, then a summary. Returns the counts, the notifications and the alerts.
    """
    from assay.store import open_store

    if store_url is None:
        path = Path(".assay") / "monitor-demo.db"
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        store_url = f"sqlite:///{path}"
    folder = _demo_dir()
    answer = _load_answer(folder)
    cases = [
        json.loads(line)
        for line in (folder / "cases.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    cases = [c for c in cases if c.get("metadata", {}).get("kind") != "adversarial"] or cases
    config = MonitorConfig.model_validate(DEMO_CONFIG)
    rng = random.Random(seed)
    run_tag = f"{seed}-{rng.getrandbits(32):08x}"
    clock = ManualClock(DAY)
    report = DemoReport(store_url=store_url)
    answers: dict[str, Output] = {}

    def respond(question: str, meta: dict[str, Any]) -> Output:
        if question not in answers:
            answers[question] = answer(Case(id="q", input=question, metadata=meta))
        return answers[question]

    store = open_store(store_url)
    try:
        save_rules(store, config.rules, source="assay demo --monitor")
        ingestor = Ingestor(store, config.anonymise, now=clock.now)
        worker = ScoringWorker(store, config)
        dispatcher = Dispatcher(config.notify, clock=clock)
        engine = AlertEngine(store, config.rules, clock=clock, dispatcher=dispatcher)
        write(f"assay monitor demo: one simulated day of '{APP}' traffic into {store.safe_url}")
        n_event = 0
        for step in range(0, 24 * 60, STEP_MIN):
            batch = []
            for minute in range(step, step + STEP_MIN):
                for _ in range(_poisson(rng, _rate_per_min(minute, peak_per_min))):
                    n_event += 1
                    batch.append(_event(rng, cases, minute, n_event, run_tag, respond))
            ingestor.ingest(batch)
            clock.set(DAY + timedelta(minutes=step + STEP_MIN))
            worker.catch_up()
            for alert in engine.evaluate():
                write(_line(alert, clock.now()))
        dispatcher.flush(force=True)
        report.events = store.events.count_events(app=APP)
        report.scores = store.events.count_scores()
        report.notifications = list(dispatcher.sent)
        report.alerts = [
            a
            for a in store.events.list_alerts(limit=None)
            if a.labels.get("app") == APP and a.pending_since >= DAY
        ]
    finally:
        store.close()
    write("")
    write(f"{report.events} events, {report.scores} online scores. Alerts of the day:")
    for a in sorted(report.alerts, key=lambda a: a.pending_since):
        ttr = "" if a.time_to_recover_s is None else f", recovered in {a.time_to_recover_s / 60:.0f} min"
        ended = a.ended_at.strftime("%H:%M") if a.ended_at else "still firing"
        started = a.started_at.strftime("%H:%M") if a.started_at else "never fired"
        write(f"  {a.rule:<14} {a.state:<9} fired {started} → {ended}{ttr}")
    write(
        f"Next: assay monitor status --store {store_url} --at {(DAY + timedelta(hours=15)).isoformat()} --window 1h"
    )
    return report


def _line(alert: AlertRecord, now: datetime) -> str:
    state = alert.state.upper()
    if alert.state == "firing" and alert.started_at != now:
        state = "REPEAT"  # still firing: re-notified after repeat_interval
    return f"{now:%H:%M} {state:<8} {alert.rule}: {alert.summary}"


def _event(
    rng: random.Random,
    cases: list[dict[str, Any]],
    minute: int,
    n: int,
    run_tag: str,
    respond: Callable[[str, dict[str, Any]], Output],
) -> dict[str, Any]:
    shifted = 13 * 60 <= minute < 18 * 60 and rng.random() < 0.45
    slow = 14 * 60 <= minute < 16 * 60 + 30
    if shifted:
        topic = rng.choice(sorted(NEW_TOPICS))
        question = rng.choice(NEW_TOPICS[topic])
        meta = {"topic": topic, "answerable": False}
    else:
        case = rng.choice(cases)
        question = case["input"] if isinstance(case["input"], str) else case["input"][-1]["content"]
        meta = {
            "topic": case["metadata"].get("category", "other"),
            "answerable": bool(case["metadata"].get("answerable", True)),
        }
    out = respond(question, meta)
    retrieval = rng.lognormvariate(math.log(2.6), 0.25) if slow else rng.lognormvariate(math.log(0.04), 0.3)
    generation = rng.lognormvariate(math.log(0.35), 0.35)
    refused = bool((out.raw or {}).get("refused"))
    ts = (DAY + timedelta(minutes=minute, seconds=rng.random() * 60)).timestamp()
    session = rng.randrange(5000)
    user = rng.randrange(2000)
    concise = user % 2 == 1  # the A/B split is by user: a user always sees the same prompt
    text = out.text
    if concise and not refused:  # the concise prompt answers with the first sentence only
        first = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]
        if first:
            generation *= max(0.3, len(first) / max(1, len(text)))
            text = first
    output_tokens = max(1, len(text.split()))
    input_tokens = 60 + len(question.split()) * 2 + (0 if concise else 25)  # v1's prompt is longer
    event: dict[str, Any] = {
        "event_id": f"demo-{run_tag}-{n}",
        "ts": ts,
        "app": APP,
        "variant": VARIANTS[concise],
        "model": "bm25-extractive",
        "input": question,
        "output": text,
        "contexts": [{"id": d.id, "text": d.text, "score": d.score} for d in out.contexts],
        "latency_s": retrieval + generation,
        "ttft_s": retrieval + generation * 0.2,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "cost_usd": round(input_tokens * 1.5e-7 + output_tokens * 6e-7, 8),
        "spans": [
            {"name": "retrieval", "duration_s": retrieval, "start_offset_s": 0.0},
            {"name": "generation", "duration_s": generation, "start_offset_s": retrieval},
        ],
        "session_id": f"s-{session}",
        "user_id": f"u-{user}",
        "metadata": {**meta, "prompt": VARIANTS[concise]},
    }
    if rng.random() < 0.35:
        p_up = 0.88 if not refused else 0.35
        if slow:
            p_up -= 0.2
        event["feedback"] = {"thumbs_up": rng.random() < p_up}
    return event
