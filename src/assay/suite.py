r"""The suite file: what to evaluate (dataset), against what (target), how (scorers) and the bar (thresholds).

A suite is YAML validated by pydantic. Every mistake is a ``ConfigError`` (or ``DatasetError``) naming the
file, the line and the field, with the closest valid key suggested for typos::

    name: support-bot                  # required
    description: answers from the help centre
    dataset: cases.jsonl               # a path (relative to this file), an inline list of cases, or
                                       # {path: qa.csv, input_field: question, expected_field: answer}
    target:
      type: openai                     # the registered target type; other keys go to its factory
      model: my-model
      timeout_s: 30
    scorers:
      - exact_match                    # a registered scorer name
      - regex: {pattern: '^\d+$'}     # {scorer: {options}}; a 'name' option renames it
      - {scorer: regex, name: has_digits, pattern: '\d'}   # or flat, with a 'scorer' key
      - {scorer: regex, name: has_x, options: {pattern: x}}  # or with explicit options
    thresholds: {exact_match: {min: 0.8}, latency: {max: 2.0}}
    concurrency: 16
    repeats: 1
    max_error_rate: 0.1
    rate_limit: {requests_per_min: 600, tokens_per_min: 200000}
    seed: 0
    tags: [nightly]
    cache: true

Example:
    >>> suite = load_suite("suites/support.yaml")          # doctest: +SKIP
    >>> suite.config.concurrency, len(suite.dataset), [s.name for s in suite.scorers]  # doctest: +SKIP
    (16, 150, ['exact_match', 'regex', 'has_digits', 'has_x'])
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from assay.dataset import Dataset, load_dataset
from assay.dataset._case import format_path
from assay.dataset._yaml import YAMLProblem, compose, construct, decode_utf8, node_line
from assay.dataset.loader import missing_file_message, resolve_path
from assay.scorer.base import Scorer, create_scorer
from assay.target.base import Target, create_target
from assay.types import ConfigError, DatasetError, ScorerError

__all__ = [
    "SUITE_VERSION",
    "DatasetRef",
    "RateLimit",
    "ScorerConfig",
    "Suite",
    "SuiteConfig",
    "TargetConfig",
    "Threshold",
    "load_suite",
    "suite_from_dict",
]

#: the suite file format version this module reads and writes
SUITE_VERSION = 1

_SCORER_FORMS = (
    "a scorer is a registered name ('- exact_match'), a single-key mapping of a name to its options "
    "('- regex: {pattern: x}') or a mapping with a 'scorer' key "
    "('- {scorer: regex, name: has_x, pattern: x}')"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


class DatasetRef(_Model):
    """A dataset file with its field mapping (the long form of ``dataset: path``)."""

    path: str = Field(min_length=1)
    """Dataset file (JSONL, JSON, CSV, TSV, YAML or Parquet), relative to the suite file's folder."""
    name: str | None = None
    """Display name of the dataset (default: the file name without extension)."""
    input_field: str = Field(default="input", min_length=1)
    """Key (or column) holding each case's input."""
    expected_field: str = Field(default="expected", min_length=1)
    """Key (or column) holding each case's expected answer."""
    id_field: str = Field(default="id", min_length=1)
    """Key (or column) holding each case's id."""


class TargetConfig(BaseModel):
    """The system under evaluation: a registered ``type`` plus options passed to its factory."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True, use_attribute_docstrings=True)

    type: str = Field(min_length=1)
    """Registered target type (``openai``, ``python``, ``replay`` or a plugin's)."""

    @property
    def options(self) -> dict[str, Any]:
        """Every key but ``type``, passed as keyword arguments to the target factory."""
        return dict(self.model_extra or {})


class ScorerConfig(_Model):
    """One scorer: a registered scorer, an optional display name, and its options."""

    scorer: str = Field(min_length=1)
    """Registered scorer name (``exact_match``, ``regex`` …)."""
    name: str | None = Field(default=None, min_length=1)
    """Name the scores are reported under (default: the scorer's own); needed to use one scorer twice."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Keyword options for the scorer factory."""

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"scorer": data}
        if isinstance(data, dict):
            if "scorer" in data:
                if set(data) <= {"scorer", "name", "options"} and isinstance(data.get("options", {}), dict):
                    return data
                rest = dict(data)
                return {"scorer": rest.pop("scorer"), "name": rest.pop("name", None), "options": rest}
            if len(data) == 1:
                ((scorer, opts),) = data.items()
                if opts is None:
                    opts = {}
                if isinstance(opts, dict):
                    opts = dict(opts)
                    return {"scorer": scorer, "name": opts.pop("name", None), "options": opts}
        raise ValueError(_SCORER_FORMS)


class Threshold(_Model):
    """The bar a metric must clear: its mean at least ``min`` and/or at most ``max``."""

    min: float | None = None
    """Lowest acceptable mean (for metrics where higher is better)."""
    max: float | None = None
    """Highest acceptable mean (for latency, cost, error-like metrics)."""

    @model_validator(mode="after")
    def _check(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs 'min' or 'max' (e.g. {min: 0.8})")
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"threshold bounds must be finite numbers, got {bound}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class RateLimit(_Model):
    """Client-side rate limits applied by the runner across all concurrent calls."""

    requests_per_min: float | None = Field(default=None, gt=0)
    """Most requests started per minute."""
    tokens_per_min: float | None = Field(default=None, gt=0)
    """Most tokens (input + output, as reported by the target) per minute."""

    @model_validator(mode="after")
    def _check(self) -> RateLimit:
        if self.requests_per_min is None and self.tokens_per_min is None:
            raise ValueError("rate_limit needs requests_per_min and/or tokens_per_min")
        return self


def _dataset_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "path"
    if isinstance(value, list):
        return "inline"
    if isinstance(value, dict | DatasetRef):
        return "ref"
    return None


DatasetSpec = Annotated[
    Annotated[str, Tag("path"), Field(min_length=1)]
    | Annotated[list[Any], Tag("inline")]
    | Annotated[DatasetRef, Tag("ref")],
    Discriminator(
        _dataset_kind,
        custom_error_type="dataset_type",
        custom_error_message="dataset must be a file path, an inline list of cases, or a mapping with 'path'",
    ),
]


class SuiteConfig(_Model):
    """The suite file, validated. Serialised form: YAML (see the module docstring)."""

    version: Literal[1] = 1
    """Suite file format version."""
    name: str = Field(min_length=1)
    """Suite name: runs are listed and compared under it."""
    description: str = ""
    """Free text shown with the run."""
    dataset: DatasetSpec
    """A file path, an inline list of cases, or a mapping ``{path, name, input_field, expected_field, id_field}``."""
    target: TargetConfig
    """The system under evaluation."""
    scorers: list[ScorerConfig] = Field(min_length=1)
    """Scorers applied to every output."""
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    """Pass/fail bar per metric; a failed threshold makes ``assay run`` exit with code 1."""
    concurrency: int = Field(default=16, ge=1)
    """Most target calls in flight at once."""
    repeats: int = Field(default=1, ge=1)
    """Samples per case (for variance); repeats beyond the first bypass the response cache."""
    max_error_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    """Largest tolerated fraction of failed cases; above it the run ends with exit code 3."""
    rate_limit: RateLimit | None = None
    """Optional client-side rate limits."""
    seed: int = 0
    """Seed for everything random in the run (bootstrap intervals, sampling)."""
    tags: list[str] = Field(default_factory=list)
    """Labels stored with the run."""
    cache: bool = True
    """Reuse cached target responses; ``false`` (or ``--no-cache``) always calls the target."""
    redteam: dict[str, Any] | None = None
    """Settings read by ``assay redteam`` (probe sets, strategies, limits); ``assay run`` ignores them."""


@dataclass(frozen=True)
class Suite:
    """A loaded suite: the validated config plus the built dataset, target and scorers.

    ``sha256`` is the digest of the suite file's bytes (of its canonical JSON for ``suite_from_dict``);
    the dataset's own digest is ``dataset.sha256``.
    """

    path: Path | None
    config: SuiteConfig
    dataset: Dataset
    target: Target
    scorers: list[Scorer]
    sha256: str

    @property
    def name(self) -> str:
        return self.config.name


# --------------------------------------------------------------------------------------------- loading
def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read, validate and build a suite file.

    Relative dataset paths resolve against the suite file's folder, which is also passed to the target
    factory as ``base_dir``. Raises ``ConfigError``/``DatasetError`` naming the file, line and field.

    Example:
        >>> suite = load_suite("suite.yaml")  # doctest: +SKIP
        >>> suite.name, len(suite.dataset)  # doctest: +SKIP
        ('support-bot', 150)
    """
    p = Path(path).expanduser()
    display = str(p)
    if not p.is_file():
        msg = missing_file_message(p) if not p.exists() else "not a file"
        raise ConfigError(msg.replace("file not found", "suite file not found"), file=display)
    raw = p.read_bytes()
    try:
        node = compose(decode_utf8(raw), loader=yaml.SafeLoader)
        data = construct(node, loader=yaml.SafeLoader) if node is not None else None
    except YAMLProblem as exc:
        raise ConfigError(exc.message, file=display, line=exc.line) from None
    if data is None:
        raise ConfigError(
            "the suite file is empty; it needs at least name, dataset, target and scorers", file=display
        )
    return _build(
        data, base_dir=p.parent, file=display, path=p, node=node, sha256=hashlib.sha256(raw).hexdigest()
    )


def suite_from_dict(
    data: dict[str, Any], *, base_dir: str | os.PathLike[str], file: str | None = None
) -> Suite:
    """Build a suite from already-parsed data (Python use and tests). Errors name ``file`` when given.

    Example:
        >>> suite = suite_from_dict({"name": "s", "dataset": [{"input": "hi"}],  # doctest: +SKIP
        ...                          "target": {"type": "python", "ref": "app:answer"},
        ...                          "scorers": ["latency"]}, base_dir=".")
    """
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return _build(
        data,
        base_dir=Path(base_dir),
        file=file,
        path=None,
        node=None,
        sha256=hashlib.sha256(blob).hexdigest(),
    )


class _Locator:
    """Maps a path inside the suite data to a file line (when the YAML nodes are known)."""

    def __init__(self, file: str | None, node: yaml.Node | None) -> None:
        self.file = file
        self.node = node

    def line(self, path: tuple[str | int, ...]) -> int | None:
        return node_line(self.node, path) if self.node is not None else None

    def error(
        self,
        message: str,
        path: tuple[str | int, ...],
        *,
        cls: type[ConfigError] = ConfigError,
        field: tuple[str | int, ...] | None = None,
    ) -> ConfigError:
        """An error at ``path`` (its line); ``field`` overrides the reported field when it differs."""
        return cls(
            message, file=self.file, line=self.line(path), field=format_path(path if field is None else field)
        )


def _build(
    data: Any, *, base_dir: Path, file: str | None, path: Path | None, node: yaml.Node | None, sha256: str
) -> Suite:
    loc = _Locator(file, node)
    if not isinstance(data, dict):
        raise loc.error(
            "a suite file is a mapping with the keys name, dataset, target and scorers (see assay docs)", ()
        )
    try:
        config = SuiteConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, data, loc) from None

    # Cheap configuration checks first; the target last, because building it may open resources
    # (HTTP clients) that a later error would leave behind.
    scorers = _build_scorers(config, base_dir, loc)
    _check_thresholds(config, scorers, loc)
    dataset = _build_dataset(config, base_dir, loc)
    target = _build_target(config.target, base_dir, loc)
    return Suite(path=path, config=config, dataset=dataset, target=target, scorers=scorers, sha256=sha256)


def _build_target(cfg: TargetConfig, base_dir: Path, loc: _Locator) -> Target:
    options = cfg.options
    if "base_dir" in options:
        raise loc.error(
            "'base_dir' is set by assay (the suite file's folder); remove it", ("target", "base_dir")
        )
    try:
        return create_target(cfg.type, base_dir=base_dir, **options)
    except ConfigError as exc:
        raise loc.error(exc.message, _target_path(exc.field)) from exc
    except (TypeError, ValueError) as exc:
        m = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        where: tuple[str | int, ...] = ("target", m.group(1)) if m else ("target",)
        raise loc.error(f"bad options for target type '{cfg.type}': {exc}", where) from exc


def _target_path(field: str | None) -> tuple[str | int, ...]:
    parts = _split_field(field)
    return parts if parts[:1] == ("target",) else ("target", *parts)


def _split_field(field: str | None) -> tuple[str | int, ...]:
    """``"target.params[0].x"`` -> ``("target", "params", 0, "x")``."""
    out: list[str | int] = []
    for tok in re.findall(r"[^.\[\]]+|\[\d+\]", field or ""):
        out.append(int(tok[1:-1]) if tok.startswith("[") else tok)
    return tuple(out)


def _new_scorer(kind: str, name: str | None, options: dict[str, Any], base_dir: Path) -> Scorer:
    if "base_dir" in options:
        raise ConfigError(
            "'base_dir' is set by assay (the suite file's folder); remove it", field="scorers.base_dir"
        )
    named = {"name": name} if name is not None else {}
    return create_scorer(kind, base_dir=base_dir, **named, **options)


def _build_scorers(config: SuiteConfig, base_dir: Path, loc: _Locator) -> list[Scorer]:
    scorers: list[Scorer] = []
    first_at: dict[str, int] = {}
    for i, sc in enumerate(config.scorers):
        try:
            scorer = _new_scorer(sc.scorer, sc.name, sc.options, base_dir)
        except (ConfigError, ScorerError, TypeError, ValueError) as exc:
            raise _scorer_error(exc, i, sc, loc) from exc
        name = str(getattr(scorer, "name", "") or sc.name or sc.scorer)
        if name in first_at:
            first = loc.line(("scorers", first_at[name]))
            where = f" (first on line {first})" if first else f" (first at scorers[{first_at[name]}])"
            raise loc.error(
                f"two scorers report under the name '{name}'{where}; give one a different 'name'",
                ("scorers", i),
            )
        first_at[name] = i
        scorers.append(scorer)
    return scorers


def _scorer_error(exc: Exception, i: int, sc: ScorerConfig, loc: _Locator) -> ConfigError:
    """Re-raise a factory's error at the scorer's line, or at the line of the option it names."""
    if isinstance(exc, ConfigError):
        message = exc.message
        parts = _split_field(exc.field)  # "scorers", "scorers.pattern" or "pattern"
        option: tuple[str | int, ...] = parts[1:] if parts[:1] == ("scorers",) else parts
    else:
        text = str(exc)
        message = (
            text if isinstance(exc, ScorerError) else f"scorer '{sc.scorer}' rejected its options: {text}"
        )
        option = ()
    if not option:  # "option 'pattern' is not ...", "unexpected keyword argument 'tolerence'"
        named = re.search(r"option '(\w+)'|argument '(\w+)'", message)
        found = next((g for g in named.groups() if g), "") if named else ""
        option = (found,) if found in sc.options else ()
    yaml_path: tuple[str | int, ...] = ("scorers", i, sc.scorer, "options", *option)
    return loc.error(message, yaml_path, field=("scorers", i, *option))


def _check_thresholds(config: SuiteConfig, scorers: list[Scorer], loc: _Locator) -> None:
    # A threshold may name a sub-score a scorer emits, so an unknown name alone is allowed; a near-miss of
    # a scorer's name is almost surely a typo that would leave the threshold silently unchecked.
    names = [s.name for s in scorers]
    for metric in config.thresholds:
        if metric in names:
            continue
        close = difflib.get_close_matches(metric, names, n=1, cutoff=0.75)
        if close:
            raise loc.error(
                f"threshold for unknown metric '{metric}'. Did you mean '{close[0]}'? Scorers: {', '.join(names)}",
                ("thresholds", metric),
            )


def _build_dataset(config: SuiteConfig, base_dir: Path, loc: _Locator) -> Dataset:
    spec = config.dataset
    if isinstance(spec, list):
        try:
            return load_dataset(spec, name=config.name)
        except DatasetError as exc:
            item_path: tuple[str | int, ...] = getattr(exc, "item_path", ())
            raise loc.error(exc.message, ("dataset", *item_path), cls=DatasetError) from None
    ref = DatasetRef(path=spec) if isinstance(spec, str) else spec
    key: tuple[str | int, ...] = ("dataset",) if isinstance(spec, str) else ("dataset", "path")
    file = resolve_path(ref.path, base_dir)
    if not file.exists():
        raise loc.error(missing_file_message(file).replace("file not found", "dataset file not found"), key)
    try:
        return load_dataset(
            file,
            name=ref.name,
            input_field=ref.input_field,
            expected_field=ref.expected_field,
            id_field=ref.id_field,
        )
    except DatasetError as exc:
        if exc.file == str(file) or isinstance(spec, str):
            raise  # names the dataset file and its line
        raise loc.error(exc.message, ("dataset", exc.field or "path"), cls=DatasetError) from None


# --------------------------------------------------------------------------------------------- errors
_MODELS_BY_PARENT: dict[str, type[BaseModel]] = {
    "": SuiteConfig,
    "dataset": DatasetRef,
    "rate_limit": RateLimit,
    "thresholds.*": Threshold,
    "target": TargetConfig,
}


def _data_path(data: Any, loc: tuple[str | int, ...], *, keep_last: bool) -> tuple[str | int, ...]:
    """Keep the elements of a pydantic ``loc`` that index into the data (dropping union tags)."""
    out: list[str | int] = []
    cur = data
    for i, el in enumerate(loc):
        in_dict = isinstance(cur, dict) and el in cur
        in_list = isinstance(cur, list) and isinstance(el, int) and 0 <= el < len(cur)
        if in_dict or in_list:
            cur = cur[el]
            out.append(el)
        elif keep_last and i == len(loc) - 1:
            out.append(el)
    return tuple(out)


def _valid_keys(parent: tuple[str | int, ...]) -> list[str]:
    key = ".".join(str(p) for p in parent)
    if len(parent) == 2 and parent[0] == "thresholds":
        key = "thresholds.*"
    model = _MODELS_BY_PARENT.get(key)
    return list(model.model_fields) if model else []


def _describe(err: Any, path: tuple[str | int, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _valid_keys(path[:-1])
        close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        listing = f" Valid keys: {', '.join(valid)}." if valid else ""
        return f"unknown key '{path[-1]}'.{hint}{listing}"
    if kind == "missing":
        return f"missing required key '{path[-1]}'" if path else "missing required key"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if kind not in {"value_error", "dataset_type"} and "input" in err:
        shown = repr(err["input"])
        msg = f"{msg} (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
    return msg


def _validation_error(exc: ValidationError, data: Any, loc: _Locator) -> ConfigError:
    problems: list[tuple[int, int, str, tuple[str | int, ...]]] = []
    for err in exc.errors(include_url=False):
        keep_last = err["type"] in {"extra_forbidden", "missing"}
        path = _data_path(data, tuple(err["loc"]), keep_last=keep_last)
        line = loc.line(path) or 0
        order = 0 if err["type"] == "extra_forbidden" else 1  # a typo also causes a 'missing'; say the typo
        problems.append((order, line, _describe(err, path), path))
    problems.sort(key=lambda p: (p[0], p[1]))
    _, line, message, path = problems[0]
    for _, ln, msg, p in problems[1:5]:
        message += f"\n  also{f' line {ln}' if ln else ''} field '{format_path(p) or '(top level)'}': {msg}"
    if len(problems) > 5:
        message += f"\n  … and {len(problems) - 5} more"
    return ConfigError(message, file=loc.file, line=line or None, field=format_path(path))
