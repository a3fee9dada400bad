"""Turn one raw row (a dict from any file format) into a validated ``Case``.

Every format reader yields plain Python values; this module is the single place that decides what a valid
case is, so JSONL, CSV, YAML, Parquet and inline lists accept and reject exactly the same things. Problems
are raised as ``RowError`` carrying the path of the offending value inside the row (``("input", 2,
"role")``); the caller turns that into a ``DatasetError`` with the file, the line and the field.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import functools
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assay.types import Case, Doc, Message, case_id_for

#: keys a chat message may have
MESSAGE_KEYS = ("role", "content", "name")
#: keys a context document may have
DOC_KEYS = ("id", "text", "score", "metadata")
#: bumped whenever the canonical serialisation behind ``Dataset.sha256`` changes
HASH_VERSION = "assay-dataset-v1"

Path_ = tuple[str | int, ...]


class RowError(Exception):
    """A problem with one row; ``path`` locates the offending value inside the row."""

    def __init__(self, message: str, path: Path_ = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def format_path(path: Path_) -> str | None:
    """``("input", 2, "role")`` -> ``"input[2].role"`` (None for the empty path)."""
    out = ""
    for el in path:
        if isinstance(el, int):
            out += f"[{el}]"
        else:
            out += f".{el}" if out else str(el)
    return out or None


def type_name(value: Any) -> str:
    """A user-facing name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def unknown_key_message(key: str, valid: Iterable[str], *, what: str, hint: str = "") -> str:
    """'unknown key' with the closest valid key suggested (difflib) and the list of valid keys."""
    valid = list(valid)
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    suggestion = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}' in {what}.{suggestion} Valid keys: {', '.join(valid)}.{hint}"


@functools.lru_cache(maxsize=64)
def _valid_set(id_key: str, input_key: str, expected_key: str) -> frozenset[str]:
    return frozenset((id_key, input_key, expected_key, "context", "metadata"))


@dataclass(frozen=True, slots=True)
class FieldMap:
    """Which row keys hold the case id, input and expected answer (``context``/``metadata`` are fixed)."""

    input: str = "input"
    expected: str = "expected"
    id: str = "id"

    def valid_keys(self) -> tuple[str, ...]:
        return (self.id, self.input, self.expected, "context", "metadata")

    @property
    def valid_set(self) -> frozenset[str]:
        return _valid_set(self.id, self.input, self.expected)

    def check(self) -> None:
        keys = self.valid_keys()
        for k in keys:
            if not isinstance(k, str) or not k:
                raise ValueError(f"field names must be non-empty strings, got {k!r}")
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"id_field, input_field and expected_field must differ from each other and from "
                f"'context' and 'metadata' (got id={self.id!r}, input={self.input!r}, expected={self.expected!r})"
            )


# ------------------------------------------------------------------------------------------ normalising
def jsonable(value: Any, path: Path_ = ()) -> Any:
    """Copy ``value`` into plain JSON types, so every ``Case`` is JSON-serialisable and hashes stably.

    Dates and times become ISO-8601 strings, decimals become numbers, tuples become lists, numpy scalars
    become Python scalars. NaN and infinity are rejected (a dataset value is never a silent NaN), as are
    binary values and other objects with no JSON form. ``Message``/``Doc`` objects pass through for the
    input/context validators.
    """
    t = type(value)
    if t is str or value is None or t is int or t is bool:  # the common cases first, by exact type
        return value
    if t is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str | int | float | bool):
                raise RowError(f"object keys must be strings, got {type_name(k)}", path)
            tv = type(v)
            out[str(k)] = (
                v if tv is str or v is None or tv is int or tv is bool else jsonable(v, (*path, str(k)))
            )
        return out
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowError(f"{value} is not allowed in a dataset (use null for 'no value')", path)
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool):
                raise RowError(f"object keys must be strings, got {type_name(k)}", path)
            out[str(k)] = jsonable(v, (*path, str(k)))
        return out
    if isinstance(value, list | tuple):
        return [jsonable(v, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, Message | Doc):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise RowError(f"{value} is not allowed in a dataset (use null for 'no value')", path)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise RowError("binary values are not supported in a dataset; store text", path)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__ == "numpy":
        return jsonable(item(), path)
    raise RowError(f"unsupported value of type {type(value).__name__}", path)


# ------------------------------------------------------------------------------------------ validating
def _parse_input(raw: Any, key: str) -> str | tuple[Message, ...]:
    if isinstance(raw, str):
        if not raw.strip():
            raise RowError(f"'{key}' is empty", (key,))
        return raw
    if isinstance(raw, list | tuple):
        if not raw:
            raise RowError(f"'{key}' is an empty list of messages", (key,))
        return tuple(_parse_message(m, (key, i)) for i, m in enumerate(raw))
    raise RowError(
        f"'{key}' must be a string or a list of {{role, content}} messages, got {type_name(raw)}", (key,)
    )


def _parse_message(raw: Any, path: Path_) -> Message:
    if isinstance(raw, Message):
        return raw
    if not isinstance(raw, dict):
        raise RowError(f"a message must be an object with 'role' and 'content', got {type_name(raw)}", path)
    for k in raw:
        if k not in MESSAGE_KEYS:
            raise RowError(unknown_key_message(k, MESSAGE_KEYS, what="a message"), (*path, k))
    role, content, name = raw.get("role"), raw.get("content"), raw.get("name")
    if role is None:
        raise RowError("message has no 'role'", (*path, "role"))
    if not isinstance(role, str) or not role:
        raise RowError(f"message 'role' must be a non-empty string, got {type_name(role)}", (*path, "role"))
    if content is None:
        raise RowError("message has no 'content'", (*path, "content"))
    if not isinstance(content, str):
        raise RowError(f"message 'content' must be a string, got {type_name(content)}", (*path, "content"))
    if name is not None and not isinstance(name, str):
        raise RowError(f"message 'name' must be a string, got {type_name(name)}", (*path, "name"))
    return Message(role=role, content=content, name=name)


def _parse_context(raw: Any) -> tuple[Doc, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str | Doc):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise RowError(
            f"'context' must be a list of strings or {{id, text}} objects, got {type_name(raw)}", ("context",)
        )
    docs = []
    for i, d in enumerate(raw):
        path: Path_ = ("context", i)
        if isinstance(d, Doc):
            docs.append(d)
        elif isinstance(d, str):
            docs.append(Doc(text=d))
        elif isinstance(d, dict):
            for k in d:
                if k not in DOC_KEYS:
                    raise RowError(unknown_key_message(k, DOC_KEYS, what="a context document"), (*path, k))
            text, doc_id, score, meta = d.get("text"), d.get("id"), d.get("score"), d.get("metadata")
            if not isinstance(text, str):
                raise RowError(
                    f"a context document needs a 'text' string, got {type_name(text)}", (*path, "text")
                )
            if doc_id is not None and (not isinstance(doc_id, str | int) or isinstance(doc_id, bool)):
                raise RowError(
                    f"document 'id' must be a string or integer, got {type_name(doc_id)}", (*path, "id")
                )
            if score is not None and (not isinstance(score, int | float) or isinstance(score, bool)):
                raise RowError(f"document 'score' must be a number, got {type_name(score)}", (*path, "score"))
            if meta is not None and not isinstance(meta, dict):
                raise RowError(
                    f"document 'metadata' must be an object, got {type_name(meta)}", (*path, "metadata")
                )
            docs.append(
                Doc(
                    text=text,
                    id=None if doc_id is None else str(doc_id),
                    score=None if score is None else float(score),
                    metadata=dict(meta or {}),
                )
            )
        else:
            raise RowError(f"a context document must be a string or an object, got {type_name(d)}", path)
    return tuple(docs)


def build_case(row: Any, fields: FieldMap, *, columns: bool = False, normalise: bool = False) -> Case:
    """Validate one row and build its ``Case``.

    ``columns`` is true for tabular formats (CSV, Parquet): keys other than the five case keys become
    metadata instead of being rejected. ``normalise`` converts values into JSON types first (needed for
    YAML, Parquet and Python lists; JSON sources already are).
    """
    if isinstance(row, Case):
        return row
    if not isinstance(row, dict):
        raise RowError(f"a case must be an object with an '{fields.input}' key, got {type_name(row)}")
    if normalise:
        row = jsonable(row)
    valid = fields.valid_keys()
    extra: dict[str, Any] | None = None
    unknown = () if row.keys() <= fields.valid_set else [k for k in row if k not in valid]
    if unknown and columns:
        extra = {k: row[k] for k in unknown if row[k] is not None}
    elif unknown:
        close = [k for k in unknown if difflib.get_close_matches(str(k), valid, n=1, cutoff=0.6)]
        if fields.input not in row and not close:
            present = ", ".join(map(str, row))
            raise RowError(
                f"no '{fields.input}' key (the case has keys: {present}). If the input is under another key, "
                "name that key with input_field; other fields belong under 'metadata'.",
                (fields.input,),
            )
        k = (close or unknown)[0]
        raise RowError(
            unknown_key_message(k, valid, what="a case", hint=" Put other fields under 'metadata'."), (k,)
        )

    raw_input = row.get(fields.input)
    if raw_input is None:
        raise RowError(f"missing '{fields.input}'", (fields.input,))
    inp = _parse_input(raw_input, fields.input)

    raw_id = row.get(fields.id)
    if raw_id is None:
        case_id = case_id_for(inp)
    elif isinstance(raw_id, str):
        if not raw_id.strip():
            raise RowError(f"'{fields.id}' is empty (omit it to derive an id from the input)", (fields.id,))
        case_id = raw_id
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool):
        case_id = str(raw_id)
    else:
        raise RowError(f"'{fields.id}' must be a string or an integer, got {type_name(raw_id)}", (fields.id,))

    raw_meta = row.get("metadata")
    if raw_meta is None:
        metadata: dict[str, Any] = {}
    elif isinstance(raw_meta, dict):
        metadata = dict(raw_meta)
    else:
        hint = " (in a CSV file, name the column 'metadata:json')" if columns else ""
        raise RowError(f"'metadata' must be an object, got {type_name(raw_meta)}{hint}", ("metadata",))
    if extra:
        for k, v in extra.items():
            if k in metadata:
                raise RowError(f"metadata key '{k}' is given both as a column and inside 'metadata'", (k,))
            metadata[k] = v

    return Case(
        id=case_id,
        input=inp,
        expected=row.get(fields.expected),
        context=_parse_context(row.get("context")),
        metadata=metadata,
    )


# ------------------------------------------------------------------------------------------ hashing
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class CaseHasher:
    """Incremental SHA-256 of a canonical serialisation of cases.

    Each case is serialised as the compact JSON array ``[id, input, expected, context, metadata]`` (chat
    messages and documents as their ``to_dict()`` objects, object keys sorted, non-ASCII kept) followed by
    a newline, after a version header. The file format plays no part,
    so the same cases from JSONL, CSV, YAML or Parquet hash the same.
    """

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = hashlib.sha256(HASH_VERSION.encode() + b"\n")

    def add(self, case: Case) -> None:
        inp = case.input if isinstance(case.input, str) else [m.to_dict() for m in case.input]
        ctx = [d.to_dict() for d in case.context] if case.context else []
        try:
            blob = _CANONICAL.encode([case.id, inp, case.expected, ctx, case.metadata])
        except (TypeError, ValueError) as exc:  # a hand-made Case holding a non-JSON value
            raise RowError(f"case '{case.id}' is not JSON-serialisable: {exc}") from exc
        self._h.update(blob.encode("utf-8", "surrogatepass"))
        self._h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()
