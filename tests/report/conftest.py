from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay.store import Store, open_store
from tests.report import _browser
from tests.report._seed import Seeded, seed


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(f"sqlite:///{tmp_path_factory.mktemp('report') / 'assay.db'}")


@pytest.fixture
def store(seeded: Seeded) -> Iterator[Store]:
    st = open_store(seeded.url)
    yield st
    st.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Debian chromium per module (skipped when it is not installed, failed under CI).

    Module scope: a live sync Playwright keeps an event loop running in the main thread, which would
    break every later test that calls ``asyncio.run``.
    """
    yield _browser.acquire()
    _browser.release()
