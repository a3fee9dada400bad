"""The fast lane of ingest: the common shape of event, decoded, validated and anonymised in one pass.

Most events are flat (text input and output, numbers, ids, a usage/feedback/outcome/error object, flat
metadata). ``FastLane`` decodes and validates those with ``msgspec`` (strict types, bounds and lengths
checked in C, straight from the JSON bytes or from a dict), then anonymises the few text fields and
builds the event's dump: what ``Event.model_validate(anonymiser.apply_raw(raw)).model_dump(exclude_none=True)``
returns, about five times faster. Anything else (chat messages, contexts, spans, an invalid value, an unusual number) gives
None, and the caller takes the model's path, which also explains rejections. A differential test holds
the lane to the model.

Example:
    >>> from assay.monitor.anonymise import Anonymiser
    >>> lane = FastLane(Anonymiser(key=b"k"))
    >>> lane.from_json(b'{"event_id": "e", "ts": 1700000000, "input": "mail ann@example.com"}')["input"]
    'mail [EMAIL]'
    >>> lane.from_json(b'{"event_id": "e", "latency_s": "fast"}') is None
    True
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Final

import msgspec
from msgspec import Meta, Struct

from assay.monitor.event import EVENT_SCHEMA_VERSION, MAX_ID_CHARS, parse_ts

if TYPE_CHECKING:
    from assay.monitor.anonymise import Anonymiser

__all__ = ["FastLane"]

_MAX: Final = sys.float_info.max
_Seconds = Annotated[float, Meta(ge=0.0, le=_MAX)]  # finite and non-negative, as the model's NonNegFloat
_Count = Annotated[int, Meta(ge=0)]
_Name = Annotated[str, Meta(max_length=200)]
_Id = Annotated[str, Meta(max_length=MAX_ID_CHARS)]


class _Usage(Struct, forbid_unknown_fields=True):
    input_tokens: _Count = 0
    output_tokens: _Count = 0


class _Error(Struct, forbid_unknown_fields=True):
    kind: str = "error"
    message: str = ""


class _Feedback(Struct, forbid_unknown_fields=True):
    thumbs_up: bool | None = None
    rating: Annotated[int, Meta(ge=1, le=5)] | None = None
    nps: Annotated[int, Meta(ge=0, le=10)] | None = None
    comment: str | None = None


class _Outcome(Struct, forbid_unknown_fields=True):
    resolved: bool | None = None
    escalated: bool | None = None
    handle_time_s: _Seconds | None = None
    accepted: bool | None = None


class _Simple(Struct, forbid_unknown_fields=True):
    """The simple subset of ``Event``: the same names, types and bounds (no messages, contexts, spans)."""

    event_id: Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
    schema_version: int = EVENT_SCHEMA_VERSION
    ts: float | str | None = None
    app: Annotated[str, Meta(min_length=1, max_length=200)] = "default"
    variant: _Name | None = None
    model: _Name | None = None
    input: str | None = None
    output: str | None = None
    latency_s: _Seconds | None = None
    ttft_s: _Seconds | None = None
    usage: _Usage | None = None
    cost_usd: _Seconds | None = None
    error: str | _Error | None = None
    session_id: _Id | None = None
    user_id: _Id | None = None
    feedback: _Feedback | None = None
    outcome: _Outcome | None = None
    queue_depth: _Count | None = None
    metadata: dict[str, Any] = {}


_INF: Final = float("inf")
_SCALARS: Final = frozenset({str, bool, type(None)})


def _plain_dict(d: dict[Any, Any]) -> bool:
    """``_plain(d)`` with a fast path for the usual flat metadata (string keys, text/bool values)."""
    for k, v in d.items():  # noqa: SIM110 - a loop is cheaper than all() over a generator here
        if type(k) is not str or (type(v) not in _SCALARS and not _plain(v, 1)):
            return False
    return True


def _plain(v: Any, depth: int = 0) -> bool:
    """A JSON value that serialises the same through pydantic and orjson (finite floats, str keys)."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return t is not int or -(2**63) <= v < 2**64
    if t is float:
        return -_INF < v < _INF
    if depth > 8:
        return False
    if t is list:
        return all(_plain(x, depth + 1) for x in v)
    if t is dict:
        return all(type(k) is str and _plain(x, depth + 1) for k, x in v.items())
    return False


_DECODER: Final = msgspec.json.Decoder(_Simple)
_NOT_SIMPLE: Final = (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError, OverflowError)


class FastLane:
    """Dumps of simple events, anonymised by ``anonymiser`` (see the module docstring). Thread-safe."""

    def __init__(self, anonymiser: Anonymiser) -> None:
        self.anonymiser = anonymiser
        fields = anonymiser.config.fields
        self._text = anonymiser._text
        self._texts_active = anonymiser._texts_active
        self._meta_active = anonymiser._meta_active
        self._id_actions = dict(anonymiser._id_actions)
        self._input, self._output = fields["input"], fields["output"]
        self._feedback, self._error = fields["feedback"], fields["error"]

    def from_json(self, raw: bytes) -> dict[str, Any] | None:
        """The anonymised dump of one JSON event, or None when it is not simple (or not valid)."""
        try:
            return self._dump(_DECODER.decode(raw))
        except _NOT_SIMPLE:
            return None

    def from_obj(self, obj: Any) -> dict[str, Any] | None:
        """The anonymised dump of one decoded event (a dict), or None when it is not simple."""
        if type(obj) is not dict:
            return None
        try:
            return self._dump(msgspec.convert(obj, _Simple))
        except _NOT_SIMPLE:
            return None

    def _dump(self, ev: _Simple) -> dict[str, Any] | None:
        if ev.schema_version != EVENT_SCHEMA_VERSION or type(ev.event_id) is not str:
            return None
        out: dict[str, Any] = {"schema_version": ev.schema_version, "event_id": ev.event_id}
        if ev.ts is not None:
            out["ts"] = parse_ts(ev.ts)  # ValueError: not simple (the model words the reason)
        out["app"] = ev.app
        if ev.variant is not None:
            out["variant"] = ev.variant
        if ev.model is not None:
            out["model"] = ev.model
        text, active = self._text, self._texts_active
        inp, output = ev.input, ev.output
        if active:
            if inp is not None and self._input != "keep":
                inp = text(inp, self._input)
            if output is not None and self._output != "keep":
                output = text(output, self._output)
        if inp is not None:
            out["input"] = inp
        if output is not None:
            out["output"] = output
        out["contexts"] = []
        if ev.latency_s is not None:
            out["latency_s"] = ev.latency_s
        if ev.ttft_s is not None:
            out["ttft_s"] = ev.ttft_s
        if (usage := ev.usage) is not None:
            out["usage"] = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        if ev.cost_usd is not None:
            out["cost_usd"] = ev.cost_usd
        if (err := ev.error) is not None:
            kind, message = ("error", err) if type(err) is str else (err.kind, err.message)  # type: ignore[union-attr]
            if active and self._error != "keep":
                message = text(message, self._error) or ""
            out["error"] = {"kind": kind, "message": message}
        for name in ("session_id", "user_id"):
            value = getattr(ev, name)
            if value is None:
                continue
            action = self._id_actions.get(name)
            if action is not None:
                value = self.anonymiser.hash_id(value) if action == "hash" else text(value, action)
                if value is None:
                    continue
            out[name] = value
        if (fb := ev.feedback) is not None:
            clean: dict[str, Any] = {}
            if fb.thumbs_up is not None:
                clean["thumbs_up"] = fb.thumbs_up
            if fb.rating is not None:
                clean["rating"] = fb.rating
            if fb.nps is not None:
                clean["nps"] = fb.nps
            comment = fb.comment
            if comment is not None and active and self._feedback != "keep":
                comment = text(comment, self._feedback)
            if comment is not None:
                clean["comment"] = comment
            out["feedback"] = clean
        if (oc := ev.outcome) is not None:
            clean = {}
            for name in ("resolved", "escalated", "handle_time_s", "accepted"):
                v = getattr(oc, name)
                if v is not None:
                    clean[name] = v
            out["outcome"] = clean
        out["spans"] = []
        if ev.queue_depth is not None:
            out["queue_depth"] = ev.queue_depth
        meta = ev.metadata
        if meta and not _plain_dict(meta):
            return None
        if meta and self._meta_active:
            meta = self.anonymiser._metadata(meta)
        out["metadata"] = meta
        return out
