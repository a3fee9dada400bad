"""What the detectors report: ``Entity`` (a typed span of the text) and the list of entity types.

``Entity`` is a frozen dataclass users compare, hash and redact with; ``_entity`` builds one without the
dataclass ``__init__`` (it runs for every match, so its cost shows in ``detect``'s throughput).

Example:
    >>> e = Entity("email", 5, 21, "jane@example.com", "email", "jane@example.com")
    >>> e.key, e.masked()
    (('email', 'jane@example.com'), '************.com')
"""

from __future__ import annotations

import dataclasses
import re

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


@dataclasses.dataclass(frozen=True, slots=True)
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


_FIELDS = ("type", "start", "end", "text", "subtype", "value")
if tuple(f.name for f in dataclasses.fields(Entity)) != _FIELDS:  # pragma: no cover - a guard for editors
    raise RuntimeError("assay.pii: _FIELDS must list Entity's fields in order")
_new_object = object.__new__
_set_type, _set_start, _set_end, _set_text, _set_subtype, _set_value = (
    Entity.__dict__[name].__set__ for name in _FIELDS
)


def _entity(kind: str, start: int, end: int, text: str, subtype: str, value: str) -> Entity:
    """``Entity(kind, start, end, text, subtype, value)``, made faster: a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__``, the slots' own descriptors do it directly (this runs
    for every entity found)."""
    e = _new_object(Entity)
    _set_type(e, kind)
    _set_start(e, start)
    _set_end(e, end)
    _set_text(e, text)
    _set_subtype(e, subtype)
    _set_value(e, value)
    return e


def _add(out: list[Entity], kind: str, m: re.Match[str], subtype: str, value: str, group: int = 0) -> None:
    out.append(_entity(kind, m.start(group), m.end(group), m.group(group), subtype, value))


def _add_span(
    out: list[Entity], text: str, kind: str, start: int, end: int, subtype: str, value: str
) -> None:
    out.append(_entity(kind, start, end, text[start:end], subtype, value))
