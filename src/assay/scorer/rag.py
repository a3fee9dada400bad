"""RAG scorers: the retriever (what came back), the generator (how it used it) and the two together.

* ``retrieval`` — hit@k, recall@k, MRR and nDCG@k of ``Output.contexts`` against gold document ids
  (``metadata.relevant_ids`` — a list, or ``{id: grade}`` for graded nDCG — or the ids of the case's
  gold ``context``). One Score per metric: ``hit@5``, ``recall@5``, ``mrr``, ``ndcg@5``.
* ``context_precision`` — rank-aware precision of the retrieved passages (mean precision@i over the
  relevant positions, as in RAGAS): a passage is relevant when its id is gold, or, without gold ids, when
  it supports at least one claim of the expected answer.
* ``context_recall`` — share of the expected answer's claims (or the gold context's) that the retrieved
  passages support.
* ``answer_relevancy`` — cosine similarity of the question and the answer embeddings (MiniLM), in [0, 1].
* ``citation_accuracy`` — share of cited claims (``[doc-3]``) that a cited passage actually supports.
* ``abstention`` — on cases marked unanswerable (``metadata.answerable: false``) the response declines;
  on answerable ones it does not.

A retrieved passage matches a gold id when its id equals it, its ``metadata.doc_id`` (or ``article``)
does, or its id up to ``#`` does (``billing/refunds#2`` matches ``billing/refunds``).

Example:
    >>> scores = await Retrieval(k=3).score(case, output)             # doctest: +SKIP
    >>> [s.name for s in scores]                                      # doctest: +SKIP
    ['hit@3', 'recall@3', 'mrr', 'ndcg@3']
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from typing import Any

from assay.scorer.base import BaseScorer, register_scorer
from assay.scorer.claims import extract_claims, strip_citations
from assay.scorer.factuality import BACKENDS, build_verifier, close_judges
from assay.scorer.text import as_string_list, clip
from assay.types import AssayError, Case, Doc, Output, Score, ScoreKind, ScorerError

__all__ = [
    "Abstention",
    "AnswerRelevancy",
    "CitationAccuracy",
    "ContextPrecision",
    "ContextRecall",
    "Retrieval",
    "gold_relevance",
    "hit_at_k",
    "mrr",
    "ndcg_at_k",
    "recall_at_k",
]


# ------------------------------------------------------------------------------------ pure metrics
def hit_at_k(retrieved: Sequence[str], relevant: set[str], k: int) -> float:
    """1.0 when any of the first ``k`` retrieved ids is relevant, else 0.0.

    Example:
        >>> hit_at_k(["a", "b", "c"], {"c"}, 2), hit_at_k(["a", "b", "c"], {"c"}, 3)
        (0.0, 1.0)
    """
    return 1.0 if any(r in relevant for r in retrieved[:k]) else 0.0


def recall_at_k(retrieved: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant ids found among the first ``k`` retrieved (relevant must be non-empty).

    Example:
        >>> recall_at_k(["a", "x", "b"], {"a", "b", "c", "d"}, 3)
        0.5
    """
    if not relevant:
        raise ValueError("recall needs at least one relevant id")
    return len(set(retrieved[:k]) & relevant) / len(relevant)


def mrr(retrieved: Sequence[str], relevant: set[str]) -> float:
    """Reciprocal rank of the first relevant id (0.0 when none is retrieved).

    Example:
        >>> mrr(["x", "y", "a"], {"a"})
        0.3333333333333333
    """
    for i, r in enumerate(retrieved, start=1):
        if r in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gains: dict[str, float], k: int) -> float:
    """nDCG@k with linear gains and log2 discounts (``sklearn.metrics.ndcg_score``'s definition).

    ``gains`` maps relevant ids to their grade (1 for binary relevance). The ideal ranking puts the
    ``k`` highest grades first. Duplicated retrieved ids count once (the first time).

    Example:
        >>> round(ndcg_at_k(["b", "a"], {"a": 1.0}, 2), 4)
        0.6309
    """
    seen: set[str] = set()
    dcg = 0.0
    for i, r in enumerate(retrieved[:k]):
        if r in seen:
            continue
        seen.add(r)
        dcg += gains.get(r, 0.0) / math.log2(i + 2)
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        raise ValueError("nDCG needs at least one relevant id with a positive grade")
    return dcg / idcg


def _doc_keys(doc: Doc) -> list[str]:
    keys = [k for k in (doc.id, doc.metadata.get("doc_id"), doc.metadata.get("article")) if k]
    if doc.id and "#" in doc.id:
        keys.append(doc.id.split("#", 1)[0])
    return [str(k) for k in keys]


def gold_relevance(case: Case) -> dict[str, float] | None:
    """Gold relevance grades of a case: ``metadata.relevant_ids`` (list or ``{id: grade}``), else the ids
    of its gold ``context`` documents; None when there are none.

    Example:
        >>> gold_relevance(Case(id="1", input="q", metadata={"relevant_ids": ["a", "b"]}))
        {'a': 1.0, 'b': 1.0}
    """
    raw = case.metadata.get("relevant_ids")
    if isinstance(raw, dict) and raw:
        return {str(k): float(v) for k, v in raw.items()}
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, list) and raw:
        return {str(k): 1.0 for k in raw}
    ids = [d.id for d in case.context if d.id]
    return {i: 1.0 for i in ids} if ids else None


def _ranked_ids(contexts: Sequence[Doc], gold: dict[str, float]) -> list[str]:
    """The retrieved list as gold ids where a passage matches one (else its own id), in order."""
    out = []
    for i, d in enumerate(contexts):
        keys = _doc_keys(d)
        match = next((k for k in keys if k in gold), None)
        out.append(match if match is not None else (keys[0] if keys else f"#unnamed-{i}"))
    return out


@register_scorer("retrieval")
class Retrieval(BaseScorer):
    """hit@k, recall@k, MRR and nDCG@k of the target's ``contexts`` against the case's gold ids.

    ``k`` is an integer or a list of integers (one set of @k scores each) and counts retrieved passages.
    Several passages of the same gold document count once (the first one) for recall and nDCG.

    Example:
        >>> Retrieval(k=[1, 3]).score_names
        ['hit@1', 'recall@1', 'ndcg@1', 'hit@3', 'recall@3', 'ndcg@3', 'mrr']
    """

    kind = "proportion"
    requires = frozenset({"contexts"})

    def __init__(self, *, name: str | None = None, k: int | list[int] = 5) -> None:
        ks = k if isinstance(k, list) else [k]
        if not ks or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in ks):
            raise ScorerError(
                f"scorer 'retrieval': option 'k' must be an integer >= 1 or a list of them, got {k!r}"
            )
        self.ks = sorted(set(ks))
        super().__init__(name=name, k=k)

    def _prefixed(self, metric: str) -> str:
        return metric if self.name == self.registered_name else f"{self.name}.{metric}"

    @property
    def score_names(self) -> list[str]:
        """The names of the Scores (prefixed with the scorer's name when it was renamed)."""
        return [self._prefixed(f"{m}@{k}") for k in self.ks for m in ("hit", "recall", "ndcg")] + [
            self._prefixed("mrr")
        ]

    def _named(self, metric: str, value: float, **meta: Any) -> Score:
        kind: ScoreKind = "binary" if metric.startswith("hit@") else "proportion"
        return Score(name=self._prefixed(metric), value=value, kind=kind, metadata=meta)

    async def score(self, case: Case, output: Output) -> list[Score]:
        gold = gold_relevance(case)
        if not gold or not any(g > 0 for g in gold.values()):
            why = "case has no gold document ids (metadata.relevant_ids or ids on its context)"
            return [Score.failed(n, why, kind="proportion") for n in self.score_names]
        ranked = _ranked_ids(output.contexts, gold)
        relevant = {g for g, v in gold.items() if v > 0}
        out: list[Score] = []
        for k in self.ks:  # k counts retrieved passages: two passages of one document fill two slots
            out.append(self._named(f"hit@{k}", hit_at_k(ranked, relevant, k)))
            out.append(self._named(f"recall@{k}", recall_at_k(ranked, relevant, k)))
            out.append(self._named(f"ndcg@{k}", ndcg_at_k(ranked, gold, k)))
        out.append(self._named("mrr", mrr(ranked, relevant), retrieved=ranked[:10]))
        return out  # order matches score_names()


# ------------------------------------------------------------------------------------ claim-based
class _VerifyingScorer(BaseScorer):
    kind = "proportion"
    version = "1"

    def __init__(
        self,
        *,
        name: str | None = None,
        backend: str = "grounding",
        judge: dict[str, Any] | None = None,
        nli_model: str | None = None,
        base_dir: str | None = None,
        **opts: Any,
    ) -> None:
        if backend not in BACKENDS:
            raise ScorerError(
                f"scorer '{self.registered_name}': option 'backend' must be one of "
                f"{', '.join(BACKENDS)}, got {backend!r}"
            )
        self.verifier = build_verifier(
            self.registered_name, backend, judge=judge, nli_model=nli_model, base_dir=base_dir
        )
        super().__init__(name=name, backend=backend, **opts)

    async def aclose(self) -> None:
        """Close the judge target's connections (call once when the run ends)."""
        await close_judges(self.verifier)

    async def _verify(self, claims: list[str], docs: list[list[Doc]]) -> list[Any] | str:
        try:
            return await self.verifier.verify(claims, docs)
        except AssayError as exc:
            return f"{type(exc).__name__}: {exc}"


def _reference_claims(case: Case) -> list[str] | None:
    strings = as_string_list(case.expected) if case.expected is not None else None
    if strings:
        return [c.text for c in extract_claims(strings[0])] or [strings[0]]
    if case.context:
        return [c.text for d in case.context for c in extract_claims(d.text)]
    return None


@register_scorer("context_precision")
class ContextPrecision(_VerifyingScorer):
    """Rank-aware precision of the retrieved passages: mean of precision@i over relevant positions.

    Example:
        >>> ContextPrecision().requires
        frozenset({'contexts'})
    """

    requires = frozenset({"contexts"})

    async def score(self, case: Case, output: Output) -> Score:
        if not output.contexts:
            return self.fail("the target returned no contexts")
        gold = (
            gold_relevance(case)
            if case.metadata.get("relevant_ids") or any(d.id for d in case.context)
            else None
        )
        if gold:
            rel = [gold.get(r, 0.0) > 0 for r in _ranked_ids(output.contexts, gold)]
            how = "gold ids"
        else:
            claims = _reference_claims(case)
            if not claims:
                return self.fail(
                    "needs gold ids (metadata.relevant_ids), an expected answer or a gold context"
                )
            docs = list(output.contexts)
            verdicts = await self._verify(
                [c for c in claims for _ in docs], [[d] for _ in claims for d in docs]
            )
            if isinstance(verdicts, str):
                return self.fail(verdicts)
            rel = [
                any(verdicts[ci * len(docs) + di].supported for ci in range(len(claims)))
                for di in range(len(docs))
            ]
            how = "support of the expected answer"
        hits, total = 0, 0.0
        for i, r in enumerate(rel, start=1):
            if r:
                hits += 1
                total += hits / i
        value = total / hits if hits else 0.0
        return self.make(
            value, explanation=f"{hits}/{len(rel)} retrieved passages relevant ({how})", relevant=rel
        )


@register_scorer("context_recall")
class ContextRecall(_VerifyingScorer):
    """Share of the expected answer's claims (or the gold context's) supported by the retrieved passages.

    Example:
        >>> ContextRecall().requires
        frozenset({'contexts'})
    """

    requires = frozenset({"contexts"})

    async def score(self, case: Case, output: Output) -> Score:
        claims = _reference_claims(case)
        if not claims:
            return self.fail("needs an expected answer or a gold context to know which facts to look for")
        if not output.contexts:
            return self.make(0.0, explanation="no contexts retrieved", n_claims=len(claims))
        verdicts = await self._verify(claims, [list(output.contexts)] * len(claims))
        if isinstance(verdicts, str):
            return self.fail(verdicts)
        found = sum(v.supported for v in verdicts)
        missing = [v.claim for v in verdicts if not v.supported]
        expl = f"{found}/{len(claims)} expected facts covered"
        if missing:
            expl += f"; missing: {clip(missing[0], 80)!r}"
        return self.make(found / len(claims), explanation=expl, n_claims=len(claims), missing=missing[:10])


@register_scorer("citation_accuracy")
class CitationAccuracy(_VerifyingScorer):
    """Share of cited claims that one of their cited passages supports.

    Citations are bracketed ids (``[doc-3]``, ``[billing/refunds#0]``, ``[2]``) resolved against the
    target's ``contexts``: by id (see the module docstring), or, for a bare number or ``doc-N`` that is no
    id, by position (1-based). ``require_citations: true`` counts uncited claims as wrong.

    Example:
        >>> CitationAccuracy(require_citations=True).options["require_citations"]
        True
    """

    requires = frozenset({"contexts"})

    def __init__(
        self, *, require_citations: bool = False, base_dir: str | None = None, **options: Any
    ) -> None:
        # base_dir is named so create_scorer passes the suite's folder (for a relative 'nli_model')
        if not isinstance(require_citations, bool):
            raise ScorerError("scorer 'citation_accuracy': option 'require_citations' must be true or false")
        self.require_citations = require_citations
        super().__init__(require_citations=require_citations, base_dir=base_dir, **options)

    @staticmethod
    def _resolve(marker: str, contexts: Sequence[Doc]) -> Doc | None:
        for d in contexts:
            if marker in _doc_keys(d):
                return d
        m = re.fullmatch(r"(?:doc|source|ref|passage)?[-_ ]?(\d+)", marker, re.IGNORECASE)
        if m and 1 <= int(m.group(1)) <= len(contexts):
            return contexts[int(m.group(1)) - 1]
        return None

    async def score(self, case: Case, output: Output) -> Score:
        claims = extract_claims(output.text)
        cited = [c for c in claims if c.citations]
        uncited = len(claims) - len(cited)
        if not cited:
            if self.require_citations and claims:
                return self.make(0.0, explanation=f"none of {len(claims)} claims cites a source", n_cited=0)
            return self.fail("the response cites no source to check")
        pairs: list[tuple[str, list[Doc], list[str]]] = []
        for c in cited:
            docs = [d for d in (self._resolve(m, output.contexts) for m in c.citations) if d is not None]
            pairs.append(
                (c.text, docs, [m for m in c.citations if self._resolve(m, output.contexts) is None])
            )
        verdicts = await self._verify([p[0] for p in pairs], [p[1] for p in pairs])
        if isinstance(verdicts, str):
            return self.fail(verdicts)
        good = sum(v.supported for v in verdicts)
        denom = len(cited) + (uncited if self.require_citations else 0)
        wrong = [(p[0], p[2]) for p, v in zip(pairs, verdicts, strict=True) if not v.supported]
        expl = f"{good}/{len(cited)} cited claims supported by their citation"
        if wrong:
            claim, unknown = wrong[0]
            expl += f"; e.g. {clip(claim, 80)!r}" + (f" cites unknown {unknown}" if unknown else "")
        return self.make(
            good / denom,
            explanation=expl,
            n_cited=len(cited),
            n_uncited=uncited,
            unsupported=[w[0] for w in wrong[:10]],
        )


# ------------------------------------------------------------------------------------ embeddings
@register_scorer("answer_relevancy")
class AnswerRelevancy(BaseScorer):
    """Cosine similarity of question and answer embeddings (MiniLM int8), clipped to [0, 1].

    A proxy: it rewards answers on the question's topic, not correct ones. Citation markers are removed
    before embedding.

    Example:
        >>> AnswerRelevancy().kind
        'continuous'
    """

    kind = "continuous"

    async def score(self, case: Case, output: Output) -> Score:
        from assay.inference.embeddings import default_embedder

        answer, _ = strip_citations(output.text)
        if not answer.strip():
            return self.make(0.0, explanation="empty answer")
        emb = default_embedder()
        vecs = await asyncio.to_thread(emb.embed, [case.input_text, answer])
        sim = max(0.0, min(1.0, float(vecs[0] @ vecs[1])))
        return self.make(sim, explanation=f"question–answer cosine {sim:.2f}", model=emb.model_id)


_DECLINE = re.compile(
    r"\b(?:i (?:do not|don't|cannot|can't|couldn't|could not|am unable to|am not able to|wasn't able to) "
    r"(?:know|find|answer|help with|say|tell|provide|locate|see)|i'm (?:not sure|unable|afraid)|"
    r"(?:no|not enough|insufficient) information|(?:isn't|is not|not) (?:covered|mentioned|documented|in (?:the|our))|"
    r"(?:unable|not able) to (?:find|answer)|(?:couldn't|could not|can't|cannot) find|"
    r"don't have (?:any )?(?:information|details|data)|outside (?:of )?(?:my|the) (?:scope|knowledge)|"
    r"i have no (?:information|knowledge)|no (?:answer|results) (?:found|available))\b",
    re.IGNORECASE,
)


def declines(text: str) -> bool:
    """Whether a response declines to answer (rule-based; it looks for refusal phrasing).

    Example:
        >>> declines("I couldn't find this in the help center."), declines("Pro costs $8.")
        (True, False)
    """
    return bool(_DECLINE.search(text.replace("’", "'"))) or not text.strip()


@register_scorer("abstention")
class Abstention(BaseScorer):
    """1 when the response declines exactly when it should: on cases marked ``metadata.answerable: false``
    (or ``unanswerable: true``) it declines; on the others it answers. Cases without the mark fail.

    Example:
        >>> Abstention().kind
        'binary'
    """

    kind = "binary"

    async def score(self, case: Case, output: Output) -> Score:
        if "answerable" in case.metadata:
            answerable = case.metadata["answerable"]
        elif "unanswerable" in case.metadata:
            answerable = not case.metadata["unanswerable"]
        else:
            return self.fail("case is not marked answerable or unanswerable (metadata.answerable)")
        if not isinstance(answerable, bool):
            return self.fail(f"metadata.answerable must be true or false, got {answerable!r}")
        declined = declines(output.text)
        ok = declined != answerable
        if answerable:
            expl = "answered an answerable question" if ok else "declined an answerable question"
        else:
            expl = "declined an unanswerable question" if ok else "answered an unanswerable question"
        return self.make(ok, explanation=expl, declined=declined, answerable=answerable)
