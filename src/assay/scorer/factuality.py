"""Factuality scorers: are the response's claims supported by a trusted source or by the retrieved contexts?

* ``factual_precision`` — share of the response's claims supported by the knowledge source (FActScore-style).
* ``hallucination`` — 1 when at least one claim is contradicted or unsupported (lower is better); the
  offending claims and their best evidence are in the explanation and metadata.
* ``faithfulness`` — share of claims supported by the target's own retrieved ``contexts`` (RAG groundedness).

The knowledge source is named by ``knowledge:`` (a folder of .md/.txt, a .jsonl of documents or a .csv of
facts; see ``assay.knowledge``). Without it, ``factual_precision`` and ``hallucination`` check against the
case's gold ``context``. The verification backend is ``backend:`` — ``grounding`` (default, offline, a
heuristic), ``nli`` (a local NLI model directory, ``nli_model:``) or ``judge`` (an LLM through any target,
``judge: {type: openai, ...}``). Claims come from sentence splitting or, with ``claims: judge``, from the
judge. Suite file::

    scorers:
      - hallucination: {knowledge: kb/}
      - factual_precision: {knowledge: kb/, backend: judge, judge: {type: openai, base_url: ..., model: ...}}
      - faithfulness

A response without checkable claims (an abstention, a question back) scores as nothing unsupported
(precision 1, no hallucination) with ``n_claims = 0`` in the metadata; ``if_no_claims: error`` makes it a
scorer error instead.

Example:
    >>> s = FactualPrecision(knowledge="examples/support_bot/kb")      # doctest: +SKIP
    >>> (await s.score(case, Output(text="Pro costs $8 a month."))).value  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from assay.scorer.base import BaseScorer, register_scorer
from assay.scorer.claims import Claim, JudgeClaimExtractor, extract_claims
from assay.scorer.text import clip
from assay.types import AssayError, Case, Doc, Output, Score, ScorerError

if TYPE_CHECKING:
    from assay.knowledge.index import KnowledgeIndex, SearchMode
    from assay.scorer.verify import Verdict, Verifier

__all__ = ["FactualPrecision", "Faithfulness", "Hallucination", "build_verifier"]

BACKENDS = ("grounding", "nli", "judge")


def build_verifier(
    scorer: str,
    backend: str,
    *,
    judge: dict[str, Any] | None = None,
    nli_model: str | None = None,
    base_dir: str | Path | None = None,
) -> Verifier:
    """The verifier for ``backend``; bad or missing options raise ``ScorerError`` naming them.

    Example:
        >>> build_verifier("hallucination", "grounding").name
        'grounding'
    """
    from assay.scorer.verify import GroundingVerifier

    if backend == "grounding":
        return GroundingVerifier()
    if backend == "judge":
        from assay.scorer.verify import JudgeVerifier

        return JudgeVerifier(_judge_client(scorer, judge))
    if backend == "nli":
        from assay.inference.embeddings import ModelUnavailableError
        from assay.inference.nli import load_nli
        from assay.scorer.verify import NLIVerifier

        if not nli_model:
            raise ScorerError(
                f"scorer '{scorer}': backend 'nli' needs option 'nli_model' (a model directory)"
            )
        path = _resolve(nli_model, base_dir)
        try:
            return NLIVerifier(load_nli(path, lazy=True))
        except ModelUnavailableError as exc:
            raise ScorerError(f"scorer '{scorer}': option 'nli_model': {exc}") from exc
    raise ScorerError(
        f"scorer '{scorer}': option 'backend' must be one of {', '.join(BACKENDS)}, got {backend!r}"
    )


def _judge_client(scorer: str, judge: dict[str, Any] | None) -> Any:
    from assay.inference.judge import JudgeClient
    from assay.target.base import create_target

    if not isinstance(judge, dict) or "type" not in judge:
        raise ScorerError(
            f"scorer '{scorer}': backend 'judge' needs option 'judge' with a target, e.g. "
            "{type: openai, base_url: http://127.0.0.1:8000/v1, model: my-judge}"
        )
    opts = dict(judge)
    kind = opts.pop("type")
    attempts = int(opts.pop("judge_attempts", 3))
    try:
        target = create_target(kind, **opts)
    except AssayError as exc:
        raise ScorerError(f"scorer '{scorer}': option 'judge': {exc}") from exc
    return JudgeClient(target, max_attempts=attempts)


async def close_judges(*holders: Any) -> None:
    """``aclose()`` the judge targets held by verifiers or claim extractors (those that have one)."""
    for holder in holders:
        client = getattr(holder, "client", None)
        closer = getattr(getattr(client, "target", None), "aclose", None)
        if closer is not None:
            await closer()


def _resolve(path: str | Path, base_dir: str | Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


class _ClaimScorer(BaseScorer):
    """Shared machinery: extract claims, find evidence, verify, summarise."""

    kind: ClassVar[Any] = "proportion"
    uses_contexts: ClassVar[bool] = False
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        knowledge: str | None = None,
        backend: str = "grounding",
        judge: dict[str, Any] | None = None,
        nli_model: str | None = None,
        claims: str = "sentence",
        k: int = 5,
        search: str = "hybrid",
        chunk_words: int = 120,
        max_claims: int = 50,
        if_no_claims: str = "pass",
        base_dir: str | None = None,
    ) -> None:
        scorer = self.registered_name
        if backend not in BACKENDS:
            raise ScorerError(
                f"scorer '{scorer}': option 'backend' must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        if claims not in ("sentence", "judge"):
            raise ScorerError(
                f"scorer '{scorer}': option 'claims' must be 'sentence' or 'judge', got {claims!r}"
            )
        if claims == "judge" and judge is None:
            raise ScorerError(f"scorer '{scorer}': option 'claims: judge' needs option 'judge' (a target)")
        if search not in ("hybrid", "bm25", "embedding"):
            raise ScorerError(
                f"scorer '{scorer}': option 'search' must be hybrid, bm25 or embedding, got {search!r}"
            )
        for opt, value, low in (("k", k, 1), ("chunk_words", chunk_words, 10), ("max_claims", max_claims, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ScorerError(
                    f"scorer '{scorer}': option '{opt}' must be an integer >= {low}, got {value!r}"
                )
        if if_no_claims not in ("pass", "error"):
            raise ScorerError(
                f"scorer '{scorer}': option 'if_no_claims' must be 'pass' or 'error', got {if_no_claims!r}"
            )
        self.knowledge_path: Path | None = None
        if knowledge is not None and not self.uses_contexts:
            self.knowledge_path = _resolve(knowledge, base_dir)
            if not self.knowledge_path.exists():
                raise ScorerError(
                    f"scorer '{scorer}': option 'knowledge': {self.knowledge_path} does not exist"
                )
        elif knowledge is not None:
            raise ScorerError(f"scorer '{scorer}' checks the target's own contexts: it takes no 'knowledge'")
        if self.knowledge_path is None and not self.uses_contexts:
            self.requires = frozenset({"context"})
        self.verifier = build_verifier(scorer, backend, judge=judge, nli_model=nli_model, base_dir=base_dir)
        self.extractor = JudgeClaimExtractor(_judge_client(scorer, judge)) if claims == "judge" else None
        self.k, self.chunk_words = k, chunk_words
        self.search: SearchMode = search  # type: ignore[assignment]  # checked above
        self.max_claims, self.if_no_claims = max_claims, if_no_claims
        self._index: KnowledgeIndex | None = None
        self._index_lock = asyncio.Lock()
        opts: dict[str, Any] = {
            "knowledge": knowledge,
            "backend": backend,
            "claims": claims,
            "k": k,
            "search": search,
            "chunk_words": chunk_words,
            "max_claims": max_claims,
            "if_no_claims": if_no_claims,
        }
        if judge is not None:
            opts["judge"] = {key: v for key, v in judge.items() if "key" not in key.lower()}
        if nli_model is not None:
            opts["nli_model"] = nli_model
        super().__init__(name=name, **opts)

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec["verifier"] = {"backend": self.verifier.name}
        if self._index is not None:
            spec["knowledge_index"] = self._index.key
        return spec

    async def aclose(self) -> None:
        """Close the judge targets' connections (call once when the run ends)."""
        await close_judges(self.verifier, self.extractor)

    async def _claims(self, text: str) -> list[Claim]:
        if self.extractor is not None:
            found = await self.extractor.extract(text)
        else:
            found = extract_claims(text)
        return found[: self.max_claims]

    async def _index_or_none(self) -> KnowledgeIndex | None:
        if self.knowledge_path is None:
            return None
        if self._index is None:
            async with self._index_lock:
                if self._index is None:
                    from assay.knowledge.index import load_index

                    path = self.knowledge_path
                    self._index = await asyncio.to_thread(load_index, path, max_words=self.chunk_words)
        return self._index

    async def _evidence(self, case: Case, output: Output, claims: Sequence[Claim]) -> list[list[Doc]] | str:
        """Candidate passages per claim, or the reason there are none."""
        if self.uses_contexts:
            if not output.contexts:
                return "the target returned no contexts to check the response against"
            return [list(output.contexts)] * len(claims)
        index = await self._index_or_none()
        if index is None:
            if not case.context:
                return "case has no context and the scorer has no 'knowledge' source"
            return [list(case.context)] * len(claims)
        hits = await asyncio.to_thread(
            index.search_many, [c.text for c in claims], k=self.k, mode=self.search
        )
        return [[h.passage.to_doc(h.score) for h in row] for row in hits]

    async def verdicts(self, case: Case, output: Output) -> tuple[list[Claim], list[Verdict]] | str:
        """The claims of ``output`` and their verdicts, or the reason they could not be checked."""
        from assay.inference.judge import JudgeError

        try:
            claims = await self._claims(output.text)
            if not claims:
                return [], []
            evidence = await self._evidence(case, output, claims)
            if isinstance(evidence, str):
                return evidence
            return claims, await self.verifier.verify([c.text for c in claims], evidence)
        except (JudgeError, AssayError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def _summary(self, verdicts: Sequence[Verdict]) -> dict[str, Any]:
        n = len(verdicts)
        return {
            "n_claims": n,
            "n_supported": sum(v.label == "supported" for v in verdicts),
            "n_contradicted": sum(v.label == "contradicted" for v in verdicts),
            "n_not_enough_info": sum(v.label == "not_enough_info" for v in verdicts),
            "backend": self.verifier.name,
            "claims": [v.to_dict() for v in verdicts[:20]],
        }

    def _no_claims(self) -> Score | None:
        if self.if_no_claims == "error":
            return self.fail("the response has no checkable claims")
        return None


class _PrecisionScorer(_ClaimScorer):
    async def score(self, case: Case, output: Output) -> Score:
        result = await self.verdicts(case, output)
        if isinstance(result, str):
            return self.fail(result)
        _, verdicts = result
        if not verdicts:
            return self._no_claims() or self.make(1.0, explanation="no checkable claims", **self._summary([]))
        meta = self._summary(verdicts)
        value = meta["n_supported"] / meta["n_claims"]
        bad = [v for v in verdicts if not v.supported]
        explanation = f"{meta['n_supported']}/{meta['n_claims']} claims supported"
        if bad:
            explanation += "; first unsupported: " + _describe(bad[0])
        return self.make(value, explanation=explanation, **meta)


def _describe(v: Verdict) -> str:
    why = f" ({v.reasons[0]})" if v.reasons else ""
    ev = (
        f" — evidence [{v.evidence.id}]: {clip(v.evidence_span or v.evidence.text, 120)!r}"
        if v.evidence
        else ""
    )
    return f"{clip(v.claim, 100)!r} is {v.label.replace('_', ' ')}{why}{ev}"


@register_scorer("factual_precision")
class FactualPrecision(_PrecisionScorer):
    """Share of the response's claims supported by the knowledge source (or the case's gold context).

    Example:
        >>> FactualPrecision(knowledge="kb/").requires                  # doctest: +SKIP
        frozenset()
    """


@register_scorer("faithfulness")
class Faithfulness(_PrecisionScorer):
    """Share of the response's claims supported by the target's own retrieved ``contexts``.

    Example:
        >>> Faithfulness().requires
        frozenset({'contexts'})
    """

    uses_contexts = True
    requires = frozenset({"contexts"})


@register_scorer("hallucination")
class Hallucination(_ClaimScorer):
    """1 when at least one claim is unsupported (``count: unsupported``, the default: contradicted or
    not-enough-info) or contradicted (``count: contradicted``); lower is better.

    Example:
        >>> Hallucination(count="contradicted").higher_is_better       # doctest: +SKIP
        False
    """

    kind = "binary"
    higher_is_better = False

    def __init__(self, *, count: str = "unsupported", base_dir: str | None = None, **options: Any) -> None:
        # base_dir is named here, not left in **options: create_scorer passes the suite's folder only to
        # factories whose signature names it, and 'knowledge: kb/' must resolve next to the suite file
        if count not in ("unsupported", "contradicted"):
            raise ScorerError(
                f"scorer 'hallucination': option 'count' must be 'unsupported' or "
                f"'contradicted', got {count!r}"
            )
        self.count = count
        super().__init__(base_dir=base_dir, **options)
        self.options["count"] = count

    async def score(self, case: Case, output: Output) -> Score:
        result = await self.verdicts(case, output)
        if isinstance(result, str):
            return self.fail(result)
        _, verdicts = result
        if not verdicts:
            return self._no_claims() or self.make(
                False, explanation="no checkable claims", **self._summary([])
            )
        meta = self._summary(verdicts)
        bad = [
            v
            for v in verdicts
            if (v.label == "contradicted" if self.count == "contradicted" else not v.supported)
        ]
        meta["offending"] = [v.to_dict() for v in bad[:10]]
        if not bad:
            return self.make(False, explanation=f"all {len(verdicts)} claims supported", **meta)
        shown = "; ".join(_describe(v) for v in bad[:3])
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        return self.make(True, explanation=f"{len(bad)}/{len(verdicts)} claims: {shown}{more}", **meta)
