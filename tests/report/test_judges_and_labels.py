"""Judges and human labels in the run view, the static report, the dashboard run page and the card.

A run is scored by a real ``rubric`` judge talking to the loopback OpenAI-compatible server (a lenient
judge: it also passes some wrong answers) and by ``exact_match``; a label queue is sampled from the run
and two annotators label it. Every number shown must be the label package's own (agreement, PPI) and
the judge totals must be the sums of the stored scores' ``metadata["judge"]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from assay.label import agreement_for_queue, candidates_from_run, create_queue, estimate_for_queue
from assay.report.card import build_card, card_markdown, verify_card
from assay.report.html import render_report
from assay.report.judges import human_labels_for_run
from assay.report.view import build_run_view
from assay.store import Store, open_store
from assay.store.labels import LabelRecord, LabelStore
from assay.testing.fake_openai import FakeOpenAIServer
from assay.types import Case, Output, Usage
from tests.report._seed import record_run

if TYPE_CHECKING:
    from assay.scorer.base import Scorer

N_CASES = 44
JUDGE_PRICING = {"input_per_mtok": 1.0, "output_per_mtok": 2.0}


def _correct(i: int) -> bool:
    return i % 3 != 0


def _judge_passes(i: int) -> bool:
    """Lenient: every right answer, and the wrong ones of even-numbered cases."""
    return _correct(i) or i % 2 == 0


@dataclass
class Seeded:
    url: str
    run_id: str
    plain_run_id: str
    queue_id: str


def _cases() -> list[Case]:
    cases = [Case(id=f"c{i:03d}", input=f"question {i}", expected=f"answer {i}") for i in range(N_CASES)]
    # the same question and answer again: the judge's verdict comes from its cache
    cases += [Case(id=f"dup{i}", input=f"question {i}", expected=f"answer {i}") for i in (1, 2)]
    return cases


def _answer(text: str) -> str:
    i = int(text.split()[1])
    return f"answer {i}" if _correct(i) else "no idea"


def _record(url: str, run_id: str, scorers: list[str | Scorer], created: datetime) -> None:
    record_run(
        url,
        _cases(),
        _answer,
        suite="judged",
        scorers=scorers,
        run_id=run_id,
        created_at=created,
        dataset_sha256="e" * 64,
        latency=lambda k: 0.1,
        cost=lambda k: 0.0005,
        usage=lambda k: Usage(20 + k, 4),
    )


def _seed(url: str) -> Seeded:
    from assay.scorer.judge import RubricJudge

    t0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    with FakeOpenAIServer() as server:
        judge = RubricJudge(
            judge={
                "type": "openai",
                "base_url": server.base_url,
                "model": "judge-mini",
                "timeout_s": 5,
                "pricing": JUDGE_PRICING,
            },
            criterion="Is the answer correct?",
            cache=True,
        )
        for case in _cases()[:N_CASES]:
            i = int(case.input_text.split()[1])
            verdict = "true" if _judge_passes(i) else "false"
            prompt = judge.prompt_for(case, Output(text=_answer(case.input_text)))
            server.answers[prompt] = f'{{"reasoning": "checked case {i}", "score": {verdict}}}'
        _record(url, "run-judged", [judge, "exact_match"], t0)
    _record(url, "run-plain", ["exact_match"], t0 + timedelta(minutes=5))

    with open_store(url) as st:
        queue = create_queue(
            st,
            candidates_from_run(st, "run-judged"),
            38,
            name="week 1",
            strategy="random",
            overlap=0.25,
            seed=7,
            rubric={"name": "correct", "choices": {"yes": 1, "no": 0}},
            source={"run_id": "run-judged", "suite": "judged"},
        )
        ls = LabelStore(st)
        recs = []
        for it in ls.items(queue.queue_id):
            i = int(str(it.payload["input"]).split()[1])
            truth = 1.0 if _correct(i) else 0.0
            recs.append(
                LabelRecord(
                    item_id=it.item_id, annotator="ana", value=truth, queue_id=queue.queue_id, name="correct"
                )
            )
            if it.overlap:
                disagree = it.position % 4 == 0
                recs.append(
                    LabelRecord(
                        item_id=it.item_id,
                        annotator="ben",
                        value=1.0 - truth if disagree else truth,
                        queue_id=queue.queue_id,
                        name="correct",
                    )
                )
        ls.add_labels(recs)
    return Seeded(url=url, run_id="run-judged", plain_run_id="run-plain", queue_id=queue.queue_id)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return _seed(f"sqlite:///{tmp_path_factory.mktemp('judges') / 'assay.db'}")


@pytest.fixture
def store(seeded: Seeded) -> Iterator[Store]:
    st = open_store(seeded.url)
    yield st
    st.close()


def _metadata_sums(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """The judge usage summed by hand from every stored score (independently of ``judge_usage``)."""
    out: dict[str, dict[str, Any]] = {}
    for r in store.iter_results(run_id):
        for s in r.scores:
            meta = (s.get("metadata") or {}).get("judge")
            if meta is None:
                continue
            t = out.setdefault(
                s["name"],
                {"n": 0, "calls": 0, "cached": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0},
            )
            t["n"] += 1
            for k in ("calls", "cached", "input_tokens", "output_tokens"):
                t[k] += meta[k]
            t["cost_usd"] += meta["cost_usd"]
    return out


# ------------------------------------------------------------------------------------------ judges
def test_view_judge_usage_equals_the_sums_of_score_metadata(seeded: Seeded, store: Store) -> None:
    view = build_run_view(store, seeded.run_id)
    expected = _metadata_sums(store, seeded.run_id)
    assert list(expected) == ["rubric"]
    e = expected["rubric"]
    # 44 questions asked once, 2 answered from the cache; every judge call is metered
    assert e["n"] == N_CASES + 2 and e["calls"] == N_CASES and e["cached"] == 2
    [row] = view.judges
    assert row.scorer == "rubric"
    assert (row.n, row.calls, row.cached, row.input_tokens, row.output_tokens) == (
        e["n"],
        e["calls"],
        e["cached"],
        e["input_tokens"],
        e["output_tokens"],
    )
    assert row.cost_usd == pytest.approx(e["cost_usd"], rel=1e-12)
    assert row.cost_usd == pytest.approx((e["input_tokens"] * 1.0 + e["output_tokens"] * 2.0) / 1e6)
    # kept apart from the target's own tokens and cost
    target_in = sum(20 + k for k in range(N_CASES + 2))
    assert view.summary["tokens"]["input"] == target_in != row.input_tokens
    assert view.summary["cost_usd"] == pytest.approx(0.0005 * (N_CASES + 2))
    d = json.loads(json.dumps(view.to_dict(), allow_nan=False))
    assert d["judges"]["rubric"]["calls"] == N_CASES and d["judge_totals"]["cached"] == 2
    assert d["tokens"]["input"] == target_in


def test_a_run_without_judges_or_queues_has_neither_section(seeded: Seeded, store: Store) -> None:
    view = build_run_view(store, seeded.plain_run_id)
    assert view.judges == [] and view.human == [] and view.judge_totals is None
    html = render_report(store, seeded.plain_run_id)
    assert 'id="judges-table"' not in html and 'id="human-labels"' not in html
    card = build_card(store, seeded.plain_run_id)
    assert card["judges"]["per_scorer"] == {} and card["human_labels"] == []
    assert "## Judges" not in card_markdown(card)


# ------------------------------------------------------------------------------------------ labels
def test_view_shows_the_label_packages_own_agreement_and_estimates(seeded: Seeded, store: Store) -> None:
    view = build_run_view(store, seeded.run_id)
    [q] = view.human
    assert q.queue_id == seeded.queue_id and q.label_name == "correct" and q.strategy == "random"
    assert q.n_items == 38 and q.n_labelled == 38 and q.annotators == ["ana", "ben"]
    reference = {r.scorer: r for r in agreement_for_queue(store, seeded.queue_id)}
    assert [s.scorer for s in q.scorers] == sorted(reference) == ["exact_match", "rubric"]
    for sc in q.scorers:
        assert sc.agreement is not None and sc.estimate is not None, sc.notes
        assert sc.agreement.to_dict() == reference[sc.scorer].to_dict()
        est = estimate_for_queue(store, seeded.queue_id, scorer=sc.scorer)
        assert sc.estimate.to_dict() == est.to_dict()
        assert sc.estimate.judge_only.n == N_CASES + 2 and sc.estimate.human_only.n == 38
    # without the view's columns (re-reading the run) the numbers are the same
    again = human_labels_for_run(store, seeded.run_id)
    assert [x.to_dict() for x in again] == [x.to_dict() for x in view.human]
    # the data make one scorer fit and the lenient judge not: the limitation test below needs both
    assert reference["exact_match"].verdict == "fit" and reference["rubric"].verdict != "fit"


def test_report_and_dashboard_show_the_same_numbers(seeded: Seeded, store: Store) -> None:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    view = build_run_view(store, seeded.run_id)
    [row] = view.judges
    [q] = view.human
    rubric = next(s for s in q.scorers if s.scorer == "rubric")
    assert rubric.agreement is not None and rubric.estimate is not None
    static = render_report(store, seeded.run_id)
    with TestClient(create_app(seeded.url)) as client:
        page = client.get(f"/runs/{seeded.run_id}")
        api = client.get(f"/api/runs/{seeded.run_id}").json()
    assert page.status_code == 200
    for html in (static, page.text):
        judge_row = re.search(r'<tr data-judge="rubric">(.*?)</tr>', html, re.S)
        assert judge_row is not None
        cells = dict(re.findall(r'class="num judge-(\w+)"[^>]*>([^<]*)<', judge_row.group(1)))
        assert cells == {
            "calls": str(row.calls),
            "cached": str(row.cached),
            "input": str(row.input_tokens),
            "output": str(row.output_tokens),
            "cost": f"{row.cost_usd:.6f}",
        }
        section = html[html.index('id="human-labels"') :]
        assert f'data-queue="{seeded.queue_id}"' in section
        kappa = re.search(
            r'<tr data-scorer="rubric">.*?class="num ag-kappa" data-value="([^"]+)"', section, re.S
        )
        assert kappa is not None and float(kappa.group(1)) == rubric.agreement.cohen_kappa
        ppi = re.search(
            r'class="num est-ppi" data-mean="([^"]+)" data-low="([^"]+)" data-high="([^"]+)"',
            section[section.index("estimate-table") :].split('data-scorer="rubric"', 1)[1],
        )
        assert ppi is not None
        assert tuple(float(x) for x in ppi.groups()) == (
            rubric.estimate.ppi.mean,
            rubric.estimate.ppi.ci_low,
            rubric.estimate.ppi.ci_high,
        )
        assert f">{rubric.agreement.verdict}</span>" in section
    assert api["human_labels"][0]["scorers"][1]["estimate"] == rubric.estimate.to_dict()
    assert api["judges"]["rubric"]["input_tokens"] == row.input_tokens


# ------------------------------------------------------------------------------------------ card
def test_card_carries_judges_agreement_and_limitations(seeded: Seeded, store: Store) -> None:
    card = build_card(store, seeded.run_id)
    sums = _metadata_sums(store, seeded.run_id)["rubric"]
    per = card["judges"]["per_scorer"]["rubric"]
    assert {k: per[k] for k in ("n", "calls", "cached", "input_tokens", "output_tokens")} == {
        k: sums[k] for k in ("n", "calls", "cached", "input_tokens", "output_tokens")
    }
    assert per["cost_usd"] == pytest.approx(sums["cost_usd"])
    assert card["method"]["judge_models"] == [{"scorer": "rubric", "model": "judge-mini"}]
    reports = {r.scorer: r for r in agreement_for_queue(store, seeded.queue_id)}
    [q] = card["human_labels"]
    assert {s["scorer"]: s["agreement"] for s in q["scorers"]} == {k: r.to_dict() for k, r in reports.items()}
    limits = card["limitations"]
    flagged = {name for name, r in reports.items() if r.verdict != "fit"}
    assert flagged == {"rubric"}
    assert any(
        x.startswith(
            f"rubric: agreement with human labels (correct in queue week 1, n={reports['rubric'].n}) is {reports['rubric'].verdict}"
        )
        for x in limits
    )
    assert not any(x.startswith("exact_match: agreement") for x in limits)
    assert not any("no recorded agreement" in x for x in limits)  # the judge's agreement IS recorded
    md = card_markdown(card)
    assert "## Judges" in md and "## Agreement with human labels" in md
    est = estimate_for_queue(store, seeded.queue_id, scorer="rubric").ppi
    assert f"{est.mean:.3f} ({est.ci_low:.3f} – {est.ci_high:.3f}, n={est.n})" in md
    assert f"| rubric | {sums['n']} | {sums['calls']} | {sums['cached']} |" in md


def test_card_verify_covers_the_labels(tmp_path: Path, seeded: Seeded) -> None:
    import shutil

    src = Path(seeded.url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy.db"
    shutil.copy(src, copy)
    with open_store(f"sqlite:///{copy}") as st:
        card = build_card(st, seeded.run_id)
        assert verify_card(card, st).ok
        assert build_card(st, seeded.run_id)["manifest"]["labels"] == card["manifest"]["labels"]
        old = json.loads(json.dumps(card))
        del old["manifest"]["labels"]
        assert "labels not checked" in " ".join(verify_card(old, st).notes)
        # one annotator changes a label after the card was made: the card's agreement numbers are stale
        ls = LabelStore(st)
        first = ls.items(seeded.queue_id)[0]
        ls.add_labels(
            [
                LabelRecord(
                    item_id=first.item_id,
                    annotator="ana",
                    value=0.5,
                    queue_id=seeded.queue_id,
                    name="correct",
                )
            ]
        )
        result = verify_card(card, st)
        assert not result.ok and result.mismatches == ["labels"]
