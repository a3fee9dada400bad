"""The dashboard in a real browser on a real loopback server: click through run → case → compare,
with screenshots, the store's numbers on screen, hostile outputs as text, and the token login."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from assay.store import open_store
from tests.report._seed import XSS_IMG, XSS_SCRIPT, Seeded

pytestmark = pytest.mark.browser


def _serve(url: str, token: str | None) -> Iterator[str]:
    import uvicorn

    from assay.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(url, token=token), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def base_url(seeded_server_store: Seeded) -> Iterator[str]:
    yield from _serve(seeded_server_store.url, None)


@pytest.fixture(scope="module")
def token_url(seeded_server_store: Seeded) -> Iterator[str]:
    yield from _serve(seeded_server_store.url, "browser-s3cret")


def _page(browser: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    problems: list[str] = []

    def on_dialog(dialog: Any) -> None:  # an alert() from injected markup would land here
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith("http://127.0.0.1") else problems.append(f"external request: {r.url}")
        ),
    )
    return context, page, problems


def test_click_through_run_case_compare(
    browser: Any, base_url: str, seeded_server_store: Seeded, tmp_path: Path
) -> None:
    s = seeded_server_store
    with open_store(s.url) as st:
        summary = st.get_run(s.base_id).summary  # type: ignore[union-attr]
    context, page, problems = _page(browser)
    page.goto(base_url + "/?suite=support")
    page.wait_for_selector("#plot-history .main-svg", timeout=20_000)  # metric over time with threshold line
    row = page.locator(f'tr[data-run-id="{s.base_id}"]')
    shown = row.locator('.headline-metric[data-metric="exact_match"] b').inner_text()
    assert shown == f"{summary['metrics']['exact_match']['mean']:.3f}"
    page.screenshot(path=str(tmp_path / "1-runs.png"), full_page=True)

    row.locator("a").first.click()
    page.wait_for_selector("#plot-metrics .main-svg", timeout=20_000)
    for name, m in summary["metrics"].items():
        assert page.locator(f'.metric-card[data-metric="{name}"] .value').inner_text() == f"{m['mean']:.3f}"
    assert page.locator("#case-table tbody tr").count() == 50
    page.select_option("#case-filter", "exact_match")
    page.locator("#case-filter-form button").click()
    page.wait_for_url("**failing=exact_match**")
    assert "of 12" in page.locator("#case-count").inner_text()
    cells = page.locator('tr[data-case-id="xss-img"] .cell-text').all_inner_texts()
    assert cells[0] == XSS_IMG and cells[2] == XSS_IMG
    page.screenshot(path=str(tmp_path / "2-run.png"), full_page=True)

    page.locator('tr[data-case-id="xss-script"] a.case-link').click()
    page.wait_for_selector("#case-id")
    assert page.locator("#case-input").inner_text() == XSS_SCRIPT
    assert page.locator("#case-output").inner_text() == XSS_SCRIPT
    assert page.locator("#score-table").inner_text().count("exact_match") == 1
    assert page.locator("main img").count() == 0
    page.screenshot(path=str(tmp_path / "3-case.png"), full_page=True)

    page.locator("a.compare-link").first.click()
    page.wait_for_selector("#comparison-table")
    page.wait_for_selector("#plot-forest .main-svg", timeout=20_000)
    table = page.locator("#comparison-table").inner_text()
    assert "exact_match" in table and "mcnemar" in table
    assert page.locator("#flips-table").inner_text().count(XSS_IMG) >= 1
    page.screenshot(path=str(tmp_path / "4-compare.png"), full_page=True)

    page.goto(base_url + "/monitoring")
    assert page.locator("#monitoring-empty").is_visible()
    assert problems == []
    context.close()
    assert all(
        (tmp_path / f).stat().st_size > 10_000
        for f in ("1-runs.png", "2-run.png", "3-case.png", "4-compare.png")
    )


def test_token_login_in_the_browser(browser: Any, token_url: str, tmp_path: Path) -> None:
    context, page, problems = _page(browser)
    page.goto(token_url + "/health")
    assert "/login" in page.url  # sent to the login form, keeping where we were going
    page.fill('input[name="token"]', "wrong")
    page.locator("#login-form button").click()
    assert page.locator("#login-error").inner_text() == "wrong token"
    page.fill('input[name="token"]', "browser-s3cret")
    page.locator("#login-form button").click()
    page.wait_for_selector("#health-table")
    assert page.url.endswith("/health") and "ok" in page.locator("#health-table").inner_text()
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["assay_session"]["httpOnly"] and cookies["assay_session"]["value"] != "browser-s3cret"
    page.screenshot(path=str(tmp_path / "health.png"))

    # sign out from the header: back to the login form, and every page asks for the token again
    page.locator("#logout-button").click()
    page.wait_for_selector("#login-form")
    assert urlsplit(page.url).path == "/login"
    assert "assay_session" not in {c["name"] for c in context.cookies()}
    page.goto(token_url + "/")
    assert urlsplit(page.url).path == "/login" and page.locator("#logout-button").count() == 0
    assert page.request.get(token_url + "/api/runs").status == 401
    assert problems == []
    context.close()
