"""OpenTelemetry traces (OTLP/HTTP JSON) to events: each GenAI span becomes one event.

A span is a GenAI span when it has ``gen_ai.*`` attributes (OpenTelemetry GenAI semantic conventions).
It maps to an event as follows (older attribute names in brackets are accepted too):

==========================  ===========================================================================
event field                 from
==========================  ===========================================================================
``event_id``                ``<traceId>-<spanId>`` (a re-sent export is stored once)
``ts``, ``latency_s``       ``startTimeUnixNano``, end minus start
``app``                     resource ``service.name``
``variant``                 ``assay.variant`` (span or resource)
``model``                   ``gen_ai.response.model``, else ``gen_ai.request.model``
``usage``                   ``gen_ai.usage.input_tokens`` / ``output_tokens`` [``prompt_tokens`` /
                            ``completion_tokens``]
``input``                   ``gen_ai.input.messages`` (JSON), ``gen_ai.prompt.N.role/content``,
                            ``gen_ai.prompt``, or the span events ``gen_ai.{system,user}.message``
``output``                  ``gen_ai.output.messages``, ``gen_ai.completion.N.content``,
                            ``gen_ai.completion``, or the span event ``gen_ai.choice``
``error``                   span status ERROR (``error.type`` as the kind, the status message)
``session_id``/``user_id``  ``gen_ai.conversation.id`` or ``session.id``; ``user.id`` or ``enduser.id``
``spans``                   the other (non-GenAI) spans of the same trace: name and duration
``metadata``                ``gen_ai.operation.name``, ``gen_ai.provider.name`` [``gen_ai.system``]
==========================  ===========================================================================

Example:
    >>> payload = {"resourceSpans": [{"resource": {"attributes": [
    ...     {"key": "service.name", "value": {"stringValue": "bot"}}]},
    ...     "scopeSpans": [{"spans": [{"traceId": "t1", "spanId": "s1", "name": "chat",
    ...         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
    ...         "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}}]}]}]}]}
    >>> events, rejected, errors = spans_to_events(payload)
    >>> events[0]["event_id"], events[0]["app"], events[0]["latency_s"]
    ('t1-s1', 'bot', 0.5)
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from typing import Any

__all__ = ["attributes", "spans_to_events"]


def _value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return attributes((v["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """OTLP ``[{"key": k, "value": {"stringValue": ...}}]`` as a plain dict."""
    out: dict[str, Any] = {}
    for kv in items or []:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _value(kv.get("value"))
    return out


def _content(message: Any) -> str:
    """Text of a GenAI message: ``content`` or the text ``parts`` (new conventions)."""
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = message.get("parts") or (content if isinstance(content, list) else [])
    texts = [p.get("content") or p.get("text") or "" for p in parts if isinstance(p, dict)]
    return "".join(t for t in texts if isinstance(t, str))


def _messages(raw: Any) -> list[dict[str, str]] | None:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        return None
    return [{"role": str(m.get("role", "user")), "content": _content(m)} for m in raw if isinstance(m, dict)]


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, str]]:
    """OpenLLMetry-style ``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content`` attributes."""
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for key, value in attrs.items():
        if key.startswith(prefix):
            idx, _, field = key[len(prefix) :].partition(".")
            if idx.isdigit() and field in ("role", "content"):
                found[int(idx)][field] = str(value)
    return [
        {"role": m.get("role", "user"), "content": m.get("content", "")} for _, m in sorted(found.items())
    ]


def _io(attrs: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Any, str | None]:
    inp: Any = _messages(attrs.get("gen_ai.input.messages")) or _indexed(attrs, "gen_ai.prompt.") or None
    if inp is None and isinstance(attrs.get("gen_ai.prompt"), str):
        inp = attrs["gen_ai.prompt"]
    out_msgs = _messages(attrs.get("gen_ai.output.messages")) or _indexed(attrs, "gen_ai.completion.")
    output: str | None = out_msgs[-1]["content"] if out_msgs else None
    if output is None and isinstance(attrs.get("gen_ai.completion"), str):
        output = attrs["gen_ai.completion"]
    if inp is None or output is None:  # span events (earlier GenAI conventions)
        msgs: list[dict[str, str]] = []
        for ev in events:
            name = ev.get("name", "")
            ea = attributes(ev.get("attributes"))
            if name in ("gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message"):
                msgs.append(
                    {"role": name.split(".")[1], "content": _content(ea) or str(ea.get("content", ""))}
                )
            elif name == "gen_ai.choice" and output is None:
                msg = ea.get("message")
                if isinstance(msg, str):
                    with contextlib.suppress(json.JSONDecodeError):
                        msg = json.loads(msg)
                output = _content(msg) or (msg if isinstance(msg, str) else None)
        if inp is None and msgs:
            inp = msgs
    return inp, output


def _nanos(span: dict[str, Any], key: str) -> int:
    value = span.get(key)
    if value is None:
        raise ValueError(f"span has no {key}")
    return int(value)


def spans_to_events(payload: Any) -> tuple[list[dict[str, Any]], int, list[str]]:
    """Map an OTLP JSON ``ExportTraceServiceRequest`` to raw events.

    Returns ``(events, rejected_spans, errors)``: GenAI spans that could not be mapped are counted and
    described (OTLP's ``partialSuccess``); non-GenAI spans are not rejected, they become stage timings.
    Raises ``ValueError`` when the payload is not an OTLP trace export at all.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("resourceSpans", []), list):
        raise ValueError("expected an object with a 'resourceSpans' list")
    events: list[dict[str, Any]] = []
    rejected = 0
    errors: list[str] = []
    stages: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    genai: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for rs in payload.get("resourceSpans") or []:
        resource = attributes(((rs or {}).get("resource") or {}).get("attributes"))
        for ss in (rs or {}).get("scopeSpans") or []:
            for span in (ss or {}).get("spans") or []:
                if not isinstance(span, dict):
                    rejected += 1
                    errors.append("a span is not an object")
                    continue
                attrs = attributes(span.get("attributes"))
                if any(k.startswith("gen_ai.") for k in attrs):
                    genai.append((span, attrs, resource))
                else:
                    try:
                        start, end = _nanos(span, "startTimeUnixNano"), _nanos(span, "endTimeUnixNano")
                        stages[str(span.get("traceId", ""))].append(
                            (str(span.get("name", "span")), start, end)
                        )
                    except (TypeError, ValueError):
                        continue
    for span, attrs, resource in genai:
        try:
            trace_id, span_id = span.get("traceId"), span.get("spanId")
            if not trace_id or not span_id:
                raise ValueError("span has no traceId/spanId")
            start, end = _nanos(span, "startTimeUnixNano"), _nanos(span, "endTimeUnixNano")
            inp, output = _io(attrs, span.get("events") or [])
            ev: dict[str, Any] = {
                "event_id": f"{trace_id}-{span_id}",
                "ts": start / 1e9,
                "app": str(resource.get("service.name") or "default"),
                "latency_s": max(0.0, (end - start) / 1e9),
            }
            variant = attrs.get("assay.variant", resource.get("assay.variant"))
            if variant is not None:
                ev["variant"] = str(variant)
            model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
            if model:
                ev["model"] = str(model)
            itok = attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))
            otok = attrs.get("gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens"))
            if itok is not None or otok is not None:
                ev["usage"] = {"input_tokens": int(itok or 0), "output_tokens": int(otok or 0)}
            if inp is not None:
                ev["input"] = inp
            if output is not None:
                ev["output"] = output
            status = span.get("status") or {}
            if status.get("code") in (2, "STATUS_CODE_ERROR"):
                ev["error"] = {
                    "kind": str(attrs.get("error.type") or "error"),
                    "message": str(status.get("message") or ""),
                }
            session = attrs.get("gen_ai.conversation.id", attrs.get("session.id"))
            if session is not None:
                ev["session_id"] = str(session)
            user = attrs.get("user.id", attrs.get("enduser.id"))
            if user is not None:
                ev["user_id"] = str(user)
            ttft = attrs.get(
                "gen_ai.response.time_to_first_chunk", attrs.get("gen_ai.server.time_to_first_token")
            )
            if isinstance(ttft, int | float):
                ev["ttft_s"] = float(ttft)
            meta = {
                "operation": attrs.get("gen_ai.operation.name"),
                "provider": attrs.get("gen_ai.provider.name", attrs.get("gen_ai.system")),
                "span_name": span.get("name"),
            }
            ev["metadata"] = {k: v for k, v in meta.items() if v is not None}
            trace_stages = stages.get(str(trace_id), [])
            if trace_stages:
                ev["spans"] = [
                    {
                        "name": name,
                        "duration_s": max(0.0, (e - s) / 1e9),
                        "start_offset_s": max(0.0, (s - start) / 1e9),
                    }
                    for name, s, e in trace_stages
                ]
            events.append(ev)
        except (TypeError, ValueError) as exc:
            rejected += 1
            errors.append(f"span {span.get('spanId')!r}: {exc}")
    return events, rejected, errors
