"""Invariants of the reference scorers, checked on generated inputs (hypothesis)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from assay.scorer import Contains, ExactMatch, JsonValid, Numeric, Regex, TokenF1
from assay.scorer.text import canonical_json, extract_numbers, normalize, squad_f1, squad_normalize

from ._helpers import run

FAST = settings(max_examples=150, deadline=None)

norm_options = st.fixed_dictionaries(
    {
        "case_sensitive": st.booleans(),
        "strip": st.booleans(),
        "collapse_whitespace": st.booleans(),
        "remove_punctuation": st.booleans(),
        "remove_articles": st.booleans(),
        "unicode_normalize": st.sampled_from(["NFKC", "NFC", "NFD", "NFKD", None]),
    }
)
words = st.text(alphabet=st.sampled_from(list("abcXYZ the an,.!?'-\t\n\u00e9\u00df")), max_size=40)


@FAST
@given(st.text(max_size=60), norm_options)
def test_exact_match_is_reflexive(text: str, options: dict[str, Any]) -> None:
    assert run(ExactMatch(**options), text, text).value is True


@FAST
@given(st.text(max_size=60), norm_options)
def test_normalize_is_idempotent(text: str, options: dict[str, Any]) -> None:
    once = normalize(text, **options)
    if options["remove_articles"] and not options["collapse_whitespace"]:
        # removing "the" can join two new words ("a the b" -> "a   b"); idempotence needs collapsing
        assume(False)
    assert normalize(once, **options) == once


@FAST
@given(st.text(max_size=60), st.text(max_size=60))
def test_exact_match_implies_contains(output: str, expected: str) -> None:
    assume(normalize(expected))
    if run(ExactMatch(), output, expected).value:
        assert run(Contains(), output, expected).value is True


@FAST
@given(words, words, words)
def test_contains_finds_an_embedded_needle(prefix: str, needle: str, suffix: str) -> None:
    assume(needle.strip())
    scorer = Contains(case_sensitive=True, unicode_normalize=None)
    assert run(scorer, prefix + needle + suffix, needle).value is True


@FAST
@given(st.text(min_size=1, max_size=30))
def test_regex_escaped_text_fullmatches_itself(text: str) -> None:
    assert run(Regex(pattern=re.escape(text), mode="fullmatch"), text).value is True


@FAST
@given(words, words)
def test_token_f1_bounded_and_symmetric(a: str, b: str) -> None:
    f = squad_f1(a, b)
    assert 0.0 <= f <= 1.0
    assert f == squad_f1(b, a)
    if squad_normalize(a) and squad_normalize(a) == squad_normalize(b):
        assert f == 1.0


@FAST
@given(words, st.lists(words, min_size=1, max_size=4))
def test_token_f1_scorer_is_max_over_answers(output: str, answers: list[str]) -> None:
    s = run(TokenF1(), output, answers)
    nonempty = [a for a in answers if squad_normalize(a)]
    if not nonempty:
        assert s.value is None and s.error
    else:
        assert s.value == max(squad_f1(output, a) for a in nonempty)
        assert 0.0 <= s.value <= 1.0  # type: ignore[operator]


@FAST
@given(words)
def test_token_f1_of_an_answer_with_itself_is_one(text: str) -> None:
    assume(squad_normalize(text))
    assert run(TokenF1(), text, text).value == 1.0


@FAST
@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["", "$", "€"]))
def test_numeric_reads_formatted_integers(n: int, currency: str) -> None:
    sign = "-" if n < 0 else ""
    text = f"So the answer is {sign}{currency}{abs(n):,}."
    assert [x.value for x in extract_numbers(text)] == [float(n)]
    assert run(Numeric(), text, n).value is True
    assert run(Numeric(), text, f"{n:,}").value is True


@FAST
@given(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    st.sampled_from(["{:,.4f}", "{:.4f}", "{:.6e}", "{:.3E}", "{}"]),
)
def test_numeric_reads_formatted_floats(x: float, fmt: str) -> None:
    written = fmt.format(x)
    found = extract_numbers(f"result: {written} units")
    assert len(found) == 1
    assert math.isclose(found[0].value, float(written.replace(",", "")), rel_tol=1e-12, abs_tol=0.0)


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_numeric_is_reflexive(x: float) -> None:
    assert run(Numeric(), repr(x), x).value is True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@FAST
@given(json_values, st.booleans())
def test_json_valid_accepts_serialised_json(value: Any, indent: bool) -> None:
    text = json.dumps(value, indent=2 if indent else None)
    assert run(JsonValid(), text).value is True
    assert run(JsonValid(allow_fenced=True), f"```json\n{text}\n```").value is True


@FAST
@given(json_values)
def test_exact_match_on_structured_json_is_reflexive(value: Any) -> None:
    assume(
        isinstance(value, dict)
        or (isinstance(value, list) and value and not all(isinstance(v, str) for v in value))
    )
    assert run(ExactMatch(), json.dumps(value, indent=1), value).value is True
    assert canonical_json(json.loads(canonical_json(value))) == canonical_json(value)
