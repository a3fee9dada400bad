"""The Ray engine (``--engine ray``): run each case's target call and scoring on a pool of Ray actors.

The runner keeps everything that needs one view of the run on the driver: feeding, the response cache
(cached outputs are scored locally), commits to the store, resume and the summary. ``RayExecutor`` only
replaces *where* an uncached item is processed: each of ``n_actors`` async Ray actors holds its own
``CaseProcessor`` (target + scorers, retries, backoff, its share of the rate limits) and the driver sends
it cases, least-loaded first, awaiting the ``ObjectRef`` from asyncio.

What crosses the wire is a *components factory*: a picklable zero-argument callable returning
``(target, scorers)``, called inside each actor. ``SuiteComponents`` rebuilds them from a suite's
validated config (nothing unpicklable, such as an open HTTP client, travels), ``EvaluateComponents``
from ``assay.evaluate``'s arguments (names and mappings are rebuilt; Python objects and functions are
sent with cloudpickle, so they must pickle), ``ObjectComponents`` sends built objects as they are.

Deployment notes:

* ``address=None`` (and no ``$RAY_ADDRESS``) starts a local Ray cluster for the run and shuts it down at
  the end; ``"auto"``, ``"HOST:PORT"`` (the GCS) or ``"ray://HOST:10001"`` (Ray Client, needs
  ``ray[client]``) connect to an existing cluster, which is left running. If the caller already ran
  ``ray.init``, that connection is used and left alone.
* Workers must see what the driver sees: the suite's folder (python targets import from it, relative
  paths resolve against it) at the same path, the same environment variables (API keys named by
  ``api_key_env``), and ``assay`` installed.
* Judge-backed scorers cache their verdicts in the run's store, so each actor opens the store by URL.
  On a multi-node cluster that URL must be reachable from every worker (PostgreSQL); an SQLite file is
  only reachable by workers on the driver's machine.

Example:
    >>> executor = RayExecutor(SuiteComponents.from_suite(suite), n_actors=2, concurrency=16)  # doctest: +SKIP
    >>> await executor.start()                                                           # doctest: +SKIP
    >>> summary = await Runner(plan, store, options, executor=executor).run()            # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from assay.runner.limits import RateLimiter
from assay.runner.process import CaseProcessor
from assay.scorer.base import Scorer
from assay.target.base import Target
from assay.types import Case, ConfigError, Output, Score, TargetError

if TYPE_CHECKING:
    from assay.suite import Suite, SuiteConfig

__all__ = [
    "ENGINE_ERROR_KIND",
    "EvaluateComponents",
    "ObjectComponents",
    "RayExecutor",
    "SuiteComponents",
    "import_ray",
]

log = logging.getLogger(__name__)

#: the error kind of a case whose actor died or could not run it. ``types.ErrorKind`` has no engine
#: kind yet; until it does, such failures are reported as ``target_exception`` (message says "engine").
ENGINE_ERROR_KIND: Any = "engine_error"

Components = tuple[Target, list[Scorer]]
#: calls an actor accepts at once beyond the run's concurrency: ready/stop/close are never queued behind
#: cases (Ray Client has no per-call concurrency groups, so the headroom does that job)
_CONTROL_HEADROOM = 4


def import_ray() -> Any:
    """Import ``ray`` (lazily: ``assay --help`` must not pay for it) or say which extra installs it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline by default; the user may opt in
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the ray engine needs Ray: pip install 'assay[ray]'", field="engine") from exc
    return ray


def safe_address(address: str | None) -> str | None:
    """``address`` without any user or password (for provenance and messages)."""
    if not address or "://" not in address:
        return address
    parts = urlsplit(address)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --------------------------------------------------------------------------------------------- factories
@dataclasses.dataclass(frozen=True)
class SuiteComponents:
    """Rebuild a suite's target and scorers from its validated config, inside each actor.

    ``base_dir`` is the suite file's folder (python targets import from it); ``judge_repeats`` applies
    ``assay run --judge-repeats`` to the judge scorers, as the driver did.

    Example:
        >>> factory = SuiteComponents.from_suite(load_suite("suite.yaml"))  # doctest: +SKIP
        >>> target, scorers = factory()                                     # doctest: +SKIP
    """

    config: SuiteConfig
    base_dir: str
    judge_repeats: int | None = None

    @classmethod
    def from_suite(cls, suite: Suite, *, judge_repeats: int | None = None) -> SuiteComponents:
        if suite.path is None:
            raise ConfigError(
                "a suite built in Python has no folder to rebuild it from; use ObjectComponents",
                field="engine",
            )
        return cls(suite.config, str(Path(suite.path).resolve().parent), judge_repeats)

    def __call__(self) -> Components:
        from assay.scorer.base import create_scorer
        from assay.target.base import create_target

        base_dir = Path(self.base_dir)
        scorers: list[Scorer] = []
        for sc in self.config.scorers:  # as assay.suite builds them: a 'name' option renames
            named = {"name": sc.name} if sc.name is not None else {}
            scorers.append(create_scorer(sc.scorer, base_dir=base_dir, **named, **sc.options))
        if self.judge_repeats is not None:
            for scorer in scorers:
                set_repeats = getattr(scorer, "set_repeats", None)
                if set_repeats is not None:
                    set_repeats(self.judge_repeats)
        cfg = self.config.target
        return create_target(cfg.type, base_dir=base_dir, **cfg.options), scorers


@dataclasses.dataclass(frozen=True)
class EvaluateComponents:
    """Rebuild ``assay.evaluate``'s ``target`` and ``scorers`` arguments inside each actor.

    Names and mappings are rebuilt from their description; functions, ``Target`` and ``Scorer`` objects
    are sent with cloudpickle, so they must pickle (a lambda or a closure does; an open socket or a
    loaded GPU model does not: rebuild those in a function the target calls lazily).
    """

    target: Any
    scorers: tuple[Any, ...]

    def __call__(self) -> Components:
        from assay.runner.api import _coerce_scorers, _coerce_target

        return _coerce_target(self.target), _coerce_scorers(self.scorers)


@dataclasses.dataclass(frozen=True)
class ObjectComponents:
    """Send already-built target and scorer objects to the actors as they are (they must pickle)."""

    target: Target
    scorers: tuple[Scorer, ...]

    def __call__(self) -> Components:
        return self.target, list(self.scorers)


# --------------------------------------------------------------------------------------------- the actor
_Packed = tuple[Output, tuple[Any, ...] | None, list[Score], int]


def _pack(output: Output, scores: list[Score], attempts: int) -> _Packed:
    """What an actor sends back. ``raw`` (the provider's whole response) stays behind: the scorers have
    used it already and the runner never stores it. ``TargetError`` does not pickle (its ``__init__``
    takes keyword fields), so its fields travel instead."""
    err = output.error
    fields = None if err is None else (err.kind, err.message, err.retryable, err.retry_after, err.status)
    return dataclasses.replace(output, error=None, raw=None), fields, scores, attempts


def _unpack(packed: _Packed) -> tuple[Output, list[Score], int]:
    output, fields, scores, attempts = packed
    if fields is not None:
        kind, message, retryable, retry_after, status = fields
        err = TargetError(kind, message, retryable=retryable, retry_after=retry_after, status=status)
        output = dataclasses.replace(output, error=err)
    return output, scores, attempts


class _CaseActor:
    """One Ray actor: a ``CaseProcessor`` over components built here from the factory.

    Built in ``__init__`` so a restarted actor (after its process died) rebuilds itself; a factory that
    fails is reported by ``ready()`` instead of killing the actor, so the driver can say why.
    """

    def __init__(
        self,
        factory: Callable[[], Components],
        *,
        index: int,
        seed: int,
        requests_per_min: float | None,
        tokens_per_min: float | None,
        store_url: str | None,
    ) -> None:
        self._stopping = False
        self._store: Any = None
        self._error: str | None = None
        self._processor: CaseProcessor | None = None
        self._spec: dict[str, Any] | None = None
        try:
            target, scorers = factory()
            if store_url and any(hasattr(s, "bind_store") for s in scorers):
                from assay.store import open_store

                self._store = open_store(store_url)
                for scorer in scorers:
                    bind = getattr(scorer, "bind_store", None)
                    if bind is not None:
                        bind(self._store)
            limiter = RateLimiter(requests_per_min=requests_per_min, tokens_per_min=tokens_per_min)
            self._processor = CaseProcessor(
                target,
                scorers,
                limiter=limiter,
                rng=random.Random(seed * 1_000_003 + index),
                stopping=lambda: self._stopping,
            )
            self._spec = target.spec()
        except Exception as exc:  # reported by ready(); the driver turns it into a ConfigError
            log.exception("building the target and scorers in Ray actor %d failed", index)
            self._error = f"{type(exc).__name__}: {exc}"

    async def ready(self) -> tuple[str | None, dict[str, Any] | None]:
        """``(error, target spec)``: why the factory failed (or None) and what this actor built."""
        return self._error, self._spec

    async def process(self, case: Case) -> _Packed:
        if self._processor is None:
            err = TargetError(ENGINE_ERROR_KIND, f"Ray actor has no target: {self._error}")
            return _pack(Output(error=err), [], 0)
        output, scores, attempts = await self._processor.process(case)
        return _pack(output, scores, attempts)

    async def stop(self) -> None:
        """The run is stopping: finish what is in flight but retry nothing."""
        self._stopping = True

    async def close(self) -> None:
        """Close the target's and scorers' clients and the store connection."""
        proc = self._processor
        for resource in (proc.target, *proc.scorers) if proc is not None else ():
            closer = getattr(resource, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()


# --------------------------------------------------------------------------------------------- the driver
@dataclasses.dataclass
class _Slot:
    index: int
    handle: Any
    inflight: int = 0
    dead: bool = False
    #: set while Ray restarts the actor's process: no case is sent to it until it answers again
    recovering: asyncio.Task[None] | None = None


class RayExecutor:
    """Process cases on ``n_actors`` Ray actors; an ``Executor`` for ``Runner(..., executor=...)``.

    ``concurrency`` is the runner's: the driver sends each case to the live actor with the fewest in
    flight, so each runs about ``ceil(concurrency / n_actors)`` at once (more only if others died). Rate limits are split
    evenly over the actors. A cancelled ``process`` (a hard stop) cancels the remote call. An actor whose
    process dies is restarted by Ray (up to ``max_restarts`` times); the cases it was running get an
    engine error (retryable) instead of crashing the run. ``stopping`` (polled) tells the actors to stop
    retrying once the run is stopping.

    Example:
        >>> ex = RayExecutor(ObjectComponents(target, (scorer,)), n_actors=2)  # doctest: +SKIP
        >>> await ex.start(); output, scores, attempts = await ex.process(case)  # doctest: +SKIP
        >>> await ex.aclose()                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        factory: Callable[[], Components],
        *,
        n_actors: int = 2,
        concurrency: int = 16,
        requests_per_min: float | None = None,
        tokens_per_min: float | None = None,
        seed: int = 0,
        store_url: str | None = None,
        address: str | None = None,
        actor_num_cpus: float = 1.0,
        max_restarts: int = 3,
        expected_spec: Mapping[str, Any] | None = None,
        stopping: Callable[[], bool] | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        if n_actors < 1:
            raise ConfigError("the ray engine needs at least one actor", field="ray_actors")
        self.factory = factory
        self.n_actors = n_actors
        self.concurrency = concurrency
        self.per_actor_concurrency = max(1, math.ceil(concurrency / n_actors))
        self.requests_per_min = requests_per_min / n_actors if requests_per_min else None
        self.tokens_per_min = tokens_per_min / n_actors if tokens_per_min else None
        self.seed = seed
        self.store_url = store_url
        self.address = address
        self.actor_num_cpus = actor_num_cpus
        self.max_restarts = max_restarts
        self.expected_spec = dict(expected_spec) if expected_spec is not None else None
        self.stopping = stopping
        self.start_timeout_s = start_timeout_s
        self._ray: Any = None
        self._owns_ray = False
        self._slots: list[_Slot] = []
        self._next = 0
        self._start_lock: asyncio.Lock | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._told_stop = False

    def describe(self) -> dict[str, Any]:
        """What a run records about the engine (no secrets)."""
        return {"engine": "ray", "ray_actors": self.n_actors, "ray_address": safe_address(self.address)}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect to (or start) Ray and start the actors; ``ConfigError`` if that cannot be done."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._slots:
                return
            ray = self._ray = import_ray()
            self._connect(ray)
            try:
                await self._start_actors(ray)
            except BaseException:
                await self._teardown()
                raise
            if self.stopping is not None:
                self._watcher = asyncio.create_task(self._watch_stopping())

    def _connect(self, ray: Any) -> None:
        """Use the caller's Ray, else connect to ``address`` (or ``$RAY_ADDRESS``), else start our own."""
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                cpus = max(os.cpu_count() or 1, math.ceil(self.n_actors * self.actor_num_cpus))
                # "local": always a new cluster of our own, never one a `ray start` left on this machine
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, **kwargs)
        except Exception as exc:
            where = f"the Ray cluster at {safe_address(address)}" if address else "a local Ray cluster"
            raise ConfigError(f"cannot start or reach {where}: {exc}", field="ray_address") from exc
        self._owns_ray = True

    async def _start_actors(self, ray: Any) -> None:
        remote_cls = ray.remote(_CaseActor)
        for i in range(self.n_actors):
            try:
                handle = remote_cls.options(
                    num_cpus=self.actor_num_cpus,
                    # the driver spreads cases (least loaded first); an actor takes more than its share
                    # only when others died, and nothing ever waits in Ray's queue
                    max_concurrency=self.concurrency + _CONTROL_HEADROOM,
                    max_restarts=self.max_restarts,
                    max_task_retries=0,
                ).remote(
                    self.factory,
                    index=i,
                    seed=self.seed,
                    requests_per_min=self.requests_per_min,
                    tokens_per_min=self.tokens_per_min,
                    store_url=self.store_url,
                )
            except Exception as exc:  # cloudpickle could not serialise the factory
                raise ConfigError(
                    f"the target and scorers cannot be sent to Ray actors (they must pickle): "
                    f"{type(exc).__name__}: {exc}",
                    field="engine",
                ) from exc
            self._slots.append(_Slot(i, handle))
        readies = [s.handle.ready.remote() for s in self._slots]
        try:
            async with asyncio.timeout(self.start_timeout_s):
                answers = await asyncio.gather(*readies)
        except TimeoutError:
            free = ray.available_resources().get("CPU", 0.0)
            raise ConfigError(
                f"{self.n_actors} Ray actor(s) did not start within {self.start_timeout_s:g} s; each asks "
                f"for {self.actor_num_cpus:g} CPU and the cluster has {free:g} free (use fewer actors)",
                field="ray_actors",
            ) from None
        except ray.exceptions.RayError as exc:
            raise ConfigError(f"a Ray actor failed to start: {exc}", field="engine") from exc
        for error, spec in answers:
            if error is not None:
                raise ConfigError(
                    f"building the target and scorers on a Ray worker failed: {error}", field="engine"
                )
            if self.expected_spec is not None and spec != self.expected_spec:
                raise ConfigError(
                    "the target built on a Ray worker differs from the driver's "
                    f"({spec} != {self.expected_spec}); workers must see the same files and environment",
                    field="engine",
                )
        log.info("ray engine: %d actor(s), %d cases each at once", self.n_actors, self.per_actor_concurrency)

    async def aclose(self) -> None:
        """Close the actors' clients, kill the actors, and shut down a Ray it started itself."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for slot in self._slots:
            if slot.recovering is not None:
                slot.recovering.cancel()
        await self._teardown()

    async def _teardown(self) -> None:
        ray = self._ray
        if ray is None:
            return
        live = [s for s in self._slots if not s.dead]
        closes = [s.handle.close.remote() for s in live]
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10.0):
                await asyncio.gather(*closes, return_exceptions=True)
        for slot in self._slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle, no_restart=True)
        self._slots = []
        if self._owns_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()
            self._owns_ray = False

    async def _watch_stopping(self) -> None:
        assert self.stopping is not None
        while not self.stopping():
            await asyncio.sleep(0.2)
        refs = self.request_stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10.0):
                await asyncio.gather(*refs, return_exceptions=True)

    def request_stop(self) -> list[Any]:
        """Tell every actor the run is stopping: in-flight cases finish, failed attempts are not retried.

        Returns the remote calls' refs (awaitable) so a caller can wait until the actors have heard it.
        """
        if self._told_stop:
            return []
        self._told_stop = True
        refs = []
        for slot in self._slots:
            if not slot.dead:
                with contextlib.suppress(Exception):
                    refs.append(slot.handle.stop.remote())
        return refs

    # ------------------------------------------------------------------ the hot path
    def _pick(self) -> _Slot | None:
        """The usable actor with the fewest cases in flight (round-robin among ties)."""
        best: _Slot | None = None
        n = len(self._slots)
        for k in range(n):
            slot = self._slots[(self._next + k) % n]
            usable = not slot.dead and slot.recovering is None
            if usable and (best is None or slot.inflight < best.inflight):
                best = slot
        if best is not None:
            self._next = (best.index + 1) % n
        return best

    async def _acquire(self) -> _Slot | None:
        """An actor to send a case to, waiting for one being restarted if need be; None if all died."""
        while True:
            slot = self._pick()
            if slot is not None:
                return slot
            waiting = [s.recovering for s in self._slots if not s.dead and s.recovering is not None]
            if not waiting:
                return None
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)

    def _lost(self, slot: _Slot) -> None:
        if not slot.dead and slot.recovering is None:
            slot.recovering = asyncio.create_task(self._recover(slot))

    async def _recover(self, slot: _Slot) -> None:
        """Wait until Ray has restarted ``slot``'s actor (it rebuilds its components), or give it up."""
        ray = self._ray
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        try:
            while True:
                try:
                    error, _ = await slot.handle.ready.remote()
                except ray.exceptions.ActorDiedError:
                    error = "died and will not be restarted"
                except ray.exceptions.RayActorError:
                    if loop.time() < deadline:
                        await asyncio.sleep(0.2)
                        continue
                    error = f"did not come back within {self.start_timeout_s:g} s"
                if error is not None:
                    slot.dead = True
                    log.warning("Ray actor %d is out of the pool: %s", slot.index, error)
                elif self._told_stop:
                    slot.handle.stop.remote()
                return
        finally:
            slot.recovering = None

    async def process(self, case: Case) -> tuple[Output, list[Score], int]:
        """Run ``case`` on an actor. Never raises for the case's failure (nor for an actor's death)."""
        if not self._slots:
            await self.start()
        ray = self._ray
        slot = await self._acquire()
        if slot is None:
            return _engine_error("every Ray actor has died", retryable=False), [], 0
        slot.inflight += 1
        ref = None
        try:
            ref = slot.handle.process.remote(case)
            packed = await ref
        except asyncio.CancelledError:
            if ref is not None:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            raise
        except ray.exceptions.ActorDiedError as exc:
            slot.dead = True
            log.warning("Ray actor %d died for good: %s", slot.index, _first_line(exc))
            return _engine_error(f"the Ray actor running this case died: {_first_line(exc)}"), [], 1
        except ray.exceptions.RayActorError as exc:  # its process died and Ray restarts it, or unreachable
            log.warning("Ray actor %d is unavailable: %s", slot.index, _first_line(exc))
            self._lost(slot)
            return _engine_error(f"the Ray actor running this case was lost: {_first_line(exc)}"), [], 1
        except ray.exceptions.RayError as exc:  # the remote call failed (e.g. the case would not pickle)
            return _engine_error(f"the Ray call failed: {_first_line(exc)}", retryable=False), [], 1
        finally:
            slot.inflight -= 1
        return _unpack(packed)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]


def _engine_error(message: str, *, retryable: bool = True) -> Output:
    return Output(error=TargetError(ENGINE_ERROR_KIND, message, retryable=retryable))


def executor_for(
    engine: str,
    *,
    factory: Callable[[], Components] | None,
    concurrency: int,
    requests_per_min: float | None = None,
    tokens_per_min: float | None = None,
    seed: int = 0,
    store_url: str | None = None,
    address: str | None = None,
    n_actors: int | None = None,
    expected_spec: Mapping[str, Any] | None = None,
) -> RayExecutor | None:
    """The executor for ``engine`` (``None`` for the local engine); ``ConfigError`` for an unknown one."""
    check_engine(engine)
    if engine == "local":
        if address or n_actors:
            raise ConfigError("ray_address and ray_actors need engine 'ray'", field="engine")
        return None
    if factory is None:
        raise ConfigError("the ray engine needs a components factory", field="engine")
    return RayExecutor(
        factory,
        n_actors=n_actors or 2,
        concurrency=concurrency,
        requests_per_min=requests_per_min,
        tokens_per_min=tokens_per_min,
        seed=seed,
        store_url=store_url,
        address=address,
        expected_spec=expected_spec,
    )


#: the engines a run can use
ENGINES: Sequence[str] = ("local", "ray")


def check_engine(engine: str) -> None:
    """``ConfigError`` naming the known engines when ``engine`` is not one of them."""
    if engine not in ENGINES:
        import difflib

        close = difflib.get_close_matches(engine, list(ENGINES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown engine '{engine}'. Known: {', '.join(ENGINES)}.{hint}", field="engine")
