"""``detect``: runs the detectors a text may need and resolves overlapping matches.

Each detector is called only when a cheap, necessary condition holds (enough digits, an "@", a piece of
the text's shape …), and the costly secret and phone checks skip matches that would lose to a stronger
entity anyway; the result is that of running every detector and resolving the overlaps.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable

from assay.pii.addresses import _emails, _ips
from assay.pii.credentials import _X15, _api_keys, _secrets
from assay.pii.entity import _PRIORITY, ENTITY_TYPES, Entity
from assay.pii.numbers import _cards, _ibans, _national_ids, _phones
from assay.pii.shape import _digit_runs, _shape, _words

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


_ALL_TYPES = frozenset(ENTITY_TYPES)


def _check_types(types: Iterable[str] | None) -> frozenset[str]:
    """The set of ``types`` (None: all); ``ValueError`` naming the unknown ones in the order given."""
    if types is None:
        return _ALL_TYPES
    listed = tuple(types)
    chosen = frozenset(listed)
    if not chosen <= _ALL_TYPES:
        unknown = [t for t in listed if t not in _ALL_TYPES]
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
    # A detector is called only when a cheap test says it may find something (each test is a necessary
    # condition: the fewest digits of its values, a character or piece of shape they all contain). The
    # order of the calls does not matter: ``_resolve`` ranks by type, length and position.
    if "email" in chosen and "@" in text:
        _emails(text, found, shape)
    if "credit_card" in chosen and n_digits >= 13:
        _cards(text, found, shape)
    if "iban" in chosen and n_digits >= 2 and (shape is None or "AA00" in shape):
        _ibans(text, found, shape)
    if "ip_address" in chosen and (
        ("0.0" in shape if shape is not None else "." in text) or text.count(":") >= 2
    ):
        _ips(text, found, shape)
    if "national_id" in chosen and n_digits >= 6:
        _national_ids(text, found, shape)
    if "api_key" in chosen and (shape is None or _X15 in _words(shape)):
        _api_keys(text, found, shape)
    # ``_resolve`` keeps entities in ``_PRIORITY`` order; one overlapping an entity kept before it is
    # lost, so the costly checks of secrets and phones are skipped for matches that would be: secrets run
    # after API keys (the highest priority), phones (the lowest) after everything else
    if "secret" in chosen:
        keys = _resolve([e for e in found if e.type == "api_key"])  # kept as ``_resolve(found)`` keeps them
        _secrets(text, found, shape, [(e.start, e.end) for e in keys])
    if "phone" in chosen and n_digits >= 8:
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
        and _X15 not in _words(shape)
    )
