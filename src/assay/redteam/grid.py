"""The probe x strategy grid: which cases a red-team run sends to the target.

Every selected probe runs once unchanged (``baseline``); harmful and privacy probes also run once per
requested strategy (prompt-injection probes are attacks already, and benign look-alikes measure
over-refusal, so strategies do not apply to them). ``limit`` keeps at most N probes per set, spread over
the categories (a seeded, stratified sample), so a quick CI run still covers every category.

Example:
    >>> cases = build_grid(sets=["harmful"], strategies=["base64"], limit=20)
    >>> len(cases), sorted({c.metadata["strategy"] for c in cases})
    (40, ['base64', 'baseline'])
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence

from assay.redteam.probes import PROBE_SETS, load_probes, probe_categories
from assay.redteam.strategies import apply_strategies, parse_strategies
from assay.types import Case, ConfigError

__all__ = ["ATTACKABLE_SETS", "build_grid", "stratified_sample"]

ATTACKABLE_SETS: frozenset[str] = frozenset({"harmful", "privacy"})
"""Probe sets the strategies are applied to."""


def stratified_sample(cases: Sequence[Case], limit: int, *, seed: int = 0) -> list[Case]:
    """At most ``limit`` cases, taken round-robin over categories after a seeded shuffle (file order kept)."""
    if limit >= len(cases):
        return list(cases)
    by_cat: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        by_cat[str(c.metadata.get("category"))].append(c)
    rng = random.Random(seed)
    pools = [rng.sample(v, len(v)) for _, v in sorted(by_cat.items())]
    chosen: set[str] = set()
    while len(chosen) < limit:
        for pool in pools:
            if pool and len(chosen) < limit:
                chosen.add(pool.pop().id)
    return [c for c in cases if c.id in chosen]


def build_grid(
    *,
    sets: Iterable[str] | None = None,
    strategies: Iterable[str] | str | None = None,
    categories: Iterable[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    probes: Sequence[Case] | None = None,
) -> list[Case]:
    """Cases for a red-team run: probes of ``sets`` (default all) x (``baseline`` + ``strategies``).

    ``categories`` keeps harmful probes and benign look-alikes of those categories (injection and privacy
    probes are kept whole); ``probes`` replaces the bundled sets with your own cases (same metadata).
    Raises ``ConfigError`` for an unknown set, strategy or category, or an empty grid.
    """
    chosen_sets = list(PROBE_SETS if sets is None else sets)
    base = list(probes) if probes is not None else load_probes(chosen_sets)
    if probes is not None:
        base = [c for c in base if c.metadata.get("probe") in chosen_sets]
    if categories is not None:
        wanted = set(categories)
        known = (
            set(probe_categories(chosen_sets))
            if probes is None
            else {str(c.metadata.get("category")) for c in base}
        )
        unknown = sorted(wanted - known)
        if unknown:
            raise ConfigError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}",
                field="categories",
            )
        base = [
            c
            for c in base
            if c.metadata.get("probe") not in ("harmful", "benign") or c.metadata.get("category") in wanted
        ]
    if limit is not None:
        if limit < 1:
            raise ConfigError("limit must be at least 1", field="limit")
        by_set: dict[str, list[Case]] = defaultdict(list)
        for c in base:
            by_set[str(c.metadata.get("probe"))].append(c)
        keep = {c.id for cs in by_set.values() for c in stratified_sample(cs, limit, seed=seed)}
        base = [c for c in base if c.id in keep]
    names = [
        s
        for s in parse_strategies(list(strategies) if not isinstance(strategies, str | None) else strategies)
        if s != "baseline"
    ]
    grid: list[Case] = []
    for probe in base:
        grid.append(apply_strategies(probe, "baseline"))
        if probe.metadata.get("probe") in ATTACKABLE_SETS:
            grid.extend(apply_strategies(probe, s) for s in names)
    if not grid:
        raise ConfigError("the red-team grid is empty: check the probe sets and categories", field="probes")
    return grid
