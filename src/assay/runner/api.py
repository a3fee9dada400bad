"""The Python entry points: run a loaded suite, or ``evaluate(dataset, target, scorers)`` without a file.

Example:
    >>> import assay
    >>> summary = assay.evaluate(                                       # doctest: +SKIP
    ...     [{"input": "2+2?", "expected": "4"}],
    ...     {"type": "python", "ref": "mymodule:answer"},
    ...     ["exact_match"],
    ...     store="sqlite:///:memory:",
    ... )
    >>> summary.metrics["exact_match"].mean                              # doctest: +SKIP
    1.0

``engine="ray"`` runs the target calls and scoring on Ray actors (``assay.runner.ray_engine``); the
feeding, cache, store and summary stay in this process. ``ray_address`` connects to an existing cluster
(``"auto"``, ``"ray://host:10001"``); without it a local cluster is started for the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.runner.engine import ProgressSink, Runner, RunOptions, RunPlan, check_requirements
from assay.runner.provenance import environment_provenance
from assay.runner.summary import RunSummary
from assay.scorer.base import Scorer, create_scorer
from assay.store import Store, open_store
from assay.target.base import Target, create_target
from assay.types import Case, ConfigError

if TYPE_CHECKING:
    from assay.suite import Suite

__all__ = ["aevaluate", "evaluate", "plan_from_suite", "run_plan"]

#: a picklable zero-argument callable returning ``(target, scorers)``, built on each Ray actor
ComponentsFactory = Callable[[], tuple[Target, list[Scorer]]]


def plan_from_suite(suite: Suite) -> RunPlan:
    """Turn a loaded suite into a run plan with its provenance (hashes, environment)."""
    config = suite.config.model_dump(mode="json", exclude={"target"})
    dataset = suite.dataset
    provenance: dict[str, Any] = {
        "suite_path": str(suite.path) if suite.path else None,
        "suite_sha256": suite.sha256,
        "dataset_name": dataset.name,
        "dataset_source": dataset.source,
        "dataset_sha256": dataset.sha256,
        "n_cases": len(dataset),
        **environment_provenance(Path(suite.path).parent if suite.path else None),
    }
    return RunPlan(
        name=suite.config.name,
        cases=dataset.cases,
        target=suite.target,
        scorers=list(suite.scorers),
        thresholds={
            k: v.model_dump() if hasattr(v, "model_dump") else dict(v)
            for k, v in suite.config.thresholds.items()
        },
        config=config,
        provenance=provenance,
    )


async def run_plan(
    plan: RunPlan,
    store: Store,
    options: RunOptions,
    *,
    run_id: str | None = None,
    resume: str | None = None,
    progress: ProgressSink | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int | None = None,
    components: ComponentsFactory | None = None,
    on_start: Callable[[Runner], None] | None = None,
) -> RunSummary:
    """Run a plan to completion (or interruption) and return its summary.

    ``engine`` is ``"local"`` (this process) or ``"ray"``: ``ray_actors`` actors (default 2) on the
    cluster at ``ray_address`` (default: a local cluster started for the run) each build the target and
    scorers with ``components`` (default: the plan's own objects, sent with cloudpickle). The engine is
    recorded in the run's config. Raises ``ConfigError`` for an unknown engine or a Ray that cannot start.
    ``on_start(runner)`` is called once the engine is up, just before the run starts (the CLI uses it
    to route Ctrl-C to ``runner.request_stop``).

    Example:
        >>> summary = await run_plan(plan, store, RunOptions(), engine="ray", ray_actors=4)  # doctest: +SKIP
    """
    from assay.runner.ray_engine import ObjectComponents, executor_for

    executor = executor_for(
        engine,
        factory=components or ObjectComponents(plan.target, tuple(plan.scorers)),
        concurrency=options.concurrency,
        requests_per_min=options.requests_per_min,
        tokens_per_min=options.tokens_per_min,
        seed=options.seed,
        store_url=store.url,
        address=ray_address,
        n_actors=ray_actors,
        expected_spec=plan.target.spec() if engine == "ray" else None,
    )
    engine_config = executor.describe() if executor is not None else {"engine": "local"}
    plan = dataclasses.replace(plan, config={**plan.config, **engine_config})
    runner = Runner(plan, store, options, progress=progress, executor=executor)
    if executor is None:
        if on_start is not None:
            on_start(runner)
        return await runner.run(run_id=run_id, resume=resume)
    check_requirements(plan.cases, plan.scorers)  # a bad plan fails before a cluster is started
    executor.stopping = lambda: runner.stopping
    try:
        await executor.start()
        if on_start is not None:
            on_start(runner)
        return await runner.run(run_id=run_id, resume=resume)
    finally:
        await executor.aclose()  # the runner closes it too; closing twice is harmless


def _coerce_cases(dataset: Any) -> tuple[list[Case], str]:
    """The cases and their dataset hash (the one a suite's dataset gets, computed once)."""
    from assay.dataset import Dataset, load_dataset

    if isinstance(dataset, Dataset):
        return list(dataset.cases), dataset.sha256
    if isinstance(dataset, str | Path):
        loaded = load_dataset(dataset)
        return list(loaded.cases), loaded.sha256
    if isinstance(dataset, Sequence):  # dicts or Case objects: validated and hashed as a suite's are
        loaded = load_dataset(list(dataset))
        return list(loaded.cases), loaded.sha256
    raise ConfigError("dataset must be a path, a list of cases or dicts, or a Dataset", field="dataset")


def _coerce_target(target: Any) -> Target:
    if isinstance(target, Mapping):
        options = dict(target)
        kind = options.pop("type", None)
        if not kind:
            raise ConfigError("a target mapping needs a 'type'", field="target.type")
        return create_target(str(kind), **options)
    if callable(target) and hasattr(target, "spec"):
        return target
    if callable(target):
        from assay.target.python import PythonTarget

        return PythonTarget.from_function(target)
    raise ConfigError("target must be a Target, a mapping with a 'type', or a function", field="target")


def _coerce_scorers(scorers: Sequence[Any]) -> list[Scorer]:
    out: list[Scorer] = []
    for s in scorers:
        if isinstance(s, str):
            out.append(create_scorer(s))
        elif isinstance(s, Mapping):
            options = dict(s)
            name = options.pop("scorer", None)
            if name is None and len(options) == 1:
                ((name, opts),) = options.items()
                options = dict(opts or {})
            if not name:
                raise ConfigError(f"cannot tell which scorer {s!r} names", field="scorers")
            out.append(create_scorer(str(name), **options))
        else:
            out.append(s)
    if not out:
        raise ConfigError("at least one scorer is needed", field="scorers")
    return out


async def aevaluate(
    dataset: Any,
    target: Any,
    scorers: Sequence[Any],
    *,
    name: str = "evaluate",
    thresholds: Mapping[str, Mapping[str, float | None]] | None = None,
    store: Store | str | None = None,
    concurrency: int = 16,
    repeats: int = 1,
    max_error_rate: float = 0.1,
    cache: bool = True,
    seed: int = 0,
    requests_per_min: float | None = None,
    tokens_per_min: float | None = None,
    run_id: str | None = None,
    progress: ProgressSink | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int | None = None,
) -> RunSummary:
    """Async form of :func:`evaluate`."""
    from assay.runner.ray_engine import EvaluateComponents, check_engine

    check_engine(engine)
    # git's state is read in a thread (two subprocesses) while the cases are loaded: submitted to the
    # executor now (a to_thread task would not start before this coroutine first awaits)
    environment = asyncio.get_running_loop().run_in_executor(None, environment_provenance)
    try:
        cases, dataset_sha256 = _coerce_cases(dataset)
        the_target = _coerce_target(target)
        the_scorers = _coerce_scorers(scorers)
        env = await environment
    except BaseException:
        await asyncio.gather(environment, return_exceptions=True)  # never left running on bad input
        raise
    own_store = not isinstance(store, Store)
    the_store = store if isinstance(store, Store) else open_store(store)
    plan = RunPlan(
        name=name,
        cases=cases,
        target=the_target,
        scorers=the_scorers,
        thresholds=dict(thresholds or {}),
        config={"name": name, "concurrency": concurrency, "max_error_rate": max_error_rate, "cache": cache},
        provenance={"dataset_sha256": dataset_sha256, "n_cases": len(cases), **env},
    )
    options = RunOptions(
        concurrency=concurrency,
        repeats=repeats,
        max_error_rate=max_error_rate,
        use_cache=cache,
        seed=seed,
        requests_per_min=requests_per_min,
        tokens_per_min=tokens_per_min,
    )
    try:
        return await run_plan(
            plan,
            the_store,
            options,
            run_id=run_id,
            progress=progress,
            engine=engine,
            ray_address=ray_address,
            ray_actors=ray_actors,
            components=EvaluateComponents(target, tuple(scorers)) if engine == "ray" else None,
        )
    finally:
        if own_store:
            the_store.close()


def evaluate(dataset: Any, target: Any, scorers: Sequence[Any], **kwargs: Any) -> RunSummary:
    """Run ``dataset`` through ``target``, score with ``scorers``, store, and return the summary.

    ``dataset``: a path (JSONL, CSV, YAML, Parquet), a list of dicts or ``Case``s, or a ``Dataset``.
    ``target``: a ``Target``, a mapping like the suite file's ``target:`` section, or a plain function
    (str in, str or ``Output`` out). ``scorers``: names, ``{name: {options}}`` mappings or ``Scorer``s.
    Keyword options are those of :func:`aevaluate` (store, concurrency, repeats, thresholds …).
    ``engine="ray"`` (with ``ray_address``, ``ray_actors``) runs the calls on Ray actors; the target and
    scorers are rebuilt there from names and mappings, or sent with cloudpickle (objects must pickle).
    Inside a running event loop (e.g. Jupyter) it runs on its own loop in a worker thread; async code
    can ``await aevaluate(...)`` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(aevaluate(dataset, target, scorers, **kwargs))
    # Called from inside a running event loop (a notebook, an async app): run on a fresh loop in a
    # worker thread rather than fail; the caller's loop is blocked until the run ends, as a sync call is.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-evaluate") as pool:
        return pool.submit(lambda: asyncio.run(aevaluate(dataset, target, scorers, **kwargs))).result()
