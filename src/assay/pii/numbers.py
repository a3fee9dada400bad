"""Detectors of numbers that identify a person or an account: payment cards (issuer prefix and Luhn),
IBANs (registered length and mod-97), national IDs (US SSN, UK NINO, Spanish DNI) and phone numbers.

Each detector appends the ``Entity``s it finds in ``text`` to ``out``; ``shape`` is the text's
``shape._shape`` (None: scan the plain way). Each digit- or letter-led pattern has a *hint* next to it:
the same pattern over shapes (see ``assay.pii.shape``), so the pattern is tried only where it can match.
"""

from __future__ import annotations

import re

from assay.pii.checksums import _IBAN_LENGTHS, _iban_checksum_ok, iban_valid, luhn_valid
from assay.pii.entity import Entity, _add, _add_span, _entity
from assay.pii.shape import _ALNUM, _bounded, _digit_runs, _starts_token

# ------------------------------------------------------------------------------------------- cards
# ``\d(?:[ -]?\d){12,18}`` unrolled: 12 required steps, then up to 6 nested optional ones (greedy, so the
# same lengths are tried in the same order); simple single-character steps are much faster in ``re``
_CARD = re.compile(r"\d" + r"[ -]?\d" * 12 + r"(?:[ -]?\d" * 6 + r")?" * 6 + r"(?![\d]|[.,]\d)")
_CARD_ISSUERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("visa", re.compile(r"4\d{12}(?:\d{3}){0,2}$")),
    ("mastercard", re.compile(r"(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}$")),
    ("amex", re.compile(r"3[47]\d{13}$")),
    ("discover", re.compile(r"(?:6011|65\d{2}|64[4-9]\d)\d{12,15}$")),
    ("jcb", re.compile(r"35(?:2[89]|[3-8]\d)\d{12,15}$")),
    ("diners", re.compile(r"3(?:0[0-5]|[68]\d)\d{11,16}$")),
    ("unionpay", re.compile(r"62\d{14,17}$")),
    ("maestro", re.compile(r"(?:5[06-9]|6\d)\d{10,17}$")),
)
_CARD_HINT = re.compile(r"0[0 -]{11,35}0")  # 13-19 digits with single separators: 13-37 characters

# ------------------------------------------------------------------------------------------- IBANs
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_IBAN_HINT = re.compile(r"AA00")

# ---------------------------------------------------------------------------------- national IDs
_SSN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
_SSN_HINT = re.compile(r"000[- ]00[- ]0000")
_SSN_BARE = re.compile(r"(?:ssn|social security(?: number| no\.?)?)\s*(?:is|:|#)?\s*(\d{9})\b")
# (the excluded prefixes are checked by a look-behind after the two letters, not a look-ahead before them:
# a pattern that starts with a character class lets the regex engine skip quickly to candidate positions)
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|NK|KN|TN|NT|ZZ)"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_NINO_HINT = re.compile(r"AA ?00 ?00 ?00 ?A")
_DNI = re.compile(r"(\d{8})-?([A-HJ-NP-TV-Z])(?![A-Za-z0-9])")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_DNI_HINT = re.compile(r"00000000-?A")

# ------------------------------------------------------------------------------------------ phones
_PHONE_BEFORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")
_PHONE = re.compile(r"(?:\+|00)?\(?\d[\d ().-]{6,20}\d(?![\w-]|\.\d)")
#: the part of ``_PHONE`` after its optional prefix (at most 3 characters: ``00(``); it starts with a digit,
#: so the engine finds it fast, and every phone match starts at most 3 characters before one of these
_PHONE_CORE = re.compile(r"\d[\d ().-]{6,20}\d")
#: ``_PHONE_CORE`` over shapes: it matches exactly where ``_PHONE_CORE`` matches the text
_PHONE_CORE_HINT = re.compile(r"0[0 ().-]{6,20}0")
_PHONE_PREFIX_MAX = 3
#: the non-digit characters a phone, card or SSN match can contain: removed, or turned into spaces
_DROP_SEPARATORS = str.maketrans("", "", "+() .-")
_SEPARATORS_TO_SPACE = str.maketrans("+().-", "     ")
_PHONE_WORDS = re.compile(
    r"(?i)(?:phone|mobile|cell|call|tel|telephone|fax|whatsapp|sms|text me|number|tél|teléfono|telefon)"
    r"\W{0,4}(?:\w+\W{1,3}){0,3}$"
)
_NANP = re.compile(r"^[2-9]\d{2}([ .-])[2-9]\d{2}\1\d{4}$")
_SSN_SHAPE = re.compile(r"^\d{3}[- ]\d{2}[- ]\d{4}$")


def _cards(text: str, out: list[Entity], shape: str | None = None) -> None:
    for m in _bounded(_CARD, text, "0123456789.,-", shape, _CARD_HINT):
        raw = m.group()
        if " " in raw and "-" in raw:
            continue  # "4111-1111 1111 1111": not how a card number is written
        digits = raw.replace(" ", "").replace("-", "")
        if digits[0] not in "23456":
            continue  # no issuer's numbers start with another digit (checked first: it is cheap)
        if not luhn_valid(digits) or digits.count(digits[0]) == len(digits):  # (one repeated digit)
            continue
        for issuer, pattern in _CARD_ISSUERS:
            if pattern.match(digits):
                _add(out, "credit_card", m, issuer, digits)
                break


def _ibans(text: str, out: list[Entity], shape: str | None = None) -> None:
    if shape is not None and "AA00" not in shape:
        return
    for m in _bounded(_IBAN, text, _ALNUM, shape, _IBAN_HINT):
        raw = m.group().rstrip()
        compact = raw.replace(" ", "")
        length = _IBAN_LENGTHS.get(compact[:2])
        if length is None:
            continue
        if len(compact) > length:  # the match ran into the following word: cut to the registered length
            kept, n = [], 0
            for ch in raw:
                if n == length:
                    break
                kept.append(ch)
                n += ch != " "
            raw = "".join(kept).rstrip()
            compact = raw.replace(" ", "")
        if len(compact) != length:
            continue
        # (the pattern and the length check everything ``iban_valid`` does but the checksum)
        if _iban_checksum_ok(compact) if compact.isascii() else iban_valid(compact):
            out.append(_entity("iban", m.start(), m.start() + len(raw), raw, compact[:2].lower(), compact))


def _ssn_valid(d: str) -> bool:
    """Area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def _national_ids(text: str, out: list[Entity], shape: str | None = None) -> None:
    if shape is None:  # no hints: a pattern whose numbers need a digit run that does not occur is skipped
        runs = frozenset(_digit_runs(text))
        ssn, nino, dni = 2 in runs and 4 in runs, 2 in runs or 6 in runs, max(runs, default=0) >= 8
    else:  # a piece of each hint, found by ``str`` search (cheaper than the hint's regular expression)
        ssn = "0-00-" in shape or "0 00 " in shape
        nino = "A00" in shape or "A 00" in shape
        dni = "00000000" in shape
    if ssn:  # AAA-GG-SSSS: a run of exactly 2 and one of exactly 4
        for m in _bounded(_SSN, text, "0123456789-", shape, _SSN_HINT):
            digits = m.group().translate(_DROP_SEPARATORS)  # only [- ] separate its digits
            if _ssn_valid(digits):
                _add(out, "national_id", m, "us_ssn", digits)
    if shape is None or "000000000" in shape:  # the bare form has 9 digits in a row
        low = text.lower()
        if "ssn" in low or "social security" in low:
            for m in _SSN_BARE.finditer(low):
                if _starts_token(low, m.start(), _ALNUM) and _ssn_valid(m.group(1)):
                    _add_span(out, text, "national_id", m.start(1), m.end(1), "us_ssn", m.group(1))
    if nino:  # 6 digits written as 6, 2+4, 4+2 or 2+2+2
        for m in _bounded(_NINO, text, _ALNUM, shape, _NINO_HINT):
            _add(out, "national_id", m, "uk_nino", m.group().replace(" ", "").upper())
    if dni:  # 8 digits then the check letter
        for m in _bounded(_DNI, text, _ALNUM, shape, _DNI_HINT):
            if _DNI_LETTERS[int(m.group(1)) % 23] == m.group(2):
                _add(out, "national_id", m, "es_dni", m.group(1) + m.group(2))


def _phone_matches(text: str, shape: str | None = None) -> list[re.Match[str]]:
    """The matches of ``_bounded(_PHONE, text, _PHONE_BEFORE)``, found faster.

    ``_PHONE`` begins with an optional prefix, so the engine would try it at every character. Instead the
    digit-led ``_PHONE_CORE`` finds the next place where a number can be (at ``p``); no phone match starts
    before ``p - 3``, so ``_PHONE`` is tried only at the few starts ``p - 3 .. p`` that are not preceded
    by a ``_PHONE_BEFORE`` character. The first of those that matches is exactly what ``_bounded`` would
    accept next. Given the text's ``shape``, the core is found in the shape (``_PHONE_CORE_HINT``, the
    same places).
    """
    found: list[re.Match[str]] = []
    pos = 0
    while True:
        core = _PHONE_CORE.search(text, pos) if shape is None else _PHONE_CORE_HINT.search(shape, pos)
        if core is None:
            return found
        p = core.start()
        m = None
        before = text[p - 1] if p else " "
        if before in "+0(":  # a match before p has a prefix ("+", "00", "(" …) that ends at p - 1
            for s in range(max(pos, p - _PHONE_PREFIX_MAX), p + 1):
                # before p only the prefix characters can start a match (a digit there would have been p)
                if (s < p and text[s] not in "+0(") or (s and text[s - 1] in _PHONE_BEFORE):
                    continue
                m = _PHONE.match(text, s)
                if m is not None:
                    break
        elif before not in _PHONE_BEFORE:
            m = _PHONE.match(text, p)
        if m is None:
            pos = p + 1  # no match starts in [pos, p]
        else:
            found.append(m)
            pos = max(m.end(), m.start() + 1)


def _phones(
    text: str, out: list[Entity], shape: str | None = None, taken: list[tuple[int, int]] | None = None
) -> None:
    """``taken``: spans of entities of other types that ``detect`` keeps; a phone overlapping one would
    lose to it, so such a match is not examined."""
    # every test below rejects a match or not, independently of the others: the cheapest come first
    for m in _phone_matches(text, shape):
        start, end = m.span()
        if taken and any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        international = text.startswith(("+", "00"), start)
        if shape is None:
            raw = m.group()
            digits = raw.translate(_DROP_SEPARATORS)  # a phone match is digits and "+( ).-" only
        else:  # the digits are ASCII: counted, then kept, by byte operations
            n_digits = shape.count("0", start, end) - (2 if text.startswith("00", start) else 0)
            if not 9 <= n_digits <= 15:
                continue
            raw = m.group()
            digits = raw.encode("ascii").translate(None, b"+() .-").decode("ascii")
        if international and raw.startswith("00"):
            digits = digits[2:]
        # (a date has at most 8 digits: the length rules dates out)
        if not 9 <= len(digits) <= 15 or ".." in raw or "--" in raw:
            continue
        if ("(" in raw or ")" in raw) and raw.count("(") != raw.count(")"):
            if raw.startswith("(") and ")" not in raw:
                continue
            if raw.count("(") > raw.count(")"):
                continue
        if digits.count(digits[0]) == len(digits) or (international and digits[0] == "0"):
            continue  # one repeated digit; no country code starts with 0
        if not international:
            groups = raw.translate(_SEPARATORS_TO_SPACE).split()
            if len(groups) == 1:
                # a bare run of digits is a phone number only when the text says so just before it
                if not _PHONE_WORDS.search(text, max(0, start - 40), start):
                    continue
            elif len(groups) > 6 or max(map(len, groups)) > 5 or min(map(len, groups[1:])) < 2:
                continue
            elif not (raw.startswith(("0", "(")) or _NANP.match(raw)):
                continue  # national numbers start with a trunk 0 or an area code in brackets, or are NANP
            if (" " in raw) + ("." in raw) + ("-" in raw) > 1 and "(" not in raw:
                continue  # mixed separators
            if _SSN_SHAPE.match(raw):
                continue  # AAA-GG-SSSS is how a US SSN is written, not a phone number
        _add(out, "phone", m, "e164" if international else "national", digits)
