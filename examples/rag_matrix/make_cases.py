"""Derive gold article ids for the support-bot cases: ``python examples/rag_matrix/make_cases.py``.

The support-bot cases (``examples/support_bot/cases.jsonl``) say what a right answer contains, not which
help-center article holds it. Retrieval metrics (hit@k, recall@k, MRR, nDCG) need the latter, so this
script derives it, mechanically and reproducibly:

* only answerable cases are kept (an unanswerable question has no gold article);
* each acceptable expected phrase is looked up in every article of ``examples/support_bot/kb/``
  (case-insensitive, Markdown ``**``/backticks removed, whitespace collapsed);
* a phrase found in exactly one article *pins* that article; the case is kept when at least one of its
  phrases pins an article and all pinning phrases pin the same one. That article becomes
  ``metadata.relevant_ids`` and the phrase ``metadata.gold_phrase``.

Cases whose every phrase is too common to pin one article ("30 days" is in 12 articles) are left out,
rather than guessed: 125 of the 212 answerable cases remain. The gold article is where the expected fact
is *stated*; another article may mention the topic too, so hit@1 below 100% is not always a retrieval
error, and no case has more than one gold id (recall@k equals hit@k here).

Example:
    >>> rows = derive_cases()                                       # doctest: +SKIP
    >>> rows[0]["metadata"]["relevant_ids"]                         # doctest: +SKIP
    ['billing-pricing-and-billing-periods']
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BOT_DIR = HERE.parent / "support_bot"
REFUSAL = "I couldn't find this in the Lumen Notes help center"

__all__ = ["derive_cases", "main", "normalise"]


def normalise(text: str) -> str:
    """Lower case, Markdown emphasis and code marks removed, curly apostrophes straightened, spaces collapsed.

    Example:
        >>> normalise("Turn on **Available  offline**’s `switch`")
        "turn on available offline's switch"
    """
    text = text.replace("**", "").replace("`", "").replace("’", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


def _phrases(expected: Any) -> list[str]:
    return [p for p in (expected if isinstance(expected, list) else [expected]) if isinstance(p, str)]


def derive_cases(
    cases_path: Path = BOT_DIR / "cases.jsonl", kb_dir: Path = BOT_DIR / "kb"
) -> list[dict[str, Any]]:
    """The answerable cases whose expected phrase pins one article, with ``relevant_ids`` added.

    Raises ``ValueError`` naming the file and line of a malformed case.
    """
    articles = {p.stem: normalise(p.read_text(encoding="utf-8")) for p in sorted(kb_dir.glob("*.md"))}
    if not articles:
        raise ValueError(f"no *.md articles in {kb_dir}")
    out: list[dict[str, Any]] = []
    for lineno, line in enumerate(cases_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
            answerable = case["metadata"]["answerable"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{cases_path}:{lineno}: not a case with metadata.answerable ({exc})") from exc
        if answerable is not True:
            continue
        pins: dict[str, str] = {}  # article -> the first phrase that pins it
        for phrase in _phrases(case.get("expected")):
            if normalise(phrase) == normalise(REFUSAL):
                continue
            found = [a for a, text in articles.items() if normalise(phrase) in text]
            if len(found) == 1:
                pins.setdefault(found[0], phrase)
        if len(pins) != 1:
            continue
        ((article, phrase),) = pins.items()
        metadata = {**case["metadata"], "relevant_ids": [article], "gold_phrase": phrase}
        out.append({**case, "metadata": metadata})
    return out


def main(argv: list[str] | None = None) -> int:
    """Write ``cases.jsonl`` next to this file (or to the path given) and say how many cases it holds."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else HERE / "cases.jsonl"
    rows = derive_cases()
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} cases with a gold article to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
