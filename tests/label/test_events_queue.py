"""Label queues sampled from monitored events: real events ingested into a real SQLite store, scored online,
sampled into a queue, labelled through the labelling API, then agreement and PPI estimates.

The events are answers of a support bot; a hidden truth decides whether each answer is good. The online
judge is lenient (it passes every good answer and about a third of the bad ones), so the judge-only rate
is far too high, and only the human labels can correct it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from assay.label.agreement import agreement_for_queue
from assay.label.estimate import estimate_for_queue, estimate_from_values, queue_population
from assay.label.http import CSRF_COOKIE, CSRF_HEADER
from assay.label.queue import candidates_from_events, create_queue, event_scores_for
from assay.monitor.anonymise import AnonymisationConfig
from assay.monitor.config import MonitorConfig
from assay.monitor.ingest import Ingestor
from assay.monitor.scoring import ScoringWorker
from assay.scorer.base import BaseScorer, register_scorer
from assay.store import Store, open_store
from assay.store.labels import LabelStore
from tests.label._app import make_app

KEY = b"label-tests"
N_EVENTS = 400
JUDGE = "label_test_lenient_judge"


@register_scorer(JUDGE)
class LenientJudge(BaseScorer):
    """Passes an answer that is good, or that merely sounds good ("confident ...")."""

    kind = "binary"

    async def score(self, case: Any, output: Any) -> Any:
        return self.make(output.text.startswith(("good", "confident")))


@dataclass
class World:
    store: Store
    url: str
    truth: dict[str, float]  # item id ("event/<id>") -> 1.0 when the answer is good


def _events(start: int, n: int, rng: random.Random, truth: dict[str, float]) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        good = rng.random() < 0.4
        text = "good" if good else ("confident" if rng.random() < 0.35 else "bad")
        event: dict[str, Any] = {
            "event_id": f"ev-{i:04d}",
            "ts": 1_740_000_000 + i,
            "app": "other" if i % 7 == 0 else "bot",
            "input": f"How do I export report {i}?",
            "output": f"{text} answer {i}",
            "latency_s": 0.2,
            "metadata": {"topic": "rare" if i % 10 == 3 else ("billing" if i % 2 else "export")},
        }
        if i % 25 == 24:
            event["error"] = {"kind": "timeout", "message": "upstream timed out"}
        out.append(event)
        truth[f"event/{event['event_id']}"] = float(good)
    return out


def _ingest(store: Store, events: list[dict[str, Any]]) -> None:
    result = Ingestor(store, AnonymisationConfig(), key=KEY).ingest(events)
    assert result.accepted == len(events) and not result.rejected, result.to_dict()


def _score_online(store: Store) -> None:
    config = MonitorConfig.model_validate({"apps": {"*": {"scorers": [JUDGE]}}})
    ScoringWorker(store, config, batch_size=128).catch_up()


@pytest.fixture
def world(tmp_path: Any) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_store(url)
    truth: dict[str, float] = {}
    _ingest(store, _events(0, N_EVENTS, random.Random(11), truth))
    try:
        yield World(store=store, url=url, truth=truth)
    finally:
        store.close()


def _bot_ok(w: World) -> list[str]:
    """Item ids of the bot's events whose call did not fail: the population of a --app bot queue."""
    return [
        f"event/ev-{i:04d}" for i in range(N_EVENTS) if i % 7 != 0 and i % 25 != 24
    ]  # same rule as _events


def _app() -> Any:
    import assay.cli.label  # noqa: F401 (registers the commands)
    from assay.cli.app import app

    return app


def _label_everything(w: World, queue_id: str, annotators: tuple[str, ...] = ("ana", "ben")) -> int:
    """Annotators label every item due to them through the labelling API, with the hidden truth."""
    client = TestClient(make_app(w.store), base_url="http://127.0.0.1:8000")
    posted = 0
    try:
        for who in annotators:
            assert client.get(f"/label/{queue_id}", params={"annotator": who}).status_code == 200
            headers = {"Content-Type": "application/json", CSRF_HEADER: client.cookies.get(CSRF_COOKIE) or ""}
            nxt = client.get(f"/api/label/queues/{queue_id}/next", params={"annotator": who}).json()["item"]
            while nxt is not None:
                label = "yes" if w.truth[nxt["item_id"]] == 1.0 else "no"
                r = client.post(
                    f"/api/label/queues/{queue_id}/items/{nxt['item_id']}",
                    json={"annotator": who, "label": label},
                    headers=headers,
                )
                assert r.status_code == 200, r.text
                posted += 1
                nxt = r.json()["item"]
    finally:
        client.close()
    return posted


# ------------------------------------------------------------------------------------ candidates
def test_candidates_are_the_apps_successful_events_with_their_online_scores(world: World) -> None:
    _score_online(world.store)
    cands = candidates_from_events(world.store, app="bot")
    assert [c.item_id for c in cands] == _bot_ok(world)  # ingest order, no other app, no failed call
    assert all(c.event_id == c.item_id.removeprefix("event/") for c in cands)
    assert [c.seq for c in cands] == sorted(c.seq for c in cands if c.seq is not None)
    # the bulk read gives what the event store gives one event at a time
    for c in cands[:40]:
        one = {s["name"]: float(s["value"]) for s in world.store.events.scores_for(c.event_id or "")}
        assert c.scores == one and set(one) == {JUDGE}
    first = cands[0]
    assert first.payload["output"].endswith("answer 1") and first.payload["scores"] == first.scores
    assert first.metadata["app"] == "bot" and first.metadata["topic"] in {"billing", "export", "rare"}
    assert len(candidates_from_events(world.store)) == N_EVENTS - N_EVENTS // 25  # every app
    assert len(candidates_from_events(world.store, app="bot", limit=7)) == 7
    cut = cands[99].seq
    assert [c.item_id for c in candidates_from_events(world.store, app="bot", until_seq=cut)] == [
        c.item_id for c in cands[:100]
    ]
    assert candidates_from_events(world.store, app="nobody") == []


def test_an_unreadable_stored_event_is_left_out_with_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import update

    from assay.store.events import events

    with world.store.engine.begin() as conn:  # as if a newer assay had written it
        conn.execute(
            update(events).where(events.c.event_id == "ev-0001").values(event_json='{"schema_version": 9}')
        )
    with caplog.at_level(logging.WARNING, logger="assay.label.queue"):
        cands = candidates_from_events(world.store, app="bot")
    assert "event/ev-0001" not in {c.item_id for c in cands} and len(cands) == len(_bot_ok(world)) - 1
    assert any("cannot be read" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------ the whole flow
def test_events_queue_labelled_then_estimated_over_the_whole_population(world: World) -> None:
    _score_online(world.store)
    runner = CliRunner()
    res = runner.invoke(
        _app(),
        [
            "label",
            "queue",
            "--events",
            "--app",
            "bot",
            "--n",
            "90",
            "--strategy",
            "stratified",
            "--by",
            "slice:topic",
            "--seed",
            "3",
            "--label-name",
            "good",
            "--store",
            world.url,
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    made = json.loads(res.output)
    qid = made["queue_id"]
    assert made["source"]["events"] is True and made["source"]["app"] == "bot"
    assert made["n_items"] == 90 and made["source"]["n_population"] == len(_bot_ok(world))
    ls = LabelStore(world.store)
    items = ls.items(qid)
    assert all(it.event_id and it.run_id is None and it.item_id == f"event/{it.event_id}" for it in items)
    assert len({it.inclusion_prob for it in items}) > 1  # the rare topic is over-sampled

    # traffic goes on after the queue was built: it is not part of the queue's population
    _ingest(world.store, _events(N_EVENTS, 150, random.Random(12), world.truth))
    _score_online(world.store)

    assert _label_everything(world, qid) == 90 + sum(it.overlap for it in items)
    report = estimate_for_queue(world.store, qid)
    assert report.scorer == JUDGE and report.metric == "good" and report.notes == []
    assert report.judge_only.n == len(_bot_ok(world)) and report.n_labeled == 90 and report.weighted
    assert report.source == {"queue_id": qid, "events": True, "app": "bot"}

    # the same numbers from first principles: the judge on every event of the population, the labels
    # on the sampled ones, each weighted by its inclusion probability
    population = queue_population(world.store, ls.find_queue(qid)) or []
    assert [c.item_id for c in population] == _bot_ok(world)
    judged = {c.item_id: c.scores[JUDGE] for c in population}
    human = {it.item_id: world.truth[it.item_id] for it in items}
    reference = estimate_from_values(
        judged, human, inclusion_prob={it.item_id: it.inclusion_prob for it in items}, metric="good"
    )
    for key in ("judge_only", "human_only", "ppi"):
        assert report.to_dict()[key] == reference.to_dict()[key]

    # the lenient judge alone misses the true rate; PPI with 90 labels covers it
    true_rate = sum(world.truth[i] for i in _bot_ok(world)) / len(_bot_ok(world))
    assert not report.judge_only.ci_low <= true_rate <= report.judge_only.ci_high
    assert report.ppi.ci_low <= true_rate <= report.ppi.ci_high
    assert report.ppi.ci_high - report.ppi.ci_low < report.human_only.ci_high - report.human_only.ci_low

    # the CLI says the same, and agreement is scikit-learn's kappa over the labelled events
    res = runner.invoke(_app(), ["estimate", qid, "--store", world.url, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["ppi"] == report.to_dict()["ppi"]
    res = runner.invoke(_app(), ["agreement", qid, "--store", world.url, "--json"])
    assert res.exit_code == 0, res.output
    [ag] = json.loads(res.output)["scorers"]
    ids = [it.item_id for it in items]
    assert ag["scorer"] == JUDGE and ag["n"] == 90
    assert ag["cohen_kappa"] == pytest.approx(
        cohen_kappa_score([judged[i] for i in ids], [world.truth[i] for i in ids])
    )
    assert ag["inter_annotator"]["n_items"] == sum(it.overlap for it in items) > 0


def test_a_queue_built_before_online_scoring_uses_the_scores_stored_since(world: World) -> None:
    """Events are scored asynchronously: the queue may be built first, its items showing no score."""
    q = create_queue(
        world.store,
        candidates_from_events(world.store, app="bot"),
        60,
        name="before scoring",
        seed=5,
        source={"events": True, "app": "bot"},
        rubric={"name": "good"},
    )
    items = LabelStore(world.store).items(q.queue_id)
    assert all(it.payload["scores"] == {} for it in items)
    assert q.source["until_seq"] == max(c.seq or 0 for c in candidates_from_events(world.store, app="bot"))
    _score_online(world.store)
    _label_everything(world, q.queue_id, ("ana",))
    now = event_scores_for(world.store, [it.event_id or "" for it in items])
    assert set(now) == {it.event_id for it in items}
    [ag] = agreement_for_queue(world.store, q.queue_id)
    ids = [it.item_id for it in items]
    assert ag.scorer == JUDGE and ag.n == 60
    assert ag.cohen_kappa == pytest.approx(
        cohen_kappa_score([now[i.removeprefix("event/")][JUDGE] for i in ids], [world.truth[i] for i in ids])
    )
    report = estimate_for_queue(world.store, q.queue_id)
    assert report.judge_only.n == len(_bot_ok(world)) and report.n_labeled == 60 and not report.weighted


def test_estimate_notes_a_population_that_changed_and_labels_without_a_score(world: World) -> None:
    from sqlalchemy import delete

    from assay.store.events import event_scores, events

    _score_online(world.store)
    q = create_queue(
        world.store,
        candidates_from_events(world.store, app="bot"),
        40,
        name="q",
        seed=1,
        source={"events": True, "app": "bot"},
    )
    items = LabelStore(world.store).items(q.queue_id)
    _label_everything(world, q.queue_id, ("ana",))
    gone, unscored = items[0], items[1]
    with world.store.engine.begin() as conn:  # retention removed one event; one score was lost
        seq = conn.execute(events.select().where(events.c.event_id == gone.event_id)).one().seq
        conn.execute(delete(event_scores).where(event_scores.c.event_seq == seq))
        conn.execute(delete(events).where(events.c.seq == seq))
        seq = conn.execute(events.select().where(events.c.event_id == unscored.event_id)).one().seq
        conn.execute(delete(event_scores).where(event_scores.c.event_seq == seq))
    report = estimate_for_queue(world.store, q.queue_id)
    assert report.n_labeled == 38 and report.judge_only.n == len(_bot_ok(world)) - 2
    assert any("sampled from" in n and "inclusion probabilities" in n for n in report.notes)
    assert any("2 labelled item(s) have no" in n for n in report.notes)


def test_export_of_an_events_queue_carries_the_event_join_key(world: World, tmp_path: Any) -> None:
    _score_online(world.store)
    q = create_queue(
        world.store,
        candidates_from_events(world.store),
        20,
        name="all apps",
        source={"events": True, "app": None},
    )
    _label_everything(world, q.queue_id, ("ana",))
    out = tmp_path / "labels.jsonl"
    res = CliRunner().invoke(_app(), ["label", "export", q.queue_id, "-o", str(out), "--store", world.url])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 20
    assert all(r["event_id"] and r["run_id"] is None and r["inclusion_prob"] == 20 / 384 for r in rows)
    assert {r["item_id"] for r in rows} == {f"event/{r['event_id']}" for r in rows}
