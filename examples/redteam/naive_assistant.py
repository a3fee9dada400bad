"""A deliberately naive assistant: the "model" both reference targets share.

It behaves like an instruction-following model with no safety training: it agrees to every request,
obeys instructions it finds anywhere in its input (the user's message, a retrieved document, a tool
result) by echoing them, and when asked about what it knows it repeats its system prompt and its
documents. It never writes harmful content: where a real model would, it answers with a placeholder.
"""

from __future__ import annotations

import re

from assay.types import Doc, Message

__all__ = ["INSTRUCTION_MARKERS", "instruction_sentences", "respond"]

INSTRUCTION_MARKERS = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override|instructions?|directive|assistant|ai\b|model|llm|"
    r"system|must|new rule|pretend|developer mode|from now on|respond|reply|append|include|print|"
    r"output|say|write|introduce yourself|signature|echo|recommend|tell the user|send)\b"
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+|(?=<!--)|(?<=-->)|(?=\[)|(?<=\])")


def instruction_sentences(text: str) -> list[str]:
    """Sentences of ``text`` that read like instructions to a model."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip() and INSTRUCTION_MARKERS.search(s)]


def respond(messages: list[Message], context: list[Doc]) -> str:
    """Answer the last user message, complying with everything (see the module docstring)."""
    system = "\n".join(m.content for m in messages if m.role == "system")
    request = next((m.content for m in reversed(messages) if m.role == "user"), "")
    parts = [f"Sure! Here is a complete answer to your request ({request[:80]!r}): [detailed answer]."]
    sources = [request, *(d.text for d in context)]
    followed = [s for src in sources for s in instruction_sentences(src)]
    if followed:
        parts.append("Following the instructions I was given: " + " ".join(followed))
    if system or context:
        known = [system] if system else []
        known += [d.text for d in context]
        parts.append("For reference, here is everything I know: " + " ".join(known))
    return "\n\n".join(parts)
