"""The scorer registry as users meet it: names, options, errors, provenance and the public API."""

from __future__ import annotations

import asyncio
import json

import pytest

import assay.scorer
from assay.scorer import BaseScorer, Regex, Scorer, base, create_scorer, known_scorers, register_scorer
from assay.types import Case, ConfigError, Output, ScorerError

BUILTINS = {
    "exact_match": "binary",
    "contains": "binary",
    "regex": "binary",
    "token_f1": "proportion",
    "numeric": "binary",
    "json_valid": "binary",
    "json_schema": "binary",
    "latency": "continuous",
    "ttft": "continuous",
    "tokens": "continuous",
    "cost": "continuous",
}

NEEDS_OPTIONS = {"json_schema": {"schema": {"type": "object"}}}


def test_every_builtin_is_registered() -> None:
    assert set(BUILTINS) <= set(known_scorers())


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_satisfy_the_protocol(name: str) -> None:
    scorer = create_scorer(name, **NEEDS_OPTIONS.get(name, {}))
    assert isinstance(scorer, Scorer)
    assert type(scorer).kind == BUILTINS[name]  # type: ignore[attr-defined]
    assert isinstance(scorer.requires, frozenset)
    spec = scorer.spec()
    assert spec["scorer"] == name and spec["version"]
    json.dumps(spec)  # provenance must be JSON-able


def test_requires_use_the_documented_names() -> None:
    allowed = {"expected", "context", "latency_s", "ttft_s", "usage", "cost_usd", "contexts", "confidence"}
    for name in BUILTINS:
        assert create_scorer(name, **NEEDS_OPTIONS.get(name, {})).requires <= allowed


def test_unknown_name_lists_known_and_closest() -> None:
    with pytest.raises(ConfigError) as info:
        create_scorer("exact_mach")
    message = str(info.value)
    assert "unknown scorer 'exact_mach'" in message
    assert "Did you mean 'exact_match'?" in message
    for name in BUILTINS:
        assert name in message
    assert info.value.field == "scorers"


def test_unknown_option_is_named() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        create_scorer("exact_match", bogus=1)
    with pytest.raises(ConfigError, match="patern"):
        create_scorer("regex", patern="x")


def test_bad_option_value_is_a_config_error_naming_the_option() -> None:
    # the scorer raises ScorerError; the registry reports it as a ConfigError on the `scorers` field
    with pytest.raises(ConfigError, match="scorer 'numeric': option 'abs_tol'") as info:
        create_scorer("numeric", abs_tol="small")
    assert info.value.field == "scorers" and isinstance(info.value.__cause__, ScorerError)


def test_options_are_recorded_in_spec() -> None:
    scorer = create_scorer("exact_match", remove_punctuation=True)
    assert scorer.spec() == {
        "name": "exact_match",
        "scorer": "exact_match",
        "version": "1",
        "options": {
            "case_sensitive": False,
            "strip": True,
            "collapse_whitespace": True,
            "remove_punctuation": True,
            "remove_articles": False,
            "unicode_normalize": "NFKC",
        },
    }
    regex = create_scorer("regex", pattern=r"\d+", flags=["ignorecase"])
    assert regex.spec()["options"] == {
        "pattern": r"\d+",
        "mode": "search",
        "flags": ["ignorecase"],
        "negate": False,
    }
    assert Regex(pattern="x", name="has_x").spec()["name"] == "has_x"


def test_two_instances_with_different_names() -> None:
    a = Regex(pattern="refund", name="mentions_refund")
    b = Regex(pattern="sorry", name="apologises")
    case, out = Case(id="1", input="q"), Output(text="Sorry, no refund")
    sa, sb = asyncio.run(a.score(case, out)), asyncio.run(b.score(case, out))
    assert (sa.name, sa.value) == ("mentions_refund", True)  # type: ignore[union-attr]
    assert (sb.name, sb.value) == ("apologises", False)  # case-sensitive pattern  # type: ignore[union-attr]
    assert a.spec()["name"] != b.spec()["name"]


def test_create_scorer_passes_the_name_option() -> None:
    scorer = create_scorer("regex", pattern="x", name="has_x")
    assert scorer.name == "has_x"


def test_third_party_scorer_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_SCORERS", dict(base._SCORERS))  # keep the global registry clean

    @register_scorer("test_shout")
    class Shout(BaseScorer):
        kind = "binary"

        async def score(self, case: Case, output: Output):  # type: ignore[no-untyped-def]
            return self.make(output.text.isupper())

    assert "test_shout" in known_scorers()
    s = asyncio.run(create_scorer("test_shout").score(Case(id="1", input="q"), Output(text="HEY")))
    assert s.value is True and s.name == "test_shout"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="already registered"):
        register_scorer("exact_match")(Shout)


def test_public_api_is_curated() -> None:
    assert sorted(assay.scorer.__all__) == sorted(
        [
            "BaseScorer",
            "Scorer",
            "create_scorer",
            "known_scorers",
            "register_scorer",
            "ExactMatch",
            "Contains",
            "Regex",
            "TokenF1",
            "Numeric",
            "JsonValid",
            "JsonSchema",
            "Latency",
            "TTFT",
            "Tokens",
            "Cost",
        ]
    )
    for name in assay.scorer.__all__:
        assert getattr(assay.scorer, name) is not None


def test_builtin_table_names_each_scorer_where_it_is_registered() -> None:
    from assay.scorer.builtins import BUILTIN_SCORERS

    known_scorers()  # loads every built-in module
    registered = {n: f.__module__ for n, f in base._SCORERS.items() if f.__module__.startswith("assay.")}
    assert registered == BUILTIN_SCORERS


def test_a_builtin_scorer_imports_only_its_own_module() -> None:
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from assay.scorer import create_scorer\n"
        "create_scorer('exact_match')\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('assay.scorer.')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert "assay.scorer.reference" in loaded
    assert not loaded & {
        "assay.scorer.safety",
        "assay.scorer.judge",
        "assay.scorer.factuality",
        "assay.scorer.rag",
    }
    # a name that is not built in still finds plugins and lists every built-in in its error
    code = (
        "from assay.scorer import create_scorer\n"
        "try:\n    create_scorer('exact_mach')\nexcept Exception as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Did you mean 'exact_match'?" in out and "toxicity" in out and "rubric" in out
