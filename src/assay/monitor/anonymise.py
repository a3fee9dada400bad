"""Anonymisation at ingest: per field, redact personal data, replace with a keyed hash, keep, or drop.

Detection is ``assay.pii`` (the module the safety scorers use: emails, phones, cards with Luhn, IBANs,
national ids, IPs, API keys and secrets). Actions per field:

``redact``  every detected entity in the text is replaced (``[EMAIL]``, or ``[EMAIL:1a2b3c4d]`` with
            ``style: hash`` so the same address gets the same pseudonym across events)
``hash``    the whole value becomes ``h:<HMAC-SHA256 hex>``; keyed, so joins on it still work (the same
            user id always maps to the same hash) but the value cannot be recovered without the key
``keep``    stored as sent
``drop``    not stored at all

Fields: ``input``, ``output``, ``contexts``, ``feedback`` (the comment), ``error`` (the message),
``spans`` (attribute values), ``metadata`` (every string value, recursively; ``metadata.<key>``
overrides one key), ``session_id`` and ``user_id`` (``hash`` or ``drop`` only: ids are never kept raw
unless ``keep`` is set explicitly). The default redacts every text and hashes both ids.

The key comes from ``key`` (tests), else the environment variable named by ``key_env``
(``ASSAY_MONITOR_KEY``), else a random key created once per store and kept in the store's
``monitor_state`` table (so joins work across processes sharing the store). Set the environment variable
in production: whoever can read the database can then not recompute hashes of guessed ids.

Example:
    >>> from assay.monitor.event import parse_event
    >>> anon = Anonymiser(AnonymisationConfig(), key=b"k")
    >>> ev = anon.apply(parse_event({"event_id": "e", "input": "mail me at ann@example.com",
    ...                              "user_id": "ann"}))
    >>> ev.input, ev.user_id.startswith("h:")
    ('mail me at [EMAIL]', True)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import lru_cache
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay import pii
from assay.monitor.event import Event

__all__ = ["FIELDS", "Action", "AnonymisationConfig", "Anonymiser", "hash_value", "may_contain_pii"]

Action = Literal["redact", "hash", "keep", "drop"]
FIELDS: Final = (
    "input",
    "output",
    "contexts",
    "feedback",
    "error",
    "spans",
    "metadata",
    "session_id",
    "user_id",
)
_ID_FIELDS: Final = ("session_id", "user_id")
DEFAULT_KEY_ENV: Final = "ASSAY_MONITOR_KEY"


def _default_fields() -> dict[str, Action]:
    fields: dict[str, Action] = dict.fromkeys(FIELDS, "redact")
    fields.update(session_id="hash", user_id="hash")
    return fields


class AnonymisationConfig(BaseModel):
    """How each event field is anonymised before it is stored (the ``anonymise:`` block of the config)."""

    model_config = ConfigDict(extra="forbid")
    fields: dict[str, Action] = Field(
        default_factory=_default_fields,
        description="Action per field; fields not named get the default (redact texts, hash ids).",
    )
    entity_types: list[str] | None = Field(
        default=None, description="Entity types to redact (default: all of assay.pii.ENTITY_TYPES)."
    )
    style: Literal["type", "hash"] = Field(
        default="type", description="Replacement: [EMAIL], or [EMAIL:<keyed hash>] (a stable pseudonym)."
    )
    key_env: str = Field(default=DEFAULT_KEY_ENV, description="Environment variable holding the hash key.")

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: dict[str, Action]) -> dict[str, Action]:
        merged = _default_fields()
        for name, action in value.items():
            if name not in FIELDS and not name.startswith("metadata."):
                import difflib

                close = difflib.get_close_matches(name, FIELDS, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown field {name!r}; known: {', '.join(FIELDS)}, metadata.<key>.{hint}")
            if name in _ID_FIELDS and action == "redact":
                raise ValueError(f"{name} is an identifier: use hash, keep or drop (not redact)")
            merged[name] = action
        return merged

    @field_validator("entity_types")
    @classmethod
    def _check_types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = [t for t in value if t not in pii.ENTITY_TYPES]
            if unknown:
                raise ValueError(f"unknown entity type(s) {unknown}; known: {', '.join(pii.ENTITY_TYPES)}")
        return value

    @classmethod
    def keep_text(cls) -> AnonymisationConfig:
        """Texts stored as sent, ids hashed (for apps whose texts hold no personal data)."""
        return cls(fields={f: "keep" for f in FIELDS if f not in _ID_FIELDS})

    @property
    def redacts(self) -> bool:
        """True when at least one field is redacted (texts are scanned for personal data)."""
        return "redact" in self.fields.values()


class _KeyedHash:
    """``hash_value`` for one key, computed as HMAC-SHA256 from two pre-keyed SHA-256 states.

    The same bytes as ``hmac.new(key, value, sha256)``, about four times faster, and without releasing
    the GIL for every value as OpenSSL's one-shot HMAC does (which makes a thread that hashes ids
    wait for the ingest writer thread thousands of times per batch).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # the SHA-256 block size: longer keys are hashed first (RFC 2104)
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, value: str) -> str:
        inner = self._inner.copy()
        inner.update(value.encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return "h:" + outer.hexdigest()[:32]


def hash_value(value: str, key: bytes) -> str:
    """The keyed hash ``h:<hex>`` of ``value`` (HMAC-SHA256, 128 bits shown).

    Example:
        >>> hash_value("user-42", b"k") == hash_value("user-42", b"k") != hash_value("user-42", b"j")
        True
    """
    return "h:" + hmac.digest(key, value.encode("utf-8", "surrogatepass"), "sha256").hex()[:32]


#: What every value ``assay.pii`` detects needs somewhere in its text: a digit (cards, phones, IBANs,
#: national ids, IPv4, high-entropy tokens, short assigned secrets), "@" (emails), ":" (IPv6), "-----"
#: (private-key blocks) or a run of >= 15 non-space characters (API keys, the shortest being a Slack
#: token, and assigned secrets without digits, >= 16). A text with none of them has nothing to redact.
_PII_CANDIDATE = re.compile(r"[\d@:]|-----")
_MIN_CANDIDATE_RUN = 15
#: The entity types that claim was checked against; if ``assay.pii`` grows a new one, every text is
#: scanned again (the fast path turns itself off rather than miss a new kind of personal data).
_GATED_TYPES: Final = frozenset(
    {"email", "phone", "credit_card", "iban", "national_id", "ip_address", "api_key", "secret"}
)


def may_contain_pii(text: str) -> bool:
    """False only when ``assay.pii`` cannot find anything in ``text`` (a cheap pre-check, no detectors).

    Most sentences of a conversation have no digit, "@" or long token: they skip the detectors.

    Example:
        >>> may_contain_pii("How do I reset my password?"), may_contain_pii("call me on 0207 946 0958")
        (False, True)
    """
    if _PII_CANDIDATE.search(text) is not None:
        return True
    if len(text) < _MIN_CANDIDATE_RUN:
        return False
    return max(map(len, text.split()), default=0) >= _MIN_CANDIDATE_RUN


class Anonymiser:
    """Applies an ``AnonymisationConfig`` to events. Thread-safe; caches redactions of repeated texts.

    Retrieved passages and system prompts repeat across events: their redaction is computed once (an
    LRU cache of ``cache_size`` texts), which matters because detection costs tens of microseconds.
    Session and user ids repeat too: their hashes are cached (``id_cache_size``, about 250 bytes each).
    """

    def __init__(
        self,
        config: AnonymisationConfig | None = None,
        *,
        key: bytes | None = None,
        cache_size: int = 4096,
        id_cache_size: int = 16384,
    ):
        self.config = config or AnonymisationConfig()
        if key is None:
            env = os.environ.get(self.config.key_env, "")
            key = env.encode() if env else None
        if key is None:
            raise ValueError(
                f"no hash key: pass key=..., set ${self.config.key_env}, or let the ingestor create a per-store key"
            )
        self.key = key
        types = tuple(self.config.entity_types) if self.config.entity_types is not None else None
        salt = key.hex()
        style = self.config.style
        # the pre-check is sound only for the detectors it was written against (see may_contain_pii)
        self._gated = set(pii.ENTITY_TYPES) <= _GATED_TYPES
        fields = self.config.fields
        self._meta_overrides: dict[str, Action] = {
            k[len("metadata.") :]: a for k, a in fields.items() if k.startswith("metadata.")
        }
        # what apply_raw has to look at (with texts kept as sent, only the ids are hashed)
        text_fields = ("input", "output", "contexts", "feedback", "error", "spans")
        self._texts_active = any(fields[name] != "keep" for name in text_fields)
        self._meta_active = fields["metadata"] != "keep" or bool(self._meta_overrides)
        self._id_actions = [(name, fields[name]) for name in _ID_FIELDS if fields[name] != "keep"]

        gated = self._gated

        @lru_cache(maxsize=cache_size)
        def _redact(text: str) -> str:
            if gated and not may_contain_pii(text):
                return text
            return pii.redact(text, types, style=style, salt=salt)

        keyed = _KeyedHash(key)
        self._hash_uncached = keyed

        @lru_cache(maxsize=id_cache_size)  # the ids of the active sessions and users
        def _hash(value: str) -> str:
            return keyed(value)

        self._redact_cached = _redact
        self._hash_cached = _hash

    def redact_text(self, text: str) -> str:
        """``text`` with personal data replaced as configured.

        Texts up to 2,048 characters go through an LRU cache (repeated prompts, answers and metadata
        values cost one lookup); longer ones rarely repeat and would evict the useful entries.
        """
        if len(text) <= 2048:
            return self._redact_cached(text)
        if self._gated and not may_contain_pii(text):
            return text
        return pii.redact(text, self.config.entity_types, style=self.config.style, salt=self.key.hex())

    def hash_id(self, value: str) -> str:
        """The keyed hash of an identifier (cached: the ids of active sessions and users repeat)."""
        return self._hash_cached(value) if len(value) <= 256 else self._hash_uncached(value)

    def _text(self, value: str, action: Action) -> str | None:
        if action == "keep":
            return value
        if action == "redact":
            return self.redact_text(value)
        if action == "hash":
            return self.hash_id(value)
        return None

    def _deep(self, value: Any, action: Action) -> Any:
        if isinstance(value, str):
            return self._text(value, action)
        if isinstance(value, dict):
            return {k: self._deep(v, action) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._deep(v, action) for v in value]
        return value

    def apply(self, event: Event) -> Event:
        """A copy of ``event`` with every field anonymised as configured."""
        return Event.model_validate(self.apply_raw(event.model_dump(exclude_none=True)))

    def apply_raw(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Anonymise a raw event (a decoded JSON object) before it is validated; returns a new dict.

        Ingest uses this form: one pass over plain dicts instead of copying validated models. Values of
        unexpected types are left alone: validation rejects them (nothing unvalidated is stored), and
        every field that can hold text is covered here.
        """
        f = self.config.fields
        out = dict(raw)
        if self._texts_active:  # some text field is not kept as sent
            self._apply_texts(raw, out, f)
        if self._meta_active:
            meta = raw.get("metadata")
            if isinstance(meta, dict) and meta:
                out["metadata"] = self._metadata(meta)
        for name, action in self._id_actions:
            value = raw.get(name)
            if isinstance(value, str):
                if action == "hash":
                    out[name] = self.hash_id(value)
                else:
                    out[name] = self._text(value, action)
        return out

    def _apply_texts(self, raw: dict[str, Any], out: dict[str, Any], f: dict[str, Action]) -> None:
        inp = raw.get("input")
        if inp is not None and f["input"] != "keep":
            a = f["input"]
            if isinstance(inp, str):
                out["input"] = self._text(inp, a)
            elif a == "drop":
                out["input"] = None
            elif isinstance(inp, list):
                out["input"] = [self._message(m, a) for m in inp]
        output = raw.get("output")
        if isinstance(output, str) and f["output"] != "keep":
            out["output"] = self._text(output, f["output"])
        contexts = raw.get("contexts")
        if contexts and f["contexts"] != "keep" and isinstance(contexts, list):
            a = f["contexts"]
            out["contexts"] = [] if a == "drop" else [self._doc(d, a) for d in contexts]
        fb = raw.get("feedback")
        if isinstance(fb, dict) and isinstance(fb.get("comment"), str) and f["feedback"] != "keep":
            out["feedback"] = {**fb, "comment": self._text(fb["comment"], f["feedback"])}
        err = raw.get("error")
        if err is not None and f["error"] != "keep":
            if isinstance(err, str):
                out["error"] = self._text(err, f["error"]) or ""
            elif isinstance(err, dict) and isinstance(err.get("message"), str):
                out["error"] = {**err, "message": self._text(err["message"], f["error"]) or ""}
        spans = raw.get("spans")
        if spans and f["spans"] != "keep" and isinstance(spans, list):
            a = f["spans"]
            out["spans"] = [
                {**sp, "attributes": {} if a == "drop" else self._deep(sp.get("attributes") or {}, a)}
                if isinstance(sp, dict) and "attributes" in sp
                else sp
                for sp in spans
            ]

    def _message(self, m: Any, action: Action) -> Any:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            return {**m, "content": self._text(m["content"], action)}
        return m

    def _doc(self, d: Any, action: Action) -> Any:
        if isinstance(d, str):  # validation rejects it, but never keep it unredacted
            return self._text(d, action)
        if not isinstance(d, dict):
            return d
        doc = dict(d)
        if isinstance(doc.get("text"), str):
            doc["text"] = self._text(doc["text"], action)
        if isinstance(doc.get("metadata"), dict):
            doc["metadata"] = self._deep(doc["metadata"], action)
        return doc

    def _metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        f = self.config.fields
        default = f["metadata"]
        overrides = self._meta_overrides
        if default == "keep" and not overrides:
            return meta
        out: dict[str, Any] = {}
        for key, value in meta.items():
            action = overrides.get(key, default)
            if action == "drop":
                continue
            out[key] = value if action == "keep" else self._deep(value, action)
        return out
