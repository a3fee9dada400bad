"""The monitoring event: one interaction of a deployed app, as it travels over the wire and into the store.

``Event`` is a versioned pydantic model (``schema_version``); field names follow the OpenTelemetry GenAI
conventions where one exists (``usage.input_tokens``, ``model``). Validation is strict: a string where a
number belongs is an error, not a guess, so a broken client is noticed instead of silently skewing a
metric. ``parse_event`` turns one raw object (a JSON line, an element of an HTTP batch) into an
``Event`` or raises ``EventError`` with a one-line reason naming the field.

``ts`` accepts ISO 8601 with a zone (``2025-03-01T12:00:00Z``) or Unix seconds; a timestamp without a
zone is refused (guessing it silently shifts windows). A missing ``ts`` means "now" (the ingest time).

Example:
    >>> ev = parse_event({"event_id": "e1", "ts": 1700000000, "app": "bot", "input": "hi",
    ...                   "output": "hello", "latency_s": 0.2, "usage": {"input_tokens": 3}})
    >>> ev.ts.isoformat(), ev.usage.input_tokens
    ('2023-11-14T22:13:20+00:00', 3)
    >>> event_to_case_output(ev)[1].text
    'hello'
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from assay.types import AssayError, Case, Doc, Message, Output, TargetError, Usage

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "Event",
    "EventDoc",
    "EventError",
    "EventErrorInfo",
    "EventMessage",
    "EventUsage",
    "Feedback",
    "Outcome",
    "Span",
    "event_to_case_output",
    "parse_event",
    "parse_events",
]

EVENT_SCHEMA_VERSION: Final = 1
"""Bump when a field changes meaning; readers accept every version up to this one."""

MAX_ID_CHARS: Final = 256

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0)]


class EventError(AssayError):
    """One event could not be accepted; ``reason`` says why (names the field when one is at fault)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class EventMessage(BaseModel):
    """One chat message of the input."""

    model_config = _STRICT
    role: str = Field(description="system | user | assistant | tool")
    content: str = Field(description="The message text.")


class EventDoc(BaseModel):
    """A document the app retrieved (RAG) and gave to the model."""

    model_config = _STRICT
    text: str = Field(description="The passage text.")
    id: str | None = Field(default=None, description="Document or passage id.")
    score: float | None = Field(default=None, allow_inf_nan=False, description="Retrieval score.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class EventUsage(BaseModel):
    """Token counts (``gen_ai.usage.input_tokens`` / ``output_tokens``)."""

    model_config = _STRICT
    input_tokens: NonNegInt = 0
    output_tokens: NonNegInt = 0


class EventErrorInfo(BaseModel):
    """The app's call failed: a kind (``timeout``, ``rate_limited`` … or the app's own) and a message."""

    model_config = _STRICT
    kind: str = Field(default="error", description="Error class, used to group errors.")
    message: str = Field(default="", description="Human-readable detail.")


class Feedback(BaseModel):
    """What the user said about the answer. Any subset may be present."""

    model_config = _STRICT
    thumbs_up: bool | None = Field(default=None, description="Thumbs up (true) or down (false).")
    rating: Annotated[int, Field(ge=1, le=5)] | None = Field(default=None, description="Rating 1-5.")
    nps: Annotated[int, Field(ge=0, le=10)] | None = Field(default=None, description="Net promoter 0-10.")
    comment: str | None = Field(default=None, description="Free text (anonymised like the input).")


class Outcome(BaseModel):
    """What happened after the answer (support: resolved/escalated; code assistants: accepted)."""

    model_config = _STRICT
    resolved: bool | None = None
    escalated: bool | None = None
    handle_time_s: NonNegFloat | None = None
    accepted: bool | None = Field(default=None, description="A code suggestion was accepted.")


class Span(BaseModel):
    """One stage of the interaction (retrieval, generation, guardrail, asr …) with its duration."""

    model_config = _STRICT
    name: str
    duration_s: NonNegFloat
    start_offset_s: NonNegFloat | None = Field(default=None, description="Start, relative to the event.")
    attributes: dict[str, Any] = Field(default_factory=dict)


class Event(BaseModel):
    """One logged interaction of a deployed app (wire format version ``schema_version``).

    ``event_id`` is the idempotency key: an event sent twice is stored once. ``session_id`` and
    ``user_id`` are replaced by keyed hashes at ingest; texts are anonymised as configured.
    """

    model_config = _STRICT
    schema_version: Literal[1] = Field(default=EVENT_SCHEMA_VERSION, description="Event format version.")
    event_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="Idempotency key.")
    ts: datetime | None = Field(default=None, description="When it happened (UTC); None = ingest time.")
    app: str = Field(default="default", min_length=1, max_length=200)
    variant: str | None = Field(default=None, max_length=200, description="A/B variant.")
    model: str | None = Field(default=None, max_length=200, description="gen_ai.response.model")
    input: str | list[EventMessage] | None = None
    output: str | None = None
    contexts: list[EventDoc] = Field(default_factory=list)
    latency_s: NonNegFloat | None = None
    ttft_s: NonNegFloat | None = Field(default=None, description="Time to first token.")
    usage: EventUsage | None = None
    cost_usd: NonNegFloat | None = None
    error: EventErrorInfo | None = None
    session_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    user_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    feedback: Feedback | None = None
    outcome: Outcome | None = None
    spans: list[Span] = Field(default_factory=list)
    queue_depth: NonNegInt | None = Field(default=None, description="Requests waiting, when the app knows.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Slices: topic, language, tags …")

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: Any) -> datetime | None:
        return parse_ts(value)

    @field_validator("error", mode="before")
    @classmethod
    def _error_from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": "error", "message": value}
        return value

    @property
    def input_text(self) -> str:
        """The input as plain text: the string, or the last user message's content."""
        if self.input is None:
            return ""
        if isinstance(self.input, str):
            return self.input
        for m in reversed(self.input):
            if m.role == "user":
                return m.content
        return self.input[-1].content if self.input else ""


def parse_ts(value: Any) -> datetime | None:
    """A timestamp from ISO 8601 (with a zone) or Unix seconds, as an aware UTC datetime.

    Example:
        >>> parse_ts("2025-03-01T12:00:00+01:00").isoformat()
        '2025-03-01T11:00:00+00:00'
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("ts must be ISO 8601 text or Unix seconds, got a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 1e11:
            raise ValueError(f"ts {value!r} is not a plausible Unix time in seconds")
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"ts {value[:40]!r} is not ISO 8601 (e.g. 2025-03-01T12:00:00Z)") from exc
    else:
        raise ValueError(f"ts must be ISO 8601 text or Unix seconds, got {type(value).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("ts has no time zone; add 'Z' or an offset such as +00:00")
    return dt.astimezone(UTC)


def _format_errors(errors: list[Any], total: int, skip: int = 0) -> str:
    """One line from pydantic errors: the first three as ``field 'loc': message``, then how many more.

    ``skip`` drops leading ``loc`` parts (the position of the event in a validated batch).
    """
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in tuple(err.get("loc", ()))[skip:])
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        parts.append(f"field '{loc}': {msg}" if loc else msg)
    more = total - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _reason(exc: ValidationError) -> str:
    return _format_errors(exc.errors(include_url=False), exc.error_count())


def _precheck(obj: Any) -> str | None:
    """The reason a raw object cannot even be validated as an event (checked before pydantic)."""
    if not isinstance(obj, dict):
        return f"an event must be a JSON object, got {type(obj).__name__}"
    if "event_id" not in obj:
        return "field 'event_id': missing (every event needs an idempotency key)"
    return None


@cache
def _batch_adapter() -> TypeAdapter[list[Event]]:
    return TypeAdapter(list[Event])


def parse_event(obj: Any) -> Event:
    """Validate one raw event (a dict decoded from JSON). Raises ``EventError`` with the reason.

    Example:
        >>> parse_event({"event_id": "e", "latency_s": "fast"})
        Traceback (most recent call last):
        ...
        assay.monitor.event.EventError: field 'latency_s': Input should be a valid number
    """
    reason = _precheck(obj)
    if reason is not None:
        raise EventError(reason)
    try:
        return Event.model_validate(obj)
    except ValidationError as exc:
        raise EventError(_reason(exc)) from None


def parse_events(objs: list[Any]) -> list[Event | EventError]:
    """Validate a batch of raw events: for each one, its ``Event`` or the ``EventError`` saying why not.

    The same rules and reasons as ``parse_event``, but the whole batch goes through pydantic in one
    call (a third cheaper per event than one call each). When some events are invalid, their reasons
    come from that call's errors (grouped by position) and the valid ones are validated again.

    Example:
        >>> [type(r).__name__ for r in parse_events([{"event_id": "a"}, {"event_id": "b", "ts": True}])]
        ['Event', 'EventError']
    """
    out: list[Event | EventError] = [None] * len(objs)  # type: ignore[list-item]
    todo: list[int] = []
    for i, obj in enumerate(objs):
        reason = _precheck(obj)
        if reason is None:
            todo.append(i)
        else:
            out[i] = EventError(reason)
    adapter = _batch_adapter()
    while todo:
        try:
            events = adapter.validate_python([objs[i] for i in todo])
        except ValidationError as exc:
            by_pos: dict[int, list[Any]] = {}
            for err in exc.errors(include_url=False):
                by_pos.setdefault(int(err["loc"][0]), []).append(err)
            for pos, errs in by_pos.items():
                out[todo[pos]] = EventError(_format_errors(errs, len(errs), skip=1))
            todo = [i for pos, i in enumerate(todo) if pos not in by_pos]
            continue  # the rest is valid: events are validated independently of each other
        for i, ev in zip(todo, events, strict=True):
            out[i] = ev
        break
    return out


def event_to_case_output(event: Event) -> tuple[Case, Output]:
    """The event as the ``Case`` + ``Output`` pair scorers take (offline and online share scorers).

    The case's id is the event id, its metadata the event's metadata plus app/variant/model; an event
    error becomes ``Output.error`` (kind ``target_exception`` unless it is one of the runner's kinds).
    """
    inp: str | tuple[Message, ...]
    if isinstance(event.input, list):
        inp = tuple(Message(role=m.role, content=m.content) for m in event.input)
    else:
        inp = event.input or ""
    meta = dict(event.metadata)
    meta.update({"app": event.app, "variant": event.variant, "model": event.model})
    expected = event.metadata.get("expected")
    case = Case(id=event.event_id, input=inp, expected=expected, metadata=meta)
    error = None
    if event.error is not None:
        kind = event.error.kind
        known = ("timeout", "rate_limited", "http_error", "invalid_response", "target_exception")
        error = TargetError(kind if kind in known else "target_exception", event.error.message)  # type: ignore[arg-type]
    usage = None
    if event.usage is not None:
        usage = Usage(event.usage.input_tokens, event.usage.output_tokens)
    output = Output(
        text=event.output or "",
        contexts=tuple(
            Doc(text=d.text, id=d.id, score=d.score, metadata=dict(d.metadata)) for d in event.contexts
        ),
        usage=usage,
        latency_s=event.latency_s,
        ttft_s=event.ttft_s,
        cost_usd=event.cost_usd,
        error=error,
    )
    return case, output
