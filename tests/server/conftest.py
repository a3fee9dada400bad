from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.report import _browser
from tests.report._seed import Seeded, seed

pytest.importorskip("fastapi")


@pytest.fixture(scope="session")
def seeded_server_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(f"sqlite:///{tmp_path_factory.mktemp('server') / 'assay.db'}")


@pytest.fixture
def client(seeded_server_store: Seeded) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from assay.server import create_app

    with TestClient(create_app(seeded_server_store.url)) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The session's shared chromium (see tests/report/_browser.py)."""
    yield _browser.acquire()
    _browser.release()
