"""Pure text helpers shared by the reference scorers: normalisation, SQuAD tokens, numbers, JSON.

Everything here is a plain function over strings so it can be tested against reference implementations
and reused by other scorer families (``rag``, ``asr`` ...) without building a scorer.

Example:
    >>> normalize("  The  Café!  ", remove_punctuation=True, remove_articles=True)
    'café'
    >>> squad_f1("the cat sat", "a cat sat down")
    0.8
    >>> [n.value for n in extract_numbers("paid $1,234.50, then -3e2 (12%)")]
    [1234.5, -300.0, 12.0]
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "UNICODE_FORMS",
    "ExtractedNumber",
    "as_string_list",
    "canonical_json",
    "clip",
    "extract_numbers",
    "normalize",
    "parse_json_text",
    "squad_f1",
    "squad_normalize",
    "squad_tokens",
    "strip_code_fence",
]

UnicodeForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
UNICODE_FORMS: tuple[str, ...] = ("NFC", "NFD", "NFKC", "NFKD")

_WS = re.compile(r"\s+")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b", re.IGNORECASE)


def clip(text: str, limit: int = 60) -> str:
    """Shorten ``text`` for an explanation: at most ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------ normalisation
def _remove_unicode_punctuation(text: str) -> str:
    # Unicode category P* (connector, dash, open/close, quotes, other): covers ASCII punctuation except
    # the symbols $+<=>^`|~ (category S*), which carry meaning in answers such as "$5" or "a+b".
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def normalize(
    text: str,
    *,
    case_sensitive: bool = False,
    strip: bool = True,
    collapse_whitespace: bool = True,
    remove_punctuation: bool = False,
    remove_articles: bool = False,
    unicode_normalize: str | None = "NFKC",
) -> str:
    """Normalise ``text`` for comparison, in a fixed order.

    1. Unicode normalisation (``NFKC`` by default: full-width and compatibility forms fold together).
    2. Case folding (``str.casefold``, so ``"Straße"`` equals ``"STRASSE"``) unless ``case_sensitive``;
       the text is re-normalised afterwards because folding can produce unnormalised sequences.
    3. Removing punctuation (Unicode category P*; symbols such as ``$`` and ``%`` are kept).
    4. Removing the English articles *a*, *an*, *the* as whole words (any case).
    5. Collapsing runs of whitespace to one space, then stripping the ends.

    Example:
        >>> normalize("The  ANSWER:\\t42.", remove_punctuation=True, remove_articles=True)
        'answer 42'
    """
    if unicode_normalize is not None:
        text = unicodedata.normalize(unicode_normalize, text)  # type: ignore[arg-type]
    if not case_sensitive:
        text = text.casefold()
        if unicode_normalize is not None:
            text = unicodedata.normalize(unicode_normalize, text)  # type: ignore[arg-type]
    if remove_punctuation:
        text = _remove_unicode_punctuation(text)
    if remove_articles:
        text = _ARTICLES.sub(" ", text)
    if collapse_whitespace:
        text = _WS.sub(" ", text)
    if strip:
        text = text.strip()
    return text


# ------------------------------------------------------------------------------------ SQuAD v1.1
# The official script removes exactly ``string.punctuation`` (ASCII) and lower-cases with str.lower.
_SQUAD_PUNCT = str.maketrans("", "", string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower-case, drop ASCII punctuation, articles and extra spaces.

    Behaves exactly like ``normalize_answer`` of the official v1.1 evaluation script (checked in tests).

    Example:
        >>> squad_normalize("The Eiffel-Tower!")
        'eiffeltower'
    """
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_SQUAD_PUNCT)).split())


def squad_tokens(text: str) -> list[str]:
    """The tokens SQuAD v1.1 compares: the normalised answer split on whitespace."""
    return squad_normalize(text).split()


def squad_f1(prediction: str, reference: str) -> float:
    """SQuAD v1.1 token-level F1 between one prediction and one reference answer, in [0, 1].

    Precision and recall count shared tokens with multiplicity (a bag-of-tokens overlap). As in the
    official script, an empty token list on either side gives 0.0.

    Example:
        >>> squad_f1("Denver Broncos", "the Denver Broncos")
        1.0
    """
    pred = Counter(squad_tokens(prediction))
    ref = Counter(squad_tokens(reference))
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(pred.values())
    recall = overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


# ------------------------------------------------------------------------------------ numbers
_CURRENCY = "$€£¥₹₩₽₺₴₦¢₱₫₪฿"
_MINUS = r"\-−–"  # a character-class body: hyphen-minus, U+2212 minus sign, en dash ("–5")


def _number_pattern(decimal: str) -> re.Pattern[str]:
    group = "," if decimal == "." else "."
    d, g = re.escape(decimal), re.escape(group)
    return re.compile(
        rf"""
        (?:(?<![\w)\]])(?P<sign>[+{_MINUS}]))?            # a sign, unless it joins two words: 3-4, COVID-19
        (?P<cur>[{_CURRENCY}])?                            # a currency symbol: $5, -$5
        (?:(?<=[+{_MINUS}{_CURRENCY}])|(?<!\d)(?<!\d{d}))  # not inside a number or a version: 1.2.3
        (?:(?<=[{_CURRENCY}])(?P<sign2>[+{_MINUS}](?=\d|{d}\d)))?  # $-5
        (?P<mantissa>
            (?:\d{{1,3}}(?:{g}\d{{3}})+|\d+)(?:{d}\d+)?    # 1,234.5  1234  12.5
          | {d}\d+                                         # .5
        )
        (?P<exp>[eE][+-]?\d+)?                             # 1.5e-3
        (?!\d)
        (?:\s?(?P<pct>%))?                                 # 12 %  12%
        """,
        re.VERBOSE,
    )


_NUMBER_RE = {".": _number_pattern("."), ",": _number_pattern(",")}


@dataclass(frozen=True, slots=True)
class ExtractedNumber:
    """One number found in a text: its value as written, whether it carried ``%``, and its span."""

    value: float
    text: str
    percent: bool
    start: int
    end: int


def extract_numbers(text: str, *, decimal_separator: str = ".") -> list[ExtractedNumber]:
    """Every number written in ``text``, in order of appearance.

    Understands signs (``-``, ``+``, the Unicode minus), thousands separators (``1,234,567``), decimals
    (``.5``, ``3.14``), scientific notation (``6.02e23``), currency symbols (``$``, ``€`` ... before the
    number) and a trailing ``%`` (reported in ``percent``; the value stays as written). A hyphen between
    two words or numbers is not a sign: ``"pages 3-4"`` gives 3 and 4, ``"COVID-19"`` gives 19. With
    ``decimal_separator=","`` the roles of ``,`` and ``.`` swap (``"1.234,5"`` is 1234.5).

    Example:
        >>> [n.value for n in extract_numbers("between -$1,000 and 2.5e3 (about 40%)")]
        [-1000.0, 2500.0, 40.0]
    """
    if decimal_separator not in _NUMBER_RE:
        raise ValueError(f"decimal_separator must be '.' or ',', got {decimal_separator!r}")
    group = "," if decimal_separator == "." else "."
    found: list[ExtractedNumber] = []
    for m in _NUMBER_RE[decimal_separator].finditer(text):
        mantissa = m.group("mantissa").replace(group, "").replace(decimal_separator, ".")
        value = float(mantissa + (m.group("exp") or ""))
        sign = m.group("sign") or m.group("sign2")
        if sign and sign != "+":
            value = -value
        found.append(
            ExtractedNumber(
                value=value, text=m.group(0), percent=m.group("pct") is not None, start=m.start(), end=m.end()
            )
        )
    return found


# ------------------------------------------------------------------------------------ JSON
_FENCE = re.compile(
    r"\A\s*```[ \t]*(?:json|JSON|jsonc|json5)?[ \t]*\r?\n(?P<body>.*?)\r?\n?[ \t]*```\s*\Z", re.DOTALL
)


def strip_code_fence(text: str) -> tuple[str, bool]:
    """If ``text`` is one Markdown code block (```` ```json ```` or bare ```` ``` ````), return its body.

    Returns ``(body, True)`` when a fence was stripped, else ``(text, False)``. Prose around the block
    is not accepted: the output must be the block itself (surrounding whitespace aside).

    Example:
        >>> strip_code_fence('```json\\n{"a": 1}\\n```')
        ('{"a": 1}', True)
    """
    m = _FENCE.match(text)
    return (m.group("body"), True) if m else (text, False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_text(text: str) -> Any:
    """Parse strict JSON (RFC 8259): like ``json.loads`` but rejecting ``NaN`` and ``Infinity``.

    Raises ``ValueError`` (``json.JSONDecodeError`` carries line and column) when ``text`` is not JSON.
    """
    return json.loads(text, parse_constant=_reject_constant)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # JSON has one number type: 1.0 and 1 are the same value
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """A canonical JSON text: sorted keys, compact separators, ``1.0`` written as ``1``, non-ASCII kept.

    Two JSON values are equal exactly when their canonical texts are. ``NaN`` and infinities raise
    ``ValueError`` (they are not JSON).

    Example:
        >>> canonical_json({"b": [1.0, True], "a": "é"})
        '{"a":"é","b":[1,true]}'
    """
    return json.dumps(
        _canonical_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def as_string_list(value: Any) -> list[str] | None:
    """``value`` as a list of strings when it is a string or a non-empty sequence of strings, else None."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None
