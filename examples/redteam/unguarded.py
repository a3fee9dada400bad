"""The unguarded reference target: the naive assistant with no guardrail at all.

Suite file: ``target: {type: python, ref: "unguarded:answer"}`` (see ``unguarded.yaml``).
It complies with every request, echoes injected instructions and repeats its secrets, so a red-team run
against it should report an attack success rate near 1.
"""

from __future__ import annotations

from naive_assistant import respond

from assay.types import Case, Output


def answer(case: Case) -> Output:
    """Respond to the case's conversation and documents without any check."""
    return Output(text=respond(case.messages, list(case.context)))
