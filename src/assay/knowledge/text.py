"""Text segmentation shared by knowledge indexing and claim extraction: sentences, list items, tokens.

``split_units`` cuts a text into sentence-like units and keeps list items, headings and table rows
apart, so a Markdown answer such as ``"You can pay with:\\n- cards\\n- PayPal"`` does not become one long
"sentence". Periods inside abbreviations (``e.g.``, ``Dr.``, ``U.S.``), initials, decimals (``3.5``),
versions (``v2.1.3``), amounts (``$1,234.50``), times (``9 a.m.``) and URLs do not end a sentence.

``content_tokens`` gives lower-cased, lightly stemmed content words (stop words removed) for BM25 and
for lexical coverage checks.

Example:
    >>> split_sentences("Dr. Smith paid $3.50 on Jan. 5. It was e.g. cheap! Really?")
    ['Dr. Smith paid $3.50 on Jan. 5.', 'It was e.g. cheap!', 'Really?']
    >>> content_tokens("The refunds were processed within 14 days")
    ['refund', 'process', 'within', '14', 'day']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "STOPWORDS",
    "Unit",
    "content_tokens",
    "evidence_units",
    "split_sentences",
    "split_units",
    "stem",
    "word_tokens",
]

UnitKind = Literal["sentence", "item", "heading", "row"]

_ABBREVIATIONS_TEXT = """
    mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx ca est dept fig figs no nos vol vols
    inc ltd co corp llc jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur
    thurs fri sat sun a.m p.m u.s u.k u.s.a e.u min max avg misc ref refs sec secs hr hrs pp pg ed eds
    rev gen gov col lt sgt capt cmdr maj adm rep sen pres op ibid viz resp dist div
"""
_ABBREVIATIONS = frozenset(_ABBREVIATIONS_TEXT.split())

# abbreviations that often end a sentence: followed by a capitalised word, they close it
_FINAL_ABBREVIATIONS = frozenset({"etc", "inc", "ltd", "co", "corp", "a.m", "p.m", "llc"})
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"([.!?]+|…)([\"'”’)\]]*)(\s+)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·▪◦‣]|\d{1,3}[.)]|[a-zA-Z][.)](?=\s))\s+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

STOPWORDS_TEXT = """
    a an the and or but if then else of to in on at by for with from into onto about as is are was were
    be been being am do does did doing have has had having it its it's this that these those there here
    i me my we our you your he him his she her they them their what which who whom whose when where why
    how so than too very just also any some such own same other only both each few more most all s t
    will would shall should could might may can
"""
STOPWORDS = frozenset(STOPWORDS_TEXT.split())
# Modal and negation words are deliberately NOT stop words for content matching except the modals above,
# which the key-fact checks handle on their own.


@dataclass(frozen=True, slots=True)
class Unit:
    """One segment of a text: a sentence, a list item, a heading or a table row."""

    text: str
    kind: UnitKind
    block: int  # index of the paragraph/list block the unit came from


def _is_abbreviation(before: str) -> bool:
    """Whether the word ending just before a period is an abbreviation or an initial."""
    m = re.search(r"([^\s(\[\"'“‘]+)$", before)
    if not m:
        return False
    word = m.group(1).rstrip(".").lower()
    if word in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith", or "p. 4"
        return True
    # dotted acronyms: "U.S", "e.g", "Ph.D"
    return bool(re.fullmatch(r"(?:[a-z]{1,2}\.)+[a-z]{1,2}", word))


def _split_plain(text: str) -> list[str]:
    """Split one paragraph (no list markup) into sentences."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end(2)
        rest = text[m.end() :]
        if not rest:
            break
        nxt = rest[0]
        punct = m.group(1)
        if punct == "." and _is_abbreviation(text[start : m.start(1)]):
            # "e.g. cheap" stays; "etc. The" ends a sentence when a capitalised word follows "etc."
            word = re.search(r"(\S+)$", text[start : m.start(1)])
            if not (word and word.group(1).lower().rstrip(".") in _FINAL_ABBREVIATIONS and nxt.isupper()):
                continue
        if not (nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘([*#-•$€£" or not nxt.isalpha()):
            continue
        if (
            punct == "."
            and nxt.isdigit()
            and re.search(r"\b(?:no|nos|p|pp|vol|fig|sec)\.?$", text[start : m.start(1)].lower())
        ):
            continue
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def split_units(text: str) -> list[Unit]:
    """Cut ``text`` into sentences, list items, headings and table rows, in order.

    Paragraphs are separated by blank lines; soft-wrapped lines of a paragraph are joined. A list item
    (``-``, ``*``, ``•``, ``1.``, ``a)`` ...) is its own unit even without a blank line before it, and a
    long item is itself split into sentences. Markdown emphasis markers are kept as written.

    Example:
        >>> [(u.kind, u.text) for u in split_units("# Plans\\nPro costs $8.\\n- Team: $12\\n- Free")]
        [('heading', 'Plans'), ('sentence', 'Pro costs $8.'), ('item', 'Team: $12'), ('item', 'Free')]
    """
    units: list[Unit] = []
    block = 0
    para: list[str] = []

    def flush_para() -> None:
        nonlocal para
        if para:
            for s in _split_plain(" ".join(para)):
                units.append(Unit(s, "sentence", block))
            para = []

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    item: list[str] | None = None

    def flush_item() -> None:
        nonlocal item
        if item:
            for s in _split_plain(" ".join(item)):
                units.append(Unit(s, "item", block))
        item = None

    for raw in lines:
        line = raw.strip()
        if not line:
            flush_para()
            flush_item()
            block += 1
            continue
        if line.startswith("```"):
            continue
        if _HEADING.match(line):
            flush_para()
            flush_item()
            block += 1
            units.append(Unit(_HEADING.sub("", line).strip().strip("#").strip(), "heading", block))
            block += 1
            continue
        if line.startswith("|") and line.count("|") >= 2:
            flush_para()
            flush_item()
            if not _TABLE_RULE.match(line):
                cells = [c.strip() for c in line.strip("|").split("|")]
                units.append(Unit(" | ".join(c for c in cells if c), "row", block))
            continue
        m = _LIST_ITEM.match(line)
        if m:
            flush_para()
            flush_item()
            item = [line[m.end() :].strip()]
            continue
        if item is not None and raw[:1].isspace():  # a continuation line of a list item
            item.append(line)
            continue
        flush_item()
        para.append(line)
    flush_para()
    flush_item()
    return [u for u in units if u.text]


def split_sentences(text: str) -> list[str]:
    """The texts of ``split_units(text)``: sentences and list items, headings and table rows included.

    Example:
        >>> split_sentences("Version 2.1 is out. It costs U.S. $5.\\n1. Open it\\n2. Save")
        ['Version 2.1 is out.', 'It costs U.S. $5.', 'Open it', 'Save']
    """
    return [u.text for u in split_units(text)]


def word_tokens(text: str) -> list[str]:
    """Lower-cased word and number tokens (``"1,234.5"`` stays one token, apostrophes stay inside words).

    Example:
        >>> word_tokens("Don't pay $1,234.50 twice")
        ["don't", 'pay', '1,234.50', 'twice']
    """
    return [t.lower().replace("’", "'") for t in _WORD.findall(text)]


_SUFFIXES = (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def stem(word: str) -> str:
    """A light English stemmer (plural, -ing/-ed endings, final e) good enough for lexical overlap.

    Example:
        >>> [stem(w) for w in ("refunds", "processed", "charging", "charge", "policies", "class")]
        ['refund', 'process', 'charg', 'charg', 'policy', 'class']
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "zes", "sses")):
                word = word[:-1]
            else:
                word = word[: len(word) - len(suffix)] + repl
            break
    if len(word) >= 5 and word.endswith("e") and not word.endswith("ee"):
        word = word[:-1]
    return word


def content_tokens(text: str) -> list[str]:
    """Stemmed content tokens of ``text``: words and numbers, stop words removed.

    Example:
        >>> content_tokens("Is the Pro plan cheaper than Team?")
        ['pro', 'plan', 'cheaper', 'team']
    """
    return [stem(t) for t in word_tokens(text) if t not in STOPWORDS]


def evidence_units(text: str, *, window: int = 1) -> list[str]:
    """The spans of an evidence passage a claim is compared with: each unit, then runs of ``window``.

    Single sentences catch a claim restating one fact; with ``window=2`` adjacent pairs are added, for
    claims joining two facts (the verifier compares with the whole passage for that instead, which is
    cheaper). Headings are left out.

    Example:
        >>> evidence_units("Pro costs $8. It has 20 GB. Sync is free.", window=2)
        ['Pro costs $8.', 'It has 20 GB.', 'Sync is free.', 'Pro costs $8. It has 20 GB.', 'It has 20 GB. Sync is free.']
    """
    units = [u.text for u in split_units(text) if u.kind != "heading"]
    out = list(units)
    if window >= 2:
        for i in range(len(units) - 1):
            out.append(" ".join(units[i : i + window]))
    return out
