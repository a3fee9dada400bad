"""The machinery shared by the LLM-judge scorers: metering, caching, a budget and repeated sampling.

A judge is any target (``{"type": "openai", ...}``, a ``python`` function, or a built ``Target``). Every
question goes through ``assay.inference.judge.JudgeClient`` (strict JSON against a schema, one repair
request, retries of transient errors). ``JudgeEngine`` wraps it with:

* **metering** — the judge's own tokens, cost and number of calls, per question, kept apart from the
  evaluated target's (they land in ``Score.metadata["judge"]``);
* **a cache** — verdicts keyed by (judge spec, prompt, schema, sample number) in the store's ``cache``
  table (keys start with ``judge:``) and in memory, so re-scoring an unchanged run calls nobody;
* **a budget** — ``max_calls``, ``max_tokens`` and ``max_cost_usd`` caps; once reached, further
  questions fail with ``JudgeBudgetExceeded`` (a per-item scorer error, never a silent score);
* **samples** — ``sample=k`` asks the same question again as an independent draw (its own cache entry),
  which is how ``repeats`` measures the judge's test–retest consistency.

Example:
    >>> engine = JudgeEngine(build_judge_target({"type": "python", "ref": "mod:judge"}, scorer="rubric"))  # doctest: +SKIP
    >>> call = await engine.ask("Rate ...", {"type": "object"})                                           # doctest: +SKIP
    >>> call.value, call.input_tokens, call.cached                                                         # doctest: +SKIP
    ({'score': 4}, 120, False)
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.inference.judge import JudgeClient, JudgeError
from assay.types import Case, ConfigError, Output, ScorerError

if TYPE_CHECKING:
    from assay.store.store import Store
    from assay.target.base import Target

__all__ = [
    "CACHE_PREFIX",
    "JudgeBudgetExceeded",
    "JudgeCall",
    "JudgeEngine",
    "JudgeTotals",
    "build_judge_target",
    "judge_usage",
]

log = logging.getLogger(__name__)

CACHE_PREFIX = "judge:"
_CACHE_VERSION = 1
_outputs: contextvars.ContextVar[list[Output] | None] = contextvars.ContextVar("judge_outputs", default=None)


class JudgeBudgetExceeded(JudgeError):
    """The judge's budget (calls, tokens or cost) is spent: this question was not asked."""

    def __init__(self, message: str) -> None:
        super().__init__("target_error", message)
        self.kind = "budget"  # type: ignore[assignment]
        self.args = (f"judge budget: {message}",)


def build_judge_target(
    target: Any, *, scorer: str, base_dir: Any = None, logprobs: bool = False, top_logprobs: int = 5
) -> Target:
    """A judge target from a suite-style mapping (``{"type": "openai", ...}``) or a built ``Target``.

    With ``logprobs=True`` an ``openai`` judge is asked for token log-probabilities (``logprobs`` and
    ``top_logprobs`` are added to its ``params`` unless set). Bad options raise ``ScorerError`` naming the
    scorer and the option, so a suite with a broken judge fails before any call.
    """
    if isinstance(target, Mapping):
        options = dict(target)
        kind = options.pop("type", None)
        if not isinstance(kind, str) or not kind:
            raise ScorerError(f"scorer '{scorer}': option 'judge' needs a target 'type' (e.g. openai)")
        if logprobs and kind == "openai":
            params = dict(options.get("params") or {})
            params.setdefault("logprobs", True)
            params.setdefault("top_logprobs", top_logprobs)
            options["params"] = params
        if base_dir is not None and kind == "python":
            options.setdefault("base_dir", base_dir)
        from assay.target.base import create_target

        try:
            return create_target(kind, **options)
        except ConfigError as exc:
            raise ScorerError(f"scorer '{scorer}': option 'judge': {exc.message}") from exc
        except (TypeError, ValueError) as exc:
            raise ScorerError(f"scorer '{scorer}': option 'judge': {exc}") from exc
    if callable(target) and callable(getattr(target, "spec", None)):
        return target
    raise ScorerError(
        f"scorer '{scorer}': option 'judge' must be a target mapping like "
        f"{{type: openai, base_url: ..., model: ...}}, got {target!r:.80}"
    )


class _MeteredTarget:
    """Passes calls through to the judge target and hands each ``Output`` to the asking coroutine."""

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.max_attempts = getattr(inner, "max_attempts", 1)

    async def __call__(self, case: Case) -> Output:
        out = await self.inner(case)
        sink = _outputs.get()
        if sink is not None:
            sink.append(out)
        return out

    def spec(self) -> dict[str, Any]:
        return self.inner.spec()

    async def aclose(self) -> None:
        closer = getattr(self.inner, "aclose", None)
        if closer is not None:
            await closer()


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """One answered question: the schema-valid ``value`` and what it cost.

    ``calls`` counts HTTP attempts (retries and the repair request included); a cached answer has
    ``cached=True`` and costs nothing this time (the tokens shown are those of the original calls).
    ``logprobs`` are the token log-probabilities of the final reply when the judge returned them.
    """

    value: Any
    reply: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    calls: int = 0
    cached: bool = False
    logprobs: list[dict[str, Any]] | None = None

    def to_cache(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "reply": self.reply,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "calls": self.calls,
            "logprobs": self.logprobs,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> JudgeCall:
        return cls(
            value=data["value"],
            reply=data.get("reply") or "",
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cost_usd=data.get("cost_usd"),
            calls=int(data.get("calls") or 0),
            cached=True,
            logprobs=data.get("logprobs"),
        )


@dataclass
class JudgeTotals:
    """Running totals of one engine (what the judge cost in this process)."""

    questions: int = 0
    cached: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "cached": self.cached,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 10),
            "errors": dict(self.errors),
        }


def _raw_top_logprobs(out: Output) -> list[dict[str, Any]] | None:
    """Token logprobs with their ``top_logprobs`` alternatives (from ``Output.logprobs`` or the raw body)."""
    if out.logprobs and any("top_logprobs" in t for t in out.logprobs):
        return out.logprobs
    raw = out.raw
    try:
        content = raw["choices"][0]["logprobs"]["content"]
    except (TypeError, KeyError, IndexError):
        return out.logprobs
    if not isinstance(content, list):
        return out.logprobs
    items = []
    for tok in content:
        if not isinstance(tok, dict) or not isinstance(tok.get("logprob"), int | float):
            return out.logprobs
        top = [
            {"token": str(t.get("token", "")), "logprob": float(t["logprob"])}
            for t in tok.get("top_logprobs") or ()
            if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)
        ]
        items.append(
            {"token": str(tok.get("token", "")), "logprob": float(tok["logprob"]), "top_logprobs": top}
        )
    return items


class JudgeEngine:
    """Asks a judge target questions with strict JSON answers; meters, caches and budgets the calls.

    ``store`` (a ``Store`` or a store URL) enables the persistent cache; ``cache=False`` disables caching
    altogether. ``max_calls`` / ``max_tokens`` / ``max_cost_usd`` cap the judge's spending in this
    process (questions already running when the cap is reached still finish, so the cap can be passed by
    at most the number of concurrent questions).
    """

    def __init__(
        self,
        target: Target,
        *,
        cache: bool = True,
        store: Store | str | None = None,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        backoff_s: float = 0.5,
    ) -> None:
        for name, cap in (
            ("max_calls", max_calls),
            ("max_tokens", max_tokens),
            ("max_cost_usd", max_cost_usd),
        ):
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 0):
                raise ScorerError(f"judge budget option '{name}' must be a number >= 0, got {cap!r}")
        self.target = _MeteredTarget(target)
        attempts = max_attempts if max_attempts is not None else max(1, int(self.target.max_attempts or 1))
        self.client = JudgeClient(
            self.target, max_attempts=attempts, timeout_s=timeout_s, backoff_s=backoff_s
        )
        self.cache_enabled = bool(cache)
        self._store_arg = store
        self._store: Store | None = None
        self._owns_store = False
        self._memory: dict[str, dict[str, Any]] = {}
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.totals = JudgeTotals()

    def spec(self) -> dict[str, Any]:
        """The judge's identity (target spec and system prompt hash): part of every cache key."""
        return self.client.spec()

    def bind_store(self, store: Store) -> None:
        """Use ``store`` for the persistent cache (e.g. the run's store) unless one was given already."""
        if self._store is None and self._store_arg is None:
            self._store = store

    def _get_store(self) -> Store | None:
        if not self.cache_enabled:
            return None
        if self._store is None and self._store_arg is not None:
            if isinstance(self._store_arg, str):
                from assay.store import open_store

                self._store = open_store(self._store_arg)
                self._owns_store = True
            else:
                self._store = self._store_arg
        return self._store

    def cache_key(self, prompt: str, schema: dict[str, Any], sample: int = 0) -> str:
        payload = json.dumps(
            {"v": _CACHE_VERSION, "judge": self.spec(), "prompt": prompt, "schema": schema, "sample": sample},
            sort_keys=True,
            ensure_ascii=False,
        )
        return CACHE_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _check_budget(self) -> None:
        t = self.totals
        if self.max_calls is not None and t.calls >= self.max_calls:
            raise JudgeBudgetExceeded(f"judge budget spent: {t.calls} calls (max_calls={self.max_calls})")
        if self.max_tokens is not None and t.input_tokens + t.output_tokens >= self.max_tokens:
            raise JudgeBudgetExceeded(
                f"judge budget spent: {t.input_tokens + t.output_tokens} tokens (max_tokens={self.max_tokens})"
            )
        if self.max_cost_usd is not None and t.cost_usd >= self.max_cost_usd:
            raise JudgeBudgetExceeded(
                f"judge budget spent: ${t.cost_usd:.6f} (max_cost_usd={self.max_cost_usd})"
            )

    def _error(self, kind: str) -> None:
        self.totals.errors[kind] = self.totals.errors.get(kind, 0) + 1

    async def ask(self, prompt: str, schema: dict[str, Any], *, sample: int = 0) -> JudgeCall:
        """Ask ``prompt``; return the schema-valid answer with its cost. Raises ``JudgeError``.

        ``sample`` numbers independent draws of the same question (each cached separately).
        """
        self.totals.questions += 1
        key = self.cache_key(prompt, schema, sample) if self.cache_enabled else ""
        if self.cache_enabled:
            hit = self._memory.get(key)
            store = self._get_store()
            if hit is None and store is not None:
                found = await asyncio.to_thread(store.cache_get_many, [key])
                hit = found.get(key)
            if hit is not None:
                self.totals.cached += 1
                return JudgeCall.from_cache(hit)
        try:
            self._check_budget()
        except JudgeBudgetExceeded:
            self._error("budget")
            raise
        sink: list[Output] = []
        token = _outputs.set(sink)
        try:
            value = await self.client.ask(prompt, schema)
            error: JudgeError | None = None
        except JudgeError as exc:
            value, error = None, exc
        finally:
            _outputs.reset(token)
        call = self._meter(value, sink)
        if error is not None:
            self._error(str(error.kind))
            raise error
        if self.cache_enabled:
            entry = call.to_cache()
            self._memory[key] = entry
            store = self._get_store()
            if store is not None:
                await asyncio.to_thread(store.cache_put_many, [(key, entry)])
        return call

    def _meter(self, value: Any, outputs: list[Output]) -> JudgeCall:
        itok = sum(o.usage.input_tokens for o in outputs if o.usage)
        otok = sum(o.usage.output_tokens for o in outputs if o.usage)
        costs = [o.cost_usd for o in outputs if o.cost_usd is not None]
        cost = sum(costs) if costs else None
        t = self.totals
        t.calls += len(outputs)
        t.input_tokens += itok
        t.output_tokens += otok
        if cost is not None:
            t.cost_usd += cost
        elif self.max_cost_usd is not None and outputs:
            raise JudgeBudgetExceeded(
                "judge option 'max_cost_usd' needs the judge's cost: give the judge target 'pricing' "
                "(input_per_mtok, output_per_mtok), or cap it with max_calls / max_tokens instead"
            )
        last_ok = next((o for o in reversed(outputs) if o.error is None), None)
        return JudgeCall(
            value=value,
            reply=last_ok.text if last_ok else "",
            input_tokens=itok,
            output_tokens=otok,
            cost_usd=cost,
            calls=len(outputs),
            logprobs=_raw_top_logprobs(last_ok) if last_ok is not None else None,
        )

    async def aclose(self) -> None:
        """Close the judge target's client and any store this engine opened itself."""
        await self.target.aclose()
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None
            self._owns_store = False


def judge_usage(scores: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scorer name, the judge's tokens, cost, calls and cache hits summed over stored score dicts.

    Reads ``metadata["judge"]`` of each score (``Score.to_dict()`` form, as the store returns them), so
    a run's summary or report can show what judging cost beside what the evaluated target cost.

    Example:
        >>> judge_usage([{"name": "rubric", "metadata": {"judge": {"input_tokens": 10, "output_tokens": 2,
        ...              "cost_usd": 0.001, "calls": 1, "cached": 0}}}])["rubric"]["input_tokens"]
        10
    """
    out: dict[str, dict[str, Any]] = {}
    for sc in scores:
        meta = (sc.get("metadata") or {}).get("judge")
        if not isinstance(meta, Mapping):
            continue
        t = out.setdefault(
            str(sc.get("name")),
            {"input_tokens": 0, "output_tokens": 0, "cost_usd": None, "calls": 0, "cached": 0, "n": 0},
        )
        t["n"] += 1
        for key in ("input_tokens", "output_tokens", "calls", "cached"):
            t[key] += int(meta.get(key) or 0)
        if meta.get("cost_usd") is not None:
            t["cost_usd"] = (t["cost_usd"] or 0.0) + float(meta["cost_usd"])
    return out
