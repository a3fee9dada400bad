"""The store API: runs, results with scores, idempotent batches, streaming reads, cache and errors.

Backend-generic tests take the ``store`` fixture and run on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

import assay.store
from assay.store import ResultRecord, RunRecord, Store, default_store_url, open_store
from assay.store.schema import SCHEMA_VERSION
from assay.store.store import mask_url
from assay.types import StoreError

from .conftest import NO_POSTGRES, POSTGRES_URL, reset_postgres

# --------------------------------------------------------------------------------------- public API


def test_exported_members() -> None:
    assert sorted(assay.store.__all__) == sorted(
        ["ResultRecord", "RunRecord", "Store", "default_store_url", "open_store"]
    )
    for name in assay.store.__all__:
        assert getattr(assay.store, name) is not None
    with pytest.raises(AttributeError):
        _ = assay.store.no_such_name


def test_importing_the_package_does_not_import_sqlalchemy() -> None:
    code = "import sys, assay.store; assert 'sqlalchemy' not in sys.modules, 'eager import'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_default_store_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_STORE", raising=False)
    assert default_store_url() == "sqlite:///.assay/assay.db"
    monkeypatch.setenv("ASSAY_STORE", "postgresql+psycopg://u@db/assay")
    assert default_store_url() == "postgresql+psycopg://u@db/assay"


# --------------------------------------------------------------------------------------- opening


def test_open_store_default_is_relative_to_cwd_and_creates_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_STORE", raising=False)
    with open_store() as store:
        assert store.url == "sqlite:///.assay/assay.db"
        assert store.list_runs() == []
    assert (tmp_path / ".assay" / "assay.db").is_file()


def test_open_store_uses_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_STORE", f"sqlite:///{tmp_path}/from-env/x.db")
    with open_store() as store:
        assert store.safe_url == f"sqlite:///{tmp_path}/from-env/x.db"
    assert (tmp_path / "from-env" / "x.db").is_file()


def test_relative_sqlite_path_is_fixed_at_open_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_run: Any
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    store = open_store("sqlite:///nested/dir/x.db")
    store.engine.dispose()  # force a fresh connection after the chdir
    monkeypatch.chdir(tmp_path / "b")
    store.create_run(new_run("r1"))
    store.close()
    assert not (tmp_path / "b" / "nested").exists()
    with open_store(f"sqlite:///{tmp_path}/a/nested/dir/x.db") as again:
        assert again.get_run("r1") is not None


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/p.db") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_in_memory_store_works_across_threads(new_run: Any, new_result: Any) -> None:
    with open_store("sqlite:///:memory:") as store:

        async def main() -> None:
            await asyncio.to_thread(store.create_run, new_run("r1"))
            batches = [[new_result("r1", f"c{i}-{j}") for j in range(5)] for i in range(8)]
            added = await asyncio.gather(*(asyncio.to_thread(store.add_results, b) for b in batches))
            assert added == [5] * 8

        asyncio.run(main())
        assert store.count_results("r1") == 40


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid store URL"),
        ("mysql://u:p@localhost/db", "unsupported store URL scheme 'mysql'"),
        ("sqlite+aiosqlite:///x.db", "unsupported SQLite driver"),
        ("postgresql+psycopg2://u:p@localhost/db", "unsupported PostgreSQL driver.*use postgresql\\+psycopg"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_store(url)


def test_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the store's folder"):
        open_store(f"sqlite:///{blocker}/sub/assay.db")
    with pytest.raises(StoreError, match="is a directory"):
        open_store(f"sqlite:///{tmp_path}")


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a database"):
        open_store(f"sqlite:///{path}")


def test_password_is_masked_in_safe_url_and_errors() -> None:
    url = "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/assay"
    assert mask_url(url) == "postgresql+psycopg://alice:***@127.0.0.1:1/assay"
    assert "s3cr3t" not in mask_url("weird://alice:s3cr3t-pw@host:port:bad/")
    with pytest.raises(StoreError) as info:
        open_store(url)  # nothing listens on port 1 (or the driver is missing): an error either way
    assert "s3cr3t" not in str(info.value)
    assert "alice:***@127.0.0.1:1" in str(info.value)


def test_store_repr_and_safe_url_without_password(store: Store) -> None:
    assert "***" not in store.safe_url or ":***@" in store.safe_url
    assert repr(store) == f"Store({store.safe_url!r})"


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/v.db"
    with open_store(url) as store, store.engine.begin() as conn:
        version = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").scalar()
        assert version == str(SCHEMA_VERSION)
        conn.exec_driver_sql(f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match=rf"newer assay \(schema version {SCHEMA_VERSION + 1}"):
        open_store(url)


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_plain_postgresql_scheme_means_psycopg(new_run: Any) -> None:
    reset_postgres(POSTGRES_URL)
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with open_store(plain) as store:
        assert store.url == plain and store.dialect == "postgresql"
        store.create_run(new_run("r1"))
        assert store.find_run("r").run_id == "r1"


def test_reopening_keeps_data_and_version(store_url: str, new_run: Any) -> None:
    with open_store(store_url) as first:
        first.create_run(new_run("r1"))
    with open_store(store_url) as second:
        assert second.get_run("r1") == new_run("r1")
        with second.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").all()
        assert rows == [(str(SCHEMA_VERSION),)]


def test_closed_store_raises(store_url: str) -> None:
    store = open_store(store_url)
    store.close()
    store.close()  # harmless
    with pytest.raises(StoreError, match="is closed"):
        store.list_runs()


# --------------------------------------------------------------------------------------- runs


def test_create_and_get_run_round_trip(store: Store, new_run: Any) -> None:
    cet = timezone(timedelta(hours=1))
    run = new_run(
        "r1",
        created_at=datetime(2025, 3, 1, 13, 0, 0, 5, tzinfo=cet),
        summary={"n_cases": 3, "metrics": {"exact_match": {"mean": 0.5}}, "note": "ünïcode ✓"},
    )
    store.create_run(run)
    got = store.get_run("r1")
    assert got == run
    assert got is not None
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert got.created_at == datetime(2025, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert store.get_run("nope") is None


def test_create_run_twice_is_an_error(store: Store, new_run: Any) -> None:
    store.create_run(new_run("r1"))
    with pytest.raises(StoreError, match="'r1' already exists"):
        store.create_run(new_run("r1", suite="other"))
    assert store.get_run("r1") == new_run("r1")


def test_run_validation(store: Store, new_run: Any) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create_run(new_run("r1", created_at=datetime(2025, 1, 1)))
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        store.create_run(new_run("r1", status="done"))
    store.create_run(new_run("r1"))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.update_run("r1", finished_at=datetime(2025, 1, 1))
    with pytest.raises(StoreError, match="cannot store the config"):
        store.create_run(new_run("r2", config={"fn": object()}))


def test_update_run(store: Store, new_run: Any) -> None:
    store.create_run(new_run("r1"))
    finished = datetime(2025, 3, 1, 12, 5, tzinfo=UTC)
    store.update_run("r1", status="completed", finished_at=finished, summary={"n_cases": 10})
    got = store.get_run("r1")
    assert got is not None
    assert (got.status, got.finished_at, got.summary) == ("completed", finished, {"n_cases": 10})
    assert got.provenance == new_run("r1").provenance  # untouched
    store.update_run("r1", provenance={"git_commit": "abc123"})
    got = store.get_run("r1")
    assert got is not None
    assert got.provenance == {"git_commit": "abc123"} and got.status == "completed"
    store.update_run("r1")  # nothing to change: fine for an existing run
    with pytest.raises(StoreError, match="no run 'ghost'"):
        store.update_run("ghost", status="failed")
    with pytest.raises(StoreError, match="no run 'ghost'"):
        store.update_run("ghost")


def test_list_runs_newest_first_with_filter_and_limit(store: Store, new_run: Any) -> None:
    store.create_run(new_run("a", suite="s1", minutes=1))
    store.create_run(new_run("b", suite="s2", minutes=3))
    store.create_run(new_run("c", suite="s1", minutes=2))
    store.create_run(new_run("d", suite="s1", minutes=2))  # same time as c: tie broken by id, stably
    assert [r.run_id for r in store.list_runs()] == ["b", "d", "c", "a"]
    assert [r.run_id for r in store.list_runs(suite="s1")] == ["d", "c", "a"]
    assert [r.run_id for r in store.list_runs(limit=2)] == ["b", "d"]
    assert [r.run_id for r in store.list_runs(suite="s1", limit=None)] == ["d", "c", "a"]
    assert store.list_runs(suite="nope") == []
    assert store.list_runs(limit=0) == []


def test_find_run(store: Store, new_run: Any) -> None:
    for i, run_id in enumerate(["20250301-abc123", "20250301-abd999", "20250302-xyz", "abc", "abcdef"]):
        store.create_run(new_run(run_id, minutes=i))
    assert store.find_run("20250302").run_id == "20250302-xyz"  # unique prefix
    assert store.find_run("20250301-abc").run_id == "20250301-abc123"
    assert store.find_run("abc").run_id == "abc"  # an exact id wins over being a prefix of another
    assert store.find_run("abcd").run_id == "abcdef"
    with pytest.raises(StoreError, match="ambiguous") as info:
        store.find_run("20250301-ab")
    assert "20250301-abc123" in str(info.value) and "20250301-abd999" in str(info.value)
    with pytest.raises(StoreError, match="no run 'zzz'"):
        store.find_run("zzz")
    with pytest.raises(StoreError, match="no run"):
        store.find_run("ABC")  # case-sensitive on every backend
    with pytest.raises(StoreError, match="no run"):
        store.find_run("2025030_")  # '_' and '%' are not wildcards
    with pytest.raises(StoreError, match="no run"):
        store.find_run("%")
    with pytest.raises(StoreError, match="give a run id"):
        store.find_run("")


def test_delete_run(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    store.create_run(new_run("r2"))
    store.add_results([new_result("r1", f"c{i}") for i in range(3)] + [new_result("r2", "c0")])
    store.delete_run("r1")
    assert store.get_run("r1") is None
    assert store.count_results("r1") == 0
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores WHERE run_id = 'r1'")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM scores WHERE run_id = 'r2'")).scalar() == 3
    assert store.count_results("r2") == 1
    with pytest.raises(StoreError, match="no run 'r1'"):
        store.delete_run("r1")
    store.create_run(new_run("r1"))  # the id can be reused
    assert store.add_results([new_result("r1", "c0")]) == 1


# --------------------------------------------------------------------------------------- results


def test_add_results_round_trip(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    error_result = new_result(
        "r1",
        "c-err",
        n_scores=0,
        output={"text": "", "error": {"kind": "timeout", "message": "after 30 s", "status": None}},
        error_kind="timeout",
        error_message="after 30 s",
        latency_s=None,
        ttft_s=None,
        cost_usd=None,
        input_tokens=None,
        output_tokens=None,
        attempts=4,
        cached=False,
    )
    batch = [new_result("r1", "c10", n_scores=4), new_result("r1", "c11", cached=True), error_result]
    assert store.add_results(batch) == 3
    got = list(store.iter_results("r1"))
    assert got == batch
    assert got[0].scores[0]["value"] is True  # a bool stays a bool
    assert got[1].scores[0]["value"] is False
    assert isinstance(got[0].scores[1]["value"], float)
    assert got[0].scores[2] == {**batch[0].scores[2], "value": None}
    assert got[0].created_at.tzinfo is not None


def test_add_results_is_idempotent(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    first = [new_result("r1", f"c{i}") for i in range(5)]
    assert store.add_results(first) == 5
    assert store.add_results(first) == 0
    overlap = [*first[3:], new_result("r1", "c5"), new_result("r1", "c6")]
    assert store.add_results(overlap) == 2
    # A duplicate key inside one batch counts once (the first one wins).
    dup = [new_result("r1", "c7", attempts=1), new_result("r1", "c7", attempts=9)]
    assert store.add_results(dup) == 1
    # A stored result is never overwritten: same key with different output and scores is skipped.
    changed = new_result("r1", "c0", output={"text": "different"}, n_scores=1, attempts=3)
    assert store.add_results([changed]) == 0
    results = {r.case_id: r for r in store.iter_results("r1")}
    assert len(results) == 8 and store.count_results("r1") == 8
    assert results["c0"] == first[0]
    assert results["c7"].attempts == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores WHERE run_id = 'r1'")).scalar() == 8 * 3
    assert store.add_results([]) == 0


def test_repeats_and_completed_keys(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    store.create_run(new_run("r2"))
    assert store.completed_keys("r1") == set()
    batch = [new_result("r1", c, rep) for c in ("a", "b") for rep in range(3)]
    assert store.add_results([*batch, new_result("r2", "a")]) == 7  # a batch may span runs
    assert store.completed_keys("r1") == {(c, rep) for c in ("a", "b") for rep in range(3)}
    assert store.completed_keys("r2") == {("a", 0)}
    assert store.count_results("r1") == 6
    assert store.count_results("ghost") == 0


def test_batch_is_all_or_nothing(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    good = [new_result("r1", f"c{i}") for i in range(3)]
    nan_score = new_result(
        "r1", "c-nan", scores=[{"name": "token_f1", "value": math.nan, "kind": "continuous"}]
    )
    with pytest.raises(
        StoreError, match=r"score 'token_f1' of case 'c-nan' \(repeat 0\) of run 'r1': it is NaN"
    ):
        store.add_results([*good, nan_score])
    assert store.count_results("r1") == 0
    # An unknown run in the middle of a batch rolls back the rows already written for other runs.
    with pytest.raises(StoreError, match="no run 'ghost'"):
        store.add_results([*good, new_result("ghost", "c0")])
    assert store.count_results("r1") == 0
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores")).scalar() == 0
    assert store.add_results(good) == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("latency_s", math.nan, "latency_s of case 'c1'.*NaN"),
        ("cost_usd", "cheap", "cost_usd of case 'c1'.*expected a number"),
        ("scores", [{"name": "f1", "value": "0.5"}], "score 'f1' of case 'c1'.*expected a number"),
        ("case", {"id": "c1", "metadata": {"obj": object()}}, "the case of case 'c1'"),
        ("scores", [{"value": 1.0}], "score #0 of case 'c1'.*no 'name'"),
    ],
)
def test_unstorable_values_are_clear_errors(
    store: Store, new_run: Any, new_result: Any, field: str, value: Any, message: str
) -> None:
    store.create_run(new_run("r1"))
    with pytest.raises(StoreError, match=message):
        store.add_results([new_result("r1", "c1", **{field: value})])
    assert store.count_results("r1") == 0


def test_json_friendly_conversions(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    case = {"id": "c1", "input": "x", "metadata": {"day": date(2025, 1, 2), "tags": {"b"}, "tuple": (1, 2)}}
    store.add_results([new_result("r1", "c1", case=case)])
    (got,) = store.iter_results("r1")
    assert got.case["metadata"] == {"day": "2025-01-02", "tags": ["b"], "tuple": [1, 2]}


def test_naive_result_timestamp_is_refused(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_results([new_result("r1", "c1", created_at=datetime(2025, 1, 1))])


def test_iter_results_streams_in_insertion_order(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    store.create_run(new_run("r2"))
    # Insertion order differs from key order, and batches interleave with another run.
    ids = [f"c{i:02d}" for i in range(20)][::-1]
    for start in range(0, 20, 6):
        store.add_results([new_result("r1", c) for c in ids[start : start + 6]])
        store.add_results([new_result("r2", f"other{start}")])
    for batch_size in (1, 3, 4, 6, 7, 19, 20, 21, 1000):
        assert [r.case_id for r in store.iter_results("r1", batch_size=batch_size)] == ids, batch_size
    assert [r.case_id for r in store.iter_results("r2")] == ["other0", "other6", "other12", "other18"]
    assert list(store.iter_results("ghost")) == []
    with pytest.raises(ValueError, match="batch_size"):
        list(store.iter_results("r1", batch_size=0))


def test_iter_results_without_payload_keeps_every_other_field(
    store: Store, new_run: Any, new_result: Any
) -> None:
    store.create_run(new_run("r1"))
    store.add_results([new_result("r1", f"c{i}") for i in range(5)])
    full = list(store.iter_results("r1", batch_size=2))
    lean = list(store.iter_results("r1", batch_size=2, payload=False))
    assert full[0].case and full[0].output  # the fixture stores both
    assert all(r.case == {} and r.output == {} for r in lean)
    strip = [dataclasses.replace(r, case={}, output={}) for r in full]
    assert lean == strip


def test_iter_results_pages_and_holds_no_connection(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    store.add_results([new_result("r1", f"c{i}") for i in range(10)])
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM results" in statement:
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        it = store.iter_results("r1", batch_size=4)
        first = next(it)
        assert first.case_id == "c0"
        # Between pages nothing is held: the pool is idle and a writer can commit.
        assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        store.add_results([new_result("r1", "late")])
        rest = [r.case_id for r in it]
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert rest == [f"c{i}" for i in range(1, 10)] + ["late"]
    page_queries = [s for s in statements if "LIMIT" in s.upper()]
    assert len(page_queries) == 3  # 11 rows in pages of 4: 4 + 4 + 3, the short page ends it


def test_results_can_be_aggregated_in_sql(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    store.add_results([new_result("r1", f"c{i}", n_scores=4) for i in range(10)])
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT name, avg(value), count(value), count(error) FROM scores "
                "WHERE run_id = :r GROUP BY name ORDER BY name"
            ),
            {"r": "r1"},
        ).all()
        tokens = conn.execute(text("SELECT sum(input_tokens), max(latency_s) FROM results")).one()
    got = {name: (avg, n, n_err) for name, avg, n, n_err in rows}
    assert got["exact_match"] == (pytest.approx(0.1), 10, 0)  # only c0 ends with "0"
    assert got["token_f1"] == (pytest.approx(0.625), 10, 0)
    assert got["judge"] == (None, 0, 10)  # failures are NULL values with an error, never 0
    assert tuple(tokens) == (310, pytest.approx(0.25))


def test_concurrent_writers_from_threads(store_url: str, new_run: Any, new_result: Any) -> None:
    """Several threads (and Store objects) writing the same run at once lose nothing."""
    with open_store(store_url) as setup:
        setup.create_run(new_run("r1"))
    stores = [open_store(store_url) for _ in range(3)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for b in range(5):
                stores[k % 3].add_results([new_result("r1", f"t{k}-b{b}-c{i}") for i in range(10)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    results = list(stores[0].iter_results("r1", batch_size=7))
    assert len(results) == 300 == len({r.case_id for r in results})
    for s in stores:
        s.close()


def test_database_locked_is_a_clear_error(tmp_path: Path, new_run: Any) -> None:
    path = tmp_path / "locked.db"
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:  # a new store must switch to WAL and create its tables: that needs the lock
        with pytest.raises(
            StoreError, match=r"database is locked \(another process held the write lock for more than 0\.2 s"
        ):
            open_store(f"sqlite:///{path}", busy_timeout_s=0.2)
    finally:
        blocker.execute("ROLLBACK")
    with open_store(f"sqlite:///{path}"):
        pass
    blocker.execute("BEGIN IMMEDIATE")
    try:
        # Opening an existing store (e.g. `assay show` during a run) does not wait for the writer...
        store = open_store(f"sqlite:///{path}", busy_timeout_s=0.2)
        # ...but writing does, and says why it failed.
        with pytest.raises(StoreError, match="cannot create run 'r1': database is locked"):
            store.create_run(new_run("r1"))
        assert store.list_runs() == []  # readers are not blocked by a writer in WAL mode
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.create_run(new_run("r1"))
    store.close()


# --------------------------------------------------------------------------------------- cache


def test_cache(store: Store) -> None:
    assert store.cache_get_many([]) == {}
    assert store.cache_get_many(["missing"]) == {}
    store.cache_put_many([("k1", {"text": "a", "usage": {"input_tokens": 3}}), ("k2", {"text": "b"})])
    assert store.cache_get_many(["k1", "missing", "k2", "k1"]) == {
        "k1": {"text": "a", "usage": {"input_tokens": 3}},
        "k2": {"text": "b"},
    }
    store.cache_put_many([("k1", {"text": "replaced"}), ("k3", {"text": "c"}), ("k3", {"text": "last wins"})])
    assert store.cache_get_many(["k1", "k2", "k3"]) == {
        "k1": {"text": "replaced"},
        "k2": {"text": "b"},
        "k3": {"text": "last wins"},
    }
    store.cache_put_many([])


def test_cache_many_keys(store: Store) -> None:
    items = [(f"{i:064x}", {"text": f"answer {i}", "n": i}) for i in range(1200)]
    store.cache_put_many(items)
    got = store.cache_get_many([k for k, _ in items] + ["absent"])
    assert got == dict(items)


def test_add_results_with_cache_items_is_one_transaction(store: Store, new_run: Any, new_result: Any) -> None:
    store.create_run(new_run("r1"))
    assert store.add_results([new_result("r1", "c1")], cache_items=[("k1", {"text": "x"})]) == 1
    assert store.cache_get_many(["k1"]) == {"k1": {"text": "x"}}
    bad = new_result("r1", "c2", latency_s=math.nan)
    with pytest.raises(StoreError):
        store.add_results([bad], cache_items=[("k2", {"text": "y"})])
    assert store.cache_get_many(["k2"]) == {}  # rolled back with the failed batch
    assert store.add_results([], cache_items=[("k3", {"text": "z"})]) == 0
    assert store.cache_get_many(["k3"]) == {"k3": {"text": "z"}}


# --------------------------------------------------------------------------------------- helpers


def test_record_types_are_frozen(new_run: Any) -> None:
    run: RunRecord = new_run("r1")
    with pytest.raises(AttributeError):
        run.status = "completed"  # type: ignore[misc]
    assert ResultRecord.__dataclass_params__.frozen  # type: ignore[attr-defined]
