"""Targets: what a case is run against. ``create_target(type, **options)`` builds one from a suite file.

Built-ins: ``openai`` (OpenAI-compatible HTTP), ``python`` (a function of yours), ``replay`` (recorded
outputs). The classes load on first use, so importing this package stays cheap.

Example:
    >>> target = create_target("replay", path="outputs.jsonl", base_dir=Path("suites"))  # doctest: +SKIP
    >>> output = await target(case)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_exports as _lazy_exports
from assay.target.base import Target, create_target, known_targets, register_target

if TYPE_CHECKING:
    from assay.target.openai import OpenAITarget
    from assay.target.python import PythonTarget
    from assay.target.replay import ReplayTarget

__all__ = [
    "OpenAITarget",
    "PythonTarget",
    "ReplayTarget",
    "Target",
    "create_target",
    "known_targets",
    "register_target",
]

_LAZY = {
    "OpenAITarget": "assay.target.openai",
    "PythonTarget": "assay.target.python",
    "ReplayTarget": "assay.target.replay",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__)
