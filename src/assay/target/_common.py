"""Shared by the built-in targets: option validation (pydantic in, ``ConfigError`` out) and Output fields.

A bad option becomes a ``ConfigError`` whose ``field`` is ``target.<option>`` and whose message names
the problem; an unknown option name suggests the closest valid one.

Example:
    >>> class Opts(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     timeout_s: float = 30.0
    >>> parse_options(Opts, {"timout_s": 5}, target="demo")
    Traceback (most recent call last):
    ...
    assay.types.ConfigError: field 'target.timout_s': unknown option 'timout_s' for target 'demo'. Did you mean 'timeout_s'? Valid options: timeout_s
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from assay.types import ERROR_KINDS, ConfigError, Doc, Output, TargetError, Usage

__all__ = [
    "OUTPUT_FIELDS",
    "FieldProblem",
    "StrictOptions",
    "output_from_mapping",
    "parse_options",
    "unknown_field",
]

M = TypeVar("M", bound=BaseModel)

# Options whose values must never be echoed back in an error message.
_SECRET_FIELDS = {"headers"}


class StrictOptions(BaseModel):
    """Base for target option models: unknown names are errors, values are not silently coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The (nested) pydantic model owning the last element of ``loc``, if it can be resolved."""
    current: type[BaseModel] = model
    for part in loc[:-1]:
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        candidates = [info.annotation, *getattr(info.annotation, "__args__", ())]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return None
        current = nested
    return current


def parse_options(model: type[M], options: dict[str, Any], *, target: str) -> M:
    """Validate ``options`` with ``model``; translate the first problem into a ``ConfigError``."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        errors = exc.errors()
        # An unknown name usually explains a "missing" one next to it (a typo): report it first.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(err.get("loc", ()))
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden" and loc:
            owner = _model_at(model, loc)
            valid = sorted(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            msg = f"unknown option '{dotted}' for target '{target}'.{hint} Valid options: {', '.join(valid)}"
        elif err["type"] == "missing":
            msg = f"target '{target}' needs option '{dotted}'"
        else:
            msg = str(err["msg"])
            if not (loc and str(loc[0]) in _SECRET_FIELDS):
                msg += f" (got {err.get('input')!r:.80})"
        raise ConfigError(msg, field=f"target.{dotted}" if dotted else "target") from None


# ------------------------------------------------------------------------------ Output from plain data
class FieldProblem(ValueError):
    """A value of an Output field is invalid; ``field`` names it (``usage.input_tokens``, ``contexts[2]`` …)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"field '{field}': {message}")


OUTPUT_FIELDS = (
    "text",
    "contexts",
    "usage",
    "latency_s",
    "ttft_s",
    "cost_usd",
    "confidence",
    "logprobs",
    "raw",
    "error",
)
_USAGE_KEYS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
}


def unknown_field(name: str, valid: Iterable[str], field: str | None = None) -> FieldProblem:
    """A ``FieldProblem`` for an unknown key, suggesting the closest valid one."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return FieldProblem(field or name, f"unknown field '{name}'{hint}")


def _number(value: Any, field: str, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldProblem(field, f"must be a finite number, got {value!r:.60}")
    if value < 0 or (upper is not None and value > upper):
        bound = f"within [0, {upper:g}]" if upper is not None else ">= 0"
        raise FieldProblem(field, f"must be {bound}, got {value!r}")
    return float(value)


def _usage_from(value: Any) -> Usage | None:
    if value is None or isinstance(value, Usage):
        return value
    if not isinstance(value, dict):
        raise FieldProblem("usage", f"must be an object with input_tokens/output_tokens, got {value!r:.60}")
    counts = {"input_tokens": 0, "output_tokens": 0}
    for key, n in value.items():
        if key == "total_tokens":
            continue
        if key not in _USAGE_KEYS:
            raise unknown_field(key, ("input_tokens", "output_tokens"), f"usage.{key}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise FieldProblem(f"usage.{key}", f"must be a non-negative integer, got {n!r:.60}")
        counts[_USAGE_KEYS[key]] = n
    return Usage(counts["input_tokens"], counts["output_tokens"])


def _error_from(value: Any) -> TargetError | None:
    if value is None or isinstance(value, TargetError):
        return value
    if not isinstance(value, dict):
        raise FieldProblem("error", f"must be an object with 'kind' and 'message', got {value!r:.60}")
    kind = value.get("kind")
    if kind not in ERROR_KINDS:
        raise FieldProblem("error.kind", f"must be one of {', '.join(ERROR_KINDS)}, got {kind!r:.60}")
    message = value.get("message", "")
    if not isinstance(message, str):
        raise FieldProblem("error.message", f"must be a string, got {message!r:.60}")
    status = value.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise FieldProblem("error.status", f"must be an integer, got {status!r:.60}")
    return TargetError(kind, message, status=status)


def _logprobs_from(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
        isinstance(x, dict)
        and isinstance(x.get("logprob"), int | float)
        and not isinstance(x.get("logprob"), bool)
        for x in value
    ):
        raise FieldProblem("logprobs", "must be a list of {token, logprob} objects")
    return value


def _contexts_from(value: Any) -> tuple[Doc, ...]:
    if not isinstance(value, list | tuple):
        raise FieldProblem("contexts", f"must be a list of documents, got {type(value).__name__}")
    docs = []
    for i, doc in enumerate(value):
        try:
            docs.append(Doc.coerce(doc))
        except (ValueError, TypeError) as exc:
            raise FieldProblem(f"contexts[{i}]", str(exc)) from None
    return tuple(docs)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "contexts": _contexts_from,
    "usage": _usage_from,
    "latency_s": lambda v: _number(v, "latency_s"),
    "ttft_s": lambda v: _number(v, "ttft_s"),
    "cost_usd": lambda v: _number(v, "cost_usd"),
    "confidence": lambda v: _number(v, "confidence", upper=1.0),
    "logprobs": _logprobs_from,
    "raw": lambda v: v,
    "error": _error_from,
}


def output_kwargs(
    data: dict[str, Any], *, text_key: str = "text", ignore: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Validate a dict of ``Output`` fields (the text under ``text_key``) into ``Output(**kwargs)`` arguments.

    Keys in ``ignore`` are skipped; any other unknown key is an error suggesting the closest name. The
    text may be missing or null only when an ``error`` is given. Raises ``FieldProblem``.
    """
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == text_key:
            if value is not None and not isinstance(value, str):
                raise FieldProblem(text_key, f"must be a string, got {type(value).__name__}")
            if value is not None:
                kwargs["text"] = value
            continue
        convert = _CONVERTERS.get(key)
        if convert is None:
            if key in ignore:
                continue
            raise unknown_field(key, (text_key, *_CONVERTERS, *ignore))
        if value is not None:
            kwargs[key] = convert(value)
    if "text" not in kwargs and "error" not in kwargs:
        state = "is null" if text_key in data else "is missing"
        raise FieldProblem(text_key, f"{state} and no 'error' is given")
    return kwargs


def output_from_mapping(data: dict[str, Any]) -> Output:
    """Build an ``Output`` from a dict of its fields, validating types; raises ``FieldProblem``.

    >>> output_from_mapping({"text": "4", "usage": {"input_tokens": 3, "output_tokens": 1}}).usage.total_tokens
    4
    """
    return Output(**output_kwargs(data))
