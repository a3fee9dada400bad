"""Reference-based scorers: exact_match, contains, regex, token_f1, numeric, json_valid, json_schema."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.scorer import Contains, ExactMatch, JsonSchema, JsonValid, Numeric, Regex, TokenF1, create_scorer
from assay.scorer.text import extract_numbers, squad_f1, squad_normalize
from assay.types import ConfigError, ScorerError

from ._helpers import run


# ------------------------------------------------------------------------------------------------
# The official SQuAD v1.1 evaluation functions (evaluate-v1.1.py), typed in as the reference.
def normalize_answer(s):  # type: ignore[no-untyped-def]
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):  # type: ignore[no-untyped-def]
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):  # type: ignore[no-untyped-def]
        return " ".join(text.split())

    def remove_punc(text):  # type: ignore[no-untyped-def]
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):  # type: ignore[no-untyped-def]
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):  # type: ignore[no-untyped-def]
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):  # type: ignore[no-untyped-def]
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):  # type: ignore[no-untyped-def]
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# ================================================================================= exact_match
class TestExactMatch:
    @pytest.mark.parametrize(
        ("options", "text", "expected", "want"),
        [
            ({}, "4", "4", True),
            ({}, "  4 \n", "4", True),
            ({}, "Paris", "paris", True),
            ({}, "New   York", "new york", True),
            ({}, "Paris.", "Paris", False),
            ({"remove_punctuation": True}, "Paris.", "Paris", True),
            ({"remove_punctuation": True}, "U.S.A.", "USA", True),
            ({"remove_punctuation": True}, "$5", "5", False),  # symbols are not punctuation
            ({"case_sensitive": True}, "Paris", "paris", False),
            ({"case_sensitive": True}, "Paris", "Paris", True),
            ({"strip": False}, " 4", "4", False),
            ({"collapse_whitespace": False}, "New  York", "New York", False),
            ({"remove_articles": True}, "The Beatles", "Beatles", True),
            ({"remove_articles": True}, "theatre", "atre", False),  # whole words only
            ({}, "The Beatles", "Beatles", False),
            ({}, "４２", "42", True),  # full-width digits fold under NFKC
            ({"unicode_normalize": None}, "４２", "42", False),
            ({}, "STRASSE", "straße", True),  # casefold, not lower
            ({"unicode_normalize": "NFC"}, "e\u0301", "é", True),
            ({}, "", "", True),
            ({}, "4", "", False),
        ],
    )
    def test_normalisation_options(
        self, options: dict[str, Any], text: str, expected: str, want: bool
    ) -> None:
        assert run(ExactMatch(**options), text, expected).value is want

    def test_explanation_names_both_sides(self) -> None:
        s = run(ExactMatch(), "5", "4")
        assert s.value is False and s.error is None
        assert s.explanation == "expected '4', got '5'"
        assert s.kind == "binary" and s.higher_is_better and s.name == "exact_match"

    def test_list_of_acceptable_answers(self) -> None:
        scorer = ExactMatch()
        assert run(scorer, "new york", ["NYC", "New York"]).value is True
        miss = run(scorer, "Boston", ["NYC", "New York"])
        assert miss.value is False and "one of ['NYC', 'New York']" in miss.explanation

    @pytest.mark.parametrize(("expected", "text"), [(4, "4"), (True, "true"), (2.5, " 2.5 "), (4.0, "4")])
    def test_scalar_expected_compares_json_text(self, expected: Any, text: str) -> None:
        assert run(ExactMatch(), text, expected).value is True

    def test_structured_expected_compares_json_values(self) -> None:
        scorer = ExactMatch()
        assert run(scorer, '{"b": 2, "a": 1.0}', {"a": 1, "b": 2}).value is True
        assert run(scorer, '```json\n{"a": 1}\n```', {"a": 1}).value is True
        assert run(scorer, "[1, 2, 3]", [1, 2, 3]).value is True
        assert run(scorer, '{"a": "X"}', {"a": "x"}).value is False  # string values compare exactly
        assert run(scorer, "[1, 2]", [1, 2, 3]).value is False
        not_json = run(scorer, "a=1", {"a": 1})
        assert not_json.value is False and not_json.error is None
        assert "not JSON" in not_json.explanation

    @pytest.mark.parametrize(
        ("expected", "message"),
        [
            (None, "no expected answer"),
            ([], "empty list"),
            (float("nan"), "not a finite number"),
            ({1, 2}, "must be a string or a list of strings"),
        ],
    )
    def test_unscorable_expected_fails(self, expected: Any, message: str) -> None:
        s = run(ExactMatch(), "4", expected)
        assert s.value is None and s.error is not None and message in s.error

    def test_bad_options(self) -> None:
        with pytest.raises(ScorerError, match="option 'unicode_normalize'"):
            ExactMatch(unicode_normalize="NFX")
        with pytest.raises(ScorerError, match="option 'case_sensitive' must be true or false"):
            ExactMatch(case_sensitive="yes")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="bogus"):
            create_scorer("exact_match", bogus=1)

    def test_create_with_options_and_spec(self) -> None:
        scorer = create_scorer("exact_match", remove_punctuation=True)
        assert run(scorer, "Paris!", "paris").value is True
        assert scorer.spec()["options"]["remove_punctuation"] is True


# ================================================================================= contains
class TestContains:
    def test_any_and_all(self) -> None:
        assert run(Contains(), "The capital is Paris.", "paris").value is True
        assert run(Contains(), "The capital is Lyon.", "paris").value is False
        assert run(Contains(), "We ship to Paris", ["London", "Paris"]).value is True
        all_mode = Contains(mode="all")
        assert run(all_mode, "refund within 30 days", ["refund", "30 days"]).value is True
        miss = run(all_mode, "refund soon", ["refund", "30 days"])
        assert miss.value is False and miss.metadata["missing"] == ["30 days"]
        assert "missing '30 days'" in miss.explanation

    def test_normalisation(self) -> None:
        assert run(Contains(), "NEW\n  YORK city", "new york").value is True
        assert run(Contains(case_sensitive=True), "NEW YORK", "new york").value is False
        assert run(Contains(collapse_whitespace=False), "new  york", "new york").value is False

    def test_fixed_values_do_not_require_expected(self) -> None:
        scorer = Contains(values=["sorry", "apolog"], name="apology")
        assert scorer.requires == frozenset()
        assert Contains().requires == frozenset({"expected"})
        s = run(scorer, "We apologise for the delay", None)
        assert s.value is True and s.name == "apology"
        assert run(Contains(value="refund"), "Refund issued", None).value is True

    def test_unscorable_and_bad_options(self) -> None:
        assert run(Contains(), "anything", "").error is not None  # "" is in every output
        assert run(Contains(), "anything", None).error == "case has no expected answer"
        assert run(Contains(), "abc", {"a": 1}).error is not None
        with pytest.raises(ScorerError, match="'value' or 'values'"):
            Contains(value="a", values=["b"])
        with pytest.raises(ScorerError, match="option 'values'"):
            Contains(values="abc")  # type: ignore[arg-type]
        with pytest.raises(ScorerError, match="option 'value'"):
            Contains(value="")
        with pytest.raises(ScorerError, match="option 'mode'"):
            Contains(mode="most")


# ================================================================================= regex
class TestRegex:
    def test_pattern_option_and_modes(self) -> None:
        assert run(Regex(pattern=r"order #\d+"), "your order #123 shipped").value is True
        assert run(Regex(pattern=r"order #\d+", mode="match"), "your order #123").value is False
        assert run(Regex(pattern=r"\d+", mode="fullmatch"), "123").value is True
        assert run(Regex(pattern=r"\d+", mode="fullmatch"), "123 ").value is False
        s = run(Regex(pattern=r"#\d+"), "order #42")
        assert s.explanation == "matched '#42' at 6"

    def test_flags(self) -> None:
        assert run(Regex(pattern="yes"), "YES").value is False
        assert run(Regex(pattern="yes", flags=["ignorecase"]), "YES").value is True
        assert run(Regex(pattern="^b", flags="multiline"), "a\nb").value is True
        assert run(Regex(pattern="a.b", flags=["s"]), "a\nb").value is True
        with pytest.raises(ScorerError, match="option 'flags'"):
            Regex(pattern="x", flags=["global"])

    def test_expected_as_pattern(self) -> None:
        scorer = Regex(mode="fullmatch")
        assert scorer.requires == frozenset({"expected"})
        assert run(scorer, "2024-01-05", r"\d{4}-\d{2}-\d{2}").value is True
        assert run(scorer, "yes", ["no", "y(es)?"]).value is True
        bad = run(scorer, "x", "(unclosed")
        assert bad.value is None and "not a valid regular expression" in (bad.error or "")

    def test_negate(self) -> None:
        scorer = Regex(pattern=r"as an ai", flags=["ignorecase"], negate=True, name="no_disclaimer")
        assert run(scorer, "Here is the answer").value is True
        assert run(scorer, "As an AI, I cannot").value is False

    def test_bad_pattern_is_a_construction_error(self) -> None:
        with pytest.raises(ScorerError, match="not a valid regular expression"):
            Regex(pattern="(unclosed")
        with pytest.raises(ScorerError, match="option 'mode'"):
            Regex(pattern="x", mode="find")


# ================================================================================= token_f1
SQUAD_CASES: list[tuple[str, list[str]]] = [
    ("Denver Broncos", ["Denver Broncos", "Denver Broncos", "Denver Broncos"]),
    ("the Denver Broncos", ["Denver Broncos"]),
    ("Carolina Panthers", ["Denver Broncos"]),
    (
        "Santa Clara, California",
        ["Santa Clara, California", "Levi's Stadium", "Levi's Stadium in the San Francisco Bay Area"],
    ),
    ("Levi's Stadium", ["Levi's Stadium in the San Francisco Bay Area at Santa Clara, California."]),
    ("Super Bowl L", ["Super Bowl L", "L", "Super Bowl L"]),
    ("gold", ["golden anniversary", "gold-themed", "gold"]),
    ("February 7, 2016", ["February 7, 2016", "February 7", "February 7, 2016"]),
    ("7 February 2016", ["February 7, 2016"]),
    ("an apple a day", ["The apple"]),
    ("", ["something"]),
    ("cat cat cat", ["cat"]),
    ("cat", ["cat cat dog"]),
    ("Ünïcödé  façade—café", ["unicode facade cafe", "ünïcödé façade café"]),
    ("naïve   résumé\t(2nd ed.)", ["naive resume", "naïve résumé 2nd ed"]),
    ("1,234.5 km", ["1234.5 km", "1,234.5"]),
    ("THE END.", ["end"]),
    ("an", ["an answer"]),
    ("Theory of the Leisure Class", ["theory leisure class"]),
    ("x\u00a0y", ["x y"]),
]


class TestTokenF1:
    @pytest.mark.parametrize(("prediction", "answers"), SQUAD_CASES)
    def test_matches_official_squad_v11(self, prediction: str, answers: list[str]) -> None:
        s = run(TokenF1(), prediction, answers)
        want = metric_max_over_ground_truths(f1_score, prediction, answers)
        assert s.value == pytest.approx(want, abs=1e-12)
        assert s.metadata["exact_match"] == metric_max_over_ground_truths(
            exact_match_score, prediction, answers
        )
        assert s.kind == "proportion" and s.higher_is_better

    def test_known_values(self) -> None:
        assert run(TokenF1(), "the cat sat", "a cat sat down").value == pytest.approx(0.8)
        assert run(TokenF1(), "Paris, France", ["Paris", "in Paris"]).value == pytest.approx(2 / 3)
        assert run(TokenF1(), "London", "Paris").value == 0.0
        s = run(TokenF1(), "The Eiffel Tower", "eiffel tower")
        assert s.value == 1.0 and s.explanation == "F1 1.000 against 'eiffel tower'"

    def test_empty_expected_fails_instead_of_zero(self) -> None:
        s = run(TokenF1(), "anything", ["the", "?!"])
        assert s.value is None and "empty after SQuAD normalisation" in (s.error or "")
        # answers that normalise to nothing are skipped when others remain (the official max is unchanged)
        assert run(TokenF1(), "paris", ["the", "Paris"]).value == 1.0

    @settings(max_examples=300, deadline=None)
    @given(
        st.text(alphabet=st.sampled_from(list("abc AtheTHE.,!'-\u00e9\u00a0\t\n")), max_size=30),
        st.text(alphabet=st.sampled_from(list("abc AtheTHE.,!'-\u00e9\u00a0\t\n")), max_size=30),
    )
    def test_squad_functions_equal_reference_on_generated_strings(self, a: str, b: str) -> None:
        assert squad_normalize(a) == normalize_answer(a)
        assert squad_f1(a, b) == pytest.approx(f1_score(a, b), abs=1e-12)

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=40), st.text(max_size=40))
    def test_squad_functions_equal_reference_on_any_unicode(self, a: str, b: str) -> None:
        assert squad_normalize(a) == normalize_answer(a)
        assert squad_f1(a, b) == pytest.approx(f1_score(a, b), abs=1e-12)


# ================================================================================= numeric
class TestNumeric:
    @pytest.mark.parametrize(
        ("text", "values"),
        [
            ("The answer is 42.", [42]),
            ("paid $1,234.50 in total", [1234.5]),
            ("-3.5 and +2", [-3.5, 2]),
            ("x = −7", [-7]),  # U+2212 minus
            ("6.02e23 atoms", [6.02e23]),
            ("1.5E-3", [0.0015]),
            ("about 12% of users", [12]),
            ("-$1,000,000", [-1_000_000]),
            ("€5 or £6", [5, 6]),
            ("pages 3-4", [3, 4]),
            ("COVID-19", [19]),
            ("version 1.2.3", [1.2]),
            ("[1,2,3]", [1, 2, 3]),
            (".5 and -.25", [0.5, -0.25]),
            ("no digits here", []),
            ("Score: 24–10", [24, 10]),
        ],
    )
    def test_extract_numbers(self, text: str, values: list[float]) -> None:
        assert [n.value for n in extract_numbers(text)] == pytest.approx(values)

    def test_decimal_comma(self) -> None:
        assert [n.value for n in extract_numbers("1.234,5 und 3,14", decimal_separator=",")] == [1234.5, 3.14]
        assert run(Numeric(decimal_separator=","), "Summe: 1.234,50 €", 1234.5).value is True

    def test_compare_with_tolerance(self) -> None:
        assert run(Numeric(), "so the total is 18", 18).value is True
        assert run(Numeric(), "so the total is 18", "18").value is True
        assert run(Numeric(), "Total: $1,234.50", "1,234.5").value is True
        assert run(Numeric(), "3.14159", 3.14).value is False
        assert run(Numeric(abs_tol=0.01), "3.14159", 3.14).value is True
        assert run(Numeric(rel_tol=0.05), "104", 100).value is True
        assert run(Numeric(rel_tol=0.05), "106", 100).value is False
        s = run(Numeric(), "I think it is 5", 4)
        assert s.value is False and s.explanation == "expected 4, got 5 (from '5')"
        assert s.metadata["extracted"] == 5.0

    def test_extract_position(self) -> None:
        text = "First 3 apples, then 5 more: 8"
        assert run(Numeric(), text, 8).value is True
        assert run(Numeric(extract="first"), text, 3).value is True
        only = run(Numeric(extract="only"), text, 8)
        assert only.value is None and "found 3 numbers" in (only.error or "")
        assert run(Numeric(extract="only"), "It is 8.", 8).value is True

    def test_percent_modes(self) -> None:
        assert run(Numeric(), "50%", 50).value is True
        assert run(Numeric(), "50%", 0.5).value is False
        assert run(Numeric(percent="fraction"), "50%", 0.5).value is True
        assert run(Numeric(percent="fraction"), "50%", "50%").value is True
        assert run(Numeric(percent="either"), "50%", 0.5).value is True
        assert run(Numeric(percent="either"), "50%", 50).value is True

    def test_list_expected(self) -> None:
        assert run(Numeric(), "7", [6, "7.0"]).value is True
        assert run(Numeric(), "8", [6, 7]).explanation.startswith("expected 6 or 7, got 8")

    @pytest.mark.parametrize(
        ("text", "expected", "error"),
        [
            ("no number", 4, "no number found in output"),
            ("4", "four", "not a single number"),
            ("4", True, "not a number"),
            ("4", None, "no expected answer"),
            ("4", [], "no expected answer"),
            ("4", float("inf"), "not a finite number"),
            ("4", {"a": 4}, "not a number"),
        ],
    )
    def test_unscorable(self, text: str, expected: Any, error: str) -> None:
        s = run(Numeric(), text, expected)
        assert s.value is None and error in (s.error or "")

    def test_bad_options(self) -> None:
        with pytest.raises(ScorerError, match="option 'abs_tol'"):
            Numeric(abs_tol=-1)
        with pytest.raises(ScorerError, match="option 'rel_tol'"):
            Numeric(rel_tol=float("nan"))
        with pytest.raises(ScorerError, match="option 'extract'"):
            Numeric(extract="middle")
        with pytest.raises(ScorerError, match="option 'percent'"):
            Numeric(percent="ratio")


# ================================================================================= json_valid / json_schema
class TestJsonValid:
    @pytest.mark.parametrize(
        ("text", "allow_fenced", "want"),
        [
            ('{"a": 1}', False, True),
            ("  [1, 2]\n", False, True),
            ('"just a string"', False, True),
            ("null", False, True),
            ("{'a': 1}", False, False),
            ('{"a": NaN}', False, False),  # not JSON, although Python's json accepts it
            ('{"a": 1', False, False),
            ("", False, False),
            ('```json\n{"a": 1}\n```', False, False),
            ('```json\n{"a": 1}\n```', True, True),
            ("```\n[1]\n```\n", True, True),
            ('Here you go:\n```json\n{"a": 1}\n```', True, False),
        ],
    )
    def test_validity(self, text: str, allow_fenced: bool, want: bool) -> None:
        s = run(JsonValid(allow_fenced=allow_fenced), text)
        assert s.value is want and s.error is None

    def test_explanation_has_position(self) -> None:
        s = run(JsonValid(), '{\n  "a": 1,\n  "b": }')
        assert s.explanation.startswith("invalid JSON at line 3 column 8")


class TestJsonSchema:
    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["answer", "items"],
        "properties": {
            "answer": {"type": "string"},
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"price": {"type": "number", "minimum": 0}}},
            },
        },
    }

    def test_valid_and_invalid(self) -> None:
        scorer = JsonSchema(schema=self.SCHEMA)
        assert scorer.requires == frozenset()
        assert run(scorer, '{"answer": "ok", "items": [{"price": 2}]}').value is True
        s = run(scorer, '{"answer": "ok", "items": [{"price": 2}, {"price": -1}]}')
        assert s.value is False and s.error is None
        assert s.explanation == "$.items[1].price: -1 is less than the minimum of 0"
        assert s.metadata["error_path"] == "$.items[1].price"
        missing = run(scorer, '{"answer": "ok"}')
        assert missing.explanation == "$: 'items' is a required property"
        not_json = run(scorer, "answer: ok")
        assert not_json.value is False and not_json.metadata["valid_json"] is False

    def test_invalid_schema_is_a_construction_error(self) -> None:
        with pytest.raises(ScorerError, match="not a valid JSON Schema"):
            JsonSchema(schema={"type": "objekt"})
        with pytest.raises(ScorerError, match="option 'schema'"):
            JsonSchema(schema=[1, 2])  # type: ignore[arg-type]
        with pytest.raises(ScorerError, match="not both"):
            JsonSchema(schema={}, schema_file="x.json")
        with pytest.raises(ScorerError, match="option 'draft'"):
            JsonSchema(schema={}, draft="3")

    def test_schema_file_json_and_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "schema.json"
        path.write_text(json.dumps(self.SCHEMA))
        scorer = JsonSchema(schema_file=str(path))
        assert run(scorer, '{"answer": "x", "items": []}').value is True
        spec = scorer.spec()
        assert spec["options"]["schema_file"] == str(path) and len(spec["schema_sha256"]) == 64
        yml = tmp_path / "schema.yaml"
        yml.write_text("type: object\nrequired: [answer]\n")
        assert run(JsonSchema(schema_file=str(yml)), "{}").value is False

    def test_schema_file_errors_name_the_file(self, tmp_path: Path) -> None:
        with pytest.raises(ScorerError, match="cannot read schema_file"):
            JsonSchema(schema_file=str(tmp_path / "missing.json"))
        bad = tmp_path / "bad.json"
        bad.write_text('{\n  "type": "object",\n  oops\n}')
        with pytest.raises(ScorerError, match=r"bad\.json:3 column 3 is not valid JSON"):
            JsonSchema(schema_file=str(bad))
        invalid = tmp_path / "invalid.json"
        invalid.write_text('{"minimum": "zero"}')
        with pytest.raises(ScorerError, match=r"schema_file .*invalid\.json is not a valid JSON Schema"):
            JsonSchema(schema_file=str(invalid))

    def test_schema_from_expected(self) -> None:
        scorer = JsonSchema()
        assert scorer.requires == frozenset({"expected"})
        assert run(scorer, "[1, 2]", {"type": "array", "items": {"type": "integer"}}).value is True
        assert run(scorer, "[1, 2.5]", {"type": "array", "items": {"type": "integer"}}).value is False
        bad = run(scorer, "{}", {"type": 5})
        assert bad.value is None and "not a valid JSON Schema" in (bad.error or "")
        assert run(scorer, "{}", "not a schema").error is not None

    def test_drafts_and_formats(self) -> None:
        # prefixItems exists in 2020-12 only; Draft 7 ignores it
        tuple_schema = {"type": "array", "prefixItems": [{"type": "string"}]}
        assert run(JsonSchema(schema=tuple_schema), "[1]").value is False
        assert run(JsonSchema(schema=tuple_schema, draft="7"), "[1]").value is True
        declared = {"$schema": "http://json-schema.org/draft-07/schema#", **tuple_schema}
        assert run(JsonSchema(schema=declared), "[1]").value is True
        email = {"type": "string", "format": "email"}
        assert run(JsonSchema(schema=email), '"not-an-email"').value is True  # format is an annotation
        assert run(JsonSchema(schema=email, check_formats=True), '"not-an-email"').value is False
        assert run(JsonSchema(schema=email, allow_fenced=True), '```json\n"a@b.co"\n```').value is True

    def test_unresolvable_ref_fails_the_case(self) -> None:
        scorer = JsonSchema(schema={"$ref": "https://example.invalid/schema.json"})
        s = run(scorer, "{}")
        assert s.value is None and "could not be resolved" in (s.error or "")
