"""The monitoring page and ``/api/monitoring`` on a store filled through the monitor (ingest, online
scoring, alerts): the page shows the alerts, the series of every metric and variant, the thresholds, and
the same numbers as the API; a hostile app name is text everywhere, in the HTML and in the plots."""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from assay.monitor.dashboard import monitoring_data
from assay.store import open_store
from tests.monitor.test_dashboard_data import build_store

pytest.importorskip("fastapi")

APP = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('monpage') / 'assay.db'}"
    _in_thread(build_store, url, app=APP)
    return url


def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a thread of its own: Playwright's sync API may already run an event loop in this one,
    and the monitor's scoring worker starts one."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


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


# ---------------------------------------------------------------------------------------------- the query form
def _series_specs(html: str) -> list[dict[str, Any]]:
    return [s for name, s in _plot_specs(html).items() if name.startswith("series-")]


def _errors(html: str) -> dict[str, str]:
    """``{field: message}`` shown beside the form."""
    assert 'id="monitoring-errors"' in html, "no errors shown"
    block = html.split('id="monitoring-errors"', 1)[1].split("</ul>", 1)[0]
    return {
        field: htmllib.unescape(re.sub(r"<[^>]+>", "", text))
        for field, text in re.findall(r'data-field="([^"]*)">(.*?)</li>', block, re.S)
    }


def _value(html: str, field_id: str) -> str:
    m = re.search(rf'<input type="text" name="\w+" id="{field_id}" value="([^"]*)"', html)
    assert m is not None, field_id
    return htmllib.unescape(m.group(1))


def _checked_metrics(html: str) -> list[str]:
    return re.findall(r'<input type="checkbox" name="metric" value="([^"]+)" checked>', html)


def test_form_drives_the_api_options_and_keeps_its_values(client: Any) -> None:
    params = [("window", "1h"), ("step", "5m"), ("metric", "volume"), ("metric", "p95_latency_s")]
    r = client.get("/monitoring", params=params)
    api = client.get("/api/monitoring", params=params).json()
    assert r.status_code == 200
    assert api["range"]["windows"] == 12 and api["metrics"] == ["volume", "p95_latency_s"]
    specs = _series_specs(r.text)
    assert [s["layout"]["title"]["text"].split(" · ")[0] for s in specs] == api["metrics"]
    for spec, metric in zip(specs, api["metrics"], strict=True):
        for trace in spec["data"]:
            variant = None if trace["name"] == "all" else trace["name"].removeprefix("variant ")
            s = next(x for x in api["series"] if x["metric"] == metric and x["variant"] == variant)
            assert trace["y"] == [p["value"] for p in s["points"]]
    assert f"{api['range']['windows']} windows of 5m" in r.text
    # the form shows the query back, and links to the same query's JSON
    assert _value(r.text, "mon-window") == "1h" and _value(r.text, "mon-step") == "5m"
    assert (
        _checked_metrics(r.text) == ["volume", "p95_latency_s"]
        and '<details id="mon-metrics" open>' in r.text
    )
    assert 'href="/api/monitoring?window=1h&amp;step=5m&amp;metric=volume&amp;metric=p95_latency_s"' in r.text
    # the defaults: the form is there with nothing filled in, and the page is the provider's default data
    default = client.get("/monitoring").text
    assert _value(default, "mon-window") == "" and _checked_metrics(default) == []
    assert 'href="/api/monitoring" id="monitoring-json"' in default


def test_since_until_select_a_time_range(client: Any, store_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    day = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    store = open_store(store_url)
    try:
        direct = monitoring_data(store, window=timedelta(hours=2), end=day + timedelta(hours=3), step="15m")
    finally:
        store.close()
    for since in ("2025-03-03T10:00", "2025-03-03T11:00:00+01:00", "2025-03-03 10:00:00Z"):
        params = {"since": since, "until": "2025-03-03T12:00", "step": "15m"}
        api = client.get("/api/monitoring", params=params).json()
        assert api == json.loads(json.dumps(direct)), since
        assert api["range"]["start"] == "2025-03-03T10:00:00+00:00" and api["range"]["windows"] == 8
        page = client.get("/monitoring", params=params).text
        assert _value(page, "mon-since") == since and _value(page, "mon-until") == "2025-03-03T12:00"
    until_only = client.get("/api/monitoring", params={"until": "2025-03-03T11:00", "window": "1h"}).json()
    assert (until_only["range"]["start"], until_only["range"]["end"]) == (
        "2025-03-03T10:00:00+00:00",
        "2025-03-03T11:00:00+00:00",
    )


def test_variants_combined_drops_the_split(client: Any) -> None:
    split = client.get("/monitoring").text
    assert "variants-table" in split and all(len(s["data"]) == 3 for s in _series_specs(split))
    combined = client.get("/monitoring", params={"variants": "combined"})
    specs = _series_specs(combined.text)
    assert specs and all(len(s["data"]) == 1 for s in specs)
    assert "variants-table" not in combined.text
    assert '<option value="combined" selected>' in combined.text
    api = client.get("/api/monitoring", params={"variants": "combined"}).json()
    assert api["series"] and all(s["variant"] is None for s in api["series"]) and api["variants"] == []


def test_bad_options_are_shown_on_the_page_not_a_500(client: Any) -> None:
    bad = [
        ("window", "<script>alert(1)</script>"),
        ("step", "90s"),
        ("since", "yesterday"),
        ("until", "2025-03-03T12:00"),
        ("metric", "volume"),
        ("metric", "p95_latency"),
        ("variants", "sideways"),
    ]
    r = client.get("/monitoring", params=bad)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    errors = _errors(r.text)
    assert set(errors) == {"window", "step", "since", "metric", "variants"}
    assert "not a duration" in errors["window"] and "<script>alert(1)</script>" in errors["window"]
    assert "whole number of minutes" in errors["step"] and "not a date and time" in errors["since"]
    assert "p95_latency" in errors["metric"] and "sideways" in errors["variants"]
    assert "<script>alert(1)</script>" not in r.text  # escaped in the message and in the field
    assert _value(r.text, "mon-window") == "<script>alert(1)</script>"
    assert _value(r.text, "mon-step") == "90s" and _value(r.text, "mon-since") == "yesterday"
    assert _checked_metrics(r.text) == ["volume", "p95_latency"]
    assert '<option value="sideways" selected>' in r.text
    assert (
        'id="mon-step" value="90s" placeholder="auto" size="5" list="step-choices" aria-invalid="true"'
        in r.text
    )
    assert not _series_specs(r.text) and 'id="alerts-table"' not in r.text
    api = client.get("/api/monitoring", params=bad)
    assert api.status_code == 400
    for field in ("window", "step", "since", "metric", "variants"):
        assert f"{field}: " in api.json()["detail"]
    # one at a time, including what only the monitor can judge (too many windows over the range)
    cases = {
        "window": {"window": "6h", "since": "2025-03-03T10:00"},
        "until": {"since": "2025-03-03T12:00", "until": "2025-03-03T11:00"},
        "step": {"window": "30d", "step": "1m"},
    }
    for field, params in cases.items():
        one = client.get("/monitoring", params=params)
        assert one.status_code == 400 and list(_errors(one.text)) == [field], params
        assert client.get("/api/monitoring", params=params).status_code == 400
    assert "more than" in _errors(client.get("/monitoring", params=cases["step"]).text)["step"]


@pytest.fixture(scope="module")
def two_apps(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The hostile app and a second one, "beta", with the same traffic and alerts."""
    url = f"sqlite:///{tmp_path_factory.mktemp('monpage2') / 'assay.db'}"
    for app in (APP, "beta"):
        _in_thread(build_store, url, app=app)
    return url


def test_app_filter(two_apps: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_MONITOR_CONFIG", raising=False)
    with TestClient(create_app(two_apps)) as c:
        everything = c.get("/api/monitoring").json()
        assert set(everything["apps"]) == {APP, "beta"}
        assert {a["app"] for a in everything["alerts"]} == {APP, "beta"}
        for app in (APP, "beta"):
            api = c.get("/api/monitoring", params={"app": app}).json()
            assert api["apps"] == {app: everything["apps"][app]} and api["events"] == everything["apps"][app]
            assert api["series"] and {s["app"] for s in api["series"]} == {app}
            assert api["series"] == [s for s in everything["series"] if s["app"] == app]
            assert {v["app"] for v in api["variants"]} == {app}
            assert api["alerts"] and {a["app"] for a in api["alerts"]} == {app}
            page = c.get("/monitoring", params={"app": app}).text
            assert len(_series_specs(page)) == len(api["metrics"])
        page = c.get("/monitoring", params={"app": APP}).text
        assert APP not in page
        options = re.findall(
            r'<option value="([^"]*)" ?(selected)?>',
            page.split('id="mon-app"', 1)[1].split("</select>", 1)[0],
        )
        assert options == [("", ""), ("&lt;script&gt;alert(1)&lt;/script&gt;", "selected"), ("beta", "")]
        unknown = c.get("/monitoring", params={"app": "<b>gamma</b>"})
        assert unknown.status_code == 400 and "<b>gamma</b>" not in unknown.text
        assert "no events from app '<b>gamma</b>'" in _errors(unknown.text)["app"]
        assert '<option value="&lt;b&gt;gamma&lt;/b&gt;" selected>' in unknown.text  # kept in the form
        assert c.get("/api/monitoring", params={"app": "gamma"}).status_code == 400


def test_form_on_a_store_without_events(seeded_server_store: Any) -> None:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    with TestClient(create_app(seeded_server_store.url)) as c:
        plain = c.get("/monitoring").text
        assert 'id="monitoring-empty"' in plain and 'id="monitoring-form"' not in plain
        asked = c.get("/monitoring", params={"window": "6h"})
        assert asked.status_code == 200 and 'id="monitoring-empty"' in asked.text
        assert _value(asked.text, "mon-window") == "6h"
        wrong = c.get("/monitoring", params={"step": "soon"})
        assert wrong.status_code == 400 and "step" in _errors(wrong.text)


# ---------------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def mon_url(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback server on the monitoring store (no monitor.yaml where it runs)."""
    from tests.server.test_browser import _serve

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("mon-cwd"))
        mp.delenv("ASSAY_MONITOR_CONFIG", raising=False)
        yield from _serve(store_url, None)


@pytest.mark.browser
def test_monitoring_page_and_its_form_in_a_browser(browser: Any, mon_url: str, tmp_path: Path) -> None:
    from tests.server.test_browser import _page

    context, page, problems = _page(browser)  # records dialogs, page errors and off-host requests
    page.goto(mon_url + "/monitoring")
    page.wait_for_selector("#plot-alerts-timeline .main-svg", timeout=20_000)
    page.wait_for_selector("#plot-series-0 .main-svg", timeout=20_000)
    assert APP in page.locator("main p", has=page.locator("#event-count")).inner_text()  # shown as text
    assert APP in (page.locator("#plot-series-0 .gtitle").text_content() or "")  # plotly unescaped it to text
    assert "slow_answers" in page.locator("#alerts-table").inner_text()
    assert page.locator("main script:not([type])").count() == 0
    page.screenshot(path=str(tmp_path / "monitoring.png"), full_page=True)

    # the query form: narrow the range, pick a metric, combine the variants
    assert page.input_value("#mon-window") == "" and page.input_value("#mon-variants") == "split"
    page.fill("#mon-window", "1h")
    page.fill("#mon-step", "5m")
    page.locator("#mon-metrics summary").click()
    page.check('#mon-metrics input[value="p95_latency_s"]')
    page.select_option("#mon-variants", "combined")
    page.click("#mon-apply")
    page.wait_for_url("**window=1h**")
    page.wait_for_selector("#plot-series-0 .main-svg", timeout=20_000)
    query = parse_qs(urlsplit(page.url).query)  # the fields left blank are dropped here
    assert query == {"window": ["1h"], "step": ["5m"], "variants": ["combined"], "metric": ["p95_latency_s"]}
    assert page.locator(".plot[id^=plot-series-]").count() == 1
    assert page.locator("#plot-series-0 .scatterlayer .trace").count() == 1  # no per-variant traces
    assert "12 windows of 5m" in page.locator("#monitoring-range").inner_text()
    assert page.input_value("#mon-window") == "1h" and page.input_value("#mon-variants") == "combined"
    assert page.locator('#mon-metrics input[value="p95_latency_s"]').is_checked()
    page.screenshot(path=str(tmp_path / "monitoring-form.png"), full_page=True)
    # a bad value: the page says what is wrong, beside the form that still holds it
    page.fill("#mon-step", "90s")
    page.click("#mon-apply")
    page.wait_for_selector("#monitoring-errors")
    assert "whole number of minutes" in page.locator('#monitoring-errors li[data-field="step"]').inner_text()
    assert page.input_value("#mon-step") == "90s" and page.input_value("#mon-window") == "1h"
    assert page.get_attribute("#mon-step", "aria-invalid") == "true"
    page.screenshot(path=str(tmp_path / "monitoring-error.png"), full_page=True)
    assert page.get_attribute("#mon-reset", "href") == "/monitoring"
    assert problems == []
    context.close()
