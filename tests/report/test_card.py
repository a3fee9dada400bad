"""Evaluation cards: content for auditors and non-specialists, a manifest that detects tampering, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assay import stats
from assay.report.card import build_card, card_markdown, verify_card
from assay.store import Store, open_store
from tests.report._seed import Seeded, make_cases, record_run


@pytest.fixture(scope="module")
def card(seeded: Seeded) -> dict:  # type: ignore[type-arg]
    with open_store(seeded.url) as st:
        return build_card(st, seeded.base_id)


def test_card_describes_what_how_and_results(card: dict, seeded: Seeded, store: Store) -> None:  # type: ignore[type-arg]
    summary = store.get_run(seeded.base_id).summary  # type: ignore[union-attr]
    assert card["run"]["run_id"] == seeded.base_id
    assert card["evaluated"]["target"]["ref"].endswith(":baseline")
    assert card["evaluated"]["target"]["api_key"] == "[redacted]"
    assert "sk-SECRET" not in json.dumps(card)
    assert card["data"]["dataset_sha256"] == "d" * 64 and card["data"]["n_results"] == 63
    assert card["data"]["slices"]["category"] == {"billing": 21, "shipping": 20, "tech": 22}
    assert [s["name"] for s in card["method"]["scorers"]] == ["exact_match", "token_f1"]
    assert card["method"]["scorers"][0]["version"] == "1" and card["method"]["seed"] == 0
    assert card["results"]["metrics"] == summary["metrics"] and card["results"]["passed"] is False


def test_risk_summary_is_plain_language_with_intervals(card: dict) -> None:  # type: ignore[type-arg]
    lo, hi = stats.wilson_interval(12, 62)
    line = f"In 12 of 62 cases (19.4%, 95% CI {100 * lo:.1f}%–{100 * hi:.1f}%) the answer did not match the expected answer."
    assert line in card["risk_summary"]
    assert any("gave no answer at all" in s and "1 of 63" in s for s in card["risk_summary"])
    assert any("does NOT meet the bar" in s for s in card["risk_summary"])
    limits = " ".join(card["limitations"])
    assert "Slice tags=refund has only 12 cases" in limits and "excluded from the mean" in limits


def test_judge_without_human_agreement_is_a_limitation(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from assay.report.card import _limitations

    run = SimpleNamespace(status="completed", provenance={"dataset_sha256": "x", "git": {"dirty": True}})

    scorers = [
        {"name": "faithful", "scorer": "llm_judge", "options": {"model": "judge-1"}},
        {"name": "polite", "scorer": "llm_judge", "options": {"model": "judge-2", "human_agreement": 0.41}},
    ]
    out = " ".join(_limitations(run, {"metrics": {}, "n_results": 500}, [], scorers))
    assert "faithful is scored by an LLM judge (judge-1) with no recorded agreement" in out
    assert "polite: the judge's agreement with human labels is low (0.41)" in out
    assert "git tree dirty" in out


def test_markdown_card_escapes_and_carries_the_manifest(card: dict) -> None:  # type: ignore[type-arg]
    md = card_markdown(card)
    assert md.startswith("# Evaluation card: support")
    assert card["manifest"]["card"] in md and card["manifest"]["scores"] in md
    hostile = {**card, "run": {**card["run"], "suite": "<script>alert(1)</script> | x"}}
    assert "<script>" not in card_markdown(hostile)


def test_verify_detects_an_edited_card_and_edited_results(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    run = record_run(url, make_cases()[:20], lambda t: f"answer {t.split()[1]}", run_id="t1")
    with open_store(url) as st:
        card = build_card(st, run)
        assert verify_card(card, st).ok
        edited = json.loads(json.dumps(card))
        edited["results"]["metrics"]["exact_match"]["mean"] = 0.99
        assert verify_card(edited, st).mismatches == ["card"]
        # change one score in the store behind the card's back
        from assay.store import schema

        with st.engine.begin() as conn:
            conn.execute(
                schema.scores.update()
                .where(
                    schema.scores.c.run_id == run,
                    schema.scores.c.case_id == "c003",
                    schema.scores.c.name == "exact_match",
                )
                .values(value=0.0)
            )
        result = verify_card(card, st)
        assert not result.ok and result.mismatches == ["scores"]
        assert verify_card(card, None).notes == ["store not checked: no store given"]


def _cli() -> CliRunner:
    import assay.cli.report  # noqa: F401  (registers the commands)
    from assay.cli.app import _register

    _register()

    return CliRunner()


def test_cli_report_card_and_verify(tmp_path: Path) -> None:
    from assay.cli.app import app

    url = f"sqlite:///{tmp_path / 'c.db'}"
    a = record_run(url, make_cases()[:12], lambda t: f"answer {t.split()[1]}", run_id="cli-a")
    b = record_run(url, make_cases()[:12], lambda t: "no", run_id="cli-b")
    runner = _cli()
    html = tmp_path / "out" / "report.html"
    res = runner.invoke(app, ["report", a, "--compare", b, "-o", str(html), "--store", url])
    assert res.exit_code == 0, res.output
    assert 'id="comparison-table"' in html.read_text(encoding="utf-8")
    md, js = tmp_path / "card.md", tmp_path / "card.json"
    assert runner.invoke(app, ["card", a, "-o", str(md), "--store", url]).exit_code == 0
    assert md.read_text(encoding="utf-8").startswith("# Evaluation card")
    assert runner.invoke(app, ["card", a, "-o", str(js), "--json", "--store", url]).exit_code == 0
    ok = runner.invoke(app, ["card", "--verify", str(js), "--store", url])
    assert ok.exit_code == 0 and "verified" in ok.output
    card = json.loads(js.read_text(encoding="utf-8"))
    card["risk_summary"] = ["all good"]
    js.write_text(json.dumps(card), encoding="utf-8")
    bad = runner.invoke(app, ["card", "--verify", str(js), "--store", url])
    assert bad.exit_code == 1 and "MISMATCH" in bad.output
    js.write_text("{not json", encoding="utf-8")
    broken = runner.invoke(app, ["card", "--verify", str(js), "--store", url])
    assert broken.exit_code == 2 and "not valid JSON" in " ".join(broken.output.split())
    missing = runner.invoke(app, ["report", "no-such-run", "--store", url, "-o", str(tmp_path / "x.html")])
    assert missing.exit_code == 2 and "no run" in " ".join(missing.output.split())
