"""The monitoring page and ``/api/monitoring`` on a store filled through the monitor (ingest, online
scoring, alerts): the page shows the alerts, the series of every metric and variant, the thresholds, and
the same numbers as the API; a hostile app name is text everywhere, in the HTML and in the plots."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.monitor.dashboard import monitoring_data
from assay.store import open_store
from tests.monitor.test_dashboard_data import build_store

pytest.importorskip("fastapi")

APP = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('monpage') / 'assay.db'}"
    build_store(url, app=APP)
    return url


@pytest.fixture
def client(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    monkeypatch.chdir(tmp_path)  # no monitor.yaml: the thresholds come from the alerts
    monkeypatch.delenv("ASSAY_MONITOR_CONFIG", raising=False)
    with TestClient(create_app(store_url)) as c:
        yield c


def _plot_specs(html: str) -> dict[str, Any]:
    specs = re.findall(
        r'<script type="application/json" class="plot-spec" data-target="plot-([\w-]+)">(.*?)</script>', html
    )
    return {name: json.loads(body) for name, body in specs}


def test_page_shows_alerts_series_variants_and_escapes(client: Any, store_url: str) -> None:
    html = client.get("/monitoring").text
    assert 'id="monitoring-empty"' not in html
    assert APP not in html and "<script>alert" not in html  # the app name is text, never markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    api = client.get("/api/monitoring").json()
    assert f'id="event-count">{api["events"]}<' in html
    # the alerts: rule, state, start and end in the table
    table = html.split('id="alerts-table"', 1)[1].split("</table>", 1)[0]
    for a in api["alerts"]:
        row = table.split(f'data-rule="{a["rule"]}"', 1)[1].split("</tr>", 1)[0]
        assert a["state"] in row and a["started"] in row and a["ended"] in row
    assert any(a["rule"] == "slow_answers" and a["variant"] == "B" for a in api["alerts"])
    # one figure per metric with the app's trace and one per variant; the threshold drawn where a rule sets it
    specs = _plot_specs(html)
    series_plots = [s for name, s in specs.items() if name.startswith("series-")]
    assert len(series_plots) == len(api["metrics"]) >= 5
    for metric, spec in zip(api["metrics"], series_plots, strict=True):
        title = spec["layout"]["title"]["text"]
        assert title == f"{metric} · &lt;script&gt;alert(1)&lt;/script&gt;"  # plotly reads HTML: escaped
        assert [t["name"] for t in spec["data"]] == ["all", "variant A", "variant B"]
        assert f"<code>{metric}</code>" in html
    p95 = series_plots[api["metrics"].index("p95_latency_s")]
    assert any(sh["type"] == "line" and sh["y0"] == 1.5 for sh in p95["layout"]["shapes"])
    fired = [sh for sh in p95["layout"]["shapes"] if sh["type"] == "rect" and sh.get("yref") == "paper"]
    slow = next(a for a in api["alerts"] if a["rule"] == "slow_answers")
    assert [sh["x0"] for sh in fired] == [slow["started"].removesuffix("+00:00")]
    timeline = specs["alerts-timeline"]
    assert len(timeline["data"]) == len(api["alerts"])
    assert "variants-table" in html and "rules-table" in html


def test_page_numbers_equal_the_api_and_the_store(client: Any, store_url: str) -> None:
    api = client.get("/api/monitoring").json()
    store = open_store(store_url)
    try:
        direct = monitoring_data(store)
    finally:
        store.close()
    assert api == json.loads(json.dumps(direct))
    specs = _plot_specs(client.get("/monitoring").text)
    series_plots = [s for name, s in specs.items() if name.startswith("series-")]
    for metric, spec in zip(api["metrics"], series_plots, strict=True):
        for trace in spec["data"]:
            variant = None if trace["name"] == "all" else trace["name"].removeprefix("variant ")
            s = next(x for x in api["series"] if x["metric"] == metric and x["variant"] == variant)
            assert trace["y"] == [p["value"] for p in s["points"]]
            assert trace["x"] == [p["t"].removesuffix("+00:00") for p in s["points"]]
    html = client.get("/monitoring").text
    rows = html.split('id="variants-table"', 1)[1].split("</table>", 1)[0]
    for v in api["variants"]:
        assert f"<td>{v['variant']}</td><td>{v['volume']}</td>" in rows


def test_api_options_and_errors(client: Any) -> None:
    narrow = client.get(
        "/api/monitoring", params=[("window", "1h"), ("step", "5m"), ("metric", "volume")]
    ).json()
    assert narrow["range"]["windows"] == 12 and {s["metric"] for s in narrow["series"]} == {"volume"}
    assert (
        client.get("/api/monitoring", params={"window": "all"})
        .json()["range"]["start"]
        .startswith("2025-03-03T09:00")
    )
    bad = client.get("/api/monitoring", params={"metric": "p95_latency"})
    assert bad.status_code == 400 and "unknown metric" in bad.json()["detail"]
    assert client.get("/api/monitoring", params={"step": "90s"}).status_code == 400


@pytest.mark.browser
def test_monitoring_page_in_a_browser(browser: Any, store_url: str, tmp_path: Path) -> None:
    from tests.server.test_browser import _serve

    gen = _serve(store_url, None)
    base_url = next(gen)
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
        page.goto(base_url + "/monitoring")
        page.wait_for_selector("#plot-alerts-timeline .main-svg", timeout=20_000)
        page.wait_for_selector("#plot-series-0 .main-svg", timeout=20_000)
        assert APP in page.locator("main p").first.inner_text()  # shown as text
        assert APP in (
            page.locator("#plot-series-0 .gtitle").text_content() or ""
        )  # plotly unescaped it to text
        assert "slow_answers" in page.locator("#alerts-table").inner_text()
        assert page.locator("main script:not([type])").count() == 0
        page.screenshot(path=str(tmp_path / "monitoring.png"), full_page=True)
        assert problems == []
        context.close()
    finally:
        next(gen, None)
