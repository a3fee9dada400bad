"""Reference-based scorers: compare an output's text with the case's expected answer (or a fixed pattern).

``exact_match``, ``contains``, ``regex``, ``token_f1`` (SQuAD v1.1), ``numeric``, ``json_valid`` and
``json_schema``. Options are keyword-only and checked when the scorer is built (a bad option raises
``ScorerError``; an unknown one raises ``TypeError``, which ``create_scorer`` turns into ``ConfigError``).
A case that cannot be scored (no expected answer, no number in the output ...) gives a failed Score that is
counted in ``n_errors``, never a silent 0.

``expected`` may be a string or a list of acceptable strings (any one matching is enough). A number or
boolean is compared through its JSON text (``4`` → ``"4"``, ``True`` → ``"true"``). Structured data (an
object, or a list that is not all strings) is compared by ``exact_match`` as JSON: the output must parse
to an equal value. The other text scorers report structured ``expected`` as a failure.

Example:
    >>> import asyncio
    >>> from assay.types import Case, Output
    >>> em = ExactMatch(remove_punctuation=True)
    >>> s = asyncio.run(em.score(Case(id="1", input="2+2?", expected="4"), Output(text="4.")))
    >>> s.value, s.explanation
    (True, "matched '4'")
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.scorer.base import BaseScorer, register_scorer
from assay.scorer.text import (
    UNICODE_FORMS,
    ExtractedNumber,
    as_string_list,
    canonical_json,
    clip,
    extract_numbers,
    normalize,
    parse_json_text,
    squad_f1,
    squad_normalize,
    strip_code_fence,
)
from assay.types import Case, Output, Score, ScorerError

__all__ = ["Contains", "ExactMatch", "JsonSchema", "JsonValid", "Numeric", "Regex", "TokenF1"]


# ------------------------------------------------------------------------------------ option checks
def _bad(scorer: str, option: str, why: str, value: Any) -> ScorerError:
    return ScorerError(f"scorer '{scorer}': option '{option}' {why}, got {value!r:.80}")


def _check_bool(scorer: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(scorer, option, "must be true or false", value)
    return value


def _check_choice(scorer: str, option: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise _bad(scorer, option, f"must be one of {shown}", value)
    return value


def _check_tolerance(scorer: str, option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _bad(scorer, option, "must be a finite number >= 0", value)
    return float(value)


def _check_name(scorer: str, name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise _bad(scorer, "name", "must be a non-empty string", name)
    return name


def _check_text(scorer: str, option: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(scorer, option, "must be a non-empty string", value)
    return value


def _normalizer(scorer: str, **opts: Any) -> Callable[[str], str]:
    """Validate the shared normalisation options and return the matching ``normalize`` function."""
    for key, value in opts.items():
        if key == "unicode_normalize":
            _check_choice(scorer, key, value, (*UNICODE_FORMS, None))
        else:
            _check_bool(scorer, key, value)
    return functools.partial(normalize, **opts)


def _expected_strings(expected: Any) -> list[str] | str:
    """``expected`` as acceptable strings, or an error message saying why it cannot be."""
    if expected is None:
        return "case has no expected answer"
    strings = as_string_list(expected)
    if strings is not None:
        return strings
    if isinstance(expected, bool | int | float):
        try:
            return [canonical_json(expected)]
        except ValueError:
            return f"expected {expected!r} is not a finite number"
    if isinstance(expected, list | tuple) and not expected:
        return "expected is an empty list: give at least one acceptable answer"
    return f"expected must be a string or a list of strings, got {type(expected).__name__}"


def _show(strings: list[str]) -> str:
    """``'a'`` for one string, ``one of ['a', 'b']`` for several (at most five shown)."""
    if len(strings) == 1:
        return repr(clip(strings[0]))
    shown = ", ".join(repr(clip(s, 30)) for s in strings[:5])
    return f"one of [{shown}{', …' if len(strings) > 5 else ''}]"


# ------------------------------------------------------------------------------------ exact_match
@register_scorer("exact_match")
class ExactMatch(BaseScorer):
    """1 when the normalised output equals the normalised expected answer (any of a list), else 0.

    Normalisation (see ``assay.scorer.text.normalize``): Unicode ``NFKC``, case folding, collapsed and
    stripped whitespace by default; punctuation and English articles removal on request. A structured
    ``expected`` (an object, or a list that is not all strings) is compared as JSON: the output, optionally
    inside a ```` ```json ```` fence, must parse to an equal value (``1`` equals ``1.0``; string values are
    compared exactly, without text normalisation).

    Example:
        >>> ExactMatch(remove_articles=True).normalize("The  Answer ")
        'answer'
    """

    kind = "binary"
    requires = frozenset({"expected"})
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        case_sensitive: bool = False,
        strip: bool = True,
        collapse_whitespace: bool = True,
        remove_punctuation: bool = False,
        remove_articles: bool = False,
        unicode_normalize: str | None = "NFKC",
    ) -> None:
        opts = {
            "case_sensitive": case_sensitive,
            "strip": strip,
            "collapse_whitespace": collapse_whitespace,
            "remove_punctuation": remove_punctuation,
            "remove_articles": remove_articles,
            "unicode_normalize": unicode_normalize,
        }
        self.normalize = _normalizer("exact_match", **opts)
        super().__init__(name=_check_name("exact_match", name), **opts)

    async def score(self, case: Case, output: Output) -> Score:
        expected = case.expected
        if isinstance(expected, dict) or (
            isinstance(expected, list | tuple) and expected and as_string_list(expected) is None
        ):
            return self._score_structured(expected, output.text)
        strings = _expected_strings(expected)
        if isinstance(strings, str):
            return self.fail(strings)
        got = self.normalize(output.text)
        for s in strings:
            if self.normalize(s) == got:
                return self.make(True, explanation=f"matched {clip(s)!r}")
        return self.make(False, explanation=f"expected {_show(strings)}, got {clip(output.text)!r}")

    def _score_structured(self, expected: Any, text: str) -> Score:
        try:
            want = canonical_json(expected)
        except (TypeError, ValueError) as exc:
            return self.fail(f"expected is not JSON-serialisable: {exc}")
        body, _ = strip_code_fence(text)
        try:
            got = canonical_json(parse_json_text(body))
        except ValueError as exc:
            return self.make(
                False, explanation=f"expected JSON {clip(want)}, output is not JSON ({clip(str(exc))})"
            )
        if got == want:
            return self.make(True, explanation="output JSON equals expected")
        return self.make(False, explanation=f"expected JSON {clip(want)}, got {clip(got)}")


# ------------------------------------------------------------------------------------ contains
@register_scorer("contains")
class Contains(BaseScorer):
    """1 when the output contains the expected string (any of a list, or all with ``mode="all"``).

    Fixed strings can be given instead of ``expected`` with ``value="..."`` or ``values=[...]``; the
    scorer then does not require ``expected``. Matching is on text normalised like ``exact_match``
    (case folding, ``NFKC``, collapsed whitespace), so ``"new  york"`` contains ``"New York"``.

    Example:
        >>> Contains(values=["refund", "30 days"], mode="all").requires
        frozenset()
    """

    kind = "binary"
    requires = frozenset({"expected"})
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        value: str | None = None,
        values: list[str] | None = None,
        mode: str = "any",
        case_sensitive: bool = False,
        collapse_whitespace: bool = True,
        unicode_normalize: str | None = "NFKC",
    ) -> None:
        scorer = "contains"
        _check_choice(scorer, "mode", mode, ("any", "all"))
        if value is not None and values is not None:
            raise ScorerError("scorer 'contains': give either option 'value' or 'values', not both")
        fixed: list[str] | None = None
        if value is not None:
            fixed = [_check_text(scorer, "value", value)]
        elif values is not None:
            if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
                raise _bad(scorer, "values", "must be a non-empty list of strings", values)
            fixed = [_check_text(scorer, "values", v) for v in values]
        opts = {
            "case_sensitive": case_sensitive,
            "collapse_whitespace": collapse_whitespace,
            "unicode_normalize": unicode_normalize,
        }
        self.normalize = _normalizer(scorer, strip=True, **opts)
        self.mode = mode
        self._fixed = fixed
        if fixed is not None:
            self.requires = frozenset()
            self._fixed_norm = [self.normalize(v) for v in fixed]
        recorded: dict[str, Any] = {"mode": mode, **opts}
        if value is not None:
            recorded["value"] = value
        if values is not None:
            recorded["values"] = list(values)
        super().__init__(name=_check_name(scorer, name), **recorded)

    async def score(self, case: Case, output: Output) -> Score:
        if self._fixed is not None:
            needles, normed = self._fixed, self._fixed_norm
        else:
            strings = _expected_strings(case.expected)
            if isinstance(strings, str):
                return self.fail(strings)
            needles, normed = strings, [self.normalize(s) for s in strings]
            if not all(normed):
                return self.fail("expected contains an empty string (every output would contain it)")
        haystack = self.normalize(output.text)
        found = [n for n, k in zip(needles, normed, strict=True) if k in haystack]
        missing = [n for n, k in zip(needles, normed, strict=True) if k not in haystack]
        if self.mode == "any":
            if found:
                return self.make(True, explanation=f"found {clip(found[0])!r}")
            return self.make(False, explanation=f"output does not contain {_show(needles)}")
        if not missing:
            return self.make(True, explanation=f"found all {len(needles)}")
        return self.make(False, explanation=f"missing {_show(missing)}", missing=missing)


# ------------------------------------------------------------------------------------ regex
_FLAG_NAMES: dict[str, re.RegexFlag] = {
    "ignorecase": re.IGNORECASE,
    "i": re.IGNORECASE,
    "multiline": re.MULTILINE,
    "m": re.MULTILINE,
    "dotall": re.DOTALL,
    "s": re.DOTALL,
    "verbose": re.VERBOSE,
    "x": re.VERBOSE,
    "ascii": re.ASCII,
    "a": re.ASCII,
}


@register_scorer("regex")
class Regex(BaseScorer):
    """1 when a regular expression matches the output (``mode``: ``search``, ``match`` or ``fullmatch``).

    The pattern is the ``pattern`` option (compiled once; a bad pattern is a ``ScorerError``) or, without
    it, the case's ``expected`` (a pattern or a list of patterns, any matching). ``flags`` takes names:
    ``ignorecase``, ``multiline``, ``dotall``, ``verbose``, ``ascii`` (or ``i m s x a``). ``negate=True``
    scores 1 when the pattern does *not* match (for "must never say X" checks).

    Example:
        >>> Regex(pattern=r"order #\\d+", flags=["ignorecase"]).spec()["options"]["flags"]
        ['ignorecase']
    """

    kind = "binary"
    requires = frozenset({"expected"})
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        pattern: str | None = None,
        mode: str = "search",
        flags: list[str] | str | None = None,
        negate: bool = False,
    ) -> None:
        scorer = "regex"
        _check_choice(scorer, "mode", mode, ("search", "match", "fullmatch"))
        _check_bool(scorer, "negate", negate)
        flag_list = [flags] if isinstance(flags, str) else list(flags or [])
        self.flags = re.RegexFlag(0)
        for f in flag_list:
            if not isinstance(f, str) or f.lower() not in _FLAG_NAMES:
                names = ", ".join(k for k in _FLAG_NAMES if len(k) > 1)
                raise _bad(scorer, "flags", f"must name regex flags ({names})", f)
            self.flags |= _FLAG_NAMES[f.lower()]
        self.mode = mode
        self.negate = negate
        self.pattern: re.Pattern[str] | None = None
        if pattern is not None:
            self.pattern = self._compile_option(_check_text(scorer, "pattern", pattern))
            self.requires = frozenset()
        super().__init__(
            name=_check_name(scorer, name), pattern=pattern, mode=mode, flags=flag_list, negate=negate
        )

    def _compile_option(self, pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern, self.flags)
        except re.error as exc:
            raise ScorerError(
                f"scorer 'regex': option 'pattern' is not a valid regular expression: {exc}"
            ) from exc

    def _match(self, pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
        if self.mode == "search":
            return pattern.search(text)
        if self.mode == "match":
            return pattern.match(text)
        return pattern.fullmatch(text)

    async def score(self, case: Case, output: Output) -> Score:
        if self.pattern is not None:
            patterns = [self.pattern]
        else:
            strings = _expected_strings(case.expected)
            if isinstance(strings, str):
                return self.fail(strings)
            try:
                patterns = [re.compile(s, self.flags) for s in strings]
            except re.error as exc:
                return self.fail(f"expected is not a valid regular expression: {exc}")
        for p in patterns:
            m = self._match(p, output.text)
            if m is not None:
                where = f"matched {clip(m.group(0), 40)!r} at {m.start()}"
                return self.make(not self.negate, explanation=where + (" (negated)" if self.negate else ""))
        shown = " | ".join(clip(p.pattern, 40) for p in patterns)
        return self.make(
            self.negate, explanation=f"no {self.mode} for /{shown}/" + (" (negated)" if self.negate else "")
        )


# ------------------------------------------------------------------------------------ token_f1
@register_scorer("token_f1")
class TokenF1(BaseScorer):
    """SQuAD v1.1 token F1 between the output and the expected answer: the maximum over a list of answers.

    Both sides are normalised as the official script does (lower-case, ASCII punctuation and the articles
    *a/an/the* removed, whitespace collapsed), then compared as bags of tokens. When every expected answer
    is empty after normalisation (``"the"``, ``"?"``) the case cannot be scored and the Score fails, where
    the official script would silently give 0. ``metadata["exact_match"]`` holds SQuAD's exact match.

    Example:
        >>> import asyncio
        >>> from assay.types import Case, Output
        >>> s = asyncio.run(TokenF1().score(Case(id="1", input="?", expected=["Paris", "in Paris"]),
        ...                                 Output(text="Paris, France")))
        >>> round(s.value, 3)
        0.667
    """

    kind = "proportion"
    requires = frozenset({"expected"})
    version = "1"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=_check_name("token_f1", name))

    async def score(self, case: Case, output: Output) -> Score:
        strings = _expected_strings(case.expected)
        if isinstance(strings, str):
            return self.fail(strings)
        answers = [s for s in strings if squad_normalize(s)]
        if not answers:
            return self.fail(f"expected {_show(strings)} is empty after SQuAD normalisation")
        f1s = [squad_f1(output.text, a) for a in answers]
        best = max(range(len(answers)), key=f1s.__getitem__)
        got = squad_normalize(output.text)
        exact = any(squad_normalize(a) == got for a in answers)
        return self.make(
            f1s[best], explanation=f"F1 {f1s[best]:.3f} against {clip(answers[best])!r}", exact_match=exact
        )


# ------------------------------------------------------------------------------------ numeric
def _fmt(x: float) -> str:
    return f"{x:.12g}"  # no thousands separators: "expected 1234.5, got 1234" stays unambiguous


@register_scorer("numeric")
class Numeric(BaseScorer):
    """1 when the number in the output is close to the expected number (``math.isclose`` semantics).

    The output's number is the ``last`` (default, the convention for worked answers), ``first``, or
    ``only`` one found (``only`` fails when there are several). Numbers may carry signs, thousands
    separators, decimals, exponents, currency symbols and ``%`` (see ``text.extract_numbers``).
    ``percent`` says how ``%`` counts: ``"number"`` (``50%`` is 50), ``"fraction"`` (0.5) or ``"either"``.
    ``expected`` is a number, a numeric string (``"1,234.5"``, ``"$3"``) or a list of them (any matching).
    No number in the output fails the case with "no number found in output".

    Example:
        >>> import asyncio
        >>> from assay.types import Case, Output
        >>> s = asyncio.run(Numeric(abs_tol=0.01).score(Case(id="1", input="?", expected=1234.5),
        ...                                              Output(text="Total: $1,234.50")))
        >>> s.value
        True
    """

    kind = "binary"
    requires = frozenset({"expected"})
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        extract: str = "last",
        abs_tol: float = 0.0,
        rel_tol: float = 1e-9,
        percent: str = "number",
        decimal_separator: str = ".",
    ) -> None:
        scorer = "numeric"
        self.extract = _check_choice(scorer, "extract", extract, ("last", "first", "only"))
        self.abs_tol = _check_tolerance(scorer, "abs_tol", abs_tol)
        self.rel_tol = _check_tolerance(scorer, "rel_tol", rel_tol)
        self.percent = _check_choice(scorer, "percent", percent, ("number", "fraction", "either"))
        self.decimal_separator = _check_choice(scorer, "decimal_separator", decimal_separator, (".", ","))
        super().__init__(
            name=_check_name(scorer, name),
            extract=extract,
            abs_tol=abs_tol,
            rel_tol=rel_tol,
            percent=percent,
            decimal_separator=decimal_separator,
        )

    def _readings(self, value: float, is_percent: bool) -> list[float]:
        if not is_percent or self.percent == "number":
            return [value]
        if self.percent == "fraction":
            return [value / 100]
        return [value, value / 100]

    def _expected_numbers(self, expected: Any) -> list[ExtractedNumber] | str:
        items = list(expected) if isinstance(expected, list | tuple) else [expected]
        if expected is None or not items:
            return "case has no expected answer"
        out: list[ExtractedNumber] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                return f"expected {item!r:.60} is not a number"
            if isinstance(item, str):
                found = extract_numbers(item, decimal_separator=self.decimal_separator)
                if len(found) != 1:
                    return f"expected {item!r:.60} is not a single number"
                out.append(found[0])
            else:
                if not math.isfinite(item):
                    return f"expected {item!r} is not a finite number"
                out.append(ExtractedNumber(float(item), repr(item), False, 0, 0))
        return out

    async def score(self, case: Case, output: Output) -> Score:
        wanted = self._expected_numbers(case.expected)
        if isinstance(wanted, str):
            return self.fail(wanted)
        found = extract_numbers(output.text, decimal_separator=self.decimal_separator)
        if not found:
            return self.fail("no number found in output")
        if self.extract == "only" and len(found) > 1:
            shown = ", ".join(n.text for n in found[:5])
            return self.fail(f"found {len(found)} numbers in output ({shown}), expected exactly one")
        got = found[-1] if self.extract == "last" else found[0]
        got_values = self._readings(got.value, got.percent)
        for w in wanted:
            for wv in self._readings(w.value, w.percent):
                for gv in got_values:
                    if math.isclose(gv, wv, rel_tol=self.rel_tol, abs_tol=self.abs_tol):
                        return self.make(
                            True,
                            explanation=f"expected {_fmt(wv)}, got {_fmt(gv)}",
                            extracted=gv,
                            text=got.text,
                        )
        shown = " or ".join(_fmt(v) for w in wanted for v in self._readings(w.value, w.percent))
        return self.make(
            False,
            explanation=f"expected {shown}, got {_fmt(got_values[0])} (from {clip(got.text, 30)!r})",
            extracted=got_values[0],
            text=got.text,
        )


# ------------------------------------------------------------------------------------ JSON
def _parse_output(text: str, allow_fenced: bool) -> tuple[Any, str | None]:
    """Parse an output as JSON: ``(value, None)`` or ``(None, why it is not JSON)``."""
    body = strip_code_fence(text)[0] if allow_fenced else text
    if not body.strip():
        return None, "output is empty"
    try:
        return parse_json_text(body), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"


@register_scorer("json_valid")
class JsonValid(BaseScorer):
    """1 when the output is valid JSON (strict RFC 8259: no ``NaN``; surrounding whitespace allowed).

    With ``allow_fenced=True`` an output that is exactly one Markdown code block (```` ```json ... ``` ````)
    is accepted and its body parsed; prose around the block still makes it invalid.

    Example:
        >>> JsonValid(allow_fenced=True).spec()["options"]
        {'allow_fenced': True}
    """

    kind = "binary"
    version = "1"

    def __init__(self, *, name: str | None = None, allow_fenced: bool = False) -> None:
        self.allow_fenced = _check_bool("json_valid", "allow_fenced", allow_fenced)
        super().__init__(name=_check_name("json_valid", name), allow_fenced=allow_fenced)

    async def score(self, case: Case, output: Output) -> Score:
        value, why = _parse_output(output.text, self.allow_fenced)
        if why is not None:
            return self.make(False, explanation=why)
        return self.make(True, explanation=f"valid JSON {type(value).__name__}")


_DRAFTS = ("2020-12", "2019-09", "7", "6", "4")


def _error_path(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _load_schema_file(path: str) -> tuple[Any, bytes]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScorerError(
            f"scorer 'json_schema': cannot read schema_file {path}: {exc.strerror or exc}"
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScorerError(f"scorer 'json_schema': schema_file {path} is not UTF-8 text") from exc
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text), raw
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else path
            raise ScorerError(f"scorer 'json_schema': schema_file {where} is not valid YAML: {exc}") from exc
    try:
        return json.loads(text), raw
    except json.JSONDecodeError as exc:
        raise ScorerError(
            f"scorer 'json_schema': schema_file {path}:{exc.lineno} column {exc.colno} is not valid JSON: {exc.msg}"
        ) from exc


@register_scorer("json_schema")
class JsonSchema(BaseScorer):
    """1 when the output is valid JSON that validates against a JSON Schema (Draft 2020-12 by default).

    The schema comes from the ``schema`` option (an object), ``schema_file`` (a ``.json`` or ``.yaml``
    path) or, without either, from the case's ``expected``. A schema that declares ``$schema`` uses that
    draft; otherwise ``draft`` (``2020-12``, ``2019-09``, ``7``, ``6``, ``4``). An invalid schema option is
    a ``ScorerError`` at construction. ``check_formats=True`` also checks ``format`` (``email``,
    ``date-time`` ...). A failing output's explanation names the most relevant error and its path
    (``$.items[0].price: -1 is less than the minimum of 0``).

    Example:
        >>> JsonSchema(schema={"type": "object", "required": ["answer"]}).requires
        frozenset()
    """

    kind = "binary"
    requires = frozenset({"expected"})
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        schema: dict[str, Any] | bool | None = None,
        schema_file: str | None = None,
        draft: str = "2020-12",
        allow_fenced: bool = False,
        check_formats: bool = False,
    ) -> None:
        scorer = "json_schema"
        self.draft = _check_choice(scorer, "draft", str(draft), _DRAFTS)
        self.allow_fenced = _check_bool(scorer, "allow_fenced", allow_fenced)
        self.check_formats = _check_bool(scorer, "check_formats", check_formats)
        if schema is not None and schema_file is not None:
            raise ScorerError("scorer 'json_schema': give either option 'schema' or 'schema_file', not both")
        self.schema_sha256: str | None = None
        self._validators: dict[str, Any] = {}
        self._fixed: Any = None
        if schema_file is not None:
            _check_text(scorer, "schema_file", schema_file)
            schema, raw = _load_schema_file(schema_file)
            self.schema_sha256 = hashlib.sha256(raw).hexdigest()
        if schema is not None:
            if not isinstance(schema, dict | bool):
                raise _bad(scorer, "schema", "must be a JSON Schema object", schema)
            try:
                self._fixed = self._validator(schema)
            except ValueError as exc:
                where = f"schema_file {schema_file}" if schema_file else "option 'schema'"
                raise ScorerError(f"scorer 'json_schema': {where} is not a valid JSON Schema: {exc}") from exc
            self.requires = frozenset()
        super().__init__(
            name=_check_name(scorer, name),
            schema=schema if schema_file is None else None,
            schema_file=schema_file,
            draft=self.draft,
            allow_fenced=allow_fenced,
            check_formats=check_formats,
        )

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        if self.schema_sha256 is not None:
            spec["schema_sha256"] = self.schema_sha256
        return spec

    def _validator(self, schema: dict[str, Any] | bool) -> Any:
        """A jsonschema validator for ``schema`` (cached); ``ValueError`` when the schema is invalid."""
        key = canonical_json(schema)
        cached = self._validators.get(key)
        if cached is not None:
            return cached
        import jsonschema
        from jsonschema import validators

        default = {
            "2020-12": validators.Draft202012Validator,
            "2019-09": validators.Draft201909Validator,
            "7": validators.Draft7Validator,
            "6": validators.Draft6Validator,
            "4": validators.Draft4Validator,
        }[self.draft]
        cls = validators.validator_for(schema, default=default)
        try:
            cls.check_schema(schema)  # type: ignore[arg-type]  # boolean schemas are valid too
        except jsonschema.SchemaError as exc:
            raise ValueError(f"{_error_path(exc.absolute_path)}: {exc.message}") from exc
        checker = cls.FORMAT_CHECKER if self.check_formats else None
        validator = cls(schema, format_checker=checker)
        if len(self._validators) < 256:
            self._validators[key] = validator
        return validator

    async def score(self, case: Case, output: Output) -> Score:
        if self._fixed is not None:
            validator = self._fixed
        else:
            schema = case.expected
            if schema is None:
                return self.fail("case has no expected schema")
            if not isinstance(schema, dict | bool):
                return self.fail(f"expected must be a JSON Schema object, got {type(schema).__name__}")
            try:
                validator = self._validator(schema)
            except ValueError as exc:
                return self.fail(f"expected is not a valid JSON Schema: {exc}")
        value, why = _parse_output(output.text, self.allow_fenced)
        if why is not None:
            return self.make(False, explanation=why, valid_json=False)
        from jsonschema.exceptions import best_match
        from referencing.exceptions import Unresolvable

        try:
            errors = list(validator.iter_errors(value))
        except Unresolvable as exc:
            return self.fail(f"schema reference could not be resolved: {exc}")
        if not errors:
            return self.make(True, explanation="valid against schema", valid_json=True)
        err = best_match(errors)
        path = _error_path(err.absolute_path)
        return self.make(
            False,
            explanation=f"{path}: {clip(err.message, 120)}",
            valid_json=True,
            error_path=path,
            n_errors=len(errors),
        )
