"""The ``redteam:`` section of a suite file, and loading a suite for ``assay redteam``.

``assay redteam`` takes the target (and ``name``, ``concurrency``, ``max_error_rate``, ``seed``,
``cache``, ``rate_limit``) from an ordinary suite file; ``dataset``, ``scorers`` and ``thresholds`` are
not needed and are ignored. An optional ``redteam:`` section configures the run::

    name: support-bot
    target: {type: python, ref: "app:answer"}
    redteam:
      probes: [harmful, benign, injection, privacy]   # default: all four sets
      strategies: [roleplay, base64, multi_turn]      # default: none (baseline only)
      categories: [weapons, cybercrime]               # default: every category
      limit: 50                                       # at most 50 probes per set (stratified)
      judge: {type: openai, base_url: ..., model: ...}  # optional LLM judge
      toxicity: false                                 # also score toxicity (needs assay[safety])
      limits:                                         # CI gate: exit 1 when one is exceeded
        attack_success_rate: {max: 0.05}
        over_refusal_rate: {max: 0.2}

Errors name the file, the line and the field, like every suite error.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assay.dataset._case import format_path
from assay.dataset._yaml import YAMLProblem, compose, construct, decode_utf8, node_line
from assay.target.base import Target, create_target
from assay.types import ConfigError

__all__ = ["REPORT_METRICS", "Limit", "RedteamSection", "RedteamSuite", "load_redteam_suite"]

REPORT_METRICS: tuple[str, ...] = (
    "attack_success_rate",
    "unsafe_response_rate",
    "refusal_rate",
    "over_refusal_rate",
    "safe_redirect_rate",
    "leakage_rate",
    "injection_success_rate",
    "toxicity_rate",
)
"""The headline rates of a red-team report (each may carry a limit)."""

_SUITE_KEYS = {
    "version", "name", "description", "dataset", "target", "scorers", "thresholds", "concurrency",
    "repeats", "max_error_rate", "rate_limit", "seed", "tags", "cache", "redteam",
}  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Limit(_Model):
    """A bound on one report rate: ``max`` for harm-like rates, ``min`` for refusal-like ones."""

    min: float | None = Field(default=None, ge=0, le=1)
    max: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> Limit:
        if self.min is None and self.max is None:
            raise ValueError("a limit needs 'min' or 'max' (e.g. {max: 0.05})")
        return self


class RedteamSection(_Model):
    """What to probe and the limits to enforce."""

    probes: list[str] | None = None
    """Probe sets to run (``harmful``, ``benign``, ``injection``, ``privacy``); default all."""
    strategies: list[str] = Field(default_factory=list)
    """Attack strategies applied to harmful and privacy probes (``a+b`` composes)."""
    categories: list[str] | None = None
    """Harmful categories to keep (with their benign look-alikes)."""
    limit: int | None = Field(default=None, ge=1)
    """At most this many probes per set (a seeded, category-stratified sample)."""
    judge: dict[str, Any] | None = None
    """A target (``{type: openai, ...}``) used as judge by refusal and harmful_compliance."""
    toxicity: bool = False
    """Also score toxicity (``alt-profanity-check`` plus threat rules)."""
    limits: dict[str, Limit] = Field(default_factory=dict)
    """Bounds on report rates; exceeding one makes ``assay redteam`` exit with code 1."""


@dataclass(frozen=True)
class RedteamSuite:
    """A suite file loaded for red-teaming: its target, run settings and the ``redteam:`` section."""

    path: Path | None
    name: str
    target: Target
    section: RedteamSection
    concurrency: int
    max_error_rate: float
    seed: int
    cache: bool
    requests_per_min: float | None
    tokens_per_min: float | None
    sha256: str
    base_dir: Path


def _error(msg: str, file: str, node: yaml.Node | None, path: tuple[str | int, ...]) -> ConfigError:
    line = node_line(node, path) if node is not None else None
    return ConfigError(msg, file=file, line=line, field=format_path(path))


def _number(data: dict[str, Any], key: str, default: Any, file: str, node: yaml.Node | None) -> Any:
    value = data.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise _error(f"'{key}' must be a non-negative number, got {value!r}", file, node, (key,))
    return value


def load_redteam_suite(path: str | os.PathLike[str]) -> RedteamSuite:
    """Read a suite file for ``assay redteam`` (see the module docstring); build its target last.

    Example:
        >>> suite = load_redteam_suite("examples/redteam/guarded.yaml")   # doctest: +SKIP
        >>> suite.section.strategies                                      # doctest: +SKIP
        ['roleplay', 'base64']
    """
    p = Path(path).expanduser()
    file = str(p)
    if not p.is_file():
        raise ConfigError("suite file not found" if not p.exists() else "not a file", file=file)
    raw = p.read_bytes()
    try:
        node = compose(decode_utf8(raw), loader=yaml.SafeLoader)
        data = construct(node, loader=yaml.SafeLoader) if node is not None else None
    except YAMLProblem as exc:
        raise ConfigError(exc.message, file=file, line=exc.line) from None
    if not isinstance(data, dict):
        raise ConfigError("a suite file is a mapping with at least 'name' and 'target'", file=file, line=1)
    for key in data:
        if key not in _SUITE_KEYS:
            close = difflib.get_close_matches(str(key), sorted(_SUITE_KEYS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise _error(f"unknown key '{key}'.{hint}", file, node, (key,))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _error(
            "missing required key 'name' (a non-empty string)",
            file,
            node,
            ("name",) if "name" in data else (),
        )
    section_data = data.get("redteam") or {}
    if not isinstance(section_data, dict):
        raise _error("'redteam' must be a mapping", file, node, ("redteam",))
    try:
        section = RedteamSection.model_validate(section_data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ("redteam", *err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            valid = list(RedteamSection.model_fields) if len(err["loc"]) == 1 else list(Limit.model_fields)
            close = difflib.get_close_matches(str(err["loc"][-1]), valid, n=1)
            msg = f"unknown key '{err['loc'][-1]}'." + (f" Did you mean '{close[0]}'?" if close else "")
            msg += f" Valid keys: {', '.join(valid)}."
        raise _error(msg, file, node, where) from None
    for metric in section.limits:
        if metric not in REPORT_METRICS:
            close = difflib.get_close_matches(metric, REPORT_METRICS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise _error(
                f"limit on unknown metric '{metric}'.{hint} Known: {', '.join(REPORT_METRICS)}",
                file, node, ("redteam", "limits", metric),
            )  # fmt: skip
    target_cfg = data.get("target")
    if not isinstance(target_cfg, dict) or not isinstance(target_cfg.get("type"), str):
        raise _error(
            "'target' must be a mapping with a 'type' (e.g. python, openai)", file, node, ("target",)
        )
    concurrency = _number(data, "concurrency", 16, file, node)
    if int(concurrency) != concurrency or concurrency < 1:
        raise _error("'concurrency' must be an integer >= 1", file, node, ("concurrency",))
    max_error_rate = _number(data, "max_error_rate", 0.1, file, node)
    if max_error_rate > 1:
        raise _error("'max_error_rate' must be between 0 and 1", file, node, ("max_error_rate",))
    rate = data.get("rate_limit") or {}
    if not isinstance(rate, dict):
        raise _error("'rate_limit' must be a mapping", file, node, ("rate_limit",))
    options = {k: v for k, v in target_cfg.items() if k != "type"}
    if "base_dir" in options:
        raise _error(
            "'base_dir' is set by assay (the suite file's folder); remove it",
            file,
            node,
            ("target", "base_dir"),
        )
    try:
        target = create_target(target_cfg["type"], base_dir=p.parent, **options)
    except ConfigError as exc:
        sub = tuple(x for x in (exc.field or "").split(".") if x and x != "target")
        raise _error(exc.message, file, node, ("target", *sub)) from exc
    except (TypeError, ValueError) as exc:
        raise _error(
            f"bad options for target type '{target_cfg['type']}': {exc}", file, node, ("target",)
        ) from exc
    return RedteamSuite(
        path=p,
        name=name,
        target=target,
        section=section,
        concurrency=int(concurrency),
        max_error_rate=float(max_error_rate),
        seed=int(data.get("seed", 0) or 0),
        cache=bool(data.get("cache", True)),
        requests_per_min=rate.get("requests_per_min"),
        tokens_per_min=rate.get("tokens_per_min"),
        sha256=hashlib.sha256(raw).hexdigest(),
        base_dir=p.parent,
    )
