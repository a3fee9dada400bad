"""Factuality benchmark: verification throughput and each backend's accuracy on the validation set.

1. Throughput: a knowledge source of N passages (default 1,000, generated from templates with a fixed
   seed) is indexed cold (every passage and sentence embedded) and then reloaded from the on-disk cache;
   N claims (half true, half with a changed number or a negation) are retrieved (hybrid BM25 +
   embeddings, k=5) and verified with the grounding backend. The target is < 10 s for 1,000 claims
   against 1,000 passages with the index cached.
2. Accuracy on the bundled validation set (459 hand-written triples): accuracy and macro-F1 of the
   supported-vs-not decision, hallucination-detection AUROC, and 3-way accuracy/macro-F1, for
   - ``embedding-only``: the similarity part of grounding alone (the baseline, same run),
   - ``grounding``: similarity + key-fact checks (the default backend; a heuristic),
   - ``nli`` with ``--nli-model DIR`` and ``judge`` with ``--judge-url URL --judge-model M``.
   The grounding weights were set on the ``dev`` split; ``test`` is held out.

Run: ``.venv/bin/python bench/factuality_bench.py [--n 1000] [--nli-model DIR] [--judge-url URL]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assay.inference.embeddings import OnnxEmbedder, minilm_files
from assay.knowledge.index import load_index
from assay.scorer.verify import (
    GroundingConfig,
    GroundingVerifier,
    Verifier,
    evaluate_verifier,
    load_validation_set,
)

PRODUCTS = ["Lumen", "Orbit", "Quill", "Harbor", "Atlas", "Nimbus", "Cobalt", "Fable", "Ember", "Juniper"]
FEATURES = [
    "offline sync",
    "shared notebooks",
    "version history",
    "web clipping",
    "PDF search",
    "team spaces",
    "calendar sync",
    "email import",
    "tags",
    "templates",
    "reminders",
    "app lock",
]
TEMPLATES = [
    (
        "The {p} {f} add-on costs ${price} per month and includes {gb} GB of extra storage. "
        "It can be cancelled at any time from the billing page.",
        "{p} {f} costs ${price} a month.",
        "{p} {f} costs ${wrong} a month.",
    ),
    (
        "With {p} {f}, changes are kept for {days} days. After that period they are deleted permanently and "
        "cannot be restored by support.",
        "{p} {f} keeps changes for {days} days.",
        "{p} {f} keeps changes for {wrongdays} days.",
    ),
    (
        "{p} {f} works on up to {dev} devices per account. Signing in on another device asks you to "
        "remove one of the existing devices first.",
        "You can use {p} {f} on {dev} devices.",
        "You can use {p} {f} on {wrongdev} devices.",
    ),
    (
        "Admins can turn on {p} {f} for the whole workspace. Members cannot turn it off for themselves once "
        "an admin has enabled it.",
        "Workspace admins are able to enable {p} {f} for everyone.",
        "Members can turn off {p} {f} for themselves.",
    ),
]


def make_source(root: Path, n: int, seed: int = 0) -> list[tuple[str, bool]]:
    """Write ``n`` passages as JSONL under ``root`` and return ``n`` (claim, is_true) pairs."""
    import json

    rng = random.Random(seed)
    claims: list[tuple[str, bool]] = []
    with open(root / "kb.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            body, good, bad = TEMPLATES[i % len(TEMPLATES)]
            v = {
                "p": f"{rng.choice(PRODUCTS)}{i}",
                "f": rng.choice(FEATURES),
                "price": rng.randint(2, 40),
                "gb": rng.choice([5, 10, 20, 50, 100]),
                "days": rng.choice([7, 14, 30, 60, 90]),
                "dev": rng.randint(2, 9),
            }
            v |= {
                "wrong": v["price"] + rng.randint(1, 9),
                "wrongdays": v["days"] * 2,
                "wrongdev": v["dev"] + 3,
            }
            fh.write(json.dumps({"id": f"doc-{i}", "text": body.format(**v)}) + "\n")
            true = i % 2 == 0
            claims.append(((good if true else bad).format(**v), true))
    return claims


def throughput(n: int) -> dict[str, float]:
    model, tok = minilm_files()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        claims = make_source(root, n)
        cache = root / "cache"
        t0 = time.perf_counter()
        load_index(root / "kb.jsonl", embedder=OnnxEmbedder(model, tok), cache_dir=cache)
        cold = time.perf_counter() - t0

        emb = OnnxEmbedder(model, tok)  # a fresh process: nothing in memory
        t0 = time.perf_counter()
        index = load_index(root / "kb.jsonl", embedder=emb, cache_dir=cache)
        warm = time.perf_counter() - t0

        texts = [c for c, _ in claims]
        # baseline, same run: only embedding the claims with the bare model (no retrieval, no checks)
        bare = OnnxEmbedder(model, tok)
        bare.embed(["warm up"])
        t0, c0 = time.perf_counter(), time.process_time()
        bare.embed(texts)
        base_wall, base_cpu = time.perf_counter() - t0, time.process_time() - c0

        verifier = GroundingVerifier(embedder=emb)
        t0, c0 = time.perf_counter(), time.process_time()
        hits = index.search_many(texts, k=5)
        evidence = [[h.passage.to_doc(h.score) for h in row] for row in hits]
        t_retrieve = time.perf_counter() - t0
        verdicts = verifier.verify_sync(texts, evidence)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = sum(v.supported == truth for v, (_, truth) in zip(verdicts, claims, strict=True)) / n
    return {
        "passages": n,
        "claims": n,
        "index_cold_s": cold,
        "index_cached_s": warm,
        "retrieve_s": t_retrieve,
        "verify_total_s": total,
        "verify_cpu_s": cpu,
        "claims_per_s": n / total,
        "synthetic_accuracy": acc,
        "embed_only_s": base_wall,
        "embed_only_cpu_s": base_cpu,
    }


def accuracy_table(verifiers: dict[str, Verifier]) -> list[dict[str, Any]]:
    rows = []
    for name, verifier in verifiers.items():
        for split in ("dev", "test", None):
            items = load_validation_set(split)
            t0 = time.perf_counter()
            try:
                m = asyncio.run(evaluate_verifier(verifier, items))
            except Exception as exc:  # a judge that is down should not hide the other rows
                rows.append(
                    {"backend": name, "split": split or "all", "error": f"{type(exc).__name__}: {exc}"}
                )
                continue
            rows.append({"backend": name, "split": split or "all", **m, "seconds": time.perf_counter() - t0})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="passages and claims for the throughput test")
    ap.add_argument("--nli-model", help="a local NLI model directory (ONNX or transformers)")
    ap.add_argument("--judge-url", help="an OpenAI-compatible base URL for the judge backend")
    ap.add_argument("--judge-model", default="judge")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args(argv)

    if not args.skip_throughput:
        t = throughput(args.n)
        print(f"\nThroughput — grounding backend, {t['claims']} claims vs {t['passages']} passages")
        print(f"  index build (cold, embeds passages + sentences) {t['index_cold_s']:8.2f} s")
        print(f"  index load (on-disk cache)                      {t['index_cached_s']:8.2f} s")
        print(f"  retrieval (hybrid, k=5)                         {t['retrieve_s']:8.2f} s")
        print(
            f"  baseline: embedding the claims only (bare model) {t['embed_only_s']:8.2f} s   "
            f"(CPU {t['embed_only_cpu_s']:.2f} s; {t['claims'] / t['embed_only_s']:.0f} sentences/s)"
        )
        print(
            f"  retrieval + verification                        {t['verify_total_s']:8.2f} s   "
            f"(CPU {t['verify_cpu_s']:.2f} s; {t['claims_per_s']:.0f} claims/s; target < 10 s)"
        )
        print(f"  accuracy on the synthetic true/false claims     {t['synthetic_accuracy']:8.3f}")

    verifiers: dict[str, Verifier] = {
        "embedding-only": GroundingVerifier(config=GroundingConfig(conflict_w=0, missing_w=0, novel_w=0)),
        "grounding": GroundingVerifier(),
    }
    if args.nli_model:
        from assay.inference.nli import load_nli
        from assay.scorer.verify import NLIVerifier

        verifiers["nli"] = NLIVerifier(load_nli(args.nli_model))
    if args.judge_url:
        from assay.inference.judge import JudgeClient
        from assay.scorer.verify import JudgeVerifier
        from assay.target.base import create_target

        target = create_target(
            "openai", base_url=args.judge_url, model=args.judge_model, params={"temperature": 0}
        )
        verifiers["judge"] = JudgeVerifier(JudgeClient(target))
    rows = accuracy_table(verifiers)
    print("\nValidation set (hand-written triples; grounding weights set on 'dev', 'test' held out)")
    print(
        f"  {'backend':15} {'split':5} {'n':>4} {'acc':>6} {'macroF1':>8} {'AUROC':>6} {'acc3':>6} {'F1-3':>6} {'s':>6}"
    )
    for r in rows:
        if "error" in r:
            print(f"  {r['backend']:15} {r['split']:5} error: {r['error']}")
            continue
        print(
            f"  {r['backend']:15} {r['split']:5} {int(r['n']):4d} {r['accuracy']:6.3f} {r['macro_f1']:8.3f} "
            f"{r['auroc']:6.3f} {r['accuracy_3way']:6.3f} {r['macro_f1_3way']:6.3f} {r['seconds']:6.1f}"
        )
    if not args.nli_model:
        print("  nli: not run (no NLI model ships on PyPI; pass --nli-model DIR)")
    if not args.judge_url:
        print("  judge: not run (pass --judge-url URL --judge-model M)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
