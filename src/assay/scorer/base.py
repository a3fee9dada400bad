"""The Scorer protocol and the scorer registry.

A scorer measures one output of one case and returns one ``Score`` or several. It declares the fields it
``requires`` (``expected``, ``context``, ``contexts``, ``confidence``, ``latency_s``, ``ttft_s``, ``usage``,
``cost_usd``); the runner checks case-side requirements before any call. A scorer that cannot score a case
returns ``Score.failed(...)``: failures are counted, never turned into 0 or NaN.

Scorers are built by registered factories; the factory's keyword options are recorded in ``spec()`` so a
run's provenance says exactly how every number was made.

Example:
    >>> @register_scorer("shout")
    ... class Shout(BaseScorer):
    ...     kind = "binary"
    ...     async def score(self, case, output):
    ...         return self.make(output.text.isupper())
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from assay.types import Case, ConfigError, Output, Score, ScoreKind, ScorerError

__all__ = [
    "CASE_FIELDS",
    "BaseScorer",
    "Scorer",
    "create_scorer",
    "known_scorers",
    "register_scorer",
]

#: requirement names that are checked against the cases before a run starts
CASE_FIELDS = frozenset({"expected", "context"})


@runtime_checkable
class Scorer(Protocol):
    name: str
    requires: frozenset[str]

    async def score(self, case: Case, output: Output) -> Score | list[Score]: ...

    def spec(self) -> dict[str, Any]: ...


class BaseScorer:
    """Convenience base: stores options, builds Scores of the right kind, provides ``spec()``.

    Subclasses set ``kind``, ``higher_is_better``, ``requires`` and ``version`` as class attributes and
    implement ``async score``. ``score_batch`` defaults to scoring items one by one.
    """

    kind: ClassVar[ScoreKind] = "continuous"
    higher_is_better: ClassVar[bool] = True
    requires: frozenset[str] = frozenset()
    version: ClassVar[str] = "1"
    registered_name: ClassVar[str] = ""

    def __init__(self, *, name: str | None = None, **options: Any) -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ScorerError(f"a scorer's name must be a non-empty string, got {name!r}")
        self.name = name or self.registered_name or type(self).__name__.lower()
        self.options = options

    def make(self, value: float | bool | None, *, explanation: str = "", **metadata: Any) -> Score:
        return Score(
            name=self.name,
            value=value,
            kind=self.kind,
            higher_is_better=self.higher_is_better,
            explanation=explanation,
            metadata=metadata,
        )

    def fail(self, error: str) -> Score:
        return Score.failed(self.name, error, kind=self.kind, higher_is_better=self.higher_is_better)

    async def score(self, case: Case, output: Output) -> Score | list[Score]:
        raise NotImplementedError

    async def score_batch(self, items: Sequence[tuple[Case, Output]]) -> list[Score | list[Score]]:
        return [await self.score(c, o) for c, o in items]

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scorer": self.registered_name,
            "version": self.version,
            "options": self.options,
        }


_SCORERS: dict[str, Callable[..., Scorer]] = {}


def register_scorer(name: str) -> Callable[[Any], Any]:
    """Register a scorer factory (a class or a function taking keyword options) under ``name``."""

    def deco(factory: Any) -> Any:
        if name in _SCORERS and _SCORERS[name] is not factory:
            raise ValueError(f"scorer '{name}' is already registered")
        _SCORERS[name] = factory
        if isinstance(factory, type) and issubclass(factory, BaseScorer):
            factory.registered_name = name
        return factory

    return deco


def _load_builtins() -> None:
    """Register every built-in scorer and every plugin's."""
    from assay.plugins import load_plugins
    from assay.scorer.builtins import load_all

    load_all()
    load_plugins()


def _load_for(name: str) -> None:
    """Make ``name`` registered if anything defines it: its built-in module alone when it is built in."""
    if name in _SCORERS:
        return
    from assay.scorer.builtins import BUILTIN_SCORERS

    module = BUILTIN_SCORERS.get(name)
    if module is not None:
        importlib.import_module(module)
        if name in _SCORERS:
            return
    _load_builtins()


def known_scorers() -> list[str]:
    _load_builtins()
    return sorted(_SCORERS)


def create_scorer(name: str, /, *, base_dir: Any = None, **options: Any) -> Scorer:
    """Build a registered scorer. Unknown names raise ``ConfigError`` listing known ones and the closest.

    ``base_dir`` (the suite file's folder) is passed on to factories that accept it, so scorers with
    file options (a knowledge source, a schema file, a model directory) resolve them like the suite does.
    """
    import inspect

    _load_for(name)
    factory = _SCORERS.get(name)
    if factory is None:
        known = sorted(_SCORERS)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown scorer '{name}'. Known: {', '.join(known)}.{hint}", field="scorers")
    if base_dir is not None:
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "base_dir" in params:
            options["base_dir"] = base_dir
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"bad options for scorer '{name}': {exc}", field="scorers") from exc
    except ScorerError as exc:
        raise ConfigError(str(exc), field="scorers") from exc
