"""The async runner: bounded concurrency, retries with backoff, rate limits, response cache, resume.

One run = cases x repeats work items. A feeder streams items (looking up the response cache in chunks),
``concurrency`` workers call the target (retrying retryable errors; the target classifies, the runner
decides), and hand each output to a follow-up task that scores it once the worker has sent its next
request (scoring and bookkeeping never delay the next call). Results go to a single committer that writes
them to the store in small transactions (every ``commit_every_n`` results or ``commit_every_s`` seconds,
whichever comes first). A committed result is durable: after kill -9, ``resume`` runs only what was not
committed.

Nothing here holds the results in memory: they leave for the store as they finish. The summary's
statistics (a float and a case id per score) are gathered as they go; a resumed run reads them back from
the store instead.

Example:
    >>> runner = Runner(plan, store, RunOptions(concurrency=8))          # doctest: +SKIP
    >>> summary = asyncio.run(runner.run())                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from assay.runner.limits import RateLimiter
from assay.runner.process import CaseProcessor, Executor, score_names
from assay.runner.summary import MetricAccumulator, RunSummary, TokensSummary, evaluate_thresholds
from assay.scorer.base import Scorer
from assay.store import ResultRecord, RunRecord, Store
from assay.target.base import Target
from assay.types import Case, ConfigError, Output, Score

__all__ = ["ProgressSink", "RunOptions", "RunPlan", "Runner", "cache_key", "check_requirements"]

log = logging.getLogger(__name__)

_CASE_REQUIREMENTS = {
    "expected": lambda c: c.expected is not None,
    "context": lambda c: bool(c.context),
}


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what): concurrency, repeats, limits, cache and commit cadence."""

    concurrency: int = 16
    repeats: int = 1
    max_error_rate: float = 0.1
    use_cache: bool = True
    requests_per_min: float | None = None
    tokens_per_min: float | None = None
    seed: int = 0
    commit_every_n: int = 50
    commit_every_s: float = 0.5
    #: seconds in-flight calls get to finish after a graceful stop, before they are cancelled
    stop_grace_s: float = 30.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1", field="concurrency")
        if self.repeats < 1:
            raise ConfigError("repeats must be at least 1", field="repeats")
        if not 0.0 <= self.max_error_rate <= 1.0:
            raise ConfigError("max_error_rate must be between 0 and 1", field="max_error_rate")


@dataclass
class RunPlan:
    """What to run: the cases, the target, the scorers, the thresholds, and what to record about them."""

    name: str
    cases: Sequence[Case]
    target: Target
    scorers: Sequence[Scorer]
    thresholds: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


class ProgressSink(Protocol):
    def start(self, *, total: int, done: int) -> None: ...

    def advance(self, n: int, *, errors: int) -> None: ...

    def finish(self) -> None: ...


def check_requirements(cases: Sequence[Case], scorers: Sequence[Scorer]) -> None:
    """Fail before any call when a scorer needs a case field (``expected``, ``context``) some cases lack."""
    for scorer in scorers:
        for req in sorted(set(scorer.requires) & set(_CASE_REQUIREMENTS)):
            check = _CASE_REQUIREMENTS[req]
            missing = [c.id for c in cases if not check(c)]
            if missing:
                shown = ", ".join(missing[:10]) + (
                    f" … and {len(missing) - 10} more" if len(missing) > 10 else ""
                )
                raise ConfigError(
                    f"scorer '{scorer.name}' requires '{req}', which {len(missing)} case(s) lack: {shown}",
                    field="scorers",
                )


def cache_key(target_spec: Mapping[str, Any], case: Case) -> str:
    """Response-cache key: the target's spec (model, params …) plus what the target sees of the case."""
    d = case.to_dict()
    payload = {"target": target_spec, "input": d["input"], "context": d["context"], "metadata": d["metadata"]}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class _Item:
    case: Case
    repeat: int
    key: str | None
    cached: Output | None = None


class Runner:
    """Runs a ``RunPlan`` against a target, writing results to a ``Store``. One instance = one run."""

    def __init__(
        self,
        plan: RunPlan,
        store: Store,
        options: RunOptions | None = None,
        *,
        progress: ProgressSink | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.options = options or RunOptions()
        self.progress = progress
        self.run_id: str | None = None
        self._stopping: asyncio.Event | None = None  # created inside the running loop
        self._workers: list[asyncio.Task[None]] = []
        self._hard_stop = False
        self._stop_reason: str | None = None
        self._store_lock: asyncio.Lock | None = None
        self._buffer: list[ResultRecord] = []
        self._cache_buffer: list[tuple[str, dict[str, Any]]] = []
        self._flush_now: asyncio.Event | None = None
        self._closing = False
        self._max_buffer = max(4 * self.options.commit_every_n, 200)
        self._errors = 0
        #: the summary's statistics of this session's results, kept as they are buffered (None on resume)
        self._acc: MetricAccumulator | None = None
        self._rng = random.Random(self.options.seed)
        self._limiter = RateLimiter(
            requests_per_min=self.options.requests_per_min, tokens_per_min=self.options.tokens_per_min
        )
        self._target_spec: dict[str, Any] = plan.target.spec()
        #: what runs each item: by default in this process; ``assay.runner.ray_engine`` runs them on Ray
        self._local = CaseProcessor(
            plan.target, plan.scorers, limiter=self._limiter, rng=self._rng, stopping=lambda: self.stopping
        )
        self.executor: Executor = executor or self._local

    # ------------------------------------------------------------------ control
    def request_stop(self, reason: str = "interrupted") -> None:
        """Stop launching new items; a second call also cancels in-flight calls."""
        if self._stopping is not None and self._stopping.is_set():
            self._hard_stop = True
            for t in self._workers:
                t.cancel()
            return
        self._stop_reason = self._stop_reason or reason
        if self._stopping is not None:
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    # ------------------------------------------------------------------ run
    async def run(self, *, run_id: str | None = None, resume: str | None = None) -> RunSummary:
        """Run (or, with ``resume``, continue) and return the summary. Raises ConfigError before any call."""
        plan, opts = self.plan, self.options
        check_requirements(plan.cases, plan.scorers)
        self._check_threshold_names()
        for scorer in plan.scorers:  # judge-backed scorers keep their verdict cache in the run's store
            bind = getattr(scorer, "bind_store", None)
            if bind is not None:
                bind(self.store)
        self._stopping = asyncio.Event()
        self._store_lock = asyncio.Lock()
        self._flush_now = asyncio.Event()
        started = time.monotonic()

        done_keys: set[tuple[str, int]] = set()
        if resume:
            record = await self._store_call(self.store.find_run, resume)
            self._check_resumable(record)
            self.run_id = record.run_id
            done_keys = await self._store_call(self.store.completed_keys, record.run_id)
            self._errors = await self._store_call(self._count_stored_errors, record.run_id)
            await self._store_call(self.store.update_run, record.run_id, status="running")
        else:
            self.run_id = run_id or new_run_id()
            self._acc = MetricAccumulator()
            record = RunRecord(
                run_id=self.run_id,
                suite=plan.name,
                status="running",
                created_at=datetime.now(UTC),
                finished_at=None,
                n_planned=len(plan.cases) * opts.repeats,
                config={**plan.config, "repeats": opts.repeats},
                provenance={
                    **plan.provenance,
                    "target": self._target_spec,
                    "scorers": [s.spec() for s in plan.scorers],
                    "seed": opts.seed,
                },
                summary=None,
            )
            await self._store_call(self.store.create_run, record)

        total = len(plan.cases) * opts.repeats
        if self.progress:
            self.progress.start(total=total, done=len(done_keys))
        queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=opts.concurrency * 2)
        self._workers = [asyncio.create_task(self._work(queue)) for _ in range(opts.concurrency)]
        feeder = asyncio.create_task(self._feed(queue, done_keys))
        committer = asyncio.create_task(self._commit_loop())
        try:
            await self._wait_workers(feeder, queue)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            self._closing = True
            assert self._flush_now is not None
            self._flush_now.set()
            await committer  # finishes any flush in progress; never cancelled mid-write
            await self._flush()
            if self.progress:
                self.progress.finish()
            with contextlib.suppress(Exception):
                await self.executor.aclose()
            for resource in (plan.target, *plan.scorers):  # targets and judge-backed scorers hold clients
                closer = getattr(resource, "aclose", None)
                if closer is not None:
                    with contextlib.suppress(Exception):
                        await closer()

        summary = await self._finalise(total, time.monotonic() - started)
        return summary

    async def _wait_workers(self, feeder: asyncio.Task[None], queue: asyncio.Queue[_Item | None]) -> None:
        """Wait for the workers; on a stop request, let in-flight calls finish (within the grace period)."""
        assert self._stopping is not None
        workers = asyncio.gather(*self._workers, return_exceptions=True)
        stop_wait = asyncio.create_task(self._stopping.wait())
        pending: set[asyncio.Future[Any]] = {workers, stop_wait, feeder}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if feeder in done and not feeder.cancelled() and feeder.exception() is not None:
                for t in self._workers:
                    t.cancel()
                await asyncio.gather(*self._workers, return_exceptions=True)
                stop_wait.cancel()
                raise feeder.exception()  # type: ignore[misc]
            if workers in done or stop_wait in done:
                break
        if workers not in done:
            # graceful stop: no new items; wake idle workers; in-flight calls get stop_grace_s to finish
            feeder.cancel()
            while not queue.empty():
                queue.get_nowait()
            for _ in self._workers:
                queue.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(workers), timeout=self.options.stop_grace_s)
            except TimeoutError:
                self._hard_stop = True
                for t in self._workers:
                    t.cancel()
                await asyncio.gather(*self._workers, return_exceptions=True)
        else:
            stop_wait.cancel()
        if workers.done() and not workers.cancelled():
            for res in workers.result():
                if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                    raise res

    def _check_threshold_names(self) -> None:
        names = {n for s in self.plan.scorers for n in score_names(s)}
        for metric in self.plan.thresholds:
            if metric in names or metric.startswith("latency_s."):
                continue
            import difflib

            close = difflib.get_close_matches(metric, sorted(names), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"threshold on unknown metric '{metric}'; the scorers produce: {', '.join(sorted(names))}.{hint}",
                field=f"thresholds.{metric}",
            )

    def _check_resumable(self, record: RunRecord) -> None:
        if record.status == "completed":
            raise ConfigError(f"run {record.run_id} already completed; nothing to resume", field="resume")
        old = record.provenance or {}
        new = self.plan.provenance
        for key in ("dataset_sha256", "suite_sha256"):
            if old.get(key) and new.get(key) and old[key] != new[key]:
                raise ConfigError(
                    f"cannot resume run {record.run_id}: the {key.split('_')[0]} changed since it started "
                    "(start a new run instead)",
                    field="resume",
                )
        if old.get("target") and old["target"] != self._target_spec:
            raise ConfigError(
                f"cannot resume run {record.run_id}: the target changed since it started", field="resume"
            )
        repeats = (record.config or {}).get("repeats", 1)
        if repeats != self.options.repeats:
            raise ConfigError(
                f"cannot resume run {record.run_id}: it was started with repeats={repeats}", field="repeats"
            )

    def _count_stored_errors(self, run_id: str) -> int:
        return sum(1 for r in self.store.iter_results(run_id, payload=False) if r.error_kind is not None)

    async def _store_call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        assert self._store_lock is not None
        async with self._store_lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------------ feeder
    def _todo(self, done_keys: set[tuple[str, int]]) -> Iterator[tuple[Case, int]]:
        for repeat in range(self.options.repeats):
            for case in self.plan.cases:
                if (case.id, repeat) not in done_keys:
                    yield case, repeat

    async def _feed(self, queue: asyncio.Queue[_Item | None], done_keys: set[tuple[str, int]]) -> None:
        use_cache = self.options.use_cache and self.options.repeats == 1
        chunk: list[_Item] = []
        for case, repeat in self._todo(done_keys):
            if self.stopping:
                return
            key = cache_key(self._target_spec, case) if use_cache else None
            chunk.append(_Item(case, repeat, key))
            if len(chunk) >= 64:
                await self._enqueue(queue, chunk, use_cache)
                chunk = []
        if chunk:
            await self._enqueue(queue, chunk, use_cache)
        for _ in self._workers:
            await queue.put(None)  # one end marker per worker

    async def _enqueue(self, queue: asyncio.Queue[_Item | None], chunk: list[_Item], use_cache: bool) -> None:
        if use_cache:
            keys = [it.key for it in chunk if it.key]
            hits = await self._store_call(self.store.cache_get_many, keys)
            for it in chunk:
                if it.key in hits:
                    it.cached = Output.from_dict(hits[it.key])
        for it in chunk:
            if self.stopping:
                return
            await queue.put(it)

    # ------------------------------------------------------------------ workers
    async def _work(self, queue: asyncio.Queue[_Item | None]) -> None:
        """Take items until the end marker; call the target, then score and record in a follow-up task.

        The follow-up task (``_finish``) runs after this worker has already sent its next request: when a
        burst of responses arrives, every slot is re-filled before any of them is scored and recorded, so
        scoring and storage never delay the next calls. A worker has at most one item being finished: the
        next one waits for it (backpressure for slow scorers, and a yield point for a target that never
        awaits).
        """
        local = self.executor is self._local
        finishing: asyncio.Task[None] | None = None
        try:
            while not self.stopping:
                item = await queue.get()
                if item is None:
                    break
                scores: list[Score] | None = None
                if item.cached is not None:
                    output, attempts = item.cached, 0  # cached outputs are scored, never called
                elif local:
                    output, attempts = await self._local.call(item.case)
                else:
                    output, scores, attempts = await self.executor.process(item.case)
                if output.error is not None:
                    self._count_error()
                if finishing is not None:
                    await finishing  # normally long done; re-raises what went wrong in it
                finishing = asyncio.create_task(self._finish(item, output, scores, attempts))
        except BaseException:
            if finishing is not None:  # cancelled (a hard stop): so is the item being finished
                finishing.cancel()
                await asyncio.gather(finishing, return_exceptions=True)  # its outcome is retrieved, not lost
            raise
        if finishing is not None:
            await finishing

    async def _finish(self, item: _Item, output: Output, scores: list[Score] | None, attempts: int) -> None:
        """Score a finished call (when the executor has not), buffer its result, apply backpressure."""
        if scores is None:
            scores = await self._local.score(item.case, output) if output.error is None else []
        if output.error is None and item.key is not None and item.cached is None:
            self._cache_buffer.append((item.key, output.to_dict()))
        self._add_result(item, output, scores, attempts)
        if len(self._buffer) >= self._max_buffer:
            # backpressure: a fast target must not outrun the store (memory would grow without bound)
            await self._flush()

    def _add_result(self, item: _Item, output: Output, scores: list[Score], attempts: int) -> None:
        err = output.error
        usage = output.usage
        record = ResultRecord(
            run_id=self.run_id or "",
            case_id=item.case.id,
            repeat=item.repeat,
            case=item.case.to_dict(),
            output=output.to_dict(),
            scores=[s.to_dict() for s in scores],
            error_kind=err.kind if err else None,
            error_message=err.message if err else None,
            latency_s=output.latency_s,
            ttft_s=output.ttft_s,
            cost_usd=output.cost_usd,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            attempts=attempts,
            cached=item.cached is not None,
            created_at=datetime.now(UTC),
        )
        self._buffer.append(record)
        if self._acc is not None:
            self._acc.add_record(record)
        if self.progress:
            self.progress.advance(1, errors=self._errors)
        if len(self._buffer) >= self.options.commit_every_n and self._flush_now is not None:
            self._flush_now.set()

    def _count_error(self) -> None:
        """Count a failed call at once (not when it is recorded) and stop the run on an error flood."""
        self._errors += 1
        allowed = self.options.max_error_rate * len(self.plan.cases) * self.options.repeats
        if self._errors > allowed and not self.stopping:
            self._stop_reason = (
                f"too many errors: {self._errors} failed calls exceed max_error_rate "
                f"{self.options.max_error_rate:g} of {len(self.plan.cases) * self.options.repeats} items"
            )
            self.request_stop(self._stop_reason)

    # ------------------------------------------------------------------ committer
    async def _commit_loop(self) -> None:
        """Flush every ``commit_every_n`` results or ``commit_every_s`` seconds until told to close.

        It is never cancelled mid-flush: ``run`` sets ``_closing`` and waits for it, then flushes the rest.
        """
        assert self._flush_now is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), timeout=self.options.commit_every_s)
            self._flush_now.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Commit buffered results, and the cache entries of their fresh outputs, in one transaction.

        The buffers are taken only once the store lock is held, and the write itself is shielded, so a
        cancellation can never drop a batch that was taken out of the buffer.
        """
        assert self._store_lock is not None
        async with self._store_lock:
            if not self._buffer and not self._cache_buffer:
                return
            batch, self._buffer = self._buffer, []
            items, self._cache_buffer = self._cache_buffer, []
            await asyncio.shield(asyncio.to_thread(self.store.add_results, batch, cache_items=items))

    # ------------------------------------------------------------------ summary
    async def _finalise(self, total: int, duration_s: float) -> RunSummary:
        summary: RunSummary = await self._store_call(self._summarise_and_record, total, duration_s)
        return summary

    def _summarise_and_record(self, total: int, duration_s: float) -> RunSummary:
        """Summarise the run and store the summary with its final status (one trip to the store thread)."""
        assert self.run_id is not None
        summary = self._summarise(total, duration_s)
        self.store.update_run(
            self.run_id,
            status=summary.status,
            summary=summary.to_json_dict(),
            finished_at=datetime.now(UTC),
        )
        return summary

    def _stored_accumulator(self) -> MetricAccumulator:
        """What the summary is made of: every result the store holds for this run.

        A fresh run has added each of its results to ``_acc`` as it buffered them, in commit order, so
        when the store holds exactly that many the stored results are those (a result is stored whole or
        not at all, and never twice) and they need not be read back. A resumed run, or a store that holds
        a different number (another process wrote to the same run), is summarised from the store.
        """
        assert self.run_id is not None
        acc = self._acc
        if acc is not None and self.store.count_results(self.run_id) == acc.n_results:
            return acc
        acc = MetricAccumulator()
        for r in self.store.iter_results(self.run_id, payload=False):
            acc.add_record(r)
        return acc

    def _summarise(self, total: int, duration_s: float) -> RunSummary:
        assert self.run_id is not None
        acc = self._stored_accumulator()
        # metrics declared by the scorers appear even when every item failed
        for s in self.plan.scorers:
            for n in score_names(s):
                acc.metrics.setdefault(
                    n, acc._metric(n, getattr(s, "kind", "continuous"), getattr(s, "higher_is_better", True))
                )
        metrics = acc.metric_summaries(repeats=self.options.repeats, seed=self.options.seed)
        latency = acc.latency_summary()
        error_rate = acc.n_target_errors / total if total else 0.0
        stop_reason = self._stop_reason
        if acc.n_results < total:
            status = "failed" if stop_reason and stop_reason.startswith("too many errors") else "interrupted"
            stop_reason = stop_reason or "interrupted"
        elif error_rate > self.options.max_error_rate:
            status = "failed"
            stop_reason = f"too many errors: error rate {error_rate:.1%} exceeds max_error_rate {self.options.max_error_rate:g}"
        else:
            status = "completed"
            stop_reason = None
        return RunSummary(
            run_id=self.run_id,
            suite=self.plan.name,
            status=status,
            n_cases=len(self.plan.cases),
            repeats=self.options.repeats,
            n_results=acc.n_results,
            n_errors=acc.n_target_errors,
            errors_by_kind=dict(acc.errors_by_kind),
            metrics=metrics,
            latency_s=latency,
            tokens=TokensSummary(input=acc.input_tokens, output=acc.output_tokens),
            cost_usd=acc.cost_usd,
            thresholds=evaluate_thresholds(self.plan.thresholds, metrics, latency),
            judges=acc.judge_summaries(),
            n_cached=acc.n_cached,
            duration_s=round(duration_s, 3),
            store=self.store.safe_url,
            stop_reason=stop_reason,
        )
