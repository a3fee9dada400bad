"""LLM-judge scorers: ``rubric``, ``reference_guided`` and ``pairwise``.

Any target can judge (an OpenAI-compatible endpoint, a local model, a Python function). The judge answers
with a JSON object validated against a strict schema; an invalid reply gets ONE repair request, and a
reply that is still invalid is a typed per-item error (``Score.error`` starting ``judge invalid_json`` or
``judge schema``), never a NaN and never a guess. Judge calls are cached, metered and budgeted (see
``assay.scorer.judge_core``): each Score's ``metadata["judge"]`` holds the judge's own tokens, cost and
calls, separate from the evaluated target's. A verdict from the cache counts in ``cached`` and spends no
tokens and no cost (``cache_saved`` records what the original call cost), so a re-run's judge cost is 0.

Suite file::

    scorers:
      - rubric:
          judge: {type: openai, base_url: http://127.0.0.1:8000/v1, model: judge,
                  pricing: {input_per_mtok: 0.15, output_per_mtok: 0.6}}
          criterion: "Is the answer helpful and polite?"
          scale: 1-5                   # binary | 1-5 | [bad, ok, good] | {bad: 0, ok: 0.5, good: 1}
          steps: ["Read the question", "Check each claim", "Decide"]   # G-Eval-style steps (optional)
          logprobs: true               # expected score over the scale from token log-probabilities
          repeats: 3                   # ask 3 times: test-retest consistency in metadata["samples"]
          max_cost_usd: 2.0            # budget cap (also max_calls, max_tokens)
      - reference_guided: {judge: {...}}          # shows the expected answer; binary "correct?"
      - pairwise: {judge: {...}, baseline_file: baseline.jsonl}    # A vs B in both orders

Example:
    >>> scorer = create_scorer("rubric", judge=my_target, criterion="Is it polite?", scale="binary")  # doctest: +SKIP
    >>> (await scorer.score(case, output)).value                                                        # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from assay.inference.judge import JudgeError
from assay.scorer.base import BaseScorer, register_scorer
from assay.scorer.judge_core import JudgeCall, JudgeEngine, build_judge_target
from assay.types import Case, ConfigError, Output, Score, ScoreKind, ScorerError

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = [
    "PairwiseJudge",
    "ReferenceGuidedJudge",
    "RubricJudge",
    "Scale",
    "combine_pairwise",
    "expected_score",
    "parse_scale",
    "rubric_prompt",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ scales
class Scale:
    """The answers a rubric allows and the number each one stands for.

    ``kind`` is ``binary`` (``true``/``false``), ``numeric`` (integers lo..hi) or ``categories``
    (labels mapped to numbers). ``values`` maps each allowed JSON answer (as its JSON text) to its number.
    """

    def __init__(self, kind: str, answers: Sequence[Any], numbers: Sequence[float], *, spec: Any) -> None:
        self.kind = kind
        self.answers = list(answers)
        self.numbers = [float(n) for n in numbers]
        self.spec = spec

    @property
    def score_kind(self) -> ScoreKind:
        return "binary" if self.kind == "binary" else "continuous"

    def number(self, answer: Any) -> float:
        return self.numbers[self.answers.index(answer)]

    def describe(self) -> str:
        if self.kind == "binary":
            return "true (the response meets the criterion) or false (it does not)"
        if self.kind == "numeric":
            return f"an integer from {self.answers[0]} (worst) to {self.answers[-1]} (best)"
        return "one of " + ", ".join(json.dumps(a) for a in self.answers) + " (from worst to best)"


def parse_scale(scale: Any, *, scorer: str = "rubric") -> Scale:
    """Parse a scale option: ``"binary"``, ``"1-5"`` (any ``lo-hi``), a list of labels, or {label: value}.

    Example:
        >>> parse_scale("1-5").answers
        [1, 2, 3, 4, 5]
        >>> parse_scale({"bad": 0, "good": 1}).number("good")
        1.0
    """
    if scale in ("binary", "bool", "pass/fail"):
        return Scale("binary", [True, False], [1.0, 0.0], spec="binary")
    if isinstance(scale, str) and "-" in scale:
        lo_s, _, hi_s = scale.partition("-")
        try:
            lo, hi = int(lo_s), int(hi_s)
        except ValueError:
            lo, hi = 0, -1
        if lo < hi and hi - lo <= 20:
            answers = list(range(lo, hi + 1))
            return Scale("numeric", answers, answers, spec=scale)
    if isinstance(scale, Mapping) and scale:
        labels = list(scale)
        try:
            numbers = [float(scale[k]) for k in labels]
        except (TypeError, ValueError) as exc:
            raise ScorerError(
                f"scorer '{scorer}': option 'scale': every category needs a number ({exc})"
            ) from exc
        if not all(isinstance(k, str) and k for k in labels) or not all(math.isfinite(n) for n in numbers):
            raise ScorerError(
                f"scorer '{scorer}': option 'scale': categories must be non-empty strings with finite numbers"
            )
        return Scale("categories", labels, numbers, spec=dict(scale))
    if isinstance(scale, list | tuple) and len(scale) >= 2:
        if not all(isinstance(k, str) and k for k in scale) or len(set(scale)) != len(scale):
            raise ScorerError(
                f"scorer '{scorer}': option 'scale': categories must be distinct non-empty strings"
            )
        return Scale("categories", list(scale), list(range(len(scale))), spec=list(scale))
    raise ScorerError(
        f"scorer '{scorer}': option 'scale' must be 'binary', a range like '1-5', a list of category labels "
        f"or a mapping label -> number; got {scale!r:.80}"
    )


def _verdict_schema(scale: Scale) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"reasoning": {"type": "string"}, "score": {"enum": scale.answers}},
        "required": ["score"],
    }


def _block(title: str, body: str) -> str:
    return f"{title}:\n<<<\n{body}\n>>>\n\n"


def rubric_prompt(
    *,
    criterion: str,
    scale: Scale,
    input_text: str,
    response: str,
    steps: Sequence[str] = (),
    context: Sequence[str] = (),
    reference: str | None = None,
) -> str:
    """The exact prompt sent for one rubric question (G-Eval style: criterion, steps, then the item).

    Example:
        >>> p = rubric_prompt(criterion="Polite?", scale=parse_scale("binary"), input_text="hi", response="hello")
        >>> p.splitlines()[0]
        'You are grading a response of an AI assistant against one criterion.'
    """
    parts = [
        "You are grading a response of an AI assistant against one criterion.\n\n",
        f"CRITERION: {criterion}\n\n",
    ]
    if steps:
        parts.append("EVALUATION STEPS:\n" + "".join(f"{i}. {s}\n" for i, s in enumerate(steps, 1)) + "\n")
    parts.append(_block("USER INPUT", input_text))
    if context:
        parts.append(_block("CONTEXT", "\n\n".join(context)))
    if reference is not None:
        parts.append(_block("REFERENCE ANSWER (treat it as correct)", reference))
    parts.append(_block("RESPONSE", response))
    parts.append(
        f"Think step by step, then give the score: {scale.describe()}.\n"
        'Reply with only a JSON object: {"reasoning": "<short reasoning>", "score": <score>}'
    )
    return "".join(parts)


def _expected_text(expected: Any) -> str:
    if isinstance(expected, str):
        return expected
    if isinstance(expected, list | tuple) and all(isinstance(e, str) for e in expected):
        return (
            "\n".join(f"- {e}" for e in expected) if len(expected) > 1 else (expected[0] if expected else "")
        )
    return json.dumps(expected, ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------------------ logprobs
def _token_key(token: str) -> str:
    return token.strip().strip("\"'{}[],: \t\n").lower()


def expected_score(
    logprobs: Sequence[dict[str, Any]] | None, reply: str, scale: Scale
) -> dict[str, Any] | None:
    """Probabilities of the scale's answers at the score's token, and the expected score under them.

    Finds the token of the reply where the ``"score"`` value starts, reads its ``top_logprobs`` (the
    alternatives the judge considered), keeps those that are answers on the scale and renormalises.
    Returns ``{"expected": float, "probs": {answer: p}, "mass": p_on_scale}`` or None when the reply has
    no usable log-probabilities (the caller then keeps the parsed score).

    Example:
        >>> lp = [{"token": '{"score": ', "logprob": 0.0, "top_logprobs": []},
        ...       {"token": "4", "logprob": math.log(0.6),
        ...        "top_logprobs": [{"token": "4", "logprob": math.log(0.6)}, {"token": "5", "logprob": math.log(0.4)}]},
        ...       {"token": "}", "logprob": 0.0, "top_logprobs": []}]
        >>> round(expected_score(lp, '{"score": 4}', parse_scale("1-5"))["expected"], 2)
        4.4
    """
    if not logprobs:
        return None
    text = "".join(str(t.get("token", "")) for t in logprobs)
    key_at = text.rfind('"score"')
    if key_at == -1:
        return None
    colon = text.find(":", key_at)
    if colon == -1:
        return None
    start = colon + 1
    while start < len(text) and text[start] in ' \t\n"':
        start += 1
    by_key: dict[str, Any] = {}
    for ans in scale.answers:
        k = "true" if ans is True else "false" if ans is False else _token_key(str(ans))
        by_key[k] = ans
    pos = 0
    for tok in logprobs:
        piece = str(tok.get("token", ""))
        end = pos + len(piece)
        if end > start and _token_key(piece):
            alternatives = tok.get("top_logprobs") or [tok]
            probs: dict[Any, float] = {}
            for alt in alternatives:
                ans = by_key.get(_token_key(str(alt.get("token", ""))))
                if ans is None:
                    continue
                lp = alt.get("logprob")
                if isinstance(lp, int | float) and math.isfinite(lp):
                    probs[ans] = probs.get(ans, 0.0) + math.exp(lp)
            mass = sum(probs.values())
            if mass <= 0.0:
                return None
            expected = sum(scale.number(a) * p for a, p in probs.items()) / mass
            shown = {json.dumps(a) if not isinstance(a, str) else a: p / mass for a, p in probs.items()}
            return {"expected": expected, "probs": shown, "mass": mass}
        pos = end
    return None


# ------------------------------------------------------------------------------------------ base
class _JudgeScorer(BaseScorer):
    """Common options of the judge scorers: the judge, cache, budget and repeats."""

    judge_options: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        judge: Any = None,
        name: str | None = None,
        repeats: int = 1,
        cache: bool = True,
        store: Store | str | None = None,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        logprobs: bool = False,
        base_dir: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(name=name, **options)
        scorer = name or self.registered_name
        if judge is None:
            raise ScorerError(
                f"scorer '{scorer}' needs option 'judge': a target such as {{type: openai, ...}}"
            )
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ScorerError(f"scorer '{scorer}': option 'repeats' must be an integer >= 1, got {repeats!r}")
        self.repeats = repeats
        self.logprobs = bool(logprobs)
        target = build_judge_target(judge, scorer=scorer, base_dir=base_dir, logprobs=self.logprobs)
        self.engine = JudgeEngine(
            target,
            cache=cache,
            store=store,
            max_calls=max_calls,
            max_tokens=max_tokens,
            max_cost_usd=max_cost_usd,
            max_attempts=max_attempts,
            timeout_s=timeout_s,
        )
        self._settings = {
            "repeats": repeats,
            "cache": bool(cache),
            "logprobs": self.logprobs,
            "max_calls": max_calls,
            "max_tokens": max_tokens,
            "max_cost_usd": max_cost_usd,
        }

    def set_repeats(self, repeats: int) -> None:
        """Ask the judge ``repeats`` times per item (what ``assay run --judge-repeats K`` sets)."""
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ScorerError(f"scorer '{self.name}': repeats must be an integer >= 1, got {repeats!r}")
        self.repeats = repeats
        self._settings["repeats"] = repeats

    def bind_store(self, store: Store) -> None:
        """Cache verdicts in ``store`` (the run's store), unless the scorer was given one."""
        self.engine.bind_store(store)

    @property
    def totals(self) -> dict[str, Any]:
        """What the judge cost in this process (questions, cached, calls, tokens, cost, errors)."""
        return self.engine.totals.to_dict()

    def _prompt_spec(self) -> dict[str, Any]:
        return {}

    def spec(self) -> dict[str, Any]:
        prompt = json.dumps(self._prompt_spec(), sort_keys=True, default=str)
        return {
            "name": self.name,
            "scorer": self.registered_name,
            "version": self.version,
            "judge": self.engine.spec(),
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()[:16],
            "options": {**self._prompt_spec(), **self._settings},
        }

    @staticmethod
    def _usage(calls: Sequence[JudgeCall]) -> dict[str, Any]:
        """What judging this item spent NOW: ``calls``, tokens and cost of the questions really asked.

        A verdict served from the cache counts in ``cached`` and spends nothing (its original tokens and
        cost are kept apart under ``cache_saved``), so a run's judge usage is what that run cost. The
        cost is None when questions were asked but the judge has no pricing; 0.0 when all were cached.
        """
        fresh = [c for c in calls if not c.cached]
        hits = [c for c in calls if c.cached]
        costs = [c.cost_usd for c in fresh if c.cost_usd is not None]
        usage: dict[str, Any] = {
            "input_tokens": sum(c.input_tokens for c in fresh),
            "output_tokens": sum(c.output_tokens for c in fresh),
            "cost_usd": sum(costs) if costs else (None if fresh else 0.0),
            "calls": sum(c.calls for c in fresh),
            "cached": len(hits),
        }
        if hits:
            saved = [c.cost_usd for c in hits if c.cost_usd is not None]
            usage["cache_saved"] = {
                "input_tokens": sum(c.input_tokens for c in hits),
                "output_tokens": sum(c.output_tokens for c in hits),
                "cost_usd": sum(saved) if saved else None,
            }
        return usage

    async def aclose(self) -> None:
        await self.engine.aclose()


# ------------------------------------------------------------------------------------------ rubric
@register_scorer("rubric")
class RubricJudge(_JudgeScorer):
    """An LLM judge grading one criterion on a scale (binary, ``lo-hi``, or labelled categories).

    The value is the judge's score (bool for binary; the number of the answer otherwise; with
    ``normalize: true`` numbers are mapped onto [0, 1]). With ``logprobs: true`` and a judge that returns
    token log-probabilities, the value is the expected score over the scale (a continuous number) and
    ``metadata["score_probs"]`` holds the distribution. With ``repeats: K`` the judge is asked K times:
    the value is the majority (binary/categories, ties broken by the first answer) or the mean (numeric),
    and ``metadata["samples"]`` lists every answer for test–retest analysis.
    """

    version = "1"
    reference: ClassVar[bool] = False
    default_criterion: ClassVar[str | None] = None
    default_scale: ClassVar[Any] = "binary"

    def __init__(
        self,
        *,
        criterion: str | None = None,
        scale: Any = None,
        steps: Sequence[str] | None = None,
        include_context: bool = True,
        normalize: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        criterion = criterion if criterion is not None else self.default_criterion
        if not isinstance(criterion, str) or not criterion.strip():
            raise ScorerError(
                f"scorer '{self.name}' needs option 'criterion': the question the judge answers"
            )
        self.criterion = criterion.strip()
        self.scale = parse_scale(scale if scale is not None else self.default_scale, scorer=self.name)
        if steps is not None and (
            isinstance(steps, str) or not all(isinstance(s, str) and s.strip() for s in steps)
        ):
            raise ScorerError(f"scorer '{self.name}': option 'steps' must be a list of non-empty strings")
        self.steps = [s.strip() for s in (steps or ())]
        self.include_context = bool(include_context)
        self.normalize = bool(normalize)
        self.requires = frozenset({"expected"}) if self.reference else frozenset()
        self.schema = _verdict_schema(self.scale)
        # a binary verdict stays binary unless logprobs turn it into P(true)
        self.kind = "continuous" if self.logprobs else self.scale.score_kind  # type: ignore[misc]

    def _prompt_spec(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "scale": self.scale.spec,
            "steps": self.steps,
            "include_context": self.include_context,
            "normalize": self.normalize,
            "reference": self.reference,
        }

    def prompt_for(self, case: Case, output: Output) -> str:
        """The prompt this scorer sends for ``(case, output)``."""
        context: list[str] = []
        if self.include_context:
            context = [d.text for d in case.context] + [d.text for d in output.contexts]
        return rubric_prompt(
            criterion=self.criterion,
            scale=self.scale,
            input_text=case.input_text,
            response=output.text,
            steps=self.steps,
            context=context,
            reference=_expected_text(case.expected) if self.reference else None,
        )

    def _number(self, x: float) -> float:
        if not self.normalize or self.scale.kind == "binary":
            return x
        lo, hi = min(self.scale.numbers), max(self.scale.numbers)
        return (x - lo) / (hi - lo) if hi > lo else 0.0

    async def score(self, case: Case, output: Output) -> Score:
        if output.error is not None:
            return self.fail(f"no output to judge: the target failed ({output.error.kind})")
        prompt = self.prompt_for(case, output)
        calls: list[JudgeCall] = []
        errors: list[str] = []
        for k in range(self.repeats):
            try:
                calls.append(await self.engine.ask(prompt, self.schema, sample=k))
            except JudgeError as exc:
                errors.append(str(exc))
        usage = self._usage(calls)
        if not calls:
            return Score(
                name=self.name,
                value=None,
                kind=self.kind,
                higher_is_better=self.higher_is_better,
                error=errors[0][:2000],
                metadata={"judge": usage, "errors": errors},
            )
        answers = [c.value["score"] for c in calls]
        numbers = [self.scale.number(a) for a in answers]
        meta: dict[str, Any] = {"judge": usage, "answer": answers[0]}
        reasoning = calls[0].value.get("reasoning")
        if self.scale.kind == "categories":
            meta["label"] = answers[0]
        if self.logprobs:
            dists = [expected_score(c.logprobs, c.reply, self.scale) for c in calls]
            if all(d is not None for d in dists):
                numbers = [d["expected"] for d in dists if d is not None]
                meta["score_probs"] = dists[0]["probs"] if dists[0] else None
            else:
                meta["logprobs_missing"] = True
                log.debug(
                    "scorer %s: the judge returned no usable logprobs; keeping its parsed score", self.name
                )
        if self.repeats > 1:
            meta["samples"] = [self._number(n) for n in numbers]
            meta["consistent"] = len(set(answers)) == 1
            if errors:
                meta["sample_errors"] = errors
        value: float | bool
        if self.kind == "binary":
            votes = Counter(answers)
            top = max(votes.values())
            value = bool(next(a for a in answers if votes[a] == top))
        elif self.scale.kind == "categories" and not self.logprobs and self.repeats > 1:
            votes = Counter(answers)
            top = max(votes.values())
            winner = next(a for a in answers if votes[a] == top)
            meta["label"] = winner
            value = self._number(self.scale.number(winner))
        else:
            value = self._number(sum(numbers) / len(numbers))
        return self.make(value, explanation=str(reasoning or "")[:2000], **meta)


@register_scorer("reference_guided")
class ReferenceGuidedJudge(RubricJudge):
    """A rubric judge shown the case's expected answer (requires ``expected``); binary by default."""

    reference = True
    default_criterion = (
        "Is the response correct and complete with respect to the reference answer? Different wording is "
        "fine; missing or contradicting facts are not."
    )


# ------------------------------------------------------------------------------------------ pairwise
_PAIR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "winner": {"enum": ["A", "B", "tie"]}},
    "required": ["winner"],
}


def pairwise_prompt(*, criterion: str, input_text: str, response_a: str, response_b: str) -> str:
    """The exact prompt of one pairwise comparison (response A is shown first)."""
    return (
        "You are comparing two responses of AI assistants to the same user input.\n\n"
        f"CRITERION: {criterion}\n\n"
        + _block("USER INPUT", input_text)
        + _block("RESPONSE A", response_a)
        + _block("RESPONSE B", response_b)
        + "Do not let the order of the responses or their length influence you. Think step by step, then "
        'reply with only a JSON object: {"reasoning": "<short reasoning>", "winner": "A" | "B" | "tie"}'
    )


def combine_pairwise(first: str, second: str) -> tuple[str, bool]:
    """Combine the verdicts of both presentation orders into ``(outcome, consistent)``.

    ``first`` is the judge's winner with the candidate shown as A, ``second`` with the candidate shown as
    B. The outcome is ``"candidate"``, ``"baseline"`` or ``"tie"``. Verdicts that disagree once mapped
    back (including a win in one order and a tie in the other) are inconsistent and count as a tie.

    Example:
        >>> combine_pairwise("A", "B")     # the candidate wins in both orders
        ('candidate', True)
        >>> combine_pairwise("A", "A")     # position bias: the first-shown response always wins
        ('tie', False)
    """
    to_candidate = {"A": "candidate", "B": "baseline", "tie": "tie"}
    swapped = {"A": "baseline", "B": "candidate", "tie": "tie"}
    if first not in to_candidate or second not in swapped:
        raise ValueError(f"pairwise verdicts must be 'A', 'B' or 'tie', got {first!r} and {second!r}")
    a, b = to_candidate[first], swapped[second]
    return (a, True) if a == b else ("tie", False)


def _load_baseline(path: Path, scorer: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the baseline: {exc.strerror or exc}", file=str(path), field="baseline_file"
        ) from exc
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"not JSON: {exc}", file=str(path), line=no) from exc
        text = row.get("output") if isinstance(row, dict) else None
        if isinstance(text, dict):
            text = text.get("text")
        if not isinstance(row, dict) or not isinstance(row.get("case_id"), str) or not isinstance(text, str):
            raise ConfigError(
                f"scorer '{scorer}': each line needs a string 'case_id' and an 'output' (text)",
                file=str(path),
                line=no,
                field="output" if isinstance(row, dict) and "case_id" in row else "case_id",
            )
        out[row["case_id"]] = text
    return out


@register_scorer("pairwise")
class PairwiseJudge(_JudgeScorer):
    """A vs B preference between this run's output (the candidate) and a baseline's, in both orders.

    The baseline comes from ``baseline_file`` (JSONL ``{"case_id", "output"}``, as ``assay export`` or a
    replay file writes), ``baseline_run`` (a run id in ``store``) or a mapping ``baselines`` given from
    Python. Two scores per item: ``<name>`` (1 candidate wins, 0 baseline wins, 0.5 tie) and
    ``<name>_inconsistent`` (true when the two orders disagreed, which is then counted as a tie).
    """

    version = "1"
    kind = "continuous"

    def __init__(
        self,
        *,
        criterion: str = "Which response better fulfils the user's request: correct, complete, clear and safe?",
        baseline_file: str | None = None,
        baseline_run: str | None = None,
        baselines: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        base_dir = options.get("base_dir")
        super().__init__(**options)
        if not isinstance(criterion, str) or not criterion.strip():
            raise ScorerError(f"scorer '{self.name}': option 'criterion' must be a non-empty string")
        self.criterion = criterion.strip()
        sources = [s for s in (baseline_file, baseline_run, baselines) if s is not None]
        if len(sources) > 1:
            raise ScorerError(
                f"scorer '{self.name}': give only one of baseline_file, baseline_run, baselines"
            )
        self._baseline_run = baseline_run
        self._baselines: dict[str, str] | None = dict(baselines) if baselines is not None else None
        self._baseline_file = baseline_file
        if baseline_file is not None:
            path = Path(baseline_file)
            if not path.is_absolute() and base_dir is not None:
                path = Path(base_dir) / path
            self._baselines = _load_baseline(path, self.name)
        self.score_names = [self.name, f"{self.name}_inconsistent"]
        self.n_inconsistent = 0
        self.n_compared = 0

    def _prompt_spec(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "baseline_file": self._baseline_file,
            "baseline_run": self._baseline_run,
        }

    async def _baseline_for(self, case: Case) -> str | None:
        if self._baselines is None and self._baseline_run is not None:
            import asyncio

            store = self.engine._get_store()
            if store is None:
                raise ScorerError(
                    f"scorer '{self.name}': option 'baseline_run' needs a store (option 'store')"
                )

            def load() -> dict[str, str]:
                run = store.find_run(self._baseline_run or "")
                return {
                    r.case_id: (r.output or {}).get("text") or ""
                    for r in store.iter_results(run.run_id)
                    if r.repeat == 0 and not r.error_kind
                }

            self._baselines = await asyncio.to_thread(load)
        return (self._baselines or {}).get(case.id)

    async def compare(self, case: Case, candidate: str, baseline: str) -> list[Score]:
        """Judge ``candidate`` against ``baseline`` for ``case`` in both orders (two scores)."""
        first_prompt = pairwise_prompt(
            criterion=self.criterion, input_text=case.input_text, response_a=candidate, response_b=baseline
        )
        second_prompt = pairwise_prompt(
            criterion=self.criterion, input_text=case.input_text, response_a=baseline, response_b=candidate
        )
        calls: list[JudgeCall] = []
        try:
            for k in range(self.repeats):
                calls.append(await self.engine.ask(first_prompt, _PAIR_SCHEMA, sample=k))
                calls.append(await self.engine.ask(second_prompt, _PAIR_SCHEMA, sample=k))
        except JudgeError as exc:
            return self._failed(str(exc)[:2000], {"judge": self._usage(calls)})
        values = {"candidate": 1.0, "baseline": 0.0, "tie": 0.5}
        outcomes = []
        for i in range(0, len(calls), 2):
            outcomes.append(combine_pairwise(calls[i].value["winner"], calls[i + 1].value["winner"]))
        inconsistent = sum(1 for _, ok in outcomes if not ok)
        self.n_compared += len(outcomes)
        self.n_inconsistent += inconsistent
        value = sum(values[o] for o, _ in outcomes) / len(outcomes)
        meta: dict[str, Any] = {
            "judge": self._usage(calls),
            "verdicts": [
                [calls[i].value["winner"], calls[i + 1].value["winner"]] for i in range(0, len(calls), 2)
            ],
            "outcome": outcomes[0][0],
        }
        if self.repeats > 1:
            meta["samples"] = [values[o] for o, _ in outcomes]
        reasoning = str(calls[0].value.get("reasoning") or "")[:2000]
        return [
            self.make(value, explanation=reasoning, **meta),
            Score(
                name=f"{self.name}_inconsistent",
                value=inconsistent > 0,
                kind="binary",
                higher_is_better=False,
                metadata={"n_inconsistent": inconsistent, "n_pairs": len(outcomes)},
            ),
        ]

    def _failed(self, error: str, metadata: dict[str, Any]) -> list[Score]:
        return [
            Score(name=self.name, value=None, kind="continuous", error=error, metadata=metadata),
            Score(
                name=f"{self.name}_inconsistent",
                value=None,
                kind="binary",
                higher_is_better=False,
                error=error,
            ),
        ]

    async def score(self, case: Case, output: Output) -> list[Score]:
        if output.error is not None:
            return self._failed(f"no output to judge: the target failed ({output.error.kind})", {})
        baseline = await self._baseline_for(case)
        if baseline is None:
            return self._failed(f"no baseline output for case {case.id!r}", {})
        return await self.compare(case, output.text, baseline)
