"""Redaction: replace detected entities by their type, a mask or a salted hash (pseudonymisation).

Monitoring uses ``redact`` to anonymise events before they are stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from assay.pii.detection import detect
from assay.pii.entity import Entity

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
