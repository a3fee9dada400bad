"""Ask an LLM judge (any ``Target``) a fixed question and get back JSON that satisfies a strict schema.

The judge's reply is parsed as JSON (a fenced ```` ```json ```` block or JSON surrounded by prose is
accepted) and validated against a JSON Schema. When it is not valid, the judge is asked once to repair it,
with the error shown; a second failure raises ``JudgeError(kind="invalid_json" | "schema")``. Transient
target errors (timeouts, 429/5xx) are retried with backoff up to ``max_attempts``, honouring
``Retry-After``; what is left raises ``JudgeError(kind="target_error")`` carrying the ``TargetError``.

Example:
    >>> judge = JudgeClient(create_target("openai", base_url="http://127.0.0.1:8000/v1", model="m"))  # doctest: +SKIP
    >>> await judge.ask("Is the sky blue? Answer {\\"answer\\": true|false}", {"type": "object"})  # doctest: +SKIP
    {'answer': True}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from typing import TYPE_CHECKING, Any, Literal

from assay.types import AssayError, Case, Message, TargetError

if TYPE_CHECKING:
    from assay.target.base import Target

__all__ = ["JUDGE_SYSTEM", "JudgeClient", "JudgeError", "parse_json_reply", "repair_prompt"]

log = logging.getLogger(__name__)

JudgeErrorKind = Literal["target_error", "invalid_json", "schema"]
JUDGE_SYSTEM = (
    "You are a careful, impartial evaluator. Follow the instructions exactly and answer with a single JSON "
    "object and nothing else."
)


class JudgeError(AssayError):
    """The judge could not give a valid answer.

    ``kind`` is ``target_error`` (the call failed; ``target_error`` holds the classified ``TargetError``),
    ``invalid_json`` (the reply, even after one repair request, is not JSON) or ``schema`` (JSON that
    does not satisfy the schema). ``reply`` is the last raw reply, when there was one.
    """

    def __init__(
        self,
        kind: JudgeErrorKind,
        message: str,
        *,
        target_error: TargetError | None = None,
        reply: str | None = None,
    ) -> None:
        self.kind = kind
        self.target_error = target_error
        self.reply = reply
        super().__init__(f"judge {kind}: {message}")


def parse_json_reply(text: str) -> Any:
    """The JSON value in a judge's reply: the whole text, a fenced block, or the first ``{...}`` in prose.

    Raises ``ValueError`` when no JSON object or array can be read.

    Example:
        >>> parse_json_reply('Sure! ```json\\n{"ok": true}\\n``` Done.')
        {'ok': True}
    """
    body = text.strip()
    try:
        return json.loads(body)
    except ValueError:
        pass
    fence = body.find("```")
    if fence != -1:
        start = body.find("\n", fence)
        end = body.find("```", start + 1)
        if start != -1 and end != -1:
            try:
                return json.loads(body[start + 1 : end])
            except ValueError:
                pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(body):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(body, i)
                return value
            except ValueError:
                continue
    raise ValueError(f"no JSON object in the reply {body[:80]!r}")


def _schema_error(value: Any, schema: dict[str, Any]) -> str | None:
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(schema)
    err = best_match(validator.iter_errors(value))
    if err is None:
        return None
    path = "/".join(str(p) for p in err.absolute_path) or "(root)"
    return f"at {path}: {err.message}"


def repair_prompt(problem: str, schema: dict[str, Any]) -> str:
    """The follow-up message sent once when a reply is invalid (shows the problem and the schema)."""
    return (
        f"Your previous reply was not valid: {problem}. Reply again with only a JSON object that "
        f"satisfies this JSON Schema, and nothing else:\n{json.dumps(schema)}"
    )


class JudgeClient:
    """Calls a judge target with a fixed prompt and returns schema-valid JSON (one repair attempt).

    ``max_attempts`` bounds calls per request for retryable target errors; ``timeout_s`` (optional) caps
    one call on top of the target's own timeout, and a call that runs over it counts as a ``timeout``.
    """

    def __init__(
        self,
        target: Target,
        *,
        system: str = JUDGE_SYSTEM,
        max_attempts: int = 3,
        timeout_s: float | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        seed: int = 0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.target = target
        self.system = system
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._rng = random.Random(seed)
        self.n_calls = 0

    def spec(self) -> dict[str, Any]:
        return {
            "target": self.target.spec(),
            "system_sha256": hashlib.sha256(self.system.encode()).hexdigest()[:16],
        }

    async def _call(self, messages: list[Message]) -> str:
        case_id = hashlib.sha256(json.dumps([m.to_dict() for m in messages]).encode()).hexdigest()[:16]
        case = Case(id=f"judge-{case_id}", input=tuple(messages))
        for attempt in range(1, self.max_attempts + 1):
            self.n_calls += 1
            try:
                if self.timeout_s is not None:
                    output = await asyncio.wait_for(self.target(case), self.timeout_s)
                else:
                    output = await self.target(case)
                err = output.error
            except TimeoutError:
                err = TargetError("timeout", f"judge call exceeded {self.timeout_s}s", retryable=True)
            if err is None:
                return output.text
            if not err.retryable or attempt == self.max_attempts:
                raise JudgeError(
                    "target_error",
                    f"{err} (after {attempt} attempt{'s' if attempt > 1 else ''})",
                    target_error=err,
                )
            delay = err.retry_after if err.retry_after is not None else self.backoff_s * 2 ** (attempt - 1)
            delay = min(delay, self.max_backoff_s) * (
                1.0 if err.retry_after is not None else self._rng.uniform(0.5, 1)
            )
            log.debug("judge call failed (%s); retrying in %.2fs", err, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def ask(self, prompt: str, schema: dict[str, Any]) -> Any:
        """Send ``prompt``; return the reply's JSON once it satisfies ``schema`` (raises ``JudgeError``).

        Example:
            >>> await JudgeClient(target).ask("...", {"type": "object", "required": ["verdict"]})  # doctest: +SKIP
            {'verdict': 'supported'}
        """
        messages = [Message("system", self.system), Message("user", prompt)]
        reply = await self._call(messages)
        value, problem, kind = self.check(reply, schema)
        if problem is None:
            return value
        log.debug("judge reply invalid (%s); asking once for a repair", problem)
        messages += [Message("assistant", reply), Message("user", repair_prompt(problem, schema))]
        reply = await self._call(messages)
        value, problem, kind = self.check(reply, schema)
        if problem is None:
            return value
        raise JudgeError(kind, f"{problem} (after one repair request)", reply=reply)

    @staticmethod
    def check(reply: str, schema: dict[str, Any]) -> tuple[Any, str | None, JudgeErrorKind]:
        """Parse and validate one reply: ``(value, problem or None, kind of problem)``."""
        try:
            value = parse_json_reply(reply)
        except ValueError:
            return None, f"the reply is not JSON: {reply[:120]!r}", "invalid_json"
        problem = _schema_error(value, schema)
        return value, problem, "schema"
