"""Claim extraction: cut a response into checkable claims, sentence by sentence (the default) or by a judge.

``extract_claims`` splits with ``assay.knowledge.text.split_units`` (robust to lists, abbreviations,
decimals and amounts), joins a list's lead-in (``"You can pay with:"``) to each of its items so every item
is a full claim, removes citation markers (``[doc-3]``, ``[1]``) but records the cited ids, and drops
what asserts nothing: questions, greetings, offers of further help, first-person abstentions ("I couldn't
find this in the help center."), headings, and fragments of fewer than three words.

``JudgeClaimExtractor`` asks any ``Target`` for atomic claims under a strict JSON schema (one repair
attempt on invalid output; see ``assay.inference.judge``).

Example:
    >>> [c.text for c in extract_claims("Sure! Refunds take 5 days [doc-2]. Pay with:\\n- cards\\n- PayPal")]
    ['Refunds take 5 days.', 'Pay with: cards', 'Pay with: PayPal']
    >>> extract_claims("Refunds take 5 days [doc-2].")[0].citations
    ('doc-2',)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.knowledge.text import split_units

if TYPE_CHECKING:
    from assay.inference.judge import JudgeClient
    from assay.target.base import Target

__all__ = [
    "CITATION_RE",
    "Claim",
    "JudgeClaimExtractor",
    "extract_claims",
    "is_abstention",
    "strip_citations",
]

#: citation markers: [doc-3], [3], [kb/refunds#0], [1, 2], [^2]; the ids are what is inside the brackets
CITATION_RE = re.compile(r"\s?\[\^?([A-Za-z0-9_.:/#\-]+(?:\s*[,;]\s*[A-Za-z0-9_.:/#\-]+)*)\]")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")  # a Markdown link keeps its text
_NON_CLAIM = re.compile(
    r"^(?:(?:sure|certainly|of course|great question|happy to help|thanks?|thank you|hi|hello|hey|ok|okay)"
    r"\b[^.!?]{0,40}[.!?]?$"
    r"|(?:i hope|hope) (?:this|that) helps"
    r"|(?:let me know|feel free|please let us know|please reach out|don't hesitate)"
    r"|(?:is there anything else|anything else i can)"
    r"|(?:here(?:'s| is| are) (?:what|how|the|a|some)\b[^.!?]{0,30}:$))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Claim:
    """One checkable statement of a response, with the ids it cites (``[doc-3]`` → ``"doc-3"``)."""

    text: str
    citations: tuple[str, ...] = ()
    index: int = 0


def strip_citations(text: str) -> tuple[str, tuple[str, ...]]:
    """Remove citation markers from ``text`` and return it with the cited ids, in order, deduplicated.

    Example:
        >>> strip_citations("Refunds take 14 days [doc-3][doc-1, doc-3].")
        ('Refunds take 14 days.', ('doc-3', 'doc-1'))
    """
    ids: list[str] = []
    for m in CITATION_RE.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            if part and part not in ids:
                ids.append(part)
    clean = CITATION_RE.sub("", text)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean).strip()
    return clean, tuple(ids)


# A first-person decline ("I couldn't find this in the help center.", "Sorry, I can't help with that.")
# asserts nothing about the world: an abstention has no claims to check. "We cannot refund a Pro plan" is
# a claim (its subject is not the assistant declining), and so is a decline followed by "but ..." facts.
_ABSTENTION = re.compile(
    r"^(?:(?:sorry|unfortunately|apologies)[,!.]?\s+)?"
    r"(?:i(?:'m| am)?\s+"
    r"(?:(?:do not|don't|cannot|can't|could not|couldn't|was unable to|wasn't able to|am unable to|"
    r"unable to|not able to|am not able to|did not|didn't)\s+"
    r"(?:find|answer|help|know|say|tell|provide|locate|see|access|share|give|assist|confirm)\b"
    r"|(?:don't|do not) have (?:any |enough )?(?:information|details|data)\b"
    r"|not sure\b|afraid\b)"
    # "we" declines only when it is about finding the answer: "We cannot refund ..." is a policy claim
    r"|we\s+(?:could not|couldn't|cannot|can't|were unable to|weren't able to)\s+(?:find|locate|answer)\b)",
    re.IGNORECASE,
)
_CONTRAST = re.compile(r"\b(?:but|however|although|though|except)\b", re.IGNORECASE)


def is_abstention(sentence: str) -> bool:
    """Whether a sentence only declines to answer (a first-person "I couldn't find ..."), asserting nothing.

    Example:
        >>> is_abstention("I couldn't find this in the Lumen Notes help center.")
        True
        >>> is_abstention("We cannot refund Pro plans after 30 days.")
        False
        >>> is_abstention("I can't find it, but Pro costs $8.")
        False
    """
    s = sentence.strip().strip("*_ ").replace("’", "'")
    return bool(_ABSTENTION.search(s)) and not _CONTRAST.search(s)


def _is_claim(text: str) -> bool:
    t = text.strip().strip("*_ ")
    if len(re.findall(r"\w+", t)) < 3:
        return False
    if t.endswith("?"):
        return False
    return not _NON_CLAIM.search(t) and not is_abstention(t)


def extract_claims(text: str) -> list[Claim]:
    """Split a response into checkable claims (sentence-level, deterministic).

    Example:
        >>> [c.text for c in extract_claims("Dr. Lee said v2.1 costs $3.50. Is that right? Hope this helps!")]
        ['Dr. Lee said v2.1 costs $3.50.']
    """
    text = _LINK.sub(r"\1", text)
    units = split_units(text)
    claims: list[Claim] = []
    lead: tuple[int, str] | None = None  # (block, text) of a sentence ending in ":" before a list
    for i, unit in enumerate(units):
        body, cites = strip_citations(unit.text)
        body = body.replace("**", "").replace("__", "").strip()
        if unit.kind == "heading":
            lead = None
            continue
        if unit.kind != "item" and body.endswith(":"):
            nxt = units[i + 1] if i + 1 < len(units) else None
            if nxt is not None and nxt.kind == "item":
                lead = (unit.block, body)
                continue
        if unit.kind == "item" and lead is not None:
            body = f"{lead[1]} {body}"
        elif unit.kind != "item":
            lead = None
        if _is_claim(body):
            claims.append(Claim(text=body, citations=cites, index=len(claims)))
    return claims


_CLAIMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"claims": {"type": "array", "items": {"type": "string", "minLength": 1}}},
    "required": ["claims"],
    "additionalProperties": False,
}
_CLAIMS_PROMPT = """Break the RESPONSE below into atomic factual claims: short, self-contained statements \
that can each be checked on its own. Resolve pronouns ("it", "they") to what they refer to. Leave out \
greetings, questions, opinions and offers of help. Do not add anything the response does not say.

RESPONSE:
{response}

Answer with JSON only, exactly in this form: {{"claims": ["...", "..."]}}"""


class JudgeClaimExtractor:
    """Atomic claims from an LLM judge (any ``Target``), validated against a strict JSON schema.

    Example:
        >>> extractor = JudgeClaimExtractor(create_target("openai", base_url=..., model=...))  # doctest: +SKIP
        >>> await extractor.extract("Pro costs $8 and has 20 GB.")    # doctest: +SKIP
        [Claim(text='Pro costs $8.', ...), Claim(text='Pro has 20 GB of storage.', ...)]
    """

    def __init__(self, target: Target | JudgeClient) -> None:
        from assay.inference.judge import JudgeClient

        self.client = target if isinstance(target, JudgeClient) else JudgeClient(target)

    async def extract(self, text: str) -> list[Claim]:
        """Ask the judge for the claims of ``text``; raises ``JudgeError`` when it cannot answer validly."""
        body, cites = strip_citations(text)
        data = await self.client.ask(_CLAIMS_PROMPT.format(response=body), _CLAIMS_SCHEMA)
        out: list[Claim] = []
        for raw in data["claims"]:
            claim = raw.strip()
            if claim:
                out.append(Claim(text=claim, citations=cites, index=len(out)))
        return out
