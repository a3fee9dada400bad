"""The compare page's N-way picker and comparison: a baseline against several candidates with paired tests
corrected over the whole family (the numbers are ``report.compare``'s), the baseline chosen by the user,
"Compare selected" from the runs list, bad selections as messages, and run and suite names as text."""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.report.compare import compare_runs
from assay.report.html import make_environment
from assay.store import open_store
from tests.report._seed import Seeded, record_run, seed

pytest.importorskip("fastapi")

THIRD = "run-third-0003"
HOSTILE_SUITE = '<img src=x onerror="alert(7)">'
HOSTILE_RUN = "run-<svg onload=alert(8)>"
PVAL = make_environment().filters["pval"]
FMT = make_environment().filters["fmt"]


def third(text: str) -> str:
    """Right on even-numbered questions only: clearly worse than the baseline."""
    if text == "explode":
        return "recovered"
    parts = text.split()
    if len(parts) == 2 and parts[1].isdigit():
        i = int(parts[1])
        return f"answer {i}" if i % 2 == 0 else "no idea"
    return text


@pytest.fixture(scope="module")
def runs4(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The shared seed (baseline, candidate) plus a third run of the suite and a run of another suite
    whose suite and run id are markup."""
    s = seed(f"sqlite:///{tmp_path_factory.mktemp('compare') / 'assay.db'}")
    record_run(s.url, s.cases, third, run_id=THIRD)
    record_run(s.url, s.cases[:8], third, run_id=HOSTILE_RUN, suite=HOSTILE_SUITE)
    return s


@pytest.fixture(scope="module")
def client(runs4: Seeded) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    with TestClient(create_app(runs4.url)) as c:
        yield c


def _matrix(page: str) -> dict[tuple[str, str], tuple[str, str]]:
    """``{(metric, run): (verdict, cell text)}`` of the page's candidate-by-metric table."""
    table = page.split('id="compare-matrix"', 1)[1].split("</table>", 1)[0]
    out = {}
    for metric, row in re.findall(r'<tr data-metric="([^"]+)">(.*?)</tr>', table, re.S):
        for run, verdict, cell in re.findall(
            r'<td class="num" data-run="([^"]+)" data-verdict="([^"]+)">(.*?)</td>', row, re.S
        ):
            text = htmllib.unescape(re.sub(r"<[^>]+>", "", cell))
            out[(htmllib.unescape(metric), htmllib.unescape(run))] = (verdict, " ".join(text.split()))
    return out


def _picker(page: str) -> dict[str, tuple[bool, bool]]:
    """``{run id: (ticked, baseline)}`` of the picker's rows, in page order."""
    table = page.split('id="picker-table"', 1)[1].split("</table>", 1)[0]
    out = {}
    for run, row in re.findall(r'<tr data-run-id="([^"]+)">(.*?)</tr>', table, re.S):
        box = re.search(r'<input type="checkbox"[^>]*>', row).group(0)  # type: ignore[union-attr]
        radio = re.search(r'<input type="radio"[^>]*>', row).group(0)  # type: ignore[union-attr]
        out[htmllib.unescape(run)] = (" checked" in box, " checked" in radio)
    return out


def test_n_way_page_and_api_show_report_compare_numbers(client: Any, runs4: Seeded) -> None:
    s = runs4
    params = [("base", s.base_id), ("runs", s.cand_id), ("runs", THIRD)]
    r = client.get("/compare", params=params)
    assert r.status_code == 200
    with open_store(s.url) as st:
        expected = compare_runs(st, s.base_id, [s.cand_id, THIRD])
        pairwise = compare_runs(st, s.base_id, [THIRD])
    cells = _matrix(r.text)
    assert len(expected.metrics) == 4 and set(cells) == {(m.metric, m.run_id) for m in expected.metrics}
    for m in expected.metrics:
        verdict, text = cells[(m.metric, m.run_id)]
        assert verdict == m.verdict
        assert text.startswith(FMT(m.other_mean)) and f"Δ {FMT(m.difference, 4)}" in text
        assert f"pHolm {PVAL(m.p_holm)}" in text
    # Holm over the whole family (both candidates' tests), not each candidate on its own
    for m in [m for m in expected.metrics if m.run_id == THIRD]:
        alone = next(p for p in pairwise.metrics if p.metric == m.metric)
        assert m.verdict == "regressed" and m.p_holm is not None and alone.p_holm is not None
        assert m.p_holm > alone.p_holm and PVAL(m.p_holm) != PVAL(alone.p_holm)
    assert r.text.count('id="comparison-table"') == 1 and 'id="plot-forest"' in r.text
    api = client.get("/api/compare", params=params).json()
    assert api == json.loads(json.dumps(expected.to_dict()))
    assert [o["run_id"] for o in api["others"]] == [s.cand_id, THIRD]


def test_baseline_choice_and_url_forms(client: Any, runs4: Seeded) -> None:
    s = runs4

    def selection(params: list[tuple[str, str]]) -> tuple[str, list[str]]:
        body = client.get("/api/compare", params=params).json()
        return body["base"]["run_id"], [o["run_id"] for o in body["others"]]

    # the old form: the first run is the baseline
    assert selection([("runs", s.cand_id), ("runs", s.base_id)]) == (s.cand_id, [s.base_id])
    # base= wins wherever it appears in runs; each run once; unique prefixes resolve
    assert selection([("runs", THIRD), ("runs", s.cand_id), ("runs", THIRD), ("base", s.cand_id)]) == (
        s.cand_id,
        [THIRD],
    )
    assert selection([("base", "run-base"), ("runs", "run-third"), ("runs", "run-cand")]) == (
        s.base_id,
        [THIRD, s.cand_id],
    )
    page = client.get("/compare", params=[("base", THIRD), ("runs", s.base_id), ("runs", s.cand_id)])
    picked = _picker(page.text)
    assert picked[THIRD] == (True, True) and picked[s.base_id] == (True, False)
    assert list(picked)[:3] == [THIRD, s.base_id, s.cand_id]  # the picked runs first, baseline on top
    head = page.text.split('id="compare-matrix"', 1)[1].split("</thead>", 1)[0]
    assert f'baseline <span class="mono">{THIRD}</span>' in head
    # each candidate column offers to become the baseline, keeping the other runs
    rebase = [htmllib.unescape(u) for u in re.findall(r'class="rebase-link muted" href="([^"]+)"', head)]
    assert rebase[0] == f"/compare?base={s.base_id}&runs={THIRD}&runs={s.cand_id}"


def test_incomplete_unknown_and_oversized_selections(
    client: Any, runs4: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = runs4
    only = client.get("/compare", params={"base": s.base_id})
    assert only.status_code == 200 and "Pick at least one more run" in only.text
    assert _picker(only.text)[s.base_id] == (True, True)
    assert client.get("/api/compare", params={"runs": s.base_id}).status_code == 400
    assert client.get("/api/compare", params=[("runs", s.base_id), ("runs", s.base_id)]).status_code == 400
    unknown = client.get("/compare", params=[("runs", s.base_id), ("runs", "<b>nope</b>")])
    assert unknown.status_code == 404 and "&lt;b&gt;nope&lt;/b&gt;" in unknown.text
    assert "<b>nope</b>" not in unknown.text
    assert client.get("/api/compare", params=[("runs", s.base_id), ("runs", "nope")]).status_code == 404
    ambiguous = client.get("/compare", params=[("runs", s.base_id), ("runs", "run-")])
    assert ambiguous.status_code == 404 and 'id="compare-error"' in ambiguous.text
    import assay.server.data

    monkeypatch.setattr(assay.server.data, "MAX_COMPARE_RUNS", 2)
    three = [("runs", s.base_id), ("runs", s.cand_id), ("runs", THIRD)]
    too_many = client.get("/compare", params=three)
    assert too_many.status_code == 400 and "compare at most 2 at once" in too_many.text
    api = client.get("/api/compare", params=three)
    assert api.status_code == 400 and "at most 2" in api.json()["detail"]


def test_picker_filters_by_suite_and_keeps_picked_runs(client: Any, runs4: Seeded) -> None:
    s = runs4
    everything = _picker(client.get("/compare").text)
    assert set(everything) == {s.base_id, s.cand_id, THIRD, HOSTILE_RUN}
    assert not any(ticked or base for ticked, base in everything.values())
    support = client.get("/compare", params={"suite": "support"}).text
    assert list(_picker(support)) == [THIRD, s.cand_id, s.base_id]  # newest first
    assert '<option value="support" selected>' in support
    # a picked run of another suite stays listed (first) while the list shows one suite
    kept = client.get("/compare", params=[("suite", "support"), ("runs", HOSTILE_RUN)])
    assert list(_picker(kept.text)) == [HOSTILE_RUN, THIRD, s.cand_id, s.base_id]
    assert "Pick at least one more run" in kept.text


def test_run_and_suite_names_are_text(client: Any, runs4: Seeded) -> None:
    s = runs4
    pages = [
        client.get("/compare").text,
        client.get("/").text,
        client.get("/compare", params=[("base", s.base_id), ("runs", HOSTILE_RUN)]).text,
    ]
    for page in pages:
        assert HOSTILE_SUITE not in page and "<svg" not in page and 'onerror="' not in page
        assert "&lt;svg onload=alert(8)&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(7)&#34;&gt;" in pages[0]  # in the suite filter, as text
    assert "<script>" not in "".join(pages)
    # the hostile run was compared (on its 8 cases): its column is there, escaped
    assert ("exact_match", HOSTILE_RUN) in _matrix(pages[2])


def test_runs_page_offers_compare_selected(client: Any, runs4: Seeded) -> None:
    page = client.get("/", params={"suite": "support"}).text
    form = page.split('<form method="get" action="/compare" id="compare-form">', 1)[1].split("</form>", 1)[0]
    for run in (runs4.base_id, runs4.cand_id, THIRD):
        assert f'<input type="checkbox" name="runs" value="{run}"' in form
        assert f'<input type="radio" name="base" value="{run}"' in form
    assert 'id="compare-button">Compare selected</button>' in form


# ---------------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def base_url(runs4: Seeded) -> Iterator[str]:
    from tests.server.test_browser import _serve

    yield from _serve(runs4.url, None)


@pytest.mark.browser
def test_pick_n_runs_in_the_browser(browser: Any, base_url: str, runs4: Seeded, tmp_path: Path) -> None:
    s = runs4
    from tests.server.test_browser import _page

    context, page, problems = _page(browser)  # records dialogs, page errors and off-host requests

    # from the runs list: tick three runs, choose the oldest as baseline, "Compare selected"
    page.goto(base_url + "/?suite=support")
    for run in (s.base_id, s.cand_id, THIRD):
        page.check(f'#runs-table input[type=checkbox][value="{run}"]')
    page.check(f'#runs-table input[type=radio][value="{s.base_id}"]')
    page.click("#compare-button")
    page.wait_for_selector("#compare-matrix")
    page.wait_for_selector("#plot-forest .main-svg", timeout=20_000)
    heads = page.locator("#compare-matrix thead th[data-run]").evaluate_all(
        "els => els.map(e => e.dataset.run)"
    )
    assert heads == [THIRD, s.cand_id]  # the candidates, in the runs list's order (newest first)
    with open_store(s.url) as st:
        expected = compare_runs(st, s.base_id, [THIRD, s.cand_id])
    for m in expected.metrics:
        cell = page.locator(f'#compare-matrix tr[data-metric="{m.metric}"] td[data-run="{m.run_id}"]')
        assert cell.get_attribute("data-verdict") == m.verdict
        assert f"pHolm {PVAL(m.p_holm)}" in " ".join(cell.inner_text().split())
    page.screenshot(path=str(tmp_path / "compare-3.png"), full_page=True)

    # in the picker (folded above the comparison): drop a candidate and compare again
    assert not page.locator("#picker-table").is_visible()
    page.click("#pick summary")
    page.uncheck(f'#picker-table input[type=checkbox][value="{s.cand_id}"]')
    page.click("#compare-submit")
    page.wait_for_selector("#compare-matrix")
    assert page.locator("#compare-matrix thead th[data-run]").count() == 1
    assert f"base={s.base_id}" in page.url and s.cand_id not in page.url  # the address is shareable

    # make the candidate the baseline from its column
    page.click("#compare-matrix a.rebase-link")
    page.wait_for_selector("#compare-matrix")
    assert page.locator(f'#picker-table input[type=radio][value="{THIRD}"]').is_checked()
    assert page.locator("#compare-matrix thead th[data-run]").evaluate_all(
        "els => els.map(e => e.dataset.run)"
    ) == [s.base_id]

    # without a baseline the browser asks for one before comparing
    page.goto(base_url + "/compare?suite=support")
    page.check(f'#picker-table input[type=checkbox][value="{s.base_id}"]')
    page.check(f'#picker-table input[type=checkbox][value="{s.cand_id}"]')
    page.click("#compare-submit")
    assert "runs=" not in page.url and page.locator("#compare-matrix").count() == 0
    page.check(f'#picker-table input[type=radio][value="{s.cand_id}"]')
    page.click("#compare-submit")
    page.wait_for_selector("#compare-matrix")
    assert page.locator("#compare-matrix thead th[data-run]").evaluate_all(
        "els => els.map(e => e.dataset.run)"
    ) == [s.base_id]
    # the hostile suite in the filter and the hostile run id in the list are text
    page.goto(base_url + "/compare")
    assert HOSTILE_RUN in page.locator("#picker-table").inner_text()
    assert HOSTILE_SUITE in page.locator("#picker-suite").inner_text()
    assert page.locator("main svg, main img").count() == 0
    assert problems == []
    context.close()
