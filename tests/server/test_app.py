"""The dashboard over HTTP (in-process): pages, the JSON API, escaping, token and CSRF, monitoring."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assay.store import open_store
from tests.report._seed import XSS_IMG, XSS_SCRIPT, Seeded


def test_every_page_renders(client: Any, seeded_server_store: Seeded) -> None:
    s = seeded_server_store
    for path in [
        "/",
        f"/runs/{s.base_id}",
        f"/runs/{s.base_id}/cases/c001",
        f"/compare?runs={s.base_id}&runs={s.cand_id}",
        "/compare",
        "/monitoring",
        "/health",
        "/?suite=support",
    ]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script>" not in r.text  # no inline script: only /static files and JSON data blocks
        assert "sk-SECRET" not in r.text
    assert client.get("/runs/nope").status_code == 404
    assert client.get(f"/runs/{s.base_id}/cases/nope").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404


def test_api_numbers_equal_the_store(client: Any, seeded_server_store: Seeded) -> None:
    s = seeded_server_store
    with open_store(s.url) as st:
        summary = st.get_run(s.base_id).summary  # type: ignore[union-attr]
    runs = client.get("/api/runs").json()["runs"]
    assert {r["run_id"] for r in runs} == {s.base_id, s.cand_id}
    run = client.get(f"/api/runs/{s.base_id}").json()
    for m in run["metrics"]:
        assert (m["mean"], m["ci_low"], m["ci_high"], m["n"]) == tuple(
            summary["metrics"][m["name"]][k] for k in ("mean", "ci_low", "ci_high", "n")
        )
    assert "sk-SECRET" not in str(run) and run["provenance"]["target"]["api_key"] == "[redacted]"
    page = client.get(f"/api/runs/{s.base_id}/cases", params={"failing": "exact_match", "limit": 5}).json()
    assert page["total"] == 12 and len(page["cases"]) == 5
    case = client.get(f"/api/runs/{s.base_id}/cases/xss-script").json()
    assert case["output"]["text"] == XSS_SCRIPT
    cmp = client.get("/api/compare", params=[("runs", s.base_id), ("runs", s.cand_id)]).json()
    assert cmp["base"]["run_id"] == s.base_id and cmp["metrics"][0]["metric"] == "exact_match"
    assert client.get("/api/compare", params={"runs": s.base_id}).status_code == 400
    hist = client.get("/api/suites/support/history", params={"metric": "exact_match"}).json()
    assert [p["run_id"] for p in hist["points"]] == [s.base_id, s.cand_id]  # oldest first
    assert client.get("/api/health").json()["status"] == "ok"


def test_run_page_shows_stored_numbers_and_paginates(client: Any, seeded_server_store: Seeded) -> None:
    s = seeded_server_store
    with open_store(s.url) as st:
        em = st.get_run(s.base_id).summary["metrics"]["exact_match"]  # type: ignore[index]
    html = client.get(f"/runs/{s.base_id}").text
    assert f'data-value="{em["mean"]}"' in html
    assert html.count('<tr data-case-id="') == 50 and "1–50 of 63" in html and 'id="next-page"' in html
    page2 = client.get(f"/runs/{s.base_id}", params={"page": 2}).text
    assert page2.count('<tr data-case-id="') == 13 and 'id="next-page"' not in page2
    failing = client.get(f"/runs/{s.base_id}", params={"failing": "__target_error__"}).text
    assert failing.count('<tr data-case-id="') == 1 and "target_exception" in failing


def test_hostile_outputs_are_escaped_on_every_page(client: Any, seeded_server_store: Seeded) -> None:
    s = seeded_server_store
    pages = [
        client.get(f"/runs/{s.base_id}").text,
        client.get(f"/runs/{s.base_id}/cases/xss-script").text,
        client.get(f"/runs/{s.base_id}/cases/xss-img").text,
        client.get("/compare", params=[("runs", s.base_id), ("runs", s.cand_id)]).text,
    ]
    for html in pages:
        assert XSS_SCRIPT not in html and XSS_IMG not in html and 'onerror="' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]


def test_monitoring_is_empty_until_events_exist(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    html = client.get("/monitoring").text
    assert 'id="monitoring-empty"' in html
    assert client.get("/api/monitoring").json() == {
        "available": False,
        "events": 0,
        "apps": {},
        "series": [],
        "alerts": [],
    }
    import sys
    import types

    fake = types.ModuleType("assay.monitor.dashboard")
    fake.monitoring_data = lambda store: {  # type: ignore[attr-defined]
        "events": 120,
        "apps": {"bot": 120},
        "series": [
            {
                "metric": "p95_latency_s",
                "app": "bot",
                "points": [
                    {"t": "2026-01-01T10:00:00", "value": 1.2},
                    {"t": "2026-01-01T11:00:00", "value": 2.6},
                ],
                "threshold": {"max": 2.0},
            }
        ],
        "alerts": [
            {
                "rule": "p95_latency_s > 2 for 10m",
                "state": "firing",
                "started": "2026-01-01T11:00:00",
                "ended": None,
                "metric": "p95_latency_s",
            }
        ],
    }
    monkeypatch.setitem(sys.modules, "assay.monitor.dashboard", fake)
    html = client.get("/monitoring").text
    assert (
        'id="event-count">120<' in html
        and "p95_latency_s &gt; 2 for 10m" in html
        and 'id="plot-series-0"' in html
    )


def _app(url: str, token: str) -> Any:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    return TestClient(create_app(url, token=token), base_url="http://127.0.0.1:8321")


def test_token_is_required_everywhere(seeded_server_store: Seeded) -> None:
    with _app(seeded_server_store.url, "s3cret") as c:
        for path in [
            "/",
            "/api/runs",
            "/api/health",
            "/static/assay.js",
            f"/runs/{seeded_server_store.base_id}",
        ]:
            r = c.get(path, follow_redirects=False)
            assert r.status_code in (401, 303), path
        page = c.get("/", headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
        assert c.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/runs", headers={"X-Assay-Token": "s3cret"}).status_code == 200
        assert "s3cret" not in c.get("/login").text  # the token never appears in a page


def test_login_form_is_csrf_safe_and_sets_a_session(seeded_server_store: Seeded) -> None:
    with _app(seeded_server_store.url, "s3cret") as c:
        form = c.get("/login", params={"next": "/health"}).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        # a cross-site post (other origin, or no CSRF token) is refused even with the right token
        bad = c.post(
            "/login",
            data={"token": "s3cret", "csrf": csrf, "next": "/"},
            headers={"origin": "http://evil.example"},
            follow_redirects=False,
        )
        assert bad.status_code == 403
        assert (
            c.post(
                "/login", data={"token": "s3cret", "csrf": "forged", "next": "/"}, follow_redirects=False
            ).status_code
            == 403
        )
        wrong = c.post("/login", data={"token": "nope", "csrf": csrf, "next": "/"}, follow_redirects=False)
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        ok = c.post(
            "/login",
            data={"token": "s3cret", "csrf": csrf, "next": "//evil.example/x"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # no open redirect
        cookie = ok.cookies.get("assay_session")
        assert cookie and cookie != "s3cret"
        set_cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        assert c.get("/api/runs").status_code == 200  # the session cookie now authorises


def test_serve_refuses_a_public_host_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import assay.cli.report
    import assay.cli.serve  # noqa: F401  (the lead registers both in assay.cli.app._register)
    from assay.cli.app import _register, app

    _register()
    from assay.cli.serve import is_loopback

    monkeypatch.delenv("ASSAY_TOKEN", raising=False)
    res = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--store", "sqlite:///:memory:"])
    assert res.exit_code == 2 and "without a token" in " ".join(res.output.split())
    assert (
        is_loopback("127.0.0.1")
        and is_loopback("::1")
        and is_loopback("localhost")
        and not is_loopback("0.0.0.0")
    )


def _sign_in(c: Any, token: str = "s3cret") -> str:
    form = c.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    ok = c.post("/login", data={"token": token, "csrf": csrf, "next": "/"}, follow_redirects=False)
    assert ok.status_code == 303
    return str(ok.cookies.get("assay_session"))


def _logout_csrf(page: str) -> str:
    form = re.search(r'<form method="post" action="/logout" id="logout-form".*?</form>', page, re.S)
    assert form is not None, "no logout form in the header"
    return re.search(r'name="csrf" value="([^"]+)"', form.group(0)).group(1)  # type: ignore[union-attr]


def test_logout_ends_the_session_for_good(seeded_server_store: Seeded) -> None:
    s = seeded_server_store
    with _app(s.url, "s3cret") as c:
        session = _sign_in(c)
        page = c.get(f"/runs/{s.base_id}").text
        csrf = _logout_csrf(page)
        assert csrf not in (session, "s3cret") and "s3cret" not in page
        out = c.post("/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        cleared = out.headers["set-cookie"].lower()
        assert cleared.startswith("assay_session=") and "max-age=0" in cleared
        assert "assay_session" not in c.cookies
        html = c.get("/", headers={"accept": "text/html"}, follow_redirects=False)
        assert html.status_code == 303 and html.headers["location"].startswith("/login")
        assert c.get("/api/runs").status_code == 401
        # a copy of the cookie taken before the logout no longer works either: the session is revoked
        c.cookies.set("assay_session", session)
        assert c.get("/api/runs").status_code == 401
        assert c.get("/health", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
        # signing in again gives a new session that works
        c.cookies.clear()
        again = _sign_in(c)
        assert again != session and c.get("/api/runs").status_code == 200


def test_logout_is_csrf_safe(seeded_server_store: Seeded) -> None:
    with _app(seeded_server_store.url, "s3cret") as c:
        _sign_in(c)
        csrf = _logout_csrf(c.get("/health").text)
        forged = c.post("/logout", data={"csrf": "forged"}, follow_redirects=False)
        other_site = c.post(
            "/logout", data={"csrf": csrf}, headers={"origin": "http://evil.example"}, follow_redirects=False
        )
        no_token = c.post("/logout", follow_redirects=False)
        for refused in (forged, other_site, no_token):
            assert refused.status_code == 403 and "still signed in" in refused.text
        assert c.get("/api/runs").status_code == 200  # still signed in
        # the token is bound to the session: another browser's token does not end this one
        with _app(seeded_server_store.url, "s3cret") as other:
            _sign_in(other)
            foreign = _logout_csrf(other.get("/health").text)
        assert c.post("/logout", data={"csrf": foreign}, follow_redirects=False).status_code == 403
        assert c.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert c.get("/api/runs").status_code == 401


def test_logout_button_only_for_a_signed_in_browser(client: Any, seeded_server_store: Seeded) -> None:
    assert 'id="logout-form"' not in client.get("/health").text  # no token: nothing to sign out of
    assert client.post("/logout", follow_redirects=False).headers["location"] == "/"
    with _app(seeded_server_store.url, "s3cret") as c:
        assert 'id="logout-form"' not in c.get("/login").text
        by_header = c.get("/health", headers={"Authorization": "Bearer s3cret"})
        assert by_header.status_code == 200 and 'id="logout-form"' not in by_header.text
        # without a session there is nothing to end: the post only clears the cookie
        anonymous = c.post("/logout", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"


def test_sessions_expire_and_revocations_are_forgotten_only_after_expiry() -> None:
    from assay.server.auth import Sessions

    now = [1_000_000.0]
    sessions = Sessions("s3cret", max_age_s=100, clock=lambda: now[0])
    a, b = sessions.issue(), sessions.issue()
    assert sessions.is_valid(a) and sessions.is_valid(b) and a != b and "s3cret" not in a
    assert not Sessions("s3cret").is_valid(a)  # another server process: its own key
    issued, nonce, mac = a.split(".")
    assert not sessions.is_valid(f"{int(issued) + 50}.{nonce}.{mac}")  # the issue time is signed
    assert not sessions.is_valid(f"{issued}.{nonce}.{'0' * len(mac)}")
    assert not sessions.is_valid("garbage") and not sessions.is_valid(None)
    sessions.revoke(a)
    assert not sessions.is_valid(a) and sessions.is_valid(b) and sessions.csrf_for(a) is None
    now[0] += 100
    assert not sessions.is_valid(b)  # expired
    sessions.revoke(sessions.issue())  # prunes the revocations of expired sessions
    assert len(sessions._revoked) == 1  # only the live session's revocation is kept
