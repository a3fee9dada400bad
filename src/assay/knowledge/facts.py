"""Key facts of a sentence — quantities, times, named entities, negation, modality — and how they compare.

These are the details a fluent but wrong answer gets wrong while staying semantically close to the truth
(embedding similarity cannot see that "14 days" became "30 days"). Everything is rule-based and
deterministic; it is a heuristic and is reported as one.

* Quantities: digits and number words (``"two weeks"``, ``"fifty"``, ``"9.2 million"``, ``"half"``),
  with units normalised (durations to seconds, sizes to bytes, lengths to metres, money, percent), ranges
  (``"5 to 10 business days"``) carrying their unit to both ends, and clock times (``"9:00"``, ``"6 pm"``).
* Entities: capitalised names and acronyms (not a sentence's first word unless part of a multi-word name),
  quoted UI labels, month and weekday names.
* Negation: ``not``, ``never``, ``no``, ``cannot``, ``n't``, ``without``, ``in-/un-`` antonyms of a few
  common predicates (``ineffective``, ``unavailable``) — compared by parity.
* Modality: necessity (``must``, ``required``) against mere possibility (``can``, ``optional``).

Example:
    >>> [(q.value, q.dim) for q in extract_quantities("Refunds take two weeks and cost $8.")]
    [(1209600.0, 'duration'), (8.0, 'money')]
    >>> sorted(extract_entities("Marie Curie won the Nobel Prize in Stockholm."))
    ['marie curie', 'nobel prize', 'stockholm']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.knowledge.text import STOPWORDS, stem

__all__ = [
    "Quantity",
    "clauses",
    "entity_in",
    "extract_entities",
    "extract_quantities",
    "modality",
    "negation_count",
    "quantities_match",
    "relevant_negations",
]

# ------------------------------------------------------------------------------------ number words
_SMALL = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "dozen": 12,
}
_SCALE = {"hundred": 100, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_FRACTIONS = {
    "half": 50.0,
    "a half": 50.0,
    "a quarter": 25.0,
    "one quarter": 25.0,
    "three quarters": 75.0,
    "a third": 33.3,
    "one third": 33.3,
    "two thirds": 66.7,
}

# unit word → (dimension, factor to the base unit)
_UNITS: dict[str, tuple[str, float]] = {}
for _names, _dim, _f in [
    (("second", "seconds", "sec", "secs", "s"), "duration", 1),
    (("minute", "minutes", "min", "mins"), "duration", 60),
    (("hour", "hours", "hr", "hrs", "h"), "duration", 3600),
    (("day", "days", "calendar day", "calendar days"), "duration", 86400),
    (("business day", "business days", "working day", "working days"), "business_days", 1),
    (("week", "weeks"), "duration", 7 * 86400),
    (("month", "months"), "duration", 30 * 86400),
    (("year", "years"), "duration", 365 * 86400),
    (("decade", "decades"), "duration", 3650 * 86400),
    (("kb", "kilobyte", "kilobytes"), "bytes", 1e3),
    (("mb", "megabyte", "megabytes"), "bytes", 1e6),
    (("gb", "gigabyte", "gigabytes"), "bytes", 1e9),
    (("tb", "terabyte", "terabytes"), "bytes", 1e12),
    (("mm", "millimetre", "millimetres", "millimeter", "millimeters"), "length", 1e-3),
    (("cm", "centimetre", "centimetres", "centimeter", "centimeters"), "length", 1e-2),
    (("m", "metre", "metres", "meter", "meters"), "length", 1),
    (("km", "kilometre", "kilometres", "kilometer", "kilometers"), "length", 1e3),
    (("mi", "mile", "miles"), "length", 1609.344),
    (
        ("km²", "km2", "square kilometre", "square kilometres", "square kilometer", "square kilometers"),
        "area",
        1e6,
    ),
    (("mg", "milligram", "milligrams"), "mass", 1e-3),
    (("g", "gram", "grams"), "mass", 1),
    (("kg", "kilogram", "kilograms"), "mass", 1e3),
    (("l", "litre", "litres", "liter", "liters"), "volume", 1),
    (("ml", "millilitre", "millilitres", "milliliter", "milliliters"), "volume", 1e-3),
    (("%", "percent", "per cent", "percentage points"), "percent", 1),
    (("°c", "degrees celsius", "degree celsius", "°", "degrees"), "temperature", 1),
    (("dollar", "dollars", "usd", "euro", "euros", "eur", "pound", "pounds", "gbp"), "money", 1),
    (("digit", "digits"), "digits", 1),
]:
    for _n in _names:
        _UNITS[_n] = (_dim, float(_f))
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_CURRENCY = "$€£¥₹"

_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_UNITS_WORDS = "one|two|three|four|five|six|seven|eight|nine"
_NUMWORD = rf"(?:{_TENS})(?:[\s-](?:{_UNITS_WORDS})\b)?|" + "|".join(
    sorted([*_SMALL, "a", "an"], key=len, reverse=True)
)
_NUM_RE = re.compile(
    rf"""(?P<cur>[{_CURRENCY}])?\s?
    (?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+
       |(?<![\w])(?:{_NUMWORD})(?![\w]))
    (?:\s(?P<and>and\sa\shalf))?
    (?:\s?(?P<scale>hundred|thousand|million|billion|trillion)\b)?
    (?:[\s-]?(?P<unit>{_UNIT_RE})(?![\w]))?""",
    re.VERBOSE | re.IGNORECASE,
)
_TIME_RE = re.compile(
    r"\b(?P<h>[01]?\d|2[0-3])(?::(?P<m>[0-5]\d))?\s?(?P<ampm>a\.?m\.?|p\.?m\.?)(?!\w)|\b(?P<h2>[01]?\d|2[0-3]):(?P<m2>[0-5]\d)\b",
    re.IGNORECASE,
)
_RANGE_JOIN = re.compile(r"^\s*(?:to|-|–|and|or|through)\s*$", re.IGNORECASE)
_FRACTION_RE = re.compile(
    r"\b(" + "|".join(sorted(_FRACTIONS, key=len, reverse=True)) + r")\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number found in text, in base units when it had a known unit (``dim`` is None otherwise)."""

    value: float
    dim: str | None
    text: str
    start: int = 0
    end: int = 0


def _word_value(word: str) -> float | None:
    w = word.lower().replace("-", " ").split()
    if not w:
        return None
    if w[0] in ("a", "an"):
        return 1.0 if len(w) == 1 else None
    total = 0.0
    for part in w:
        if part not in _SMALL:
            return None
        total += _SMALL[part]
    return total


def extract_quantities(text: str, *, implicit_one: bool = False) -> list[Quantity]:
    """Numbers of ``text`` with their units normalised; ``implicit_one`` also reads ``"an hour"`` as 1 hour.

    Example:
        >>> [(q.value, q.dim) for q in extract_quantities("5 to 10 business days, 9:00-18:00, 1,200 mg")]
        [(5.0, 'business_days'), (10.0, 'business_days'), (540.0, 'time'), (1080.0, 'time'), (1.2, 'mass')]
    """
    out: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for m in _TIME_RE.finditer(text):
        if m.group("h") is not None:
            hour, minute = int(m.group("h")), int(m.group("m") or 0)
            if m.group("ampm").lower().startswith("p") and hour < 12:
                hour += 12
            if m.group("ampm").lower().startswith("a") and hour == 12:
                hour = 0
        else:
            hour, minute = int(m.group("h2")), int(m.group("m2"))
        out.append(Quantity(float(hour * 60 + minute), "time", m.group(0), m.start(), m.end()))
        taken.append((m.start(), m.end()))
    for m in _FRACTION_RE.finditer(text):
        if re.search(r"\band\s$", text[: m.start()]):
            continue  # "one and a half": read with its whole number below
        if not any(s <= m.start() < e for s, e in taken):
            out.append(Quantity(_FRACTIONS[m.group(1).lower()], "percent", m.group(0), m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for m in _NUM_RE.finditer(text):
        if any(s <= m.start("num") < e for s, e in taken):
            continue
        raw = m.group("num")
        if raw[0].isdigit() or raw[0] == ".":
            before = text[max(0, m.start("num") - 2) : m.start("num")]
            if (before[-1:].isalpha()) or (before[-1:] in ("-", "/") and before[:1].isalpha()):
                continue  # MP4, COVID-19, km/2: part of a name or a ratio
            value = float(raw.replace(",", ""))
        else:
            wv = _word_value(raw)
            if wv is None:
                continue
            if raw.lower() in ("a", "an", "one") and not (implicit_one or raw.lower() == "one"):
                continue
            if raw.lower() in ("a", "an") and not m.group("unit"):
                continue
            value = wv
        if m.group("and"):
            value += 0.5
        if m.group("scale"):
            value *= _SCALE[m.group("scale").lower()]
        unit = (m.group("unit") or "").lower()
        dim: str | None = None
        if m.group("cur"):
            dim = "money"
        elif unit:
            dim, factor = _UNITS[unit]
            if dim == "length" and unit == "m" and re.match(r"\s*/\s*s", text[m.end() :]):
                dim, factor = "speed", 1.0
            value *= factor
        elif raw.isdigit() and len(raw) == 4 and 1000 <= value <= 2100:
            dim = "year"
        if dim is None and not raw[0].isdigit() and raw.lower() in ("one",):
            pass
        out.append(Quantity(round(value, 6), dim, m.group(0).strip(), m.start(), m.end()))
    out.sort(key=lambda q: q.start)
    # a range "5 to 10 days" gives its unit to the first end
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if (
            a.dim is None
            and b.dim is not None
            and b.dim not in ("year", "money")
            and _RANGE_JOIN.match(text[a.end : b.start].replace(" ", " "))
        ):
            unit_m = re.search(rf"({_UNIT_RE})\s*$", b.text, re.IGNORECASE)
            factor = _UNITS[unit_m.group(1).lower()][1] if unit_m else 1.0
            out[i] = Quantity(round(a.value * factor, 6), b.dim, a.text, a.start, a.end)
        elif a.dim == "money" and b.dim is None and _RANGE_JOIN.match(text[a.end : b.start]):
            out[i + 1] = Quantity(b.value, "money", b.text, b.start, b.end)
    return out


def quantities_match(a: Quantity, b: Quantity, *, rel_tol: float = 0.005) -> bool:
    """Same value (within ``rel_tol``) and compatible dimension (equal, or one of them unitless).

    Example:
        >>> two_weeks, fourteen_days = extract_quantities("two weeks")[0], extract_quantities("14 days")[0]
        >>> quantities_match(two_weeks, fourteen_days)
        True
    """
    if a.dim is not None and b.dim is not None and a.dim != b.dim:
        return False  # two different units never match; a unit read on one side only compares by value
    if (
        "year" in (a.dim, b.dim)
        or "time" in (a.dim, b.dim)
        or (a.value.is_integer() and b.value.is_integer() and max(abs(a.value), abs(b.value)) < 1e4)
    ):
        return a.value == b.value
    return abs(a.value - b.value) <= rel_tol * max(abs(a.value), abs(b.value), 1e-9)


# ------------------------------------------------------------------------------------ entities
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
]
_NOT_NAMES_TEXT = """
    i a an the this that these those it its if in on at to for of and or but by with from as is are was
    were be you your we our they their he she his her my me us them there here what when where why how
    who which yes no not all any each every some most many much more less only also however then so
    once after before while during because although though since until unless whether both either
    neither one two three four five six seven eight nine ten first second third use using open go click
    tap select choose note notes settings pro free
"""
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
_CAP_WORD = re.compile(r"[A-Z][\w'’.-]*[\w]|[A-Z]|\w*[a-z][A-Z]\w*|\w*\d\w*[A-Za-z]\w*|[A-Za-z]+\d\w*")
_QUOTED = re.compile(r"[\"“«]([^\"”»]{2,40})[\"”»]")
_TOKEN = re.compile(r"\w[\w'’-]*(?:\.\w+)*|[^\w\s]")


def _clean(word: str) -> str:
    w = word.lower().replace("’", "'").strip(".-'")
    if w.endswith("'s"):
        w = w[:-2]
    return w


def extract_entities(text: str) -> set[str]:
    """Lower-cased names in ``text``: capitalised words and runs of them, acronyms, quoted labels, months.

    The first word of a sentence counts only when it starts a multi-word name or looks like a product
    token (``iOS``, ``GPT-4``). Sentence-initial function words never count.

    Example:
        >>> sorted(extract_entities('Open "Available offline" on iOS. Paris is in France.'))
        ['available offline', 'france', 'ios']
    """
    ents: set[str] = {m.group(1).strip().lower() for m in _QUOTED.finditer(text)}
    body = _QUOTED.sub(" ", text)
    tokens = _TOKEN.findall(body)
    sentence_start = True
    run: list[str] = []
    run_start_initial = False

    def close() -> None:
        nonlocal run
        if run:
            words = [_clean(w) for w in run]
            words = [w for w in words if w]
            lone = len(words) == 1
            if (
                words
                and not (run_start_initial and lone and not _odd_case(run[0]))
                and not (lone and words[0] in _NOT_NAMES)
            ):
                ents.add(" ".join(words))
        run = []

    for tok in tokens:
        is_cap = bool(_CAP_WORD.fullmatch(tok)) and (tok[0].isupper() or _odd_case(tok))
        if tok.lower() in _MONTHS and tok[0].isupper():
            close()
            ents.add(tok.lower())
            sentence_start = False
            continue
        if is_cap and not (sentence_start and tok.lower() in _NOT_NAMES):
            if not run:
                run_start_initial = sentence_start
            run.append(tok)
        else:
            close()
        sentence_start = tok in (".", "!", "?", ":", ";", "-", "•", "*") or (
            sentence_start and not tok.strip()
        )
    close()
    return {e for e in ents if e and not e.isdigit() and e not in _UNITS}


def _odd_case(tok: str) -> bool:
    """iOS, macOS, GPT-4, 2FA, PDFs: mixed case or letters with digits, or an all-caps acronym."""
    letters = [c for c in tok if c.isalpha()]
    if not letters:
        return False
    if any(c.isdigit() for c in tok):
        return True
    if len(letters) >= 2 and sum(c.isupper() for c in letters) >= 2:
        return True
    return bool(re.search(r"[a-z][A-Z]", tok))


def _prefix_match(a: str, b: str) -> bool:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n >= 4 and n >= 0.8 * min(len(a), len(b))


def entity_in(entity: str, text: str) -> bool:
    """Whether ``entity`` is mentioned in ``text``: as written, in another inflection (Egypt/Egyptian),
    without a plural ``s`` (PDFs/PDF), or as the initials of consecutive words (CET).

    Example:
        >>> entity_in("cet", "from 9:00 to 18:00 Central European Time")
        True
        >>> entity_in("chicago", "In Denver, water boils at 95 degrees")
        False
        >>> entity_in("(copy from device, date)", 'titled "(copy from DEVICE, DATE)"')
        True
    """
    words = [_clean(w) for w in re.findall(r"[\w'’.-]+", text)]
    words = [w for w in words if w]
    # the entity is normalised like the text: a quoted label keeps no brackets or commas to trip on
    entity = " ".join(w for w in (_clean(w) for w in re.findall(r"[\w'’.-]+", entity)) if w) or entity
    parts = entity.split()
    low = " " + " ".join(words) + " "
    if f" {entity} " in low:
        return True
    singular = " ".join(p[:-1] if p.endswith("s") and len(p) > 3 else p for p in parts)
    if f" {singular} " in low or f" {singular}s " in low:
        return True
    if len(parts) == 1:
        e = parts[0]
        if any(_prefix_match(e, w) for w in words if len(w) >= 4):
            return True
        if 2 <= len(e) <= 6 and e.isalpha():  # an acronym spelled out
            initials = [w[0] for w in " ".join(words).replace("-", " ").split() if w]
            joined = "".join(initials)
            if e in joined:
                return True
        return False
    # a multi-word name: every significant word present (word order may change)
    return all(
        f" {p} " in low or any(_prefix_match(p, w) for w in words if len(w) >= 4)
        for p in parts
        if p not in _NOT_NAMES
    )


# ------------------------------------------------------------------------------------ polarity, modality
_STOP = STOPWORDS | {"not", "no", "never", "be", "been", "t", "don", "doesn", "isn", "aren", "can", "cannot"}
_NEG = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot|without|unable|ineffective|unavailable|"
    r"impossible|prohibited|forbidden|disallowed|unsupported|invalid)\b|n't\b",
    re.IGNORECASE,
)
_NECESSITY = re.compile(r"\b(?:must|mandatory|has to|have to|obligatory|compulsory)\b", re.IGNORECASE)
_POSSIBILITY = re.compile(
    r"\b(?:optional|optionally|if you (?:want|like|wish)|may choose|can choose)\b", re.IGNORECASE
)


def negation_count(text: str) -> int:
    """How many negation cues ``text`` has (compare parities: an even count asserts, an odd one denies).

    Example:
        >>> negation_count("You cannot edit it"), negation_count("It doesn't not work")
        (1, 2)
    """
    return len(_NEG.findall(text.replace("’", "'")))


def _words_match(a: str, b: str) -> bool:
    return a == b or _prefix_match(a, b)


def relevant_negations(text: str, other: str, *, reach: int = 4) -> int:
    """Negation cues of ``text`` whose scope mentions something ``other`` talks about.

    A cue's scope is the next ``reach`` content words up to a punctuation mark (and, for a cue that
    ends its clause, the content words just before it: "... cannot be undone"). Cues about something else
    ("view it *without signing in*") are not counted, so two texts' polarity is compared on what they
    share.

    Example:
        >>> relevant_negations("Messages include the title, not the full text.", "Messages include the full text")
        1
        >>> relevant_negations("Messages include the title, not the full text.", "Messages contain the title")
        0
    """
    want = [stem(w) for w in re.findall(r"[a-z]+", other.lower()) if w not in _STOP]
    count = 0
    norm = text.replace("’", "'")
    for m in _NEG.finditer(norm):
        after = re.split(r"[.,;:!?()]", norm[m.end() :], maxsplit=1)[0]
        before = re.split(r"[.,;:!?()]", norm[: m.start()])[-1]
        scope = [w for w in re.findall(r"[a-z]+", after.lower()) if w not in _STOP][:reach]
        scope += [w for w in re.findall(r"[a-z]+", before.lower()) if w not in _STOP][-2:]
        if any(_words_match(stem(w), x) for w in scope for x in want):
            count += 1
    return count


def modality(text: str) -> str | None:
    """``"necessary"`` (must, mandatory), ``"optional"`` (optional, if you want) or None.

    Only explicit markers count: "can" and "requires" are too often used for plain facts to compare.

    Example:
        >>> modality("You must renew it"), modality("Renewal is optional"), modality("You can renew it")
        ('necessary', 'optional', None)
    """
    if _NECESSITY.search(text):
        return "necessary"
    if _POSSIBILITY.search(text):
        return "optional"
    return None


_CLAUSE_SPLIT = re.compile(
    r"\s*[;,:]?\s+(?:but|while|whereas|although|though|however|so|and(?=\s+(?:it|they|you|we|he|she|"
    r"there)\b))\s+|\s*[;,:]\s+",
    re.IGNORECASE,
)


def clauses(text: str) -> list[str]:
    """``text`` cut at commas, semicolons and clause-joining conjunctions (for scoping negation).

    Example:
        >>> clauses("Your account moves to the free plan, but none of your notes are deleted.")
        ['Your account moves to the free plan', 'none of your notes are deleted.']
    """
    return [c for c in _CLAUSE_SPLIT.split(text) if c and c.strip()]


def content_stems(text: str) -> set[str]:
    """Stemmed lower-case words of ``text`` (for entity-free lexical overlap)."""
    return {stem(w) for w in re.findall(r"[a-z]+", text.lower())}
