"""Checksums and statistics that validate candidate matches: Luhn (cards), ISO 7064 mod-97 (IBANs),
Shannon entropy (random-looking secrets). Public: users validate numbers with them directly.

Each is written with byte operations that run in C (``bytes.translate``, sums over ``bytes``), since
they run for every candidate ``detect`` finds; the test suite checks them against textbook versions.
"""

from __future__ import annotations

import functools
import math
from collections import Counter


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
    if not s.isascii():  # (``isalnum`` and ``int`` accept other scripts' letters and digits too)
        return int((s[4:] + s[:4]).translate(_IBAN_LETTER_VALUES)) % 97 == 1
    return _iban_checksum_ok(s)


def _iban_checksum_ok(iban: str) -> bool:
    """The ISO 7064 mod-97 check of a compact, upper-case ASCII IBAN."""
    # the first 4 characters moved to the end, then A -> 10 … Z -> 35 (as int(c, 36) spells them) with
    # byte operations in C: a letter's two digits interleaved from two tables, a digit kept with a
    # placeholder (deleted) before it
    chars = (iban[4:] + iban[:4]).encode("ascii")
    pairs = bytearray(2 * len(chars))
    pairs[0::2] = chars.translate(_IBAN_TENS)
    pairs[1::2] = chars.translate(_IBAN_UNITS)
    return int(pairs.translate(None, b"_")) % 97 == 1


_IBAN_LETTER_VALUES = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})
_IBAN_TENS = bytes(48 + (b - 55) // 10 if 65 <= b <= 90 else 95 for b in range(256))  # 95: "_"
_IBAN_UNITS = bytes(48 + (b - 55) % 10 if 65 <= b <= 90 else b for b in range(256))


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
