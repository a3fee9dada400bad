"""Ingest workers: other processes decode, validate and anonymise batches while this one commits them.

Preparing an event (JSON decoding, validation, PII redaction, building its row) is Python code that
holds the GIL, and so is most of committing it (binding the row's values): two threads of one process
take turns instead of using two cores. ``PrepareWorkers`` moves the preparation into worker processes
(``python -m assay.monitor.workers``), so the parent only commits, and ingest runs on every core.

Each worker receives a pickled ``Preparer`` (its settings and the hash key) over its stdin (never on a
command line or in the environment), then prepares the batches sent to it and sends back the rows (and
their rollups). Given a store URL, a worker can also commit batches itself (``submit_ingest``): the SDK
uses that so an app's process spends neither CPU nor its GIL on anonymising and writing its events. The
frames are length-prefixed pickles over the worker's own pipes (the parent starts the child and trusts
it, and nothing else can write to those pipes). Batches go to the least busy worker that has started;
while none has (a worker needs a few hundred milliseconds to import), and for any batch a worker fails
on or takes down with it, the parent prepares the batch itself: a lost worker costs speed, never events.

Example:
    >>> from datetime import UTC, datetime
    >>> from assay.monitor.prepare import Preparer
    >>> with PrepareWorkers(Preparer(key=b"k"), 1) as workers:  # doctest: +SKIP
    ...     batch = workers.submit_lines([b'{"event_id": "a"}'], datetime.now(UTC)).result()
    >>> len(batch.rows)  # doctest: +SKIP
    1
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from assay.monitor.prepare import IngestResult, PreparedBatch, Preparer, commit_prepared
from assay.store.rollups import accumulate
from assay.types import AssayError

__all__ = ["PrepareWorkers", "WorkerError", "default_worker_count"]

logger = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("!Q")
_READY: Final = "ready"
_MAX_WORKERS: Final = 8


class WorkerError(AssayError):
    """An ingest worker could not commit a batch (or was lost with it); the batch may be retried."""


def default_worker_count() -> int:
    """Worker processes for a large ingest: one per core but the one this process commits on (up to
    8); 0 on a single core. Preparing an event costs about what committing it does, so on two cores
    one worker keeps the writer busy, and a second would only take turns with it for the same cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(cores - 1, _MAX_WORKERS))


def _write_frame(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytearray | None:
    """Exactly ``n`` bytes read into one buffer (no list of chunks to join), or None at end of file."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            return None
        got += k
    return buf


def _widen_pipe(stream: IO[bytes]) -> None:
    """Ask Linux for a 1 MiB pipe buffer (64 KiB by default): a batch crosses in a few system calls."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, ValueError):
        pass  # not Linux, or above /proc/sys/fs/pipe-max-size: the default buffer works, more slowly


def _read_frame(stream: IO[bytes]) -> Any:
    """The next object, or ``EOFError`` when the other side has gone."""
    head = _read_exact(stream, _HEADER.size)
    if head is None:
        raise EOFError
    data = _read_exact(stream, _HEADER.unpack(head)[0])
    if data is None:
        raise EOFError
    return pickle.loads(data)


class _Task:
    __slots__ = ("args", "future", "kind")

    def __init__(self, kind: str, args: tuple[Any, ...]) -> None:
        self.kind = kind
        self.args = args
        self.future: Future[Any] = Future()


def _run_task(preparer: Preparer, kind: str, args: tuple[Any, ...]) -> PreparedBatch:
    if kind == "lines":
        lines, now = args
        return preparer.prepare_lines(lines.split(b"\n") if isinstance(lines, bytes) else lines, now=now)
    objects, sizes, now = args
    return preparer.prepare_batch(objects, sizes=sizes, rows=True, now=now)


def _run_remote(preparer: Preparer, kind: str, args: tuple[Any, ...]) -> PreparedBatch:
    """``_run_task`` in a worker, plus the batch's rollups, so the writer only adds them up."""
    batch = _run_task(preparer, kind, args)
    if batch.rows:
        batch.rollups = accumulate(batch.rows)
    return batch


class _WorkerStore:
    """A worker's own connection to the store, for ``ingest`` tasks (opened on the first one)."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._events: Any = None

    def ingest(self, preparer: Preparer, objects: list[Any], sizes: Any, now: datetime) -> IngestResult:
        """Prepare and commit one batch (one transaction): what ``Ingestor.ingest`` does."""
        if self.url is None:
            raise RuntimeError("this ingest worker was started without a store")
        if self._events is None:
            from assay.store import open_store

            self._events = open_store(self.url).events
        return commit_prepared(self._events, _run_remote(preparer, "objects", (objects, sizes, now)))


class _Worker:
    """One child process, a thread feeding it tasks and a thread reading its answers."""

    def __init__(self, index: int, preparer: Preparer, store_url: str | None, on_lost: Any) -> None:
        self.index = index
        self.ready = False
        self.alive = True
        self.inflight: dict[int, _Task] = {}
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[tuple[int, _Task] | None] = queue.SimpleQueue()
        self._on_lost = on_lost
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])  # the directory holding ``assay``
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assay.monitor.workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        _widen_pipe(self.proc.stdin)
        _widen_pipe(self.proc.stdout)
        self._outbox.put((-1, _Task("init", (preparer, store_url))))
        name = f"assay-ingest-worker-{index}"
        self._sender = threading.Thread(target=self._send_loop, name=f"{name}-send", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-read", daemon=True)
        self._sender.start()
        self._reader.start()

    def submit(self, task_id: int, task: _Task) -> bool:
        """Hand the task to the child; False when it has gone (the caller prepares the task itself)."""
        with self._lock:
            if not self.alive:
                return False
            self.inflight[task_id] = task
        self._outbox.put((task_id, task))
        return True

    def _send_loop(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while (item := self._outbox.get()) is not None:
                task_id, task = item
                _write_frame(stdin, (task_id, task.kind, task.args))
        except (OSError, ValueError):  # the child is gone: the reader hands its tasks back
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                task_id, ok, value = _read_frame(stdout)
                if task_id == -1:
                    self.ready = True
                    continue
                with self._lock:
                    task = self.inflight.pop(task_id)
                if ok:
                    task.future.set_result(value)
                elif task.kind == "ingest":  # the store refused (locked, full ...): the caller retries
                    task.future.set_exception(WorkerError(f"ingest worker {self.index}: {value}"))
                else:  # a bug in preparing, not bad input (that is a rejection): try it here
                    logger.warning(
                        "ingest worker %d failed on a batch (%s); preparing it here", self.index, value
                    )
                    self._on_lost([task])
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            pass
        self.ready = False
        with self._lock:
            self.alive = False
            lost = list(self.inflight.values())
            self.inflight.clear()
        code = self.proc.poll()
        if lost or (code not in (0, None)):
            logger.warning(
                "ingest worker %d exited (code %s) with %d batches in hand; preparing them here",
                self.index,
                code,
                len(lost),
            )
        self._on_lost(lost)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._outbox.put(None)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class PrepareWorkers:
    """``n`` worker processes preparing batches for ``preparer``'s store (see the module docstring).

    ``submit_lines``/``submit_objects`` return a ``Future`` of the ``PreparedBatch``: exactly what
    ``preparer`` would return here. Thread-safe. ``close()`` stops the workers (after their current
    batch); batches not yet prepared are prepared here.
    """

    def __init__(self, preparer: Preparer, n: int, *, store_url: str | None = None) -> None:
        if n < 1:
            raise ValueError("PrepareWorkers needs at least one worker")
        self.preparer = preparer
        self._lock = threading.Lock()
        self._next_id = 0
        self._closed = False
        self.remote = 0  # batches prepared by a worker
        self.local = 0  # batches prepared here (no worker ready yet, or one was lost)
        self._workers: list[_Worker] = []
        try:
            for i in range(n):
                self._workers.append(_Worker(i, preparer, store_url, self._prepare_here))
        except BaseException:  # e.g. OSError starting a process: stop those already started
            for worker in self._workers:
                worker.stop()
            raise

    @property
    def ready(self) -> int:
        """How many workers have started and are taking batches."""
        return sum(w.ready and w.alive for w in self._workers)

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [w.proc.pid for w in self._workers]

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Wait until every worker has started (True) or ``timeout_s`` passed or one died (False)."""
        deadline = time.monotonic() + timeout_s
        while self.ready < len(self._workers):
            if time.monotonic() >= deadline or not all(w.alive for w in self._workers):
                return False
            time.sleep(0.01)
        return True

    def submit_lines(self, lines: Sequence[bytes], now: datetime) -> Future[PreparedBatch]:
        """Prepare raw JSON Lines (``Preparer.prepare_lines``)."""
        blob = b"\n".join(lines)  # one buffer travels fastest, unless a "line" holds a newline itself
        return self._submit(
            _Task("lines", (blob if blob.count(b"\n") == len(lines) - 1 else list(lines), now))
        )

    def submit_objects(
        self, objects: Sequence[Any], sizes: Sequence[int | None] | None, now: datetime
    ) -> Future[PreparedBatch]:
        """Prepare decoded events (``Preparer.prepare_batch(..., rows=True)``)."""
        return self._submit(_Task("objects", (list(objects), None if sizes is None else list(sizes), now)))

    def submit_ingest(
        self, objects: Sequence[Any], now: datetime, *, wait_s: float = 30.0
    ) -> Future[IngestResult]:
        """Prepare AND commit decoded events in a worker, on its own connection to ``store_url``: this
        process spends nothing on them but sending them. The future fails (``WorkerError``) when the
        store refused the batch or the worker was lost: the batch may be retried (ids are idempotency
        keys). While none has started, waits up to ``wait_s`` for the workers; fails if none has by then."""
        if not any(w.ready for w in self._workers):
            self.wait_ready(wait_s)
        task = _Task("ingest", (list(objects), None, now))
        if not self._dispatch(task):
            task.future.set_exception(WorkerError("no ingest worker is running"))
        return task.future

    def _submit(self, task: _Task) -> Future[PreparedBatch]:
        if not self._dispatch(task):
            self._prepare_here([task])  # no worker has started yet (or they are gone)
        return task.future

    def _dispatch(self, task: _Task) -> bool:
        """Hand ``task`` to the least busy ready worker; False when there is none."""
        with self._lock:
            candidates = [w for w in self._workers if w.ready and w.alive] if not self._closed else []
            if candidates:
                worker = min(candidates, key=lambda w: len(w.inflight))
                task_id = self._next_id
                self._next_id += 1
                if worker.submit(task_id, task):
                    self.remote += 1
                    return True
        return False

    def _prepare_here(self, tasks: list[_Task]) -> None:
        for task in tasks:
            if task.kind == "ingest":  # a lost worker may have committed it: the caller decides
                task.future.set_exception(WorkerError("the ingest worker was lost with this batch"))
                continue
            self.local += 1
            try:
                task.future.set_result(_run_task(self.preparer, task.kind, task.args))
            except BaseException as exc:  # the caller sees it through the future
                task.future.set_exception(exc)

    def close(self) -> None:
        """Stop the workers; every batch submitted before gets its result. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for worker in self._workers:
            worker.stop()

    def __enter__(self) -> PrepareWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve() -> None:
    """The worker's loop: read the preparer, say ready, then prepare every batch sent until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it closes our stdin
    stdin = sys.stdin.buffer
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the frames
    try:
        task_id, kind, args = _read_frame(stdin)
    except EOFError:
        return
    if kind != "init":
        raise SystemExit("assay ingest worker: expected the preparer first")
    preparer: Preparer = args[0]
    store = _WorkerStore(args[1])
    _write_frame(out, (-1, True, _READY))
    while True:
        try:
            task_id, kind, args = _read_frame(stdin)
        except EOFError:
            return
        try:
            if kind == "ingest":
                result: Any = store.ingest(preparer, *args)
            else:
                result = _run_remote(preparer, kind, args)
            ok = True
        except Exception as exc:  # reported; the parent prepares the batch itself
            result, ok = f"{type(exc).__name__}: {exc}", False
        try:
            _write_frame(out, (task_id, ok, result))
        except BrokenPipeError:
            return


if __name__ == "__main__":
    _serve()
