"""Suite files: every option, every dataset and scorer form, and errors naming file, line and field.

Targets and scorers used here are registered by this module (``t_echo``, ``t_exact`` …) so the tests do not
depend on which built-ins exist; they keep passing when the built-ins land.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import assay.suite
from assay.dataset import load_dataset
from assay.scorer import base as scorer_base
from assay.scorer.base import BaseScorer, register_scorer
from assay.suite import ScorerConfig, Suite, SuiteConfig, load_suite, suite_from_dict
from assay.target import base as target_base
from assay.target.base import register_target
from assay.types import Case, ConfigError, DatasetError, Output, ScorerError


# ----------------------------------------------------------------------------------- test components
class EchoTarget:
    """Echoes the input; validates its options like a real factory (ConfigError with a dotted field)."""

    def __init__(self, *, base_dir: Path, prefix: str = "", timeout_s: float = 30.0, **unknown: Any) -> None:
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"unknown option '{key}' for target t_echo", field=f"target.{key}")
        if timeout_s <= 0:
            raise ConfigError("timeout_s must be > 0", field="target.timeout_s")
        self.base_dir = base_dir
        self.prefix = prefix
        self.timeout_s = timeout_s

    async def __call__(self, case: Case) -> Output:
        return Output(text=self.prefix + case.input_text)

    def spec(self) -> dict[str, Any]:
        return {"type": "t_echo", "prefix": self.prefix}


def strict_target(*, base_dir: Path, model: str) -> EchoTarget:
    """A plain function factory: an unexpected option is a TypeError."""
    return EchoTarget(base_dir=base_dir, prefix=model)


class ExactScorer(BaseScorer):
    kind = "binary"

    async def score(self, case: Case, output: Output) -> Any:
        return self.make(output.text == case.expected)


class RegexScorer(BaseScorer):
    kind = "binary"

    def __init__(self, *, pattern: str, name: str | None = None) -> None:
        super().__init__(name=name, pattern=pattern)
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise ScorerError(f"invalid pattern {pattern!r}: {exc}") from exc

    async def score(self, case: Case, output: Output) -> Any:
        return self.make(bool(self.pattern.search(output.text)))


class BoundedScorer(BaseScorer):
    """Validates an option the way a real factory does: ConfigError naming the option."""

    def __init__(self, *, limit: int = 1, name: str | None = None) -> None:
        if limit < 1:
            raise ConfigError("limit must be >= 1", field="scorers.limit")
        super().__init__(name=name, limit=limit)

    async def score(self, case: Case, output: Output) -> Any:
        return self.make(len(output.text) <= self.options["limit"])


_TEST_TARGETS: dict[str, Any] = {"t_echo": EchoTarget, "t_strict": strict_target}
_TEST_SCORERS: dict[str, Any] = {"t_exact": ExactScorer, "t_regex": RegexScorer, "t_bounded": BoundedScorer}


@pytest.fixture(autouse=True)
def _test_components() -> Iterator[None]:
    """Register this module's targets and scorers for each test only, so other tests see the real registry."""
    for name, factory in _TEST_TARGETS.items():
        register_target(name)(factory)
    for name, factory in _TEST_SCORERS.items():
        register_scorer(name)(factory)
    yield
    for name in _TEST_TARGETS:
        target_base._TARGETS.pop(name, None)
    for name in _TEST_SCORERS:
        scorer_base._SCORERS.pop(name, None)


@pytest.fixture(autouse=True)
def _tolerate_missing_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Built-in targets/scorers are written in parallel; until they exist, registries hold only ours."""
    for module in (target_base, scorer_base):
        try:
            module._load_builtins()
        except ImportError:
            monkeypatch.setattr(module, "_load_builtins", lambda: None)


# ----------------------------------------------------------------------------------- helpers
def write_suite(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def cases_file(folder: Path, name: str = "cases.jsonl") -> Path:
    p = folder / name
    p.write_text(
        '{"id": "a", "input": "2+2?", "expected": "4"}\n{"id": "b", "input": "3+3?", "expected": "6"}\n'
    )
    return p


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return info.value


MINIMAL = """
name: s
dataset: cases.jsonl
target: {type: t_echo}
scorers: [t_exact]
"""


# ----------------------------------------------------------------------------------- happy paths
def test_public_api_is_curated() -> None:
    assert set(assay.suite.__all__) == {
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
    }


def test_suite_with_every_option(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    qa = tmp_path / "data" / "qa.csv"
    qa.write_text("qid,question,answer,topic\nq1,2+2?,4,math\nq2,Capital of France?,Paris,geo\n")
    path = write_suite(
        tmp_path,
        r"""
        version: 1
        name: support-bot
        description: answers from the help centre
        dataset:
          path: data/qa.csv
          name: qa
          input_field: question
          expected_field: answer
          id_field: qid
        target:
          type: t_echo
          prefix: "A: "
          timeout_s: 5
        scorers:
          - t_exact
          - t_regex: {pattern: "^\\d+$"}
          - {scorer: t_regex, name: has_digits, pattern: "\\d"}
          - t_regex: {name: has_paris, pattern: Paris}
          - {scorer: t_regex, name: explicit, options: {pattern: "x"}}
        thresholds:
          t_exact: {min: 0.8}
          has_digits: {min: 0.1, max: 0.9}
          latency_p95: {max: 2.5}
        concurrency: 4
        repeats: 3
        max_error_rate: 0.25
        rate_limit: {requests_per_min: 600, tokens_per_min: 200000}
        seed: 42
        tags: [nightly, regression]
        cache: false
        """,
    )
    suite = load_suite(path)
    assert isinstance(suite, Suite)
    assert suite.path == path
    assert suite.name == "support-bot"
    assert suite.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = suite.config
    assert (cfg.concurrency, cfg.repeats, cfg.max_error_rate, cfg.seed, cfg.cache) == (4, 3, 0.25, 42, False)
    assert cfg.tags == ["nightly", "regression"]
    assert cfg.description == "answers from the help centre"
    assert cfg.rate_limit is not None
    assert (cfg.rate_limit.requests_per_min, cfg.rate_limit.tokens_per_min) == (600, 200000)
    assert cfg.thresholds["has_digits"].min == 0.1 and cfg.thresholds["has_digits"].max == 0.9
    assert cfg.thresholds["latency_p95"].max == 2.5 and cfg.thresholds["latency_p95"].min is None

    assert suite.dataset.name == "qa"
    assert [(c.id, c.input, c.expected, c.metadata) for c in suite.dataset] == [
        ("q1", "2+2?", "4", {"topic": "math"}),
        ("q2", "Capital of France?", "Paris", {"topic": "geo"}),
    ]
    assert (
        suite.dataset.sha256
        == load_dataset(qa, input_field="question", expected_field="answer", id_field="qid").sha256
    )

    target = suite.target
    assert isinstance(target, EchoTarget)
    assert (target.base_dir, target.prefix, target.timeout_s) == (tmp_path, "A: ", 5)
    assert cfg.target.options == {"prefix": "A: ", "timeout_s": 5}

    names = [s.name for s in suite.scorers]
    assert names == ["t_exact", "t_regex", "has_digits", "has_paris", "explicit"]
    regexes = [s for s in suite.scorers if isinstance(s, RegexScorer)]
    assert [r.pattern.pattern for r in regexes] == [r"^\d+$", r"\d", "Paris", "x"]
    assert cfg.scorers[2] == ScorerConfig(scorer="t_regex", name="has_digits", options={"pattern": r"\d"})


def test_defaults(tmp_path: Path) -> None:
    cases_file(tmp_path)
    cfg = load_suite(write_suite(tmp_path, MINIMAL)).config
    assert cfg.version == 1
    assert (cfg.concurrency, cfg.repeats, cfg.max_error_rate, cfg.seed, cfg.cache) == (16, 1, 0.1, 0, True)
    assert (cfg.description, cfg.tags, cfg.thresholds, cfg.rate_limit) == ("", [], {}, None)


def test_field_docstrings_become_descriptions() -> None:
    assert SuiteConfig.model_fields["concurrency"].description == "Most target calls in flight at once."
    schema = SuiteConfig.model_json_schema()
    assert "max_error_rate" in schema["properties"]


def test_relative_dataset_resolves_against_the_suite_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    cases_file(folder)
    write_suite(folder, MINIMAL)
    monkeypatch.chdir(tmp_path)  # cases.jsonl is not in the working directory, only next to the suite
    suite = load_suite(Path("suites") / "suite.yaml")
    assert suite.dataset.source == str(Path("suites") / "cases.jsonl")
    assert [c.id for c in suite.dataset] == ["a", "b"]
    assert isinstance(suite.target, EchoTarget)
    assert suite.target.base_dir == Path("suites")


def test_inline_dataset(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        """
        name: inline-suite
        dataset:
          - {id: a, input: "2+2?", expected: "4"}
          - input: 3+3?
            expected: "6"
            metadata: {level: easy}
        target: {type: t_echo}
        scorers: [t_exact]
        """,
    )
    ds = load_suite(path).dataset
    assert ds.source == "inline"
    assert ds.name == "inline-suite"
    assert [c.input for c in ds] == ["2+2?", "3+3?"]
    assert ds.cases[1].metadata == {"level": "easy"}


def test_suite_from_dict(tmp_path: Path) -> None:
    cases_file(tmp_path)
    data = {"name": "py", "dataset": "cases.jsonl", "target": {"type": "t_echo"}, "scorers": ["t_exact"]}
    suite = suite_from_dict(data, base_dir=tmp_path)
    assert suite.path is None
    assert len(suite.dataset) == 2
    assert suite.sha256 == suite_from_dict(dict(data), base_dir=tmp_path).sha256
    assert suite.sha256 != suite_from_dict({**data, "seed": 1}, base_dir=tmp_path).sha256
    with pytest.raises(ConfigError) as info:
        suite_from_dict({**data, "concurency": 2}, base_dir=tmp_path, file="<python>")
    err = info.value
    assert (err.file, err.line, err.field) == ("<python>", None, "concurency")
    assert "Did you mean 'concurrency'?" in str(err)


# ----------------------------------------------------------------------------------- errors
def test_unknown_top_level_key_suggests_closest(tmp_path: Path) -> None:
    cases_file(tmp_path)
    path = write_suite(tmp_path, "name: s\ndataset: cases.jsonl\ntaget: {type: t_echo}\nscorers: [t_exact]\n")
    err = config_error(path)
    assert (err.line, err.field) == (3, "taget")
    assert str(err).startswith(
        f"{path}:3 field 'taget': unknown key 'taget'. Did you mean 'target'? Valid keys: "
    )
    assert "missing required key 'target'" in str(err)  # the consequence is listed too


@pytest.mark.parametrize(
    ("snippet", "line", "field", "message"),
    [
        (
            "dataset:\n  path: cases.jsonl\n  inptu_field: q\n",
            3,
            "dataset.inptu_field",
            "unknown key 'inptu_field'. Did you mean 'input_field'?",
        ),
        (
            "dataset: cases.jsonl\nrate_limit:\n  request_per_min: 5\n",
            3,
            "rate_limit.request_per_min",
            "unknown key 'request_per_min'. Did you mean 'requests_per_min'?",
        ),
        (
            "dataset: cases.jsonl\nthresholds:\n  t_exact:\n    minimum: 0.8\n",
            4,
            "thresholds.t_exact.minimum",
            "unknown key 'minimum'. Did you mean 'min'?",
        ),
    ],
)
def test_unknown_nested_key_suggests_closest(
    tmp_path: Path, snippet: str, line: int, field: str, message: str
) -> None:
    cases_file(tmp_path)
    path = write_suite(tmp_path, snippet + "name: s\ntarget: {type: t_echo}\nscorers: [t_exact]\n")
    err = config_error(path)
    assert str(err).startswith(f"{path}:{line} field '{field}': {message}")


@pytest.mark.parametrize(
    ("extra", "line", "field", "message"),
    [
        (
            "thresholds:\n  t_exact: {min: high}\n",
            6,
            "thresholds.t_exact.min",
            "Input should be a valid number",
        ),
        (
            "thresholds:\n  t_exact: {}\n",
            6,
            "thresholds.t_exact",
            "a threshold needs 'min' or 'max' (e.g. {min: 0.8})",
        ),
        (
            "thresholds:\n  t_exact: {min: 0.9, max: 0.1}\n",
            6,
            "thresholds.t_exact",
            "min (0.9) is greater than max (0.1)",
        ),
        ("thresholds:\n  t_exact: 0.8\n", 6, "thresholds.t_exact", "Input should be a valid dictionary"),
        (
            "thresholds:\n  t_exact: {min: .nan}\n",
            6,
            "thresholds.t_exact",
            "threshold bounds must be finite numbers",
        ),
        (
            "thresholds:\n  t_exakt: {min: 0.5}\n",
            6,
            "thresholds.t_exakt",
            "threshold for unknown metric 't_exakt'. Did you mean 't_exact'?",
        ),
        ("concurrency: 0\n", 5, "concurrency", "Input should be greater than or equal to 1"),
        ("repeats: '3'\n", 5, "repeats", "Input should be a valid integer"),
        ("max_error_rate: 1.5\n", 5, "max_error_rate", "Input should be less than or equal to 1"),
        ("cache: yes please\n", 5, "cache", "Input should be a valid boolean"),
        ("rate_limit: {}\n", 5, "rate_limit", "rate_limit needs requests_per_min and/or tokens_per_min"),
        (
            "rate_limit: {requests_per_min: -1}\n",
            5,
            "rate_limit.requests_per_min",
            "Input should be greater than 0",
        ),
        ("tags: nightly\n", 5, "tags", "Input should be a valid list"),
        ("version: 2\n", 5, "version", "Input should be 1"),
        ("seed: 1.5\n", 5, "seed", "Input should be a valid integer"),
    ],
)
def test_bad_values_name_line_and_field(
    tmp_path: Path, extra: str, line: int, field: str, message: str
) -> None:
    cases_file(tmp_path)
    path = write_suite(
        tmp_path, "name: s\ndataset: cases.jsonl\ntarget: {type: t_echo}\nscorers: [t_exact]\n" + extra
    )
    err = config_error(path)
    assert str(err).startswith(f"{path}:{line} field '{field}': {message}"), str(err)
    assert (err.file, err.line, err.field) == (str(path), line, field)


def test_missing_required_keys(tmp_path: Path) -> None:
    cases_file(tmp_path)
    err = config_error(
        write_suite(tmp_path, "dataset: cases.jsonl\ntarget: {type: t_echo}\nscorers: [t_exact]\n")
    )
    assert (err.line, err.field) == (1, "name")
    assert "missing required key 'name'" in str(err)
    err = config_error(
        write_suite(tmp_path, "name: s\ndataset: cases.jsonl\ntarget:\n  model: x\nscorers: [t_exact]\n")
    )
    assert (err.line, err.field) == (3, "target.type")
    err = config_error(
        write_suite(tmp_path, "name: s\ndataset: cases.jsonl\ntarget: {type: t_echo}\nscorers: []\n")
    )
    assert (err.line, err.field) == (4, "scorers")
    assert "List should have at least 1 item" in str(err)


def test_bad_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "name: s\ndataset: cases.jsonl\ntarget: {type: t_echo\nscorers: [t_exact]\n")
    err = config_error(path)
    assert str(err).startswith(f"{path}:4: invalid YAML:"), str(err)
    path = write_suite(tmp_path, "name: s\n  bad: indent\n", "indent.yaml")
    err = config_error(path)
    assert err.line == 2 and "invalid YAML" in str(err)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    cases_file(tmp_path)
    path = write_suite(tmp_path, MINIMAL + "concurrency: 2\nconcurrency: 3\n")
    err = config_error(path)
    assert str(err) == (
        f"{path}:6: duplicate key 'concurrency' (first on line 5); YAML would silently keep only the last one"
    )


def test_bad_target_type_points_at_type_line(tmp_path: Path) -> None:
    cases_file(tmp_path)
    path = write_suite(
        tmp_path, "name: s\ndataset: cases.jsonl\ntarget:\n  model: m\n  type: t_ecko\nscorers: [t_exact]\n"
    )
    err = config_error(path)
    assert (err.line, err.field) == (5, "target.type")
    assert str(err).startswith(f"{path}:5 field 'target.type': unknown target type 't_ecko'. Known: ")
    assert "t_echo" in err.message and "Did you mean 't_echo'?" in err.message


def test_target_factory_errors_point_at_their_option(tmp_path: Path) -> None:
    cases_file(tmp_path)
    path = write_suite(
        tmp_path,
        "name: s\ndataset: cases.jsonl\ntarget:\n  type: t_echo\n  timeout_s: 0\nscorers: [t_exact]\n",
    )
    assert str(config_error(path)) == f"{path}:5 field 'target.timeout_s': timeout_s must be > 0"
    path = write_suite(
        tmp_path,
        "name: s\ndataset: cases.jsonl\ntarget:\n  type: t_echo\n  colour: red\nscorers: [t_exact]\n",
    )
    assert (
        str(config_error(path))
        == f"{path}:5 field 'target.colour': unknown option 'colour' for target t_echo"
    )
    path = write_suite(
        tmp_path,
        "name: s\ndataset: cases.jsonl\ntarget:\n  type: t_strict\n  model: m\n  modle: n\nscorers: [t_exact]\n",
    )
    err = config_error(path)
    assert (err.line, err.field) == (6, "target.modle")
    assert "bad options for target type 't_strict'" in str(err)
    path = write_suite(
        tmp_path,
        "name: s\ndataset: cases.jsonl\ntarget:\n  type: t_echo\n  base_dir: /x\nscorers: [t_exact]\n",
    )
    assert (config_error(path).line, config_error(path).field) == (5, "target.base_dir")


def test_scorer_errors_point_at_the_item(tmp_path: Path) -> None:
    cases_file(tmp_path)
    head = "name: s\ndataset: cases.jsonl\ntarget: {type: t_echo}\nscorers:\n  - t_exact\n"
    err = config_error(write_suite(tmp_path, head + "  - t_exactt\n"))
    assert (err.line, err.field) == (6, "scorers[1]")
    assert "unknown scorer 't_exactt'" in err.message and "Did you mean 't_exact'?" in err.message
    err = config_error(write_suite(tmp_path, head + "  - t_regex: {pattern: '('}\n"))
    assert (err.line, err.field) == (6, "scorers[1]")
    assert "invalid pattern '('" in err.message
    err = config_error(write_suite(tmp_path, head + "  - t_regex:\n      patern: x\n"))
    assert (err.line, err.field) == (7, "scorers[1].patern")  # the unexpected keyword's own line
    assert "bad options for scorer 't_regex'" in err.message
    err = config_error(write_suite(tmp_path, head + "  - [t_regex]\n"))
    assert (err.line, err.field) == (6, "scorers[1]")
    assert "a scorer is a registered name" in err.message
    err = config_error(write_suite(tmp_path, head + "  - {t_regex: {pattern: a}, t_exact: null}\n"))
    assert (err.line, err.field) == (6, "scorers[1]")


@pytest.mark.parametrize(
    "item",
    [
        "  - t_bounded:\n      name: short\n      limit: 0\n",
        "  - scorer: t_bounded\n    name: short\n    limit: 0\n",
    ],
)
def test_scorer_factory_config_error_points_at_the_option(tmp_path: Path, item: str) -> None:
    cases_file(tmp_path)
    path = write_suite(
        tmp_path, "name: s\ndataset: cases.jsonl\ntarget: {type: t_echo}\nscorers:\n  - t_exact\n" + item
    )
    err = config_error(path)
    assert str(err) == f"{path}:8 field 'scorers[1].limit': limit must be >= 1"


def test_duplicate_scorer_names(tmp_path: Path) -> None:
    cases_file(tmp_path)
    path = write_suite(
        tmp_path,
        "name: s\ndataset: cases.jsonl\ntarget: {type: t_echo}\nscorers:\n  - t_regex: {pattern: a}\n"
        "  - t_exact\n  - t_regex: {pattern: b}\n",
    )
    err = config_error(path)
    assert str(err) == (
        f"{path}:7 field 'scorers[2]': two scorers report under the name 't_regex' (first on line 5); "
        "give one a different 'name'"
    )


def test_inline_dataset_errors_point_at_the_yaml_line(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        """
        name: s
        target: {type: t_echo}
        scorers: [t_exact]
        dataset:
          - input: fine
          - id: x
            input:
              - {role: user, content: hi}
              - {role: user}
        """,
    )
    with pytest.raises(DatasetError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}:9 field 'dataset[1].input[1].content': message has no 'content'"
    dup = write_suite(
        tmp_path,
        "name: s\ntarget: {type: t_echo}\nscorers: [t_exact]\ndataset:\n  - {id: a, input: x}\n  - {id: a, input: y}\n",
        "dup.yaml",
    )
    with pytest.raises(DatasetError) as info:
        load_suite(dup)
    assert (info.value.line, info.value.field) == (6, "dataset[1].id")
    assert "duplicate case id 'a' (items 0 and 1)" in str(info.value)
    empty = write_suite(
        tmp_path, "name: s\ntarget: {type: t_echo}\nscorers: [t_exact]\ndataset: []\n", "empty.yaml"
    )
    with pytest.raises(DatasetError) as info:
        load_suite(empty)
    assert str(info.value) == f"{empty}:4 field 'dataset': no cases in the inline dataset"


def test_dataset_file_errors_name_the_dataset_file(tmp_path: Path) -> None:
    (tmp_path / "cases.jsonl").write_text('{"input": "a"}\n{"input": "b",}\n')
    with pytest.raises(DatasetError) as info:
        load_suite(write_suite(tmp_path, MINIMAL))
    assert str(info.value).startswith(f"{tmp_path / 'cases.jsonl'}:2: invalid JSON")


def test_dataset_file_not_found_names_the_suite_line(tmp_path: Path) -> None:
    cases_file(tmp_path, "cases.json")
    path = write_suite(tmp_path, MINIMAL)
    err = config_error(path)
    assert str(err) == (
        f"{path}:2 field 'dataset': dataset file not found: {tmp_path / 'cases.jsonl'}. "
        f"Similar files in {tmp_path}: cases.json"
    )
    path = write_suite(
        tmp_path, "name: s\ndataset:\n  path: missing.csv\ntarget: {type: t_echo}\nscorers: [t_exact]\n"
    )
    assert (config_error(path).line, config_error(path).field) == (3, "dataset.path")


def test_dataset_mapping_conflict(tmp_path: Path) -> None:
    cases_file(tmp_path)
    path = write_suite(
        tmp_path,
        "name: s\ndataset:\n  path: cases.jsonl\n  input_field: metadata\ntarget: {type: t_echo}\nscorers: [t_exact]\n",
    )
    err = config_error(path)
    assert (err.line, err.field) == (4, "dataset.input_field")
    assert isinstance(err, DatasetError)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"", None, "the suite file is empty"),
        (b"- name: s\n", 1, "a suite file is a mapping"),
        (
            b"name: s\ndescription: caf\xe9\n",
            2,
            "not valid UTF-8: byte 0xe9 at byte offset 24 (byte 17 of the line)",
        ),
        (
            b"dataset: 3\nname: s\ntarget: {type: t_echo}\nscorers: [t_exact]\n",
            1,
            "dataset must be a file path",
        ),
    ],
)
def test_malformed_suite_files(tmp_path: Path, content: bytes, line: int | None, message: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_bytes(content)
    err = config_error(path)
    assert err.line == line
    assert message in str(err)
    assert str(err).startswith(str(path))


def test_suite_file_not_found(tmp_path: Path) -> None:
    (tmp_path / "suite.yml").write_text(MINIMAL)
    err = config_error(tmp_path / "suite.yaml")
    assert str(err) == (
        f"{tmp_path / 'suite.yaml'}: suite file not found: {tmp_path / 'suite.yaml'}. "
        f"Similar files in {tmp_path}: suite.yml"
    )


def test_renaming_works_with_the_builtin_scorers_when_present(tmp_path: Path) -> None:
    if not {"exact_match", "regex"} <= set(scorer_base.known_scorers()):
        pytest.skip("built-in scorers not available yet")
    cases_file(tmp_path)
    path = write_suite(
        tmp_path,
        r"""
        name: s
        dataset: cases.jsonl
        target: {type: t_echo}
        scorers:
          - exact_match
          - {scorer: regex, name: has_digits, pattern: '\d'}
          - regex: {name: is_number, pattern: '^\d+$'}
        """,
    )
    suite = load_suite(path)
    assert [s.name for s in suite.scorers] == ["exact_match", "has_digits", "is_number"]
    assert [s.spec()["name"] for s in suite.scorers] == ["exact_match", "has_digits", "is_number"]


def test_module_docstring_example_is_a_valid_suite() -> None:
    doc = assay.suite.__doc__ or ""
    block = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\nExample", 1)[0])
    cfg = SuiteConfig.model_validate(yaml.safe_load(block))
    assert cfg.name == "support-bot"
    assert [(s.scorer, s.name, s.options) for s in cfg.scorers] == [
        ("exact_match", None, {}),
        ("regex", None, {"pattern": r"^\d+$"}),
        ("regex", "has_digits", {"pattern": r"\d"}),
        ("regex", "has_x", {"pattern": "x"}),
    ]
