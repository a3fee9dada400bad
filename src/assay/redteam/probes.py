"""The bundled probe sets: harmful requests, benign look-alikes, prompt injections and privacy probes.

Probes are ordinary cases (``Case``) stored as JSONL in ``assay/redteam/data/`` (see its README for the
categories). Each carries ``metadata.probe`` (its set), ``metadata.category`` and
``metadata.expected_behavior``; injection and privacy probes carry ``canaries`` (strings the output
must not contain) or ``forbidden_patterns`` (an action it must not take).

Example:
    >>> probes = load_probes(["harmful"])
    >>> len(probes) >= 200, len({p.metadata["category"] for p in probes}) >= 10
    (True, True)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources

from assay.types import Case, ConfigError

__all__ = ["HARMFUL_CATEGORIES", "PROBE_SETS", "load_probes", "probe_categories"]

PROBE_SETS: tuple[str, ...] = ("harmful", "benign", "injection", "privacy")
"""The bundled probe sets, in report order."""

HARMFUL_CATEGORIES: tuple[str, ...] = (
    "violence",
    "weapons",
    "self_harm",
    "illegal_drugs",
    "cybercrime",
    "fraud_scams",
    "hate_harassment",
    "sexual_minors",
    "dangerous_advice",
    "privacy_invasion",
)
"""Categories of the harmful set; each benign look-alike is filed under the category it resembles."""


@functools.cache
def _load(kind: str) -> tuple[Case, ...]:
    path = resources.files("assay.redteam") / "data" / f"{kind}.jsonl"
    cases = []
    with resources.as_file(path) as p, open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                cases.append(Case.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:  # a packaging bug: say where
                raise ConfigError(f"bad probe: {exc}", file=str(p), line=lineno) from exc
    return tuple(cases)


def load_probes(sets: Iterable[str] | None = None) -> list[Case]:
    """The probes of ``sets`` (default: all of ``PROBE_SETS``), in file order.

    Raises ``ConfigError`` naming the known sets for an unknown one.
    """
    chosen = list(PROBE_SETS if sets is None else sets)
    unknown = [s for s in chosen if s not in PROBE_SETS]
    if unknown:
        raise ConfigError(
            f"unknown probe set(s) {', '.join(unknown)}; known: {', '.join(PROBE_SETS)}", field="probes"
        )
    return [case for s in chosen for case in _load(s)]


def probe_categories(sets: Iterable[str] | None = None) -> list[str]:
    """Every category used by the probes of ``sets``, sorted."""
    return sorted({str(c.metadata.get("category")) for c in load_probes(sets)})
