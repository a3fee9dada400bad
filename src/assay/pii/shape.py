"""Text *shapes*, and the scanning helpers the detectors share.

Python's ``re`` tries a pattern that starts with a character class (``\\d``, ``[A-Z]``) at every
character, and ``\\d`` costs a Unicode table look-up each time: a dozen such scans made up most of the
cost of ``detect``. So each text is first mapped, in C (bytes.translate), to its *shape*: an ASCII
string of the same length with ASCII digits as "0", ASCII letters as "A"/"a", other ASCII characters
as themselves and anything else as "?". Each digit- or letter-led pattern has a *hint*: the same
pattern spelled over shapes, short and led by a literal so ``re`` finds it fast (or a piece of it that
``str.__contains__`` finds faster still). Wherever the pattern matches the text, its hint matches the
shape (every character a pattern can match at the hinted places is ASCII and keeps its class), so the
pattern is tried only where the hint matches and gives exactly the matches of a full scan. A text with
a non-ASCII decimal digit (which ``\\d`` matches) has no shape and is scanned the plain way.

The hints live next to their patterns (``addresses``, ``numbers``); each must match the shape wherever
its pattern matches the text. ``_bounded`` is the scan that uses them.
"""

from __future__ import annotations

import re

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


_DIGIT_RUN = re.compile(r"\d+")
#: byte table: ASCII digits to "0", everything else to a space (digit runs become words for bytes.split)
_DIGITS_AS_WORDS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))


def _digit_runs(text: str) -> list[int]:
    """Lengths of the runs of ``\\d`` characters in ``text``, in order (a fast path for ASCII text)."""
    if text.isascii():
        return [len(r) for r in text.encode("ascii").translate(_DIGITS_AS_WORDS).split()]
    return [len(r) for r in _DIGIT_RUN.findall(text)]


#: byte table: ASCII whitespace (as ``\\s`` and ``str.isspace`` define it) to a space, the rest to "x"
_SPACE_OR_X = bytes(32 if chr(b).isspace() else 120 for b in range(256))


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
