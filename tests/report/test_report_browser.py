"""The static report in a real browser: opened from file:// with the network off, plots draw,
hostile outputs render as text and no script of theirs runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.report.html import write_report
from assay.store import open_store
from tests.report._seed import XSS_BREAKOUT, XSS_IMG, XSS_SCRIPT, Seeded

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report_file(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open_store(seeded.url) as st:
        return write_report(
            st, seeded.base_id, tmp_path_factory.mktemp("html") / "report.html", compare=[seeded.cand_id]
        )


def test_report_offline_renders_plots_and_escapes_outputs(
    browser: Any, report_file: Path, seeded: Seeded, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.set_offline(True)
    requests: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            requests.append(route.request.url),
            route.abort() if not route.request.url.startswith("file:") else route.continue_(),
        ),
    )
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report_file.as_uri())
    page.wait_for_selector("#plot-metrics .main-svg", timeout=20_000)
    for plot in ("metrics", "latency", "cost", "forest"):
        assert page.locator(f"#plot-{plot} .main-svg").count() >= 1, plot
    assert (
        page.locator("#plot-metrics .point, #plot-metrics path.point").count() >= 2
    )  # one bar per rate metric

    # headline numbers are the store's
    with open_store(seeded.url) as st:
        summary = st.get_run(seeded.base_id).summary  # type: ignore[union-attr]
    shown = page.locator('.metric-card[data-metric="exact_match"] .value').inner_text()
    assert shown == f"{summary['metrics']['exact_match']['mean']:.3f}"

    # hostile outputs are text: search for them, open the row, and read them back verbatim
    page.fill("#case-search", "xss")
    assert page.locator("#case-rows tr.case-row").count() == 2
    row = page.locator('#case-rows tr[data-case-id="xss-script"]')
    cells = row.locator("td .cell-text").all_inner_texts()
    assert cells == [XSS_SCRIPT, XSS_BREAKOUT, XSS_SCRIPT]
    row.click()
    assert XSS_BREAKOUT in page.locator("tr.detail").inner_text()
    page.locator('#case-rows tr[data-case-id="xss-img"]').click()
    assert page.locator('#case-rows tr[data-case-id="xss-img"] td .cell-text').first.inner_text() == XSS_IMG
    assert page.locator("img").count() == 0  # no <img> element was ever created from a case
    assert page.locator("#flips-table").inner_text().count(XSS_IMG) >= 1
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    # filtering by failing scorer and target errors
    page.fill("#case-search", "")
    page.select_option("#case-filter", "__target_error__")
    assert page.locator("#case-rows tr.case-row").count() == 1
    assert "target_exception" in page.locator("#case-rows").inner_text()
    page.select_option("#case-filter", "exact_match")
    assert "of 12" in page.locator("#case-count").inner_text()

    assert dialogs == [] and errors == []
    assert all(u.startswith("file:") for u in requests), requests
    context.close()
