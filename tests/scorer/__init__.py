"""Scorer tests (a package so that module names such as ``test_registry`` cannot clash across folders)."""
