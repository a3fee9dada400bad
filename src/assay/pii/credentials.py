"""Detectors of secrets: provider API keys (known prefixes) and other secrets (private-key blocks,
values assigned to words like ``password``, bare random-looking tokens).

Each detector appends the ``Entity``s it finds in ``text`` to ``out``; ``shape`` is the text's
``shape._shape`` (None: scan the plain way). Keys and tokens are runs of non-space characters, so both
detectors look only inside the long runs that ``shape._words`` / ``shape._runs`` find in C.
"""

from __future__ import annotations

import base64
import binascii
import re

from assay.pii.checksums import shannon_entropy
from assay.pii.entity import Entity, _add, _add_span
from assay.pii.shape import _bounded, _runs, _starts_token, _words

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
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/+=-")
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


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


def _long_words(text: str, words: str | None = None) -> list[tuple[int, int]]:
    """Spans of the runs of >= 24 non-space characters (the matches of ``_LONG_WORD``). ``words``: the
    text's ``_words``, when known; else the pattern is tried only after each whitespace character."""
    if (
        words is not None and text.isascii()
    ):  # "x" exactly where ``\S`` matches: the runs of "x" are the words
        return _runs(words, 24) if _X24 in words else []
    first = _LONG_WORD.match(text)
    spans = [first.span()] if first is not None else []
    spans.extend(m.span(1) for m in _SPACE_LONG_WORD.finditer(text))
    return spans


_X24 = "x" * 24


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
        if needle in low:  # (``in`` costs a fraction of a ``find`` call: most needles are absent)
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
_X15 = "x" * _API_KEY_MIN_LEN  # (in ``shape._words``: a run of that many non-space characters)


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
