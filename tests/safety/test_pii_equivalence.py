"""assay.pii.detect against the straightforward implementation it was optimised from.

``detect`` uses prefilters and anchored searches for speed (issue 4: >= 10,000 responses/s). This file
keeps the previous, plain implementation (every regex scanned over the whole text) as a private reference;
on thousands of generated texts, with and without personal data, both must report exactly the same
entities (type, span, text, subtype and canonical value).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import doctest
import importlib
import ipaddress
import math
import pkgutil
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import pii
from assay.pii import ENTITY_TYPES, Entity

_PRIORITY = {
    t: i
    for i, t in enumerate(
        ("api_key", "secret", "credit_card", "iban", "email", "ip_address", "national_id", "phone")
    )
}


# ================================================================ reference: the previous implementation
# ----------------------------------------------------------------------------------------- checksums
def _ref_luhn_valid(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn (mod 10) check used by payment cards."""
    digits = [ord(c) - 48 for c in number if "0" <= c <= "9"]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: IBAN length per country (ISO 13616 registry)
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def _ref_iban_valid(iban: str) -> bool:
    """True for an IBAN with a registered country length and a valid ISO 7064 mod-97 checksum."""
    s = "".join(iban.split()).upper()
    if len(s) < 15 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    if _IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    rearranged = s[4:] + s[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _ref_shannon_entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text`` in bits per character (0 for an empty string)."""
    if not text:
        return 0.0
    n = len(text)
    return abs(sum(c / n * math.log2(c / n) for c in Counter(text).values()))


# ----------------------------------------------------------------------------------------- patterns
_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}(?![\d]|[.,]\d)")
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
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)(?:%\w+)?(?![\w:])")
_SSN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
_SSN_BARE = re.compile(r"(?:ssn|social security(?: number| no\.?)?)\s*(?:is|:|#)?\s*(\d{9})\b")
_NINO = re.compile(
    r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_DNI = re.compile(r"(\d{8})-?([A-HJ-NP-TV-Z])(?![A-Za-z0-9])")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_PHONE_BEFORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")
_PHONE = re.compile(r"(?:\+|00)?\(?\d[\d ().-]{6,20}\d(?![\w-]|\.\d)")
_PHONE_WORDS = re.compile(
    r"(?i)(?:phone|mobile|cell|call|tel|telephone|fax|whatsapp|sms|text me|number|tél|teléfono|telefon)"
    r"\W{0,4}(?:\w+\W{1,3}){0,3}$"
)
_NANP = re.compile(r"^[2-9]\d{2}([ .-])[2-9]\d{2}\1\d{4}$")
_SSN_SHAPE = re.compile(r"^\d{3}[- ]\d{2}[- ]\d{4}$")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")

_API_KEYS: tuple[tuple[str, str], ...] = (
    ("anthropic", r"sk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("github", r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"),
    ("aws_access_key", r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"),
    ("google", r"AIza[0-9A-Za-z_-]{35}"),
    ("slack", r"xox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    ("stripe", r"(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("gitlab", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("huggingface", r"hf_[A-Za-z0-9]{30,}"),
    ("npm", r"npm_[A-Za-z0-9]{36}"),
    ("sendgrid", r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)
_API_KEY_PATTERNS = [(name, re.compile(f"(?:{pat})(?![A-Za-z0-9_-])")) for name, pat in _API_KEYS]
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]{0,8000}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)?"
)
_ASSIGNED = re.compile(
    r"(?:api[_ -]?key|apikey|secret(?:[_ -]?key)?|client[_ -]?secret|access[_ -]?(?:key|token)|"
    r"auth[_ -]?token|token|passw(?:or)?d|passwd|pwd|passphrase|private[_ -]?key)\b"
    r"[\"']?\s*(?:[:=]|is|was|:=|=>)\s*[\"'`]?([^\s\"'`,;<>]{8,128})"
)
_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{24,256}")
_LONG_WORD = re.compile(r"\S{24,}")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/+=-")


_DIGIT_RUN = re.compile(r"\d+")
_IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
#: the fewest digits a value of each type can have
_MIN_DIGITS = {"credit_card": 13, "iban": 2, "phone": 8, "national_id": 6}


_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _starts_token(text: str, start: int, forbidden: frozenset[str] | str) -> bool:
    """True when the character before ``start`` is not in ``forbidden`` (the left boundary of a match;
    checked in code rather than with a look-behind, which would disable the regex engine's fast scan)."""
    return start == 0 or text[start - 1] not in forbidden


def _bounded(pattern: re.Pattern[str], text: str, forbidden: frozenset[str] | str) -> Iterator[re.Match[str]]:
    """Like ``pattern.finditer(text)`` but only matches not preceded by a ``forbidden`` character; a
    rejected start is retried one character later (as a look-behind would)."""
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            return
        if _starts_token(text, m.start(), forbidden):
            yield m
            pos = max(m.end(), m.start() + 1)
        else:
            pos = m.start() + 1


def _add(out: list[Entity], kind: str, m: re.Match[str], subtype: str, value: str, group: int = 0) -> None:
    out.append(Entity(kind, m.start(group), m.end(group), m.group(group), subtype, value))


def _emails(text: str, out: list[Entity]) -> None:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        _add(out, "email", m, "email", m.group().lower())


def _cards(text: str, out: list[Entity]) -> None:
    for m in _bounded(_CARD, text, "0123456789.,-"):
        raw = m.group()
        seps = {c for c in raw if not c.isdigit()}
        if len(seps) > 1:
            continue  # "4111-1111 1111 1111": not how a card number is written
        digits = raw.replace(" ", "").replace("-", "")
        if not _ref_luhn_valid(digits) or len(set(digits)) == 1:
            continue
        issuer = next((name for name, pat in _CARD_ISSUERS if pat.match(digits)), None)
        if issuer is not None:
            _add(out, "credit_card", m, issuer, digits)


def _ibans(text: str, out: list[Entity]) -> None:
    for m in _bounded(_IBAN, text, _ALNUM):
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
        if _ref_iban_valid(compact):
            out.append(Entity("iban", m.start(), m.start() + len(raw), raw, compact[:2].lower(), compact))


def _ips(text: str, out: list[Entity]) -> None:
    if "." in text:
        for m in _bounded(_IPV4, text, "0123456789."):
            octets = m.group().split(".")
            if all(int(o) <= 255 and (o == "0" or not o.startswith("0")) for o in octets):
                _add(out, "ip_address", m, "ipv4", m.group())
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            cand = m.group()
            if cand.count(":") < 2 or not any(c.isalnum() for c in cand):
                continue
            try:
                addr = ipaddress.IPv6Address(cand.split("%", 1)[0])
            except ValueError:
                continue
            _add(out, "ip_address", m, "ipv6", addr.compressed)


def _ssn_valid(d: str) -> bool:
    """Area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def _add_span(
    out: list[Entity], text: str, kind: str, start: int, end: int, subtype: str, value: str
) -> None:
    out.append(Entity(kind, start, end, text[start:end], subtype, value))


def _national_ids(text: str, out: list[Entity]) -> None:
    for m in _bounded(_SSN, text, "0123456789-"):
        digits = re.sub(r"\D", "", m.group())
        if _ssn_valid(digits):
            _add(out, "national_id", m, "us_ssn", digits)
    low = text.lower()
    if "ssn" in low or "social security" in low:
        for m in _SSN_BARE.finditer(low):
            if _starts_token(low, m.start(), _ALNUM) and _ssn_valid(m.group(1)):
                _add_span(out, text, "national_id", m.start(1), m.end(1), "us_ssn", m.group(1))
    for m in _bounded(_NINO, text, _ALNUM):
        _add(out, "national_id", m, "uk_nino", m.group().replace(" ", "").upper())
    for m in _bounded(_DNI, text, _ALNUM):
        if _DNI_LETTERS[int(m.group(1)) % 23] == m.group(2):
            _add(out, "national_id", m, "es_dni", m.group(1) + m.group(2))


def _phones(text: str, out: list[Entity]) -> None:
    for m in _bounded(_PHONE, text, _PHONE_BEFORE):
        raw = m.group()
        if raw.count("(") != raw.count(")"):
            if raw.startswith("(") and ")" not in raw:
                continue
            if raw.count("(") > raw.count(")"):
                continue
        digits = re.sub(r"\D", "", raw)
        international = raw.startswith("+") or raw.startswith("00")
        if international and raw.startswith("00"):
            digits = digits[2:]
        if not 9 <= len(digits) <= 15 or _DATE_LIKE.match(raw) or ".." in raw or "--" in raw:
            continue
        if len(set(digits)) == 1 or (international and digits[0] == "0"):
            continue  # no country code starts with 0
        groups = [g for g in re.split(r"[^\d]+", raw) if g]
        if not international:
            if len(groups) == 1:
                # a bare run of digits is a phone number only when the text says so just before it
                if not _PHONE_WORDS.search(text, max(0, m.start() - 40), m.start()):
                    continue
            elif len(groups) > 6 or max(len(g) for g in groups) > 5 or min(len(g) for g in groups[1:]) < 2:
                continue
            elif not (raw.startswith(("0", "(")) or _NANP.match(raw)):
                continue  # national numbers start with a trunk 0 or an area code in brackets, or are NANP
            if len({c for c in raw if c in " .-"}) > 1 and "(" not in raw:
                continue
            if _SSN_SHAPE.match(raw):
                continue  # AAA-GG-SSSS is how a US SSN is written, not a phone number
        _add(out, "phone", m, "e164" if international else "national", digits)


def _is_encoded_text(token: str) -> bool:
    """True when ``token`` is base64 of readable text (an encoded message, not a random secret)."""
    if len(token) % 4 == 1:
        return False
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not raw:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    return printable / len(raw) > 0.95


def _secrets(text: str, out: list[Entity]) -> None:
    if "-----BEGIN" in text:
        for m in _PRIVATE_KEY.finditer(text):
            _add(out, "secret", m, "private_key", m.group())
    low = text.lower()
    if len(low) == len(text):  # lower() kept the offsets (it can change the length of a few letters)
        starts = sorted({i for n in _ASSIGNED_NEEDLES for i in _find_all(low, n)})
        for i in starts:
            am = _ASSIGNED.match(low, i)
            if am is None or (i > 0 and low[i - 1].isalpha()):
                continue
            value = text[am.start(1) : am.end(1)]
            if value.lower() in _PLACEHOLDERS or set(value) <= {"*", "x", "X", "."}:
                continue
            entropy = _ref_shannon_entropy(value)
            random_looking = any(c.isdigit() for c in value) and entropy >= 2.5
            long_mixed = len(value) >= 16 and entropy >= 3.5 and not value.isupper() and not value.islower()
            if random_looking or long_mixed:
                _add_span(out, text, "secret", am.start(1), am.end(1), "assigned", value)
    for word in _LONG_WORD.finditer(text):
        for m in _TOKEN.finditer(text, word.start(), word.end()):
            if _token_bounded(text, m.start(), m.end()):
                _high_entropy(text, m, out)


def _token_bounded(text: str, start: int, end: int) -> bool:
    return _starts_token(text, start, _TOKEN_CHARS) and (end == len(text) or text[end] not in _TOKEN_CHARS)


def _high_entropy(text: str, m: re.Match[str], out: list[Entity]) -> None:
    tok = m.group()
    if (
        any(c.islower() for c in tok)
        and any(c.isupper() for c in tok)
        and sum(c.isdigit() for c in tok) >= 2
        and _ref_shannon_entropy(tok) >= 4.0
        and not _is_encoded_text(tok)
    ):
        _add(out, "secret", m, "high_entropy", tok)


_ASSIGNED_NEEDLES = ("api", "secret", "client", "access", "auth", "token", "pass", "pwd", "private")


def _find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


_PLACEHOLDERS = frozenset({"********", "xxxxxxxx", "<redacted>", "redacted", "changeme", "password"})


# one deliberate difference from the original: "github_pat_" is a needle of its own (the original
# searched for such keys only when some other key prefix was present, so a lone one went unreported)
_API_KEY_NEEDLES = ("sk-", "sk_", "pk_", "rk_", "gh", "github_pat_", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA",
                    "AIPA", "AIza", "xox", "hooks.slack.com", "glpat-", "hf_", "npm_", "SG.", "eyJ")  # fmt: skip


def _api_keys(text: str, out: list[Entity]) -> None:
    if not any(n in text for n in _API_KEY_NEEDLES):
        return
    seen: set[int] = set()
    for name, pat in _API_KEY_PATTERNS:
        for m in _bounded(pat, text, _KEY_CHARS):
            if m.start() not in seen:
                seen.add(m.start())
                _add(out, "api_key", m, name, m.group())


_DETECTORS: dict[str, Callable[[str, list[Entity]], None]] = {
    "api_key": _api_keys,
    "secret": _secrets,
    "credit_card": _cards,
    "iban": _ibans,
    "email": _emails,
    "ip_address": _ips,
    "national_id": _national_ids,
    "phone": _phones,
}


def _resolve(found: list[Entity]) -> list[Entity]:
    """Drop matches overlapping a stronger one (type priority, then length); return them in text order."""
    ranked = sorted(found, key=lambda e: (_PRIORITY[e.type], -(e.end - e.start), e.start))
    kept: list[Entity] = []
    for e in ranked:
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)


def _check_types(types: Iterable[str] | None) -> tuple[str, ...]:
    if types is None:
        return ENTITY_TYPES
    chosen = tuple(types)
    unknown = [t for t in chosen if t not in _DETECTORS]
    if unknown:
        raise ValueError(f"unknown entity type(s) {unknown}; known: {', '.join(ENTITY_TYPES)}")
    return chosen


def _reference_detect(text: str, types: Iterable[str] | None = None) -> list[Entity]:
    """Find personal data and secrets in ``text``; ``types`` limits the search (default: all types).

    Overlapping matches are resolved (a card number is not also reported as a phone number); the
    result is in text order. Raises ``ValueError`` for an unknown type.

    """
    chosen = _check_types(types)
    if not text:
        return []
    found: list[Entity] = []
    runs = [len(r) for r in _DIGIT_RUN.findall(text)]
    n_digits = sum(runs)
    for t in chosen:
        if t in _MIN_DIGITS and n_digits < _MIN_DIGITS[t]:
            continue  # every value of this type has at least that many digits
        if t == "ip_address" and not (_IPV4_HINT.search(text) or text.count(":") >= 2):
            continue
        if t == "national_id" and not any(r in (2, 3, 6, 8, 9) for r in runs):
            continue
        _DETECTORS[t](text, found)
    if types is not None:
        found = [e for e in found if e.type in chosen]
    return _resolve(found)


# ============================================================================================ tests
def _key(entities: list[Entity]) -> list[tuple[str, int, int, str, str, str]]:
    return [(e.type, e.start, e.end, e.text, e.subtype, e.value) for e in entities]


_PII = [
    "jane.doe@example.com", "Bob_99@mail.example.co.uk", "x@y", "a..b@example.com", "4155550132@example.com",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "4012 8888 8888 1881", "4111 1111 1111 1112",
    "5105105105105100", "3714-496353-98431", "3530111333300000", "0000 0000 0000 0000", "4111-1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "DE89370400440532013001", "CH9300762011623852957",
    "FR1420041010050500013M02606", "ES91 2100 0418 4502 0005 1332",
    "078-05-1120", "078 05 1120", "000-12-3456", "123-00-4567", "SSN: 078051120", "social security number is 123456789",
    "AB123456C", "AB 12 34 56 C", "QQ123456C", "GB123456A", "12345678Z", "12345678-Z", "12345678A",
    "198.51.100.7", "10.0.0.1", "256.1.1.1", "1.2.3.4.5", "01.2.3.4", "fe80::1ff:fe23:4567:890a", "::1", "2001:db8::1%eth0",
    "+44 20 7946 0958", "+1 202 555 0143", "0044 20 7946 0958", "(020) 7946 0958", "020 7946 0958", "202-555-0143",
    "202.555.0143", "0612345678", "2024-01-31", "31/01/2024", "12345678", "+49 30 901820", "(555 123 4567",
    "sk-proj-Lm4Qx8Tz2Wv6Rb9Nc3Yd7Hf1Jk5Pg0Sa", "sk-ant-api03-abcdefghijklmnopqrstuvwx", "sk-short",
    "ghp_" + "a1B2c3D4e5" * 4, "github_pat_" + "A" * 22 + "_x", "AKIAIOSFODNN7EXAMPLE", "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "xoxb-1234567890-abcdefghij", "hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "pk_test_" + "TYooMQauvdEDq54NiTphI7jx", "glpat-abcdefghij0123456789",
    "hf_" + "AbCdEfGhIj" * 3 + "K", "npm_" + "abcdefghijklmnopqrstuvwxyz0123456789", "SG.abcdefghijklmnop.qrstuvwxyzABCDEF0123",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "password: hunter2hunter2", "api_key = 9fK2pQ7xLm4RtZ8w", "token is changeme", "secret: ********",
    'client_secret="Zx8vQ2mN7pL4kR9tYb3W"', "passwd=abc", "PRIVATE_KEY: AbCdEfGh12345678IjKlMnOp",
    "7HqP2vXk9LmN4rTz8WcY3bJd6FgS1aE0", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    base64.b64encode(b"this is an ordinary sentence, encoded").decode(),
    "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----",
]  # fmt: skip
_WORDS = [
    "the", "call", "me", "on", "phone", "tel:", "number", "card", "iban", "ssn", "key", "ip", "host", "mail", "at",
    "Version", "1.2.3", "fixed", "on", "5", "business", "days", "ABC", "GB", "X1", "2024", "a.b", "x-y", "n_m", "100%",
    "é", "٣٤٥", "١٢٣٤٥٦٧٨٩", "Straße", "İstanbul", "ß", "—", "€5", "(", ")", "...", "--", "+", "00", ":", "::", "@",
    "authenticate", "passport", "tokens", "apis", "accessible", "ghost", "AKIA", "sk-", "eyJ", "xox", "hf_", "_live_",
]  # fmt: skip
_SEPARATORS = [" ", " ", " ", ", ", ". ", "\n", "\t", "-", ":", "=", "/", "", "\u00a0", "\u2028", "\x1c", "\u3000", "(", ")"]  # fmt: skip


def _generated_texts(n: int, seed: int) -> list[str]:
    """Texts mixing valid and invalid personal data, look-alikes, digits, Unicode digits and whitespace."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            if r < 0.35:
                parts.append(rng.choice(_PII))
            elif r < 0.75:
                parts.append(rng.choice(_WORDS))
            elif r < 0.9:  # random digits with separators
                parts.append("".join(rng.choice("0123456789 -.()+") for _ in range(rng.randint(1, 24))))
            else:  # random token-ish characters
                parts.append("".join(rng.choice("ABCxyz019+/=_-.@:") for _ in range(rng.randint(1, 40))))
            parts.append(rng.choice(_SEPARATORS))
        text = "".join(parts)
        if i % 7 == 0:  # glue fragments together without separators too
            text = text.replace(" ", "")
        texts.append(text)
    return texts


def test_detect_matches_the_reference_on_generated_texts() -> None:
    texts = _generated_texts(3000, seed=4)
    with_pii = 0
    for text in texts:
        expected = _key(_reference_detect(text))
        assert _key(pii.detect(text)) == expected, text
        with_pii += bool(expected)
    # the generator exercises both outcomes, and every entity type
    assert 0.3 * len(texts) < with_pii < len(texts)
    found_types = {e.type for t in texts for e in pii.detect(t)}
    assert found_types == set(ENTITY_TYPES)


@pytest.mark.parametrize(
    "types",
    [["phone"], ["national_id"], ["secret", "api_key"], ["email", "ip_address"], ["credit_card", "iban"]],
)
def test_detect_with_type_filter_matches_the_reference(types: list[str]) -> None:
    for text in _generated_texts(400, seed=len(types) * 31 + len(types[0])):
        assert _key(pii.detect(text, types)) == _key(_reference_detect(text, types)), text


def test_each_detector_matches_its_reference() -> None:
    # detectors compared one by one, before overlap resolution, so a lost low-priority match shows up too;
    # each both with the text's shape (patterns tried where their hints match) and without (plain scans)
    shapes = 0
    for text in _generated_texts(1500, seed=11):
        shape = pii._shape(text)
        shapes += shape is not None
        for kind in ENTITY_TYPES:
            want: list[Entity] = []
            _DETECTORS[kind](text, want)
            for known in (shape, None):
                got: list[Entity] = []
                pii._DETECTORS[kind](text, got, known)
                assert sorted(_key(got)) == sorted(_key(want)), (kind, known is None, text)
    assert 0.5 * 1500 < shapes < 1500  # most texts have a shape, those with Arabic-Indic digits do not


def test_shapes_keep_positions_and_classes() -> None:
    text = "Tel +44 (0)20 7946-0958, \u00e9t\u00e9 \u2028 x\ty ok?"
    shape = pii._shape(text)
    assert shape is not None and len(shape) == len(text)
    assert shape == "Aaa +00 (0)00 0000-0000, ?a? ? a\ta aa?"
    assert pii._shape("digits \u0663\u0664") is None  # Arabic-Indic digits match \\d: no shape
    assert pii._shape("") == ""


def test_checksums_and_entropy_match_the_reference() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789 -") for _ in range(rng.randint(0, 22)))
        assert pii.luhn_valid(digits) == _ref_luhn_valid(digits)
        country = rng.choice(sorted(_IBAN_LENGTHS))
        body = "".join(
            rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(_IBAN_LENGTHS[country] - 4)
        )
        iban = country + f"{rng.randint(0, 99):02d}" + body
        assert pii.iban_valid(iban) == _ref_iban_valid(iban)
        token = "".join(rng.choice("abcXYZ0123+/=-_") for _ in range(rng.randint(0, 40)))
        assert pii.shannon_entropy(token) == _ref_shannon_entropy(token)
    assert pii.iban_valid("GB82 WEST 1234 5698 7654 32") and _ref_iban_valid("GB82 WEST 1234 5698 7654 32")


_ALPHABET = st.sampled_from(
    [*list("aZ09@.-+:/_=()# \n\u00a0\u2028٣"), *_PII[::3], "call me on", "ssn", "key=", "token: "]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_detect_matches_the_reference_on_arbitrary_glued_fragments(text: str) -> None:
    assert _key(pii.detect(text)) == _key(_reference_detect(text))


def test_a_lone_github_fine_grained_token_is_detected() -> None:
    text = "here is my token github_pat_" + "A1b2C3d4E5" * 3 + "_x please keep it"
    found = [e for e in pii.detect(text) if e.type == "api_key"]
    assert len(found) == 1 and found[0].subtype == "github"


def test_fast_entity_constructor_builds_ordinary_entities() -> None:
    fast = pii._entity("email", 3, 10, "a@b.com", "email", "a@b.com")
    slow = Entity("email", 3, 10, "a@b.com", "email", "a@b.com")
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.start = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    "types",
    [
        ["secret", "phone", "email", "api_key"],  # any order: the detectors run in a fixed one
        ["phone", "phone", "credit_card", "credit_card"],  # repeated types count once
        ["secret"],  # secrets without API keys to step aside for
        list(reversed(ENTITY_TYPES)),
    ],
)
def test_type_filters_in_any_order_and_with_repeats_match_the_reference(types: list[str]) -> None:
    for text in _generated_texts(300, seed=len(types) * 7 + 1):
        expected = _key(_reference_detect(text, types))
        assert _key(pii.detect(text, types)) == expected, text
        assert _key(pii.detect(text, iter(types))) == expected, text  # a one-shot iterable too


def test_unknown_types_are_named_in_the_order_given() -> None:
    with pytest.raises(
        ValueError, match=r"unknown entity type\(s\) \['zip', 'passport'\]; known: email, phone"
    ):
        pii.detect("x", ["email", "zip", "passport"])
    for types in (["email", "zip", "passport"], ["zip", "phone", "zip", "name"]):
        with pytest.raises(ValueError) as reference:
            _reference_detect("x", types)
        for text in ("", "x", "call 020 7946 0958"):  # checked before the text is looked at
            with pytest.raises(ValueError) as ours:
                pii.detect(text, iter(types))
            assert ours.value.args == reference.value.args


def test_the_package_keeps_the_names_of_the_module_it_replaced() -> None:
    assert pii.__all__ == [
        "ENTITY_TYPES",
        "Entity",
        "detect",
        "iban_valid",
        "luhn_valid",
        "redact",
        "redact_entities",
        "shannon_entropy",
    ]
    for name in [*pii.__all__, "ReplacementStyle", "_DETECTORS", "_entity", "_shape"]:
        assert getattr(pii, name) is not None, name
    assert set(pii._DETECTORS) == set(ENTITY_TYPES)


def test_every_docstring_example_in_the_package_runs_from_assay_pii() -> None:
    # ``doctest.testmod(assay.pii)`` (tests/safety/test_doctests.py) sees the submodules' examples only
    # through ``assay.pii.__test__``: it must list every one of them
    finder = doctest.DocTestFinder()
    submodules = [importlib.import_module(f"assay.pii.{m.name}") for m in pkgutil.iter_modules(pii.__path__)]
    in_submodules = sum(len(t.examples) for m in submodules for t in finder.find(m))
    from_package = sum(len(t.examples) for t in finder.find(pii) if t.name != "assay.pii")
    assert in_submodules > 0 and from_package == in_submodules
    result = doctest.testmod(pii, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > in_submodules  # (and the package's own examples)
