"""Core records shared by every layer: cases, outputs, scores and the error hierarchy.

These are in-process records (frozen dataclasses). Serialized forms (suite files, events, summaries) are
pydantic models that live at the edges. This module imports nothing else from assay.

Example:
    >>> case = Case(id="q1", input="What is 2+2?", expected="4")
    >>> out = Output(text="4", latency_s=0.12)
    >>> Score(name="exact_match", value=True, kind="binary").value
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AssayError",
    "Case",
    "ConfigError",
    "DatasetError",
    "Doc",
    "ErrorKind",
    "Message",
    "Output",
    "Score",
    "ScoreKind",
    "ScorerError",
    "StoreError",
    "TargetError",
    "Usage",
    "case_id_for",
]

ErrorKind = Literal[
    "timeout", "rate_limited", "http_error", "invalid_response", "target_exception", "engine_error"
]
#: ``engine_error``: the execution engine lost the case (a Ray worker died), not the target
ERROR_KINDS: tuple[str, ...] = (
    "timeout",
    "rate_limited",
    "http_error",
    "invalid_response",
    "target_exception",
    "engine_error",
)
ScoreKind = Literal["binary", "proportion", "continuous"]


# --------------------------------------------------------------------------------------------- errors
class AssayError(Exception):
    """Root of every error assay raises on purpose."""


class ConfigError(AssayError):
    """A configuration (suite file, CLI option) is invalid. Names the file, line and field when known."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        if self.field:
            where = f"{where} field '{self.field}'" if where else f"field '{self.field}'"
        return f"{where}: {self.message}" if where else self.message


class DatasetError(ConfigError):
    """A dataset file or inline dataset is invalid (bad line, duplicate id, missing field ...)."""


class StoreError(AssayError):
    """The store could not be opened, read or written."""


class ScorerError(AssayError):
    """A scorer is misconfigured (raised at construction), never for a per-case failure."""


class TargetError(AssayError):
    """A per-case failure of a target call, carried in ``Output.error`` (targets never raise it).

    ``kind`` classifies it; ``retryable`` and ``retry_after`` (seconds, from a Retry-After header)
    tell the runner whether and when to try again. ``status`` is the HTTP status when there was one.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}; expected one of {ERROR_KINDS}")
        self.kind: ErrorKind = kind
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"{kind}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every field (the default would call ``__init__`` with the formatted message only)."""
        return (_target_error, (self.kind, self.message, self.retryable, self.retry_after, self.status))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "status": self.status}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetError:
        return cls(data["kind"], data.get("message", ""), status=data.get("status"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TargetError):
            return NotImplemented
        return (self.kind, self.message, self.status) == (other.kind, other.message, other.status)

    def __hash__(self) -> int:
        return hash((self.kind, self.message, self.status))


def _target_error(
    kind: ErrorKind, message: str, retryable: bool, retry_after: float | None, status: int | None
) -> TargetError:
    return TargetError(kind, message, retryable=retryable, retry_after=retry_after, status=status)


# --------------------------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: str
    content: str
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            d["name"] = self.name
        return d


@dataclass(frozen=True, slots=True)
class Doc:
    """A document: given to a target as context, or retrieved by it (with a retrieval score)."""

    text: str
    id: str | None = None
    score: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.score is not None:
            d["score"] = self.score
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    @classmethod
    def coerce(cls, value: Any) -> Doc:
        """Build a Doc from a string, a dict with ``text`` (and optional id/score/metadata) or a Doc."""
        if isinstance(value, Doc):
            return value
        if isinstance(value, str):
            return cls(text=value)
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            score = value.get("score")
            return cls(
                text=value["text"],
                id=None if value.get("id") is None else str(value["id"]),
                score=None if score is None else float(score),
                metadata=dict(value.get("metadata") or {}),
            )
        raise ValueError(f"a document must be a string or an object with a 'text' string, got {value!r:.80}")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


def case_id_for(input: str | list[Message] | tuple[Message, ...]) -> str:
    """A stable id derived from the input (first 16 hex chars of a SHA-256)."""
    if isinstance(input, str):
        payload = input
    else:
        payload = json.dumps([m.to_dict() for m in input], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Case:
    """One test case: an input for a target, optionally an expected answer, context and metadata.

    ``input`` is a string or a tuple of chat ``Message``s. ``expected`` is a string, a list of acceptable
    strings, or structured data. ``context`` holds documents given to the target; ``metadata`` holds
    slices such as ``category``, ``language`` and ``tags``.
    """

    id: str
    input: str | tuple[Message, ...]
    expected: Any = None
    context: tuple[Doc, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def input_text(self) -> str:
        """The input as plain text: the string itself, or the last user message's content."""
        if isinstance(self.input, str):
            return self.input
        for m in reversed(self.input):
            if m.role == "user":
                return m.content
        return self.input[-1].content if self.input else ""

    @property
    def messages(self) -> list[Message]:
        """The input as chat messages (a string becomes one user message)."""
        if isinstance(self.input, str):
            return [Message(role="user", content=self.input)]
        return list(self.input)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input if isinstance(self.input, str) else [m.to_dict() for m in self.input],
            "expected": self.expected,
            "context": [d.to_dict() for d in self.context],
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        raw_input = data["input"]
        inp: str | tuple[Message, ...]
        if isinstance(raw_input, str):
            inp = raw_input
        else:
            inp = tuple(Message(role=m["role"], content=m["content"], name=m.get("name")) for m in raw_input)
        return cls(
            id=str(data.get("id") or case_id_for(inp)),
            input=inp,
            expected=data.get("expected"),
            context=tuple(Doc.coerce(d) for d in (data.get("context") or ())),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True)
class Output:
    """What a target produced for one case. A per-case failure sets ``error`` instead of raising."""

    text: str = ""
    contexts: tuple[Doc, ...] = ()
    usage: Usage | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    cost_usd: float | None = None
    confidence: float | None = None
    logprobs: list[dict[str, Any]] | None = None
    raw: Any = None
    error: TargetError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "contexts": [c.to_dict() for c in self.contexts],
            "usage": self.usage.to_dict() if self.usage else None,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "cost_usd": self.cost_usd,
            "confidence": self.confidence,
            "logprobs": self.logprobs,
            "error": self.error.to_dict() if self.error else None,
        }
        if include_raw:
            d["raw"] = self.raw
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Output:
        usage = data.get("usage")
        err = data.get("error")
        return cls(
            text=data.get("text") or "",
            contexts=tuple(Doc.coerce(c) for c in (data.get("contexts") or ())),
            usage=Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
            if usage
            else None,
            latency_s=data.get("latency_s"),
            ttft_s=data.get("ttft_s"),
            cost_usd=data.get("cost_usd"),
            confidence=data.get("confidence"),
            logprobs=data.get("logprobs"),
            raw=data.get("raw"),
            error=TargetError.from_dict(err) if err else None,
        )


@dataclass(frozen=True, slots=True)
class Score:
    """One measurement of one output. A scorer that cannot score sets ``error`` and ``value=None``."""

    name: str
    value: float | bool | None
    kind: ScoreKind = "continuous"
    higher_is_better: bool = True
    explanation: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def failed(
        cls, name: str, error: str, *, kind: ScoreKind = "continuous", higher_is_better: bool = True
    ) -> Score:
        """A score that could not be computed (counted in ``n_errors``, never as 0)."""
        return cls(name=name, value=None, kind=kind, higher_is_better=higher_is_better, error=error)

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        return {
            "name": self.name,
            "value": value if value is None or isinstance(value, bool) else float(value),
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "explanation": self.explanation,
            "metadata": self.metadata,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Score:
        return cls(
            name=data["name"],
            value=data.get("value"),
            kind=data.get("kind", "continuous"),
            higher_is_better=data.get("higher_is_better", True),
            explanation=data.get("explanation", ""),
            metadata=dict(data.get("metadata") or {}),
            error=data.get("error"),
        )
