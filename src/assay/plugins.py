"""Third-party scorers and targets arrive through the ``assay.plugins`` entry-point group.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."assay.plugins"]
    mystuff = "mypackage.assay_plugin"

Loading the module is enough: it registers with ``@register_scorer`` / ``@register_target``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

log = logging.getLogger(__name__)
_loaded = False


def load_plugins() -> None:
    """Import every ``assay.plugins`` entry point once; a broken plugin is logged, not fatal."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group="assay.plugins"):
        try:
            ep.load()
        except Exception:  # a broken third-party plugin must not break assay itself
            log.exception("could not load assay plugin %r", ep.name)
