"""Detectors for personal data and secrets in text, and redaction: one module for scorers and monitoring.

``detect(text)`` returns the ``Entity``s found (type, character span, matched text); ``redact(text)``
replaces them. The safety scorers (``pii_leak``) use it to tell whether a response leaked private data;
monitoring uses ``redact`` to anonymise events before they are stored. Everything is pure Python
(``re``, ``ipaddress``, ``base64``), fast enough for tens of thousands of texts per second.

Entity types and how each is validated (a match that fails validation is not reported):

==============  ==============================================================================
``email``       RFC-5321-ish local part ``@`` domain with a 2-24 letter TLD
``phone``       E.164 (``+``/``00`` country code) or grouped national numbers, 9-15 digits; a bare
                digit run counts only after a word such as "phone", "call", "tel"
``credit_card`` 13-19 digits (optionally grouped by spaces/dashes), a known issuer prefix and a valid
                Luhn checksum
``iban``        country code with its registered length and the ISO 13616 mod-97 checksum
``national_id`` US SSN (area/group/serial rules), UK National Insurance number, Spanish DNI (check
                letter)
``ip_address``  IPv4 (octets 0-255, not part of a longer dotted run) and IPv6 (``ipaddress`` parses it)
``api_key``     known provider prefixes: OpenAI/Anthropic ``sk-``, GitHub, AWS, Google, Slack, Stripe,
                GitLab, Hugging Face, npm, SendGrid, JSON Web Tokens
``secret``      private-key blocks; a value assigned to a word like ``password``/``token``/``secret``;
                bare random-looking tokens (mixed classes, Shannon entropy >= 4 bits/char, not
                base64-encoded text)
==============  ==============================================================================

Limits: names and postal addresses need a language model (see shared/OFFLINE_MODELS.md, Presidio);
obfuscated forms ("jane at example dot com") are not detected.

Example:
    >>> [(e.type, e.text) for e in detect("Mail jane.doe@example.com or call +44 20 7946 0958.")]
    [('email', 'jane.doe@example.com'), ('phone', '+44 20 7946 0958')]
    >>> redact("card 4111 1111 1111 1111, ip 10.0.0.7")
    'card [CREDIT_CARD], ip [IP_ADDRESS]'
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import itertools
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ENTITY_TYPES",
    "Entity",
    "detect",
    "iban_valid",
    "luhn_valid",
    "redact",
    "redact_entities",
    "shannon_entropy",
]

ENTITY_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "national_id",
    "ip_address",
    "api_key",
    "secret",
)
"""Every type ``detect`` can report."""

# When two matches overlap, the one whose type comes first here wins (then the longer one).
_PRIORITY = {
    t: i
    for i, t in enumerate(
        ("api_key", "secret", "credit_card", "iban", "email", "ip_address", "national_id", "phone")
    )
}


@dataclass(frozen=True, slots=True)
class Entity:
    """One detected span: ``text[start:end] == entity.text``.

    ``subtype`` says which detector matched (``visa``, ``us_ssn``, ``github``, ``ipv6`` …) and ``value``
    is a canonical form used to compare occurrences (digits only for numbers, lower case for emails).
    """

    type: str
    start: int
    end: int
    text: str
    subtype: str = ""
    value: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """``(type, canonical value)``: equal for two spellings of the same card, phone, address …"""
        return (self.type, self.value or self.text)

    def masked(self) -> str:
        """The text with all but its last 4 characters hidden (``************1111``)."""
        keep = 4 if len(self.text) > 8 else 0
        return "*" * (len(self.text) - keep) + self.text[len(self.text) - keep :]


# ----------------------------------------------------------------------------------------- checksums
def luhn_valid(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn (mod 10) check used by payment cards.

    Example:
        >>> luhn_valid("4111 1111 1111 1111"), luhn_valid("4111 1111 1111 1112")
        (True, False)
    """
    # the ASCII digits as bytes (nothing else counts), then byte sums in C: every second digit from the
    # right is doubled, and 9 subtracted when that exceeds 9 (``_LUHN_DOUBLED`` maps "0".."9" to the result)
    digits = number.encode("ascii", "ignore").translate(None, _NOT_DIGIT_BYTES)
    if len(digits) < 2:
        return False
    kept = digits[-1::-2]
    total = sum(kept) - 48 * len(kept) + sum(digits[-2::-2].translate(_LUHN_DOUBLED))
    return total % 10 == 0


_NOT_DIGIT_BYTES = bytes(b for b in range(256) if not 48 <= b <= 57)
_LUHN_DOUBLED = bytes(
    (2 * (b - 48) - 9 if b >= 53 else 2 * (b - 48)) if 48 <= b <= 57 else 0 for b in range(256)
)


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


def iban_valid(iban: str) -> bool:
    """True for an IBAN with a registered country length and a valid ISO 7064 mod-97 checksum.

    Example:
        >>> iban_valid("GB82 WEST 1234 5698 7654 32"), iban_valid("GB82 WEST 1234 5698 7654 33")
        (True, False)
    """
    s = "".join(iban.split()).upper()
    if len(s) < 15 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    if _IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    rearranged = s[4:] + s[:4]
    digits = rearranged.translate(_IBAN_LETTER_VALUES)  # A -> 10 … Z -> 35, as int(c, 36) spells them
    return int(digits) % 97 == 1


_IBAN_LETTER_VALUES = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


def shannon_entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text`` in bits per character (0 for an empty string).

    Example:
        >>> shannon_entropy("aaaa"), round(shannon_entropy("abcd"), 3)
        (0.0, 2.0)
    """
    if not text:
        return 0.0
    n = len(text)
    if n > _ENTROPY_TABLE_MAX:
        return abs(sum([c / n * math.log2(c / n) for c in Counter(text).values()]))
    terms = _entropy_terms(n)  # the same numbers, summed in the same order: the same float
    return abs(sum([terms[c] for c in Counter(text).values()]))


_ENTROPY_TABLE_MAX = 256


@functools.lru_cache(maxsize=_ENTROPY_TABLE_MAX)
def _entropy_terms(n: int) -> list[float]:
    """``c / n * log2(c / n)`` for every count ``c`` in ``0..n`` (tokens are short: computed once per length)."""
    return [c / n * math.log2(c / n) if c else 0.0 for c in range(n + 1)]


# ----------------------------------------------------------------------------------------- patterns
_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
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
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d]|\.\d)")
#: two colons with at most 4 hex digits between them: part of every ``_IPV6`` match, found fast (``_IPV6``
#: itself starts with a look-behind, so the engine would try it at every character)
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)(?:%\w+)?(?![\w:])")
_SSN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
_SSN_BARE = re.compile(r"(?:ssn|social security(?: number| no\.?)?)\s*(?:is|:|#)?\s*(\d{9})\b")
# (the excluded prefixes are checked by a look-behind after the two letters, not a look-ahead before them:
# a pattern that starts with a character class lets the regex engine skip quickly to candidate positions)
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|NK|KN|TN|NT|ZZ)"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_DNI = re.compile(r"(\d{8})-?([A-HJ-NP-TV-Z])(?![A-Za-z0-9])")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_PHONE_BEFORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")
_PHONE = re.compile(r"(?:\+|00)?\(?\d[\d ().-]{6,20}\d(?![\w-]|\.\d)")
#: the part of ``_PHONE`` after its optional prefix (at most 3 characters: ``00(``); it starts with a digit,
#: so the engine finds it fast, and every phone match starts at most 3 characters before one of these
_PHONE_CORE = re.compile(r"\d[\d ().-]{6,20}\d")
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
#: a long word after a whitespace character (tried once per whitespace, not once per character)
_SPACE_LONG_WORD = re.compile(r"\s(\S{24,})")
#: byte table: ASCII whitespace (as ``\\s`` and ``str.isspace`` define it) to a space, the rest to "x"
_SPACE_OR_X = bytes(32 if chr(b).isspace() else 120 for b in range(256))
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/+=-")


_DIGIT_RUN = re.compile(r"\d+")
#: byte table: ASCII digits to "0", everything else to a space (digit runs become words for bytes.split)
_DIGITS_AS_WORDS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))


def _digit_runs(text: str) -> list[int]:
    """Lengths of the runs of ``\\d`` characters in ``text``, in order (a fast path for ASCII text)."""
    if text.isascii():
        return [len(r) for r in text.encode("ascii").translate(_DIGITS_AS_WORDS).split()]
    return [len(r) for r in _DIGIT_RUN.findall(text)]


#: the fewest digits a value of each type can have
_MIN_DIGITS = {"credit_card": 13, "iban": 2, "phone": 8, "national_id": 6}


# ------------------------------------------------------------------------------------ shapes and hints
# Python's ``re`` tries a pattern that starts with a character class (``\d``, ``[A-Z]``) at every
# character, and ``\d`` costs a Unicode table look-up each time: a dozen such scans made up most of the
# cost of ``detect``. So each text is first mapped, in C (bytes.translate), to its *shape*: an ASCII
# string of the same length with ASCII digits as "0", ASCII letters as "A"/"a", other ASCII characters
# as themselves and anything else as "?". Each digit- or letter-led pattern has a *hint*: the same
# pattern spelled over shapes, short and led by a literal so ``re`` finds it fast (or a piece of it that
# ``str.__contains__`` finds faster still). Wherever the pattern matches the text, its hint matches the
# shape (every character a pattern can match at the hinted places is ASCII and keeps its class), so the
# pattern is tried only where the hint matches and gives exactly the matches of a full scan. A text with
# a non-ASCII decimal digit (which ``\d`` matches) has no shape and is scanned the plain way.
_SHAPE_TABLE = bytes(
    48 if 48 <= b <= 57 else 65 if 65 <= b <= 90 else 97 if 97 <= b <= 122 else b for b in range(256)
)
_NON_ASCII_DIGIT = re.compile(r"[^\D0-9]")


def _shape(text: str) -> str | None:
    """The shape of ``text`` (see above), or None when it has a decimal digit outside ASCII.

    Example:
        >>> _shape("Call +44 (0)20, ok?"), _shape("x \u00e9 \u0663")
        ('Aaaa +00 (0)00, aa?', None)
    """
    if text.isascii():
        return text.encode("ascii").translate(_SHAPE_TABLE).decode("ascii")
    if _NON_ASCII_DIGIT.search(text) is not None:
        return None
    # "replace" writes one "?" per character it cannot encode: positions stay those of ``text``
    return text.encode("ascii", "replace").translate(_SHAPE_TABLE).decode("ascii")


#: hints (patterns over shapes; see above). Each must match the shape wherever its pattern matches the text.
_CARD_HINT = re.compile(r"0[0 -]{11,35}0")  # 13-19 digits with single separators: 13-37 characters
_IBAN_HINT = re.compile(r"AA00")
_IPV4_SHAPE_HINT = re.compile(r"0[0.]{5,13}0")  # 4 groups of 1-3 digits: 7-15 characters
_SSN_HINT = re.compile(r"000[- ]00[- ]0000")
_NINO_HINT = re.compile(r"AA ?00 ?00 ?00 ?A")
_DNI_HINT = re.compile(r"00000000-?A")
#: ``_PHONE_CORE`` over shapes: it matches exactly where ``_PHONE_CORE`` matches the text
_PHONE_CORE_HINT = re.compile(r"0[0 ().-]{6,20}0")


_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _starts_token(text: str, start: int, forbidden: frozenset[str] | str) -> bool:
    """True when the character before ``start`` is not in ``forbidden`` (the left boundary of a match;
    checked in code rather than with a look-behind, which would disable the regex engine's fast scan)."""
    return start == 0 or text[start - 1] not in forbidden


def _bounded(
    pattern: re.Pattern[str],
    text: str,
    forbidden: frozenset[str] | str,
    shape: str | None = None,
    hint: re.Pattern[str] | None = None,
) -> list[re.Match[str]]:
    """The matches of ``pattern`` in ``text`` (as ``finditer`` finds them) that are not preceded by a
    ``forbidden`` character; a rejected start is retried one character later (as a look-behind would).

    With the text's ``shape``, ``pattern`` is only tried where ``hint`` matches the shape: the first such
    place at or after ``pos`` where it matches is where ``pattern.search(text, pos)`` would stop.
    """
    found = []
    pos = 0
    if shape is None or hint is None:
        while (m := pattern.search(text, pos)) is not None:
            start = m.start()
            if start == 0 or text[start - 1] not in forbidden:
                found.append(m)
                pos = max(m.end(), start + 1)
            else:
                pos = start + 1
        return found
    while (h := hint.search(shape, pos)) is not None:
        start = h.start()
        # a forbidden character before ``start`` rejects a match there, so ``pattern`` need not be tried
        m = None if start and text[start - 1] in forbidden else pattern.match(text, start)
        if m is None:
            pos = start + 1
        else:
            found.append(m)
            pos = max(m.end(), start + 1)
    return found


def _add(out: list[Entity], kind: str, m: re.Match[str], subtype: str, value: str, group: int = 0) -> None:
    out.append(Entity(kind, m.start(group), m.end(group), m.group(group), subtype, value))


_EMAIL_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_LOCAL_MAX = 64
_EMAIL_LOCAL_SHAPES = "Aa0._%+-"


def _email_matches(text: str, shape: str | None = None) -> list[re.Match[str]]:
    """The matches of ``_EMAIL.finditer(text)``, found from each "@" instead of trying every position.

    A match's local part (at most 64 characters of ``_EMAIL_LOCAL_CHARS``, a subset of what its
    look-behind forbids before it) ends at the first "@" after its start, and can only start where the
    run of those characters before the "@" starts: one ``match`` per "@". In the ``shape`` those
    characters are ``_EMAIL_LOCAL_SHAPES``, so ``str.rstrip`` measures the run.
    """
    found = []
    pos = 0
    at = text.find("@")
    while at >= 0:
        if shape is not None:
            before = shape[max(0, at - _EMAIL_LOCAL_MAX) : at]
            start = at - (len(before) - len(before.rstrip(_EMAIL_LOCAL_SHAPES)))
        else:
            start = at
            while start > 0 and at - start < _EMAIL_LOCAL_MAX and text[start - 1] in _EMAIL_LOCAL_CHARS:
                start -= 1
        m = _EMAIL.match(text, max(start, pos)) if start < at else None
        if m is not None:
            found.append(m)
            pos = m.end()
            at = text.find("@", max(pos, at + 1))
        else:
            at = text.find("@", at + 1)
    return found


def _emails(text: str, out: list[Entity], shape: str | None = None) -> None:
    if "@" not in text:
        return
    for m in _email_matches(text, shape):
        _add(out, "email", m, "email", m.group().lower())


def _cards(text: str, out: list[Entity], shape: str | None = None) -> None:
    for m in _bounded(_CARD, text, "0123456789.,-", shape, _CARD_HINT):
        raw = m.group()
        if " " in raw and "-" in raw:
            continue  # "4111-1111 1111 1111": not how a card number is written
        digits = raw.replace(" ", "").replace("-", "")
        if not luhn_valid(digits) or len(set(digits)) == 1:
            continue
        issuer = next((name for name, pat in _CARD_ISSUERS if pat.match(digits)), None)
        if issuer is not None:
            _add(out, "credit_card", m, issuer, digits)


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
        if iban_valid(compact):
            out.append(Entity("iban", m.start(), m.start() + len(raw), raw, compact[:2].lower(), compact))


def _ips(text: str, out: list[Entity], shape: str | None = None) -> None:
    if (shape is None and "." in text) or (shape is not None and "0.0" in shape):
        for m in _bounded(_IPV4, text, "0123456789.", shape, _IPV4_SHAPE_HINT):
            octets = m.group().split(".")
            if all(int(o) <= 255 and (o == "0" or not o.startswith("0")) for o in octets):
                _add(out, "ip_address", m, "ipv4", m.group())
    if text.count(":") >= 2 and _IPV6_HINT.search(text):
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
        # a match before p has a prefix ("+", "00", "(" …) that ends at p - 1
        first = p if p == 0 or text[p - 1] not in "+0(" else max(pos, p - _PHONE_PREFIX_MAX)
        for s in range(first, p + 1):
            # before p only the prefix characters can start a match (a digit there would have been p)
            if (s < p and text[s] not in "+0(") or (s and text[s - 1] in _PHONE_BEFORE):
                continue
            m = _PHONE.match(text, s)
            if m is not None:
                break
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
        start = m.start()
        if taken and any(start < t_end and t_start < m.end() for t_start, t_end in taken):
            continue
        if (
            shape is not None
        ):  # the number of digits, counted in C (the "00" of an international prefix aside)
            n_digits = shape.count("0", start, m.end()) - (2 if text.startswith("00", start) else 0)
            if not 9 <= n_digits <= 15:
                continue
        raw = m.group()
        if raw.count("(") != raw.count(")"):
            if raw.startswith("(") and ")" not in raw:
                continue
            if raw.count("(") > raw.count(")"):
                continue
        digits = raw.translate(_DROP_SEPARATORS)  # a phone match is digits and "+( ).-" only
        international = raw.startswith(("+", "00"))
        if international and raw.startswith("00"):
            digits = digits[2:]
        if not 9 <= len(digits) <= 15 or ".." in raw or "--" in raw or _DATE_LIKE.match(raw):
            continue
        if len(set(digits)) == 1 or (international and digits[0] == "0"):
            continue  # no country code starts with 0
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


_PRINTABLE_BYTES = bytes([9, 10, 13, *range(32, 127)])


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
    printable = len(raw) - len(raw.translate(None, _PRINTABLE_BYTES))
    return printable / len(raw) > 0.95


def _secrets(
    text: str, out: list[Entity], shape: str | None = None, keys: list[tuple[int, int]] | None = None
) -> None:
    """``keys``: spans of API keys that ``detect`` keeps; a high-entropy token overlapping one is skipped."""
    if "-----BEGIN" in text:
        for m in _PRIVATE_KEY.finditer(text):
            _add(out, "secret", m, "private_key", m.group())
    # "x" for each non-space character of an ASCII text (or for each non-ASCII one: runs only grow)
    words = None if shape is None else _words(shape)
    _assigned_secrets(text, out, shape, words)
    for start, end in _long_words(text, words):
        for m in _TOKEN.finditer(text, start, end):
            if keys and any(m.start() < k_end and k_start < m.end() for k_start, k_end in keys):
                continue
            if _token_bounded(text, m.start(), m.end()):
                _high_entropy(text, m, out)


def _assigned_secrets(text: str, out: list[Entity], shape: str | None, words: str | None) -> None:
    """Values assigned to a word such as ``password`` or ``api_key``, when they look random.

    ``shape`` and ``words`` (see ``_secrets``) rule texts out early: a reported value follows an operator
    (``:``, ``=``, ``is``, ``was``) and has a digit or >= 16 characters, none of them a space. (In a
    non-ASCII text ``isdigit`` also holds for characters that are not "0" in the shape.)
    """
    no_digit = shape is not None and "0" not in shape and text.isascii()
    if no_digit and words is not None and "x" * 16 not in words:
        return
    low = text.lower()
    if len(low) != len(text):  # lower() moved the offsets (it can change the length of a few letters)
        return
    if ":" in low or "=" in low or "is" in low or "was" in low:
        for i in _needle_starts(low):
            am = _ASSIGNED.match(low, i)
            if am is None or (i > 0 and low[i - 1].isalpha()):
                continue
            value = text[am.start(1) : am.end(1)]
            if value.lower() in _PLACEHOLDERS or set(value) <= {"*", "x", "X", "."}:
                continue
            entropy = shannon_entropy(value)
            random_looking = any(c.isdigit() for c in value) and entropy >= 2.5
            long_mixed = len(value) >= 16 and entropy >= 3.5 and not value.isupper() and not value.islower()
            if random_looking or long_mixed:
                _add_span(out, text, "secret", am.start(1), am.end(1), "assigned", value)


def _long_words(text: str, words: str | None = None) -> Iterator[tuple[int, int]]:
    """Spans of the runs of >= 24 non-space characters (the matches of ``_LONG_WORD``), found by trying
    only after each whitespace character and at the start of the text. ``words``: the text's shape
    translated by ``_SPACE_OR_X``, when known."""
    if (
        words is not None and text.isascii()
    ):  # "x" exactly where ``\S`` matches: the runs of "x" are the words
        yield from _runs(words, 24)
        return
    first = _LONG_WORD.match(text)
    if first is not None:
        yield first.span()
    for m in _SPACE_LONG_WORD.finditer(text):
        yield m.span(1)


_last_words: tuple[str, str] = ("", "")


def _words(shape: str) -> str:
    """``shape`` with whitespace as " " and everything else as "x" (the runs of "x" are the words; a
    non-ASCII space, "?" in the shape, joins two). The last result is kept: detectors of one text share it.
    """
    global _last_words
    last = _last_words  # one read: another thread may replace it (with another consistent pair)
    if last[0] is shape:
        return last[1]
    words = shape.encode("ascii").translate(_SPACE_OR_X).decode("ascii")
    _last_words = (shape, words)
    return words


def _runs(words: str, min_len: int) -> list[tuple[int, int]]:
    """Spans of the runs of at least ``min_len`` "x" in ``words`` (found by ``str.find``, in C)."""
    spans = []
    needle = "x" * min_len
    start = words.find(needle)
    while start >= 0:  # the first window of ``min_len`` "x" starts a run (it was not found earlier)
        end = words.find(" ", start + min_len)
        if end < 0:
            end = len(words)
        spans.append((start, end))
        start = words.find(needle, end)
    return spans


def _token_bounded(text: str, start: int, end: int) -> bool:
    return _starts_token(text, start, _TOKEN_CHARS) and (end == len(text) or text[end] not in _TOKEN_CHARS)


def _high_entropy(text: str, m: re.Match[str], out: list[Entity]) -> None:
    tok = m.group()  # ASCII only (``_TOKEN``), so case and digit tests can use str methods in C
    if (
        tok.upper() != tok  # a lower-case letter
        and tok.lower() != tok  # an upper-case letter
        and len(tok) - len(tok.encode("ascii").translate(None, b"0123456789")) >= 2
        and shannon_entropy(tok) >= 4.0
        and not _is_encoded_text(tok)
    ):
        _add(out, "secret", m, "high_entropy", tok)


_ASSIGNED_NEEDLES = ("api", "secret", "client", "access", "auth", "token", "pass", "pwd", "private")


def _needle_starts(low: str) -> list[int]:
    """Every index where one of ``_ASSIGNED_NEEDLES`` starts, in increasing order (overlaps included)."""
    starts: set[int] = set()
    for needle in _ASSIGNED_NEEDLES:
        i = low.find(needle)
        while i >= 0:
            starts.add(i)
            i = low.find(needle, i + 1)
    return sorted(starts)


_PLACEHOLDERS = frozenset({"********", "xxxxxxxx", "<redacted>", "redacted", "changeme", "password"})


#: literal text that every match of each provider's pattern contains (a pattern is tried only when one of
#: its needles occurs in the text)
_API_KEY_NEEDLES: dict[str, tuple[str, ...]] = {
    "anthropic": ("sk-ant-",),
    "openai": ("sk-",),
    "github": ("gh", "github_pat_"),
    "aws_access_key": ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
    "google": ("AIza",),
    "slack": ("xox", "hooks.slack.com/services/"),
    "stripe": ("_live_", "_test_"),
    "gitlab": ("glpat-",),
    "huggingface": ("hf_",),
    "npm": ("npm_",),
    "sendgrid": ("SG.",),
    "jwt": ("eyJ",),
}
#: a character that every needle of the provider contains (checked first: one fast search)
_API_KEY_GATES = {"anthropic": "-", "openai": "-", "github": "h", "aws_access_key": "A", "google": "z",
                  "slack": "", "stripe": "_", "gitlab": "-", "huggingface": "_", "npm": "_", "sendgrid": "G",
                  "jwt": "J"}  # fmt: skip
#: (provider, pattern, a character every needle contains, needles), in ``_API_KEYS`` order
_API_KEY_TABLE = [
    (name, pat, _API_KEY_GATES[name], _API_KEY_NEEDLES[name]) for name, pat in _API_KEY_PATTERNS
]


_ANY_API_KEY_NEEDLE = re.compile("|".join(re.escape(n) for ns in _API_KEY_NEEDLES.values() for n in ns))


def _contains_any(text: str, needles: tuple[str, ...]) -> bool:
    """``any(n in text for n in needles)`` without a generator (called for every text)."""
    for needle in needles:  # noqa: SIM110
        if needle in text:
            return True
    return False


#: the shortest match of any ``_API_KEYS`` pattern (slack's ``xoxb-`` and 10 characters); none has a space
_API_KEY_MIN_LEN = 15


def _api_keys(text: str, out: list[Entity], shape: str | None = None) -> None:
    # a key lies in a run of >= 15 non-space characters, so do its needles: look for them there only
    if shape is not None:  # the runs of "x" hold every run of non-space characters (and may join some)
        spans = _runs(_words(shape), _API_KEY_MIN_LEN)
        long_words = " ".join([text[start:end] for start, end in spans])
    else:  # ``str.split`` splits where ``\s`` matches
        long_words = " ".join([w for w in text.split() if len(w) >= _API_KEY_MIN_LEN])
    if _ANY_API_KEY_NEEDLE.search(long_words) is None:
        return
    seen: set[int] = set()
    for name, pat, gate, needles in _API_KEY_TABLE:
        # every match of the pattern contains one of its needles (each needle contains the gate character)
        possible = gate in long_words and _contains_any(long_words, needles)
        if not possible:
            continue
        for m in _bounded(pat, text, _KEY_CHARS):
            if m.start() not in seen:
                seen.add(m.start())
                _add(out, "api_key", m, name, m.group())


#: each detector appends what it finds in ``text`` to ``out``; ``shape`` is ``_shape(text)`` (None: no shape)
_DETECTORS: dict[str, Callable[[str, list[Entity], str | None], None]] = {
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
    if len(found) < 2:
        return found
    in_order = sorted(found, key=_START)
    if all(a.end <= b.start for a, b in itertools.pairwise(in_order)):
        return in_order  # nothing overlaps (the usual case): every match is kept
    ranked = sorted(found, key=lambda e: (_PRIORITY[e.type], -(e.end - e.start), e.start))
    kept: list[Entity] = []
    for e in ranked:
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)


_START = operator.attrgetter("start")


def _check_types(types: Iterable[str] | None) -> tuple[str, ...]:
    if types is None:
        return ENTITY_TYPES
    chosen = tuple(types)
    if chosen == ENTITY_TYPES:
        return ENTITY_TYPES
    unknown = [t for t in chosen if t not in _DETECTORS]
    if unknown:
        raise ValueError(f"unknown entity type(s) {unknown}; known: {', '.join(ENTITY_TYPES)}")
    return chosen


def detect(text: str, types: Iterable[str] | None = None) -> list[Entity]:
    """Find personal data and secrets in ``text``; ``types`` limits the search (default: all types).

    Overlapping matches are resolved (a card number is not also reported as a phone number); the
    result is in text order. Raises ``ValueError`` for an unknown type.

    Example:
        >>> [(e.type, e.subtype) for e in detect("key sk-proj-4f9Qx2LmZ8aB7cD1eF3gH5iJ, SSN 078-05-1120")]
        [('api_key', 'openai'), ('national_id', 'us_ssn')]
    """
    chosen = _check_types(types)
    if not text:
        return []
    found: list[Entity] = []  # each detector adds entities of its own type only
    shape = _shape(text)
    n_digits = shape.count("0") if shape is not None else sum(_digit_runs(text))
    if n_digits == 0 and shape is not None and _nothing_without_digits(text, shape):
        return found
    # ``_resolve`` keeps entities in ``_PRIORITY`` order; an entity overlapping one kept before it is lost,
    # so the costly checks of secrets and phones are skipped for matches that would be: secrets run after
    # API keys (the highest priority) and phones (the lowest) after everything else
    secrets_after_keys = "secret" in chosen and "api_key" in chosen
    phones_last = "phone" in chosen and len(chosen) > 1 and n_digits >= _MIN_DIGITS["phone"]
    for t in chosen:
        if t in _MIN_DIGITS and n_digits < _MIN_DIGITS[t]:
            continue  # every value of this type has at least that many digits
        if (t == "secret" and secrets_after_keys) or (t == "phone" and phones_last):
            continue
        _DETECTORS[t](text, found, shape)
    if secrets_after_keys:
        keys = _resolve([e for e in found if e.type == "api_key"])  # kept as ``_resolve(found)`` keeps them
        _secrets(text, found, shape, [(e.start, e.end) for e in keys])
    if phones_last:
        _phones(text, found, shape, [(e.start, e.end) for e in _resolve(found)])
    return _resolve(found)


def _nothing_without_digits(text: str, shape: str) -> bool:
    """True when ``text``, which has no digit, certainly holds no entity (most sentences): numbers,
    IPv4 addresses and high-entropy tokens need digits, e-mails an "@", IPv6 two ":", private keys
    "-----BEGIN", API keys a run of 15 non-space characters and an assigned secret without a digit 16."""
    return (
        text.isascii()  # else ``str.isdigit`` (used for assigned secrets) may hold for a "?" of the shape
        and "@" not in text
        and text.count(":") < 2
        and "-----BEGIN" not in text
        and "x" * _API_KEY_MIN_LEN not in _words(shape)
    )


ReplacementStyle = Literal["type", "mask", "hash"]


def redact_entities(
    text: str, entities: Iterable[Entity], *, style: ReplacementStyle = "type", salt: str = ""
) -> str:
    """Replace the given (non-overlapping) entities of ``text``.

    ``style``: ``"type"`` → ``[EMAIL]``; ``"mask"`` → ``****1111`` (the last 4 characters kept);
    ``"hash"`` → ``[EMAIL:1a2b3c4d]``, a salted SHA-256 of the canonical value, so the same person
    gets the same pseudonym across events (keep ``salt`` secret for pseudonymisation).
    """
    pieces: list[str] = []
    pos = 0
    for e in sorted(entities, key=lambda e: e.start):
        if e.start < pos:
            continue
        pieces.append(text[pos : e.start])
        if style == "type":
            pieces.append(f"[{e.type.upper()}]")
        elif style == "mask":
            pieces.append(e.masked())
        elif style == "hash":
            digest = hashlib.sha256(f"{salt}\x00{e.type}\x00{e.value or e.text}".encode()).hexdigest()
            pieces.append(f"[{e.type.upper()}:{digest[:8]}]")
        else:
            raise ValueError(f"unknown redaction style {style!r}; expected 'type', 'mask' or 'hash'")
        pos = e.end
    pieces.append(text[pos:])
    return "".join(pieces)


def redact(
    text: str,
    types: Iterable[str] | None = None,
    *,
    style: ReplacementStyle = "type",
    salt: str = "",
) -> str:
    """``text`` with every detected entity (of ``types``, default all) replaced; see ``redact_entities``.

    Example:
        >>> redact("write to bob@example.org", style="hash", salt="s")
        'write to [EMAIL:...]'
    """
    return redact_entities(text, detect(text, types), style=style, salt=salt)
