"""The labelling page in headless chromium: label ten items with the keyboard, then check the store."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from assay.label.queue import candidates_from_run, create_queue
from assay.store import open_store
from assay.store.labels import LabelStore
from tests.label._app import make_app
from tests.label._seed import seed_run

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def served(tmp_path: Any) -> Iterator[tuple[str, Any, str]]:
    import uvicorn

    st = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    seed_run(st, n=14)
    q = create_queue(
        st,
        candidates_from_run(st, "run1"),
        12,
        name="browser",
        seed=4,
        source={"run_id": "run1"},
        rubric={"name": "correct", "choices": {"right": 1, "wrong": 0}},
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(st), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}", st, q.queue_id
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    st.close()


@pytest.fixture
def page() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_label_ten_items_by_keyboard(served: tuple[str, Any, str], page: Any, tmp_path: Any) -> None:
    base, st, qid = served
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{base}/label/{qid}")
    page.fill("#annotator-input", "ana")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#annotator-name") == "ana"

    expected: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    for k in range(10):
        item_id = page.get_attribute("body", "data-item-id")
        assert item_id and item_id not in expected
        output = page.inner_text("#item-output")
        assert "<script>alert(" in output  # the hostile output is shown as text, verbatim
        if k == 3:
            page.keyboard.press("n")
            page.keyboard.type("unsure: 1 and s typed here are text")
            page.keyboard.press("Escape")
            notes[item_id] = "unsure: 1 and s typed here are text"
        if k == 6:
            page.keyboard.press("s")
            expected[item_id] = None
        else:
            key = "1" if k % 3 else "2"
            page.keyboard.press(key)
            expected[item_id] = 1.0 if key == "1" else 0.0
        page.wait_for_function("id => document.body.getAttribute('data-item-id') !== id", arg=item_id)
        page.wait_for_function("() => !document.getElementById('status').textContent.startsWith('saving')")
    assert page.inner_text("#progress") == "9 of 12 labelled"
    page.screenshot(path=str(tmp_path / "label.png"))
    assert dialogs == [] and errors == []

    labels = {lab.item_id: lab for lab in LabelStore(st).labels(queue_id=qid)}
    assert set(labels) == set(expected)
    for item_id, value in expected.items():
        lab = labels[item_id]
        assert lab.annotator == "ana" and lab.name == "correct"
        assert lab.skipped is (value is None) and lab.value == value
        assert lab.label == (None if value is None else ("right" if value == 1.0 else "wrong"))
        assert lab.note == notes.get(item_id, "")
    # the page remembers the annotator; the rest of the queue is still there
    page.goto(f"{base}/label/{qid}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("body", "data-item-id") not in expected
