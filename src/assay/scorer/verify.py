"""Claim verification backends behind one interface: supported / contradicted / not-enough-info.

A ``Verifier`` takes claims and, for each, the candidate evidence passages (retrieved from a knowledge
index or the target's own ``contexts``) and returns a ``Verdict`` per claim: a label, the probability that
the claim is supported, the best evidence passage and span, and the reasons.

* ``grounding`` (``GroundingVerifier``, the offline default): embedding similarity of the claim to the best
  evidence span (MiniLM int8 ONNX) combined with key-fact checks (numbers, amounts, dates, durations,
  named entities, negation, modality) and a soft lexical-coverage check for details the evidence does not
  mention. **A heuristic**: measured on the bundled validation set, reported by
  ``bench/factuality_bench.py``; it does not understand paraphrases that need reasoning.
* ``nli`` (``NLIVerifier``): a local cross-encoder NLI model (``assay.inference.nli``).
* ``judge`` (``JudgeVerifier``): an LLM judge through any ``Target`` with a fixed prompt and strict schema.

Example:
    >>> v = GroundingVerifier()                                        # doctest: +SKIP
    >>> [verdict] = await v.verify(["Refunds take 30 days."], [[Doc("Refunds take 14 days.")]])  # doctest: +SKIP
    >>> verdict.label, verdict.reasons                                 # doctest: +SKIP
    ('contradicted', ('number: claim says 30 days, evidence says 14 days',))
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from assay.knowledge.facts import (
    Quantity,
    clauses,
    entity_in,
    extract_entities,
    extract_quantities,
    modality,
    quantities_match,
    relevant_negations,
)
from assay.knowledge.text import STOPWORDS, evidence_units, split_sentences, stem
from assay.scorer.text import clip
from assay.types import Doc

if TYPE_CHECKING:
    from assay.inference.embeddings import Embedder
    from assay.inference.judge import JudgeClient
    from assay.inference.nli import NLIModel

__all__ = [
    "LABELS",
    "VALIDATION_CATEGORIES",
    "GroundingConfig",
    "GroundingVerifier",
    "JudgeVerifier",
    "NLIVerifier",
    "ValidationItem",
    "Verdict",
    "Verifier",
    "auroc",
    "evaluate_verifier",
    "load_validation_set",
    "macro_f1",
]

Label = Literal["supported", "contradicted", "not_enough_info"]
LABELS: tuple[str, ...] = ("supported", "contradicted", "not_enough_info")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one claim against its evidence."""

    claim: str
    label: Label
    p_supported: float
    evidence: Doc | None = None
    evidence_span: str = ""
    similarity: float | None = None
    reasons: tuple[str, ...] = ()
    backend: str = ""

    @property
    def supported(self) -> bool:
        return self.label == "supported"

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "label": self.label,
            "p_supported": round(self.p_supported, 4),
            "evidence_id": self.evidence.id if self.evidence else None,
            "evidence": self.evidence_span or (self.evidence.text if self.evidence else ""),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "reasons": list(self.reasons),
            "backend": self.backend,
        }


@runtime_checkable
class Verifier(Protocol):
    """Checks claims against candidate evidence; one ``Verdict`` per claim, in order."""

    name: str

    async def verify(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[Verdict]: ...

    def spec(self) -> dict[str, Any]: ...


def _no_evidence(claim: str, backend: str) -> Verdict:
    return Verdict(
        claim, "not_enough_info", 0.0, reasons=("no evidence passage to check against",), backend=backend
    )


# ------------------------------------------------------------------------------------ grounding
@dataclass(frozen=True)
class GroundingConfig:
    """Weights of the grounding heuristic (a logistic score), set on the validation set's dev split.

    ``p_supported = sigmoid(slope * (similarity - center) - conflict_w * conflicts - missing_w *
    missing_facts - novel_w * novel_words)``; a claim is supported when ``p_supported >= 0.5``.
    """

    center: float = 0.6
    slope: float = 8.0
    conflict_w: float = 4.0
    missing_w: float = 3.0
    novel_w: float = 0.5
    generic_w: float = 0.1
    novel_sim: float = 0.55  # a claim word counts as covered when a word of the evidence is this close
    negation_min_sim: float = 0.45
    scope_margin: float = 0.08


_UNIT_WORDS_TEXT = """
    day days week weeks month months year years hour hours minute minutes second seconds percent
    dollars dollar business per each every about roughly around approximately exactly over under least
    most up maximum minimum within than like
"""
_UNIT_WORDS = frozenset(_UNIT_WORDS_TEXT.split())
_NUMBER_WORDS_TEXT = """
    zero one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty
    fifty sixty hundred thousand million billion half quarter quarters third dozen once twice
"""
_NUMBER_WORDS = frozenset(_NUMBER_WORDS_TEXT.split())


# Everyday verbs, adjectives and adverbs that paraphrases swap freely: a claim word from this list that
# the evidence lacks counts for little (``GroundingConfig.generic_w``), unlike a new noun ("passport").
_GENERIC_TEXT = """
    able about across actually add added after afterwards again ago allow allowed allows already always
    another answer anyone anything anytime appear appears ask asked asks away back based become became
    becomes before begin being below best better beyond big bit bring came case cause causes change
    changed changes check choose chosen come comes completely contain contains continue continues
    current currently different directly does done during each early easily either else enable enabled
    end ends enough entire even ever every everything exactly example fact far feature features find
    finds first fully further gave get gets getting give given gives go goes going gone good got great
    happen happens help helps high however immediately include included includes including instead just
    keep keeps kept kind know known large larger last later least less let lets like likely little long
    longer look looks lot low made main make makes making many may mean means might more moreover most
    mostly much must need needed needs never new next normally now offer offered offers often once only
    open option options order other others otherwise over own part particular past per perhaps place
    point possible put quite rather really receive received receives recent recently remain remains
    right same say says second see seen set sets several shall short should show shown shows side
    simply since small so some something sometimes soon still such sure take taken takes than that then
    there thing things though through thus time times today together too took top total turn turned
    turns two type under unless until upon usually use used uses using various very want wants way ways
    well went whenever whether while whole will within work works would yet
"""
_GENERIC = frozenset(_GENERIC_TEXT.split())
_NEGATION_WORDS_TEXT = """
    not no never none cannot without nor neither nothing nobody must may might can could should would
    will need
"""
_NEGATION_WORDS = frozenset(_NEGATION_WORDS_TEXT.split())


def _show(q: Quantity) -> str:
    return q.text


@dataclass
class _Features:
    similarity: float
    best_unit: str
    best_doc: int
    conflicts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    novel: list[str] = field(default_factory=list)


def _overlap(a: str, b: str) -> int:
    """How many content-word stems ``a`` and ``b`` share."""
    words_a = {stem(w) for w in re.findall(r"[a-z]+", a.lower()) if w not in STOPWORDS}
    return len(words_a & {stem(w) for w in re.findall(r"[a-z]+", b.lower()) if w not in STOPWORDS})


def _closest_clause(claim: str, scope: str) -> str:
    """The clause of ``scope`` sharing the most content words with ``claim`` (ties: the earliest)."""
    want = {stem(w) for w in re.findall(r"[a-z]+", claim.lower()) if w not in STOPWORDS}
    best, best_n = scope, -1
    for c in (c for sentence in split_sentences(scope) for c in clauses(sentence)):
        n = len(want & {stem(w) for w in re.findall(r"[a-z]+", c.lower()) if w not in STOPWORDS})
        if n > best_n:
            best, best_n = c, n
    return best


class GroundingVerifier:
    """The offline heuristic verifier: embedding similarity + key-fact checks + lexical coverage.

    Example:
        >>> v = GroundingVerifier()                                    # doctest: +SKIP
        >>> [d] = await v.verify(["You can get a refund for two weeks."],  # doctest: +SKIP
        ...                      [[Doc("Refunds are available within 14 days.")]])
        >>> d.label                                                    # doctest: +SKIP
        'supported'
    """

    name = "grounding"

    def __init__(self, *, embedder: Embedder | None = None, config: GroundingConfig | None = None) -> None:
        self._embedder = embedder
        self.config = config or GroundingConfig()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from assay.inference.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def spec(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.embedder.model_id, "config": asdict(self.config)}

    async def verify(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[Verdict]:
        """Verdicts for ``claims`` (``evidence[i]`` holds the candidate passages of claim ``i``).

        The CPU-bound work runs in a worker thread so the runner's event loop keeps serving other cases.
        """
        import asyncio

        return await asyncio.to_thread(self.verify_sync, claims, evidence)

    def verify_sync(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[Verdict]:
        """``verify`` without an event loop (the work is CPU-bound and batched)."""
        feats = self.features(claims, evidence)
        return [self._decide(c, docs, f) for c, docs, f in zip(claims, evidence, feats, strict=True)]

    # -------------------------------------------------------------------------------- features
    def features(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[_Features | None]:
        """The raw signals behind each verdict (None for a claim without evidence)."""
        import numpy as np

        if len(claims) != len(evidence):
            raise ValueError(f"{len(claims)} claims but {len(evidence)} evidence lists")
        unit_lists: list[list[tuple[str, int, bool]]] = []
        texts: dict[str, int] = {}
        for docs in evidence:
            units: list[tuple[str, int, bool]] = []  # (text, doc index, is a whole multi-sentence passage)
            for di, d in enumerate(docs):
                parts = evidence_units(d.text, window=1) or [d.text]
                units.extend((u, di, False) for u in parts)
                if len(parts) > 1:
                    units.append((d.text, di, True))
            unit_lists.append(units)
            for u, _, _ in units:
                texts.setdefault(u, len(texts))
        for c in claims:
            texts.setdefault(c, len(texts))
        ordered = list(texts)
        vecs = self.embedder.embed(ordered) if ordered else np.zeros((0, 1), dtype=np.float32)

        out: list[_Features | None] = []
        word_jobs: list[tuple[_Features, list[str], str]] = []
        for claim, docs, units in zip(claims, evidence, unit_lists, strict=True):
            if not units:
                out.append(None)
                continue
            cv = vecs[texts[claim]]
            sims = np.array([float(vecs[texts[u]] @ cv) for u, _, _ in units])
            order = np.argsort(-sims, kind="stable")
            best = int(order[0])
            best_unit, best_doc, _ = units[best]
            f = _Features(similarity=float(sims[best]), best_unit=best_unit, best_doc=best_doc)
            scope_units = [
                units[int(i)][0] for i in order[:3] if sims[int(i)] >= sims[best] - self.config.scope_margin
            ]
            scope = " ".join(scope_units)
            # facts are looked up in the best passage (and the close spans), not in every candidate: a
            # number that only another product's passage mentions does not support the claim
            own_text = docs[best_doc].text + " " + scope
            sentences = [
                units[int(i)][0]
                for i in order[:4]
                if not units[int(i)][2] and sims[int(i)] >= sims[best] - 2 * self.config.scope_margin
            ] or [best_unit]
            sentence = max(sentences, key=lambda t: _overlap(claim, t))  # stable: the closest wins ties
            self._check_facts(claim, scope, own_text, best_unit, sentence, f)
            novel = self._novel_words(claim, own_text)
            if novel:
                word_jobs.append((f, novel, docs[best_doc].text))
            out.append(f)
        if word_jobs:
            self._soft_cover(word_jobs)
        return out

    def _check_facts(
        self, claim: str, scope: str, all_text: str, best_unit: str, best_sentence: str, f: _Features
    ) -> None:
        cfg = self.config
        # numbers, amounts, dates, durations
        cq = extract_quantities(claim)
        everywhere = extract_quantities(all_text, implicit_one=True)
        near = extract_quantities(scope, implicit_one=True)
        for q in cq:
            if any(quantities_match(q, e) for e in everywhere):
                continue
            rivals = [e for e in near if e.dim == q.dim or {e.dim, q.dim} <= {None, "year"}]
            if rivals:
                f.conflicts.append(f"number: claim says {_show(q)}, evidence says {_show(rivals[0])}")
            else:
                f.missing.append(f"number: {_show(q)} is not in the evidence")
        # named entities
        ce = extract_entities(claim)
        unit_ents = extract_entities(best_unit)
        for e in sorted(ce):
            if entity_in(e, all_text):
                continue
            others = [u for u in unit_ents if not entity_in(u, claim)]
            if others and f.similarity >= cfg.negation_min_sim:
                f.conflicts.append(f"entity: claim says {e!r}, evidence says {sorted(others)[0]!r}")
            else:
                f.missing.append(f"entity: {e!r} is not in the evidence")
        # negation and modality, against the best evidence sentence; only cues about shared content count
        sent = best_sentence
        nc, ne = relevant_negations(claim, sent), relevant_negations(sent, claim)
        if f.similarity >= cfg.negation_min_sim and nc % 2 != ne % 2:
            denies = nc % 2 == 1
            f.conflicts.append(
                f"negation: the claim {'denies' if denies else 'asserts'} what the evidence "
                f"{'asserts' if denies else 'denies'} ({clip(sent, 100)!r})"
            )
        mc, me = modality(claim), modality(_closest_clause(claim, sent))
        if mc and me and mc != me:
            f.conflicts.append(f"modality: the claim says {mc}, the evidence says {me}")

    def _novel_words(self, claim: str, all_text: str) -> list[str]:
        have = {stem(w) for w in re.findall(r"[a-z]+", all_text.lower())}
        have_raw = set(re.findall(r"[a-z]+", all_text.lower()))
        ents = " ".join(extract_entities(claim))
        novel: list[str] = []
        for w in re.findall(r"[a-z][a-z'-]*[a-z]", claim.lower()):
            if (
                w in STOPWORDS
                or w in _UNIT_WORDS
                or w in _NUMBER_WORDS
                or w in _NEGATION_WORDS
                or len(w) <= 2
                or w in ents
                or w in have_raw
                or stem(w) in have
            ):
                continue
            if "-" in w and all(p in have_raw or stem(p) in have for p in w.split("-") if p):
                continue
            if w not in novel:
                novel.append(w)
        return novel

    def _soft_cover(self, jobs: list[tuple[_Features, list[str], str]]) -> None:
        """Keep only claim words with no close word (embedding cosine) in the best evidence passage."""
        ev_words = {
            j[2]: sorted(
                {
                    w
                    for w in re.findall(r"[a-z][a-z'-]*[a-z]", j[2].lower())
                    if w not in STOPWORDS and len(w) > 2
                }
            )
            for j in jobs
        }
        vocab = sorted({w for ws in ev_words.values() for w in ws} | {w for j in jobs for w in j[1]})
        if not vocab:
            return
        vecs = self.embedder.embed(vocab)
        pos = {w: i for i, w in enumerate(vocab)}
        for f, novel, text in jobs:
            words = ev_words[text]
            if not words:
                f.novel = list(novel)
                continue
            ev = vecs[[pos[w] for w in words]]
            f.novel = [w for w in novel if float((ev @ vecs[pos[w]]).max()) < self.config.novel_sim]

    # -------------------------------------------------------------------------------- decision
    def _decide(self, claim: str, docs: Sequence[Doc], f: _Features | None) -> Verdict:
        if f is None:
            return _no_evidence(claim, self.name)
        cfg = self.config
        novelty = sum(cfg.generic_w if w in _GENERIC else 1.0 for w in f.novel)
        z = (
            cfg.slope * (f.similarity - cfg.center)
            - cfg.conflict_w * len(f.conflicts)
            - cfg.missing_w * len(f.missing)
            - cfg.novel_w * novelty
        )
        p = 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
        reasons = [*f.conflicts, *f.missing]
        if f.novel:
            reasons.append("not in the evidence: " + ", ".join(f.novel[:5]))
        label: Label
        if p >= 0.5:
            label = "supported"
        elif f.conflicts:
            label = "contradicted"
        else:
            label = "not_enough_info"
            if not reasons:
                reasons.append(f"no evidence close enough (best similarity {f.similarity:.2f})")
        return Verdict(
            claim,
            label,
            p,
            evidence=docs[f.best_doc],
            evidence_span=f.best_unit,
            similarity=f.similarity,
            reasons=tuple(reasons),
            backend=self.name,
        )


# ------------------------------------------------------------------------------------ nli
class NLIVerifier:
    """Verification by a local NLI cross-encoder: each candidate passage is a premise, the claim the
    hypothesis. Supported when the best entailment probability is at least 0.5; otherwise contradicted
    when some passage contradicts it with probability at least 0.5; otherwise not-enough-info.

    Example:
        >>> NLIVerifier(load_nli("models/nli", lazy=True)).name      # doctest: +SKIP
        'nli'
    """

    name = "nli"

    def __init__(self, model: NLIModel) -> None:
        self.model = model

    def spec(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model.model_id, "labels": list(self.model.labels)}

    async def verify(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[Verdict]:
        import asyncio

        return await asyncio.to_thread(self.verify_sync, claims, evidence)

    def verify_sync(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[Verdict]:
        if len(claims) != len(evidence):
            raise ValueError(f"{len(claims)} claims but {len(evidence)} evidence lists")
        pairs = [(d.text, c) for c, docs in zip(claims, evidence, strict=True) for d in docs]
        probs = iter(self.model.predict(pairs))
        out: list[Verdict] = []
        for claim, docs in zip(claims, evidence, strict=True):
            if not docs:
                out.append(_no_evidence(claim, self.name))
                continue
            rows = [next(probs) for _ in docs]
            best = max(range(len(docs)), key=lambda i: rows[i]["entailment"])
            worst = max(range(len(docs)), key=lambda i: rows[i]["contradiction"])
            p = rows[best]["entailment"]
            label: Label
            if p >= 0.5:
                label, pick = "supported", best
            elif rows[worst]["contradiction"] >= 0.5:
                label, pick = "contradicted", worst
            else:
                label, pick = "not_enough_info", best
            r = rows[pick]
            reason = f"entailment {r['entailment']:.2f}, neutral {r['neutral']:.2f}, contradiction {r['contradiction']:.2f}"
            out.append(
                Verdict(
                    claim,
                    label,
                    p,
                    evidence=docs[pick],
                    evidence_span=docs[pick].text,
                    reasons=(reason,),
                    backend=self.name,
                )
            )
        return out


# ------------------------------------------------------------------------------------ judge
JUDGE_VERIFY_PROMPT = """Decide whether the CLAIM is supported by the EVIDENCE passages. Use only the \
evidence, not your own knowledge.
- "supported": the evidence states or directly implies the claim, including every number, name and detail.
- "contradicted": the evidence states something incompatible with the claim (a different number, name, \
negation or condition).
- "not_enough_info": the evidence does not say, or the claim adds details the evidence does not mention.

EVIDENCE:
{evidence}

CLAIM: {claim}

Answer with JSON only: {{"verdict": "supported" | "contradicted" | "not_enough_info", "confidence": a number \
from 0 to 1, "evidence": the number of the passage you relied on or null, "reason": one short sentence}}"""

JUDGE_VERIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"enum": list(LABELS)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "evidence": {"type": ["integer", "null"], "minimum": 1},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "confidence"],
}


class JudgeVerifier:
    """Verification by an LLM judge with a fixed prompt and a strict JSON schema (one call per claim).

    ``p_supported`` is the judge's confidence for a "supported" verdict and one minus it otherwise.
    Judge failures raise ``JudgeError`` (typed: ``target_error``, ``invalid_json``, ``schema``).

    Example:
        >>> JudgeVerifier(JudgeClient(target)).name                  # doctest: +SKIP
        'judge'
    """

    name = "judge"

    def __init__(self, client: JudgeClient, *, concurrency: int = 8) -> None:
        self.client = client
        self.concurrency = concurrency

    def spec(self) -> dict[str, Any]:
        return {"backend": self.name, "judge": self.client.spec(), "prompt_version": "1"}

    async def verify(self, claims: Sequence[str], evidence: Sequence[Sequence[Doc]]) -> list[Verdict]:
        import asyncio

        if len(claims) != len(evidence):
            raise ValueError(f"{len(claims)} claims but {len(evidence)} evidence lists")
        sem = asyncio.Semaphore(self.concurrency)

        async def one(claim: str, docs: Sequence[Doc]) -> Verdict:
            if not docs:
                return _no_evidence(claim, self.name)
            shown = "\n".join(f"[{i}] {d.text}" for i, d in enumerate(docs, start=1))
            async with sem:
                data = await self.client.ask(
                    JUDGE_VERIFY_PROMPT.format(evidence=shown, claim=claim), JUDGE_VERIFY_SCHEMA
                )
            label: Label = data["verdict"]
            conf = float(data["confidence"])
            idx = data.get("evidence")
            doc = docs[idx - 1] if isinstance(idx, int) and 1 <= idx <= len(docs) else docs[0]
            reason = str(data.get("reason") or "")
            return Verdict(
                claim,
                label,
                conf if label == "supported" else 1.0 - conf,
                evidence=doc,
                evidence_span=doc.text,
                reasons=(reason,) if reason else (),
                backend=self.name,
            )

        return list(await asyncio.gather(*(one(c, d) for c, d in zip(claims, evidence, strict=True))))


# ------------------------------------------------------------------------------------ validation set
VALIDATION_CATEGORIES: tuple[str, ...] = (
    "paraphrase_supported",
    "wrong_number",
    "wrong_entity",
    "negated",
    "unsupported_extra_detail",
    "true_but_absent",
)


@dataclass(frozen=True, slots=True)
class ValidationItem:
    """One (claim, evidence, label) triple of the bundled validation set."""

    id: str
    group: str
    split: str
    category: str
    claim: str
    evidence: str
    label: Label


def load_validation_set(split: str | None = None) -> list[ValidationItem]:
    """The bundled validation set (written for assay): 459 triples over six categories, 49 evidence groups.

    ``split`` is ``"dev"`` (even groups: the grounding weights were set on it), ``"test"`` (odd groups,
    held out) or None for all.

    Example:
        >>> len(load_validation_set()) >= 300
        True
    """
    import json
    from importlib import resources

    text = resources.files("assay.scorer").joinpath("data/factuality_validation.jsonl").read_text("utf-8")
    items = [ValidationItem(**json.loads(line)) for line in text.splitlines() if line.strip()]
    return [i for i in items if split is None or i.split == split]


def auroc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve of ``scores`` for the positive ``labels`` (ties count one half).

    Example:
        >>> auroc([True, False, True, False], [0.9, 0.1, 0.4, 0.4])
        0.875
    """
    pos = [s for y, s in zip(labels, scores, strict=True) if y]
    neg = [s for y, s in zip(labels, scores, strict=True) if not y]
    if not pos or not neg:
        raise ValueError("AUROC needs at least one positive and one negative example")
    ranked = sorted((s, i) for i, s in enumerate([*pos, *neg]))
    ranks = [0.0] * len(ranked)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = sum(ranks[: len(pos)])
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``truth`` or ``predicted``.

    Example:
        >>> round(macro_f1(["a", "a", "b"], ["a", "b", "b"]), 4)
        0.6667
    """
    classes = sorted(set(truth) | set(predicted))
    f1s = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != c and p == c for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == c and p != c for t, p in zip(truth, predicted, strict=True))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


async def evaluate_verifier(verifier: Verifier, items: Sequence[ValidationItem]) -> dict[str, float]:
    """Accuracy, macro-F1 (supported vs not, and 3-way) and hallucination-detection AUROC on ``items``.

    Example:
        >>> await evaluate_verifier(GroundingVerifier(), load_validation_set("test"))  # doctest: +SKIP
        {'n': 224, 'accuracy': 0.85, 'macro_f1': 0.84, 'auroc': 0.9, 'accuracy_3way': 0.75, ...}
    """
    verdicts = await verifier.verify([i.claim for i in items], [[Doc(i.evidence, id=i.group)] for i in items])
    truth = [i.label == "supported" for i in items]
    pred = [v.supported for v in verdicts]
    return {
        "n": float(len(items)),
        "accuracy": sum(t == p for t, p in zip(truth, pred, strict=True)) / len(items),
        "macro_f1": macro_f1([str(t) for t in truth], [str(p) for p in pred]),
        "auroc": auroc([not t for t in truth], [1.0 - v.p_supported for v in verdicts]),
        "accuracy_3way": sum(i.label == v.label for i, v in zip(items, verdicts, strict=True)) / len(items),
        "macro_f1_3way": macro_f1([i.label for i in items], [v.label for v in verdicts]),
    }
