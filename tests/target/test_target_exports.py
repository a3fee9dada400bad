"""The assay.target package: curated exports, registry, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import assay.target
from assay.target import create_target, known_targets
from assay.types import ConfigError


def test_exported_members() -> None:
    assert sorted(assay.target.__all__) == [
        "OpenAITarget",
        "PythonTarget",
        "ReplayTarget",
        "Target",
        "create_target",
        "known_targets",
        "register_target",
    ]
    for name in assay.target.__all__:
        assert getattr(assay.target, name) is not None


def test_builtins_are_registered_and_satisfy_the_protocol(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert {"openai", "python", "replay"} <= set(known_targets())
    (tmp_path / "r.jsonl").write_text('{"case_id": "a", "output": "x"}\n')
    for target in (
        create_target("openai", base_url="http://127.0.0.1:1/v1", model="m"),
        create_target("python", ref="json:dumps"),
        create_target("replay", path="r.jsonl", base_dir=tmp_path),
    ):
        assert isinstance(target, assay.target.Target)
        assert target.timeout_s > 0 and target.max_attempts >= 1  # type: ignore[attr-defined]
        assert callable(target.aclose)  # type: ignore[attr-defined]


def test_unknown_type_suggests_closest() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'openai'"):
        create_target("opnai")


def test_http_client_is_imported_lazily() -> None:
    code = (
        "import sys; from assay.target import create_target; "
        "create_target('openai', base_url='http://127.0.0.1:1/v1', model='m'); "
        "print('aiohttp' in sys.modules, 'httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
