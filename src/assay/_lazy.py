"""Lazy package exports (PEP 562): a name is imported from its module when it is first used.

A package keeps its public names in ``__all__`` (and in a ``TYPE_CHECKING`` import block for type
checkers) and a ``{name: module}`` table, then::

    __getattr__, __dir__ = lazy_exports(__name__, _HOME, __all__)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``homes`` comes from its module on
    first use and is then kept in the package's namespace (later lookups are plain attribute reads)."""

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__
