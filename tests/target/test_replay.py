"""The replay target: recorded outputs by case id, validated up front with file:line:field errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.target import ReplayTarget, create_target
from assay.types import Case, ConfigError, DatasetError, Output


def write(path: Path, *lines: Any) -> Path:
    path.write_text(
        "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines), encoding="utf-8"
    )
    return path


def call(t: ReplayTarget, case_id: str) -> Output:
    return asyncio.run(t(Case(id=case_id, input="x")))


def test_replays_recorded_outputs_with_optional_fields(tmp_path: Path) -> None:
    file = write(
        tmp_path / "out.jsonl",
        {"case_id": "a", "output": "first"},
        "",
        {
            "case_id": "b",
            "output": "second",
            "contexts": ["doc one", {"text": "doc two", "id": "d2", "score": 0.4}],
            "latency_s": 0.25,
            "ttft_s": 0.05,
            "usage": {"input_tokens": 10, "output_tokens": 3},
            "cost_usd": 0.001,
            "confidence": 0.9,
            "input": "ignored",
            "metadata": {"model": "x"},
        },
        {"case_id": 7, "output": None, "error": {"kind": "timeout", "message": "gave up"}},
    )
    t = create_target("replay", path="out.jsonl", base_dir=tmp_path)
    assert isinstance(t, ReplayTarget) and len(t) == 3
    assert call(t, "a") == Output(text="first")
    b = call(t, "b")
    assert b.text == "second" and [d.text for d in b.contexts] == ["doc one", "doc two"]
    assert b.contexts[1].id == "d2" and b.contexts[1].score == 0.4
    assert (b.latency_s, b.ttft_s, b.cost_usd, b.confidence) == (0.25, 0.05, 0.001, 0.9)
    assert b.usage.input_tokens == 10 and b.usage.output_tokens == 3
    err = call(t, "7").error
    assert err is not None and (err.kind, err.message) == ("timeout", "gave up")
    assert t.spec() == {
        "type": "replay",
        "path": "out.jsonl",
        "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
    }
    asyncio.run(t.aclose())


def test_missing_case_is_a_target_exception_naming_case_and_file(tmp_path: Path) -> None:
    write(tmp_path / "out.jsonl", {"case_id": "a", "output": "x"})
    t = ReplayTarget(path=str(tmp_path / "out.jsonl"))
    err = call(t, "zzz").error
    assert err is not None and err.kind == "target_exception" and not err.retryable
    assert err.message == f"no recorded output for case 'zzz' in {tmp_path / 'out.jsonl'}"


BAD_LINES = [
    ('{"case_id": "b", "output": "x"', "invalid JSON", None),
    ('["b", "x"]', "must be a JSON object", None),
    ({"output": "x"}, "missing", "case_id"),
    ({"case_id": "b"}, "missing", "output"),
    ({"case_id": "b", "output": 3}, "must be a string", "output"),
    ({"case_id": "b", "output": None}, "no 'error'", "output"),
    ({"case_id": ["b"], "output": "x"}, "non-empty string", "case_id"),
    ({"case_id": True, "output": "x"}, "non-empty string", "case_id"),
    ({"case_id": "b", "output": "x", "latency_s": "fast"}, "finite number", "latency_s"),
    ({"case_id": "b", "output": "x", "latency_s": -1}, ">= 0", "latency_s"),
    ({"case_id": "b", "output": "x", "confidence": 1.5}, "within [0, 1]", "confidence"),
    (
        {"case_id": "b", "output": "x", "usage": {"input_tokens": -2}},
        "non-negative integer",
        "usage.input_tokens",
    ),
    ({"case_id": "b", "output": "x", "usage": {"inputs": 2}}, "unknown field", "usage.inputs"),
    ({"case_id": "b", "output": "x", "contexts": "one doc"}, "list of documents", "contexts"),
    ({"case_id": "b", "output": "x", "contexts": [{"id": 1}]}, "'text' string", "contexts[0]"),
    ({"case_id": "b", "output": "x", "error": {"kind": "oops"}}, "must be one of", "error.kind"),
    ({"case_id": "b", "output": "x", "latency": 1.0}, "did you mean 'latency_s'?", "latency"),
    ({"case_id": "a", "output": "again"}, "duplicate case_id 'a' (first recorded on line 1)", "case_id"),
]


@pytest.mark.parametrize(("line", "needle", "field"), BAD_LINES)
def test_malformed_line_names_file_line_and_field(
    tmp_path: Path, line: Any, needle: str, field: str | None
) -> None:
    file = write(tmp_path / "out.jsonl", {"case_id": "a", "output": "ok"}, "", line)
    with pytest.raises(DatasetError) as info:
        ReplayTarget(path="out.jsonl", base_dir=tmp_path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(file), 3, field)
    assert needle in err.message
    assert str(err).startswith(f"{file}:3")


def test_non_utf8_and_empty_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"case_id": "a", "output": "ok"}\n{"case_id": "b", "output": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match="UTF-8") as info:
        ReplayTarget(path=str(bad))
    assert info.value.line == 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="empty"):
        ReplayTarget(path=str(empty))


def test_bom_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "bom.jsonl"
    file.write_bytes(b'\xef\xbb\xbf{"case_id": "a", "output": "ok"}\n')
    assert call(ReplayTarget(path=str(file)), "a").text == "ok"


def test_missing_file_and_unknown_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        ReplayTarget(path="nope.jsonl", base_dir=tmp_path)
    assert info.value.field == "target.path"
    with pytest.raises(ConfigError, match="Did you mean 'path'"):
        ReplayTarget(pth="x.jsonl")


def test_file_changed_after_loading_is_reported(tmp_path: Path) -> None:
    file = write(tmp_path / "out.jsonl", {"case_id": "a", "output": "old"})
    t = ReplayTarget(path=str(file))
    write(file, {"case_id": "a", "output": "new and longer"})
    err = call(t, "a").error
    assert err is not None and "changed after it was loaded" in err.message


def test_pickle_round_trip(tmp_path: Path) -> None:
    file = write(tmp_path / "out.jsonl", {"case_id": "a", "output": "x"})
    clone = pickle.loads(pickle.dumps(ReplayTarget(path=str(file))))
    assert call(clone, "a").text == "x"


def test_100k_lines_index_stays_small(tmp_path: Path) -> None:
    file = tmp_path / "big.jsonl"
    answer = "a recorded answer of moderate length " * 8
    with open(file, "w", encoding="utf-8") as fh:
        fh.writelines(
            f'{{"case_id": "case-{i}", "output": "{answer}{i}", "latency_s": 0.1}}\n' for i in range(100_000)
        )
    t = ReplayTarget(path=str(file))
    held = sys.getsizeof(t._index) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in t._index.items())
    assert file.stat().st_size > 30_000_000 and len(t) == 100_000
    assert held < 15_000_000  # the index only, not the 30 MB of outputs
    assert call(t, "case-99999").text == f"{answer}99999"
    assert call(t, "case-0").latency_s == 0.1
