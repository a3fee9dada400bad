"""The labelling router over HTTP (FastAPI's TestClient): escaping, CSRF, the label flow."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from assay.label.http import CSRF_COOKIE, CSRF_HEADER
from assay.label.queue import candidates_from_run, create_queue
from assay.store import open_store
from assay.store.labels import LabelStore
from tests.label._app import make_app
from tests.label._seed import seed_run


@pytest.fixture
def env(tmp_path: Any) -> Any:
    st = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    seed_run(st, n=6)
    q = create_queue(
        st,
        candidates_from_run(st, "run1"),
        6,
        name="web <q>",
        overlap=0.5,
        source={"run_id": "run1"},
        rubric={
            "name": "correct",
            "choices": {"right": 1, "wrong": 0},
            "instructions": "Judge <i>only</i> facts",
        },
    )
    client = TestClient(make_app(st), base_url="http://127.0.0.1:8000")
    yield st, q, client
    client.close()
    st.close()


def _page(client: TestClient, qid: str, who: str = "ana") -> str:
    r = client.get(f"/label/{qid}", params={"annotator": who})
    assert r.status_code == 200
    return r.text


def test_page_escapes_everything_and_has_no_inline_script(env: Any) -> None:
    _st, q, client = env
    html = _page(client, q.queue_id)
    assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "Judge &lt;i&gt;only&lt;/i&gt; facts" in html and "web &lt;q&gt;" in html
    # the embedded JSON state cannot close its script element
    state = html.split('id="label-state">', 1)[1].split("</script>", 1)[0]
    assert "<" not in state
    assert "<script>" not in html.replace('<script type="application/json" id="label-state">', "")
    assert '<script src="/label/static/label.js"></script>' in html
    assert client.get("/label/static/label.js").headers["content-type"].startswith("text/javascript")


def test_annotator_is_asked_for_and_validated(env: Any) -> None:
    _, q, client = env
    assert 'id="annotator-input"' in client.get(f"/label/{q.queue_id}").text
    bad = client.get(f"/label/{q.queue_id}", params={"annotator": "<x>"}).text
    assert "not valid" in bad and "<x>" not in bad
    assert client.get("/label/nope").status_code == 404


def _post(client: TestClient, qid: str, item: str, body: dict[str, Any], **headers: str) -> Any:
    token = client.cookies.get(CSRF_COOKIE) or ""
    h = {"Content-Type": "application/json", CSRF_HEADER: token, **headers}
    return client.post(f"/api/label/queues/{qid}/items/{item}", json=body, headers=h)


def test_csrf_and_input_checks(env: Any) -> None:
    st, q, client = env
    _page(client, q.queue_id)
    item = LabelStore(st).next_item(q.queue_id, "ana").item_id
    body = {"annotator": "ana", "label": "right"}
    assert _post(client, q.queue_id, item, body, **{CSRF_HEADER: "forged"}).status_code == 403
    assert _post(client, q.queue_id, item, body, Origin="http://evil.example").status_code == 403
    form = client.post(
        f"/api/label/queues/{q.queue_id}/items/{item}", data={"annotator": "ana", "label": "right"}
    )
    assert form.status_code == 415
    assert _post(client, q.queue_id, item, {"annotator": "ana", "label": "maybe"}).status_code == 400
    assert _post(client, q.queue_id, "run1/zzz/0", body).status_code == 404
    assert _post(client, q.queue_id, item, {"annotator": "a b", "label": "right"}).status_code == 400
    assert LabelStore(st).labels() == []
    ok = _post(client, q.queue_id, item, body, Origin="http://127.0.0.1:8000")
    assert ok.status_code == 200 and ok.json()["ok"] is True


def test_label_flow_with_overlap_and_skip(env: Any) -> None:
    st, q, client = env
    ls = LabelStore(st)
    _page(client, q.queue_id, "ana")
    seen = []
    nxt = client.get(f"/api/label/queues/{q.queue_id}/next", params={"annotator": "ana"}).json()["item"]
    while nxt is not None:
        seen.append(nxt["item_id"])
        body = (
            {"annotator": "ana", "skipped": True}
            if len(seen) == 2
            else {"annotator": "ana", "label": "wrong", "note": "n"}
        )
        nxt = _post(client, q.queue_id, nxt["item_id"], body).json()["item"]
    assert len(seen) == 6
    labels = ls.labels(queue_id=q.queue_id)
    assert sum(lab.skipped for lab in labels) == 1 and all(lab.name == "correct" for lab in labels)
    assert {lab.value for lab in labels if not lab.skipped} == {0.0}
    # bob sees the overlap items (3 of 6) and the one ana skipped
    bob = []
    nxt = client.get(f"/api/label/queues/{q.queue_id}/next", params={"annotator": "bob"}).json()["item"]
    while nxt is not None:
        bob.append(nxt["item_id"])
        nxt = _post(client, q.queue_id, nxt["item_id"], {"annotator": "bob", "label": "right"}).json()["item"]
    overlap = {it.item_id for it in ls.items(q.queue_id) if it.overlap}
    assert set(bob) == overlap | {seen[1]}
    progress = client.get("/api/label/queues").json()[0]
    assert progress["n_labelled"] == 6 and progress["annotators"]["bob"]["labelled"] == len(bob)
