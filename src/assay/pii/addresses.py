"""Detectors of e-mail addresses and IP addresses (IPv4, IPv6).

Each detector appends the ``Entity``s it finds in ``text`` to ``out``; ``shape`` is the text's
``shape._shape`` (None: scan the plain way). E-mails are found from each "@" rather than by trying the
pattern at every character; IPv4 candidates only where their hint matches the shape.
"""

from __future__ import annotations

import ipaddress
import re

from assay.pii.entity import Entity, _add
from assay.pii.shape import _bounded

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d]|\.\d)")
#: four octets of ASCII digits, each <= 255 and without a leading zero
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_OCTETS = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
#: two colons with at most 4 hex digits between them: part of every ``_IPV6`` match, found fast (``_IPV6``
#: itself starts with a look-behind, so the engine would try it at every character)
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)(?:%\w+)?(?![\w:])")
_IPV4_SHAPE_HINT = re.compile(r"0[0.]{5,13}0")  # 4 groups of 1-3 digits: 7-15 characters


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


def _ips(text: str, out: list[Entity], shape: str | None = None) -> None:
    if (shape is None and "." in text) or (shape is not None and "0.0" in shape):
        for m in _bounded(_IPV4, text, "0123456789.", shape, _IPV4_SHAPE_HINT):
            ip = m.group()
            if shape is not None:  # ASCII digits: one expression checks every octet
                valid = _IPV4_OCTETS.fullmatch(ip) is not None
            else:
                valid = all(int(o) <= 255 and (o == "0" or not o.startswith("0")) for o in ip.split("."))
            if valid:
                _add(out, "ip_address", m, "ipv4", ip)
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
