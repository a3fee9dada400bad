"""load_dataset: every format's happy path, field mapping, hashing, and every bad-input error.

Errors are checked by their exact ``file:line field 'x': message`` rendering, because that string is
what a user sees and acts on.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay.dataset
from assay.dataset import SUPPORTED_EXTENSIONS, Dataset, load_dataset
from assay.dataset._readers import read_parquet
from assay.types import Case, ConfigError, DatasetError, Doc, Message, case_id_for

DATA = Path(__file__).parent.parent / "data" / "datasets"

EXPECTED_CASES = (
    Case(
        id="refund-1",
        input="How do I get a refund?",
        expected="Open Billing > Refunds.",
        metadata={"category": "billing"},
    ),
    Case(
        id="chat-1",
        input=(Message("system", "Be brief."), Message("user", "Reset my password")),
        expected=["Use 'Forgot password'.", "Click Forgot password."],
        metadata={"category": "account"},
    ),
    Case(
        id=case_id_for("Do you ship to Mars?"),
        input="Do you ship to Mars?",
        context=(Doc(text="We ship to Earth only."), Doc(text="Shipping: 3-5 days.", id="kb-7")),
        metadata={"category": "shipping"},
    ),
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def jsonl(tmp_path: Path, rows: list[Any], name: str = "d.jsonl") -> Path:
    return write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in rows))


def error_of(source: Any, **kwargs: Any) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_dataset(source, **kwargs)
    return info.value


# ============================================================================================ happy paths
def test_public_api_is_curated() -> None:
    assert assay.dataset.__all__ == ["SUPPORTED_EXTENSIONS", "Dataset", "load_dataset"]
    for name in assay.dataset.__all__:
        assert hasattr(assay.dataset, name)


@pytest.mark.parametrize("ext", ["jsonl", "csv", "yaml", "json"])
def test_fixture_files_load_the_same_cases(ext: str) -> None:
    ds = load_dataset(DATA / f"cases.{ext}")
    assert ds.cases == EXPECTED_CASES
    assert ds.name == "cases"
    assert ds.source == str(DATA / f"cases.{ext}")
    assert len(ds) == 3
    assert list(ds) == list(EXPECTED_CASES)


def test_same_cases_hash_the_same_in_every_format() -> None:
    digests = {ext: load_dataset(DATA / f"cases.{ext}").sha256 for ext in ("jsonl", "csv", "yaml", "json")}
    digests["inline"] = load_dataset([c.to_dict() for c in EXPECTED_CASES]).sha256
    digests["cases"] = Dataset.from_cases(EXPECTED_CASES).sha256
    assert len(set(digests.values())) == 1, digests
    assert len(digests["jsonl"]) == 64
    int(digests["jsonl"], 16)


def test_hash_changes_with_content_ids_and_order() -> None:
    base = [{"id": "a", "input": "x", "expected": "1"}, {"id": "b", "input": "y"}]
    h = load_dataset(base).sha256
    assert load_dataset([dict(base[0], expected="2"), base[1]]).sha256 != h
    assert load_dataset([dict(base[0], id="c"), base[1]]).sha256 != h
    assert load_dataset([base[1], base[0]]).sha256 != h
    assert load_dataset([dict(r) for r in base]).sha256 == h


def test_parquet_native_types_hash_like_jsonl(tmp_path: Path) -> None:
    rows = [
        {
            "id": "p1",
            "input": "What is 2+2?",
            "expected": "4",
            "context": ["arithmetic"],
            "metadata": {"category": "math"},
        },
        {
            "id": "p2",
            "input": "Capital of France?",
            "expected": "Paris",
            "context": [],
            "metadata": {"category": "geo"},
        },
    ]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    from_parquet = load_dataset(path)
    from_jsonl = load_dataset(jsonl(tmp_path, rows))
    assert from_parquet.cases == from_jsonl.cases
    assert from_parquet.sha256 == from_jsonl.sha256
    assert from_parquet.cases[0].context == (Doc(text="arithmetic"),)


def test_parquet_messages_extra_columns_maps_nulls_and_dates(tmp_path: Path) -> None:
    table = pa.table(
        {
            "input": pa.array(
                [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "bye"}]],
                type=pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
            ),
            "expected": ["hello", None],
            "lang": ["en", None],
            "labels": pa.array([[("k", "v")], []], type=pa.map_(pa.string(), pa.string())),
            "day": pa.array([dt.date(2024, 5, 1), dt.date(2024, 5, 2)]),
        }
    )
    path = tmp_path / "msgs.parquet"
    pq.write_table(table, path)
    ds = load_dataset(path)
    first, second = ds.cases
    assert first.input == (Message("user", "hi"),)
    assert first.expected == "hello"
    assert first.metadata == {"lang": "en", "labels": {"k": "v"}, "day": "2024-05-01"}
    assert second.expected is None
    assert second.metadata == {"labels": {}, "day": "2024-05-02"}  # a null cell leaves the key out


def test_parquet_is_read_in_batches_with_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist([{"input": f"q{i}"} for i in range(10)]), path, row_group_size=4)
    rows = list(read_parquet(path, str(path), batch_size=3))
    assert [pos for _, pos, _ in rows] == list(range(1, 11))
    assert [r["input"] for r, _, _ in rows] == [f"q{i}" for i in range(10)]


def test_inline_list_of_dicts_and_cases() -> None:
    ds = load_dataset([{"input": "a", "expected": 1}, Case(id="c2", input="b")], name="mine")
    assert ds.name == "mine"
    assert ds.source == "inline"
    assert [c.id for c in ds] == [case_id_for("a"), "c2"]
    assert ds.cases[0].expected == 1
    assert load_dataset([{"input": "x"}]).name == "inline"


def test_inline_iterable_and_bad_inline_source() -> None:
    ds = load_dataset({"input": f"q{i}"} for i in range(3))
    assert [c.input for c in ds] == ["q0", "q1", "q2"]
    err = error_of({"input": "x"})  # type: ignore[arg-type]
    assert str(err) == "<inline dataset>: a dataset is a file path or a list of cases, got dict"


def test_id_defaults_to_hash_of_input_and_ints_become_strings(tmp_path: Path) -> None:
    ds = load_dataset(jsonl(tmp_path, [{"input": "hello"}, {"id": 7, "input": "x"}]))
    assert ds.cases[0].id == case_id_for("hello")
    assert ds.cases[1].id == "7"


def test_field_mapping_jsonl_and_csv(tmp_path: Path) -> None:
    opts = {"input_field": "question", "expected_field": "answer", "id_field": "qid"}
    p = jsonl(tmp_path, [{"qid": "q1", "question": "2+2?", "answer": "4", "metadata": {"src": "x"}}])
    ds = load_dataset(p, **opts)
    assert ds.cases == (Case(id="q1", input="2+2?", expected="4", metadata={"src": "x"}),)
    c = write(tmp_path, "qa.csv", "qid,question,answer\nq1,2+2?,4\n")
    assert load_dataset(c, **opts).cases == (Case(id="q1", input="2+2?", expected="4"),)
    # with a mapping, the default key names are unknown keys
    err = error_of(jsonl(tmp_path, [{"question": "x", "input": "y"}], "m.jsonl"), input_field="question")
    assert err.field == "input"


def test_field_mapping_conflict_is_rejected() -> None:
    err = error_of([{"input": "x"}], input_field="context")
    assert "must differ" in str(err)


def test_jsonl_blank_lines_skipped_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    p = write(tmp_path, "d.jsonl", '{"input": "a"}\n\n   \n{"input": "b"}\n{"input": 5}\n')
    err = error_of(p)
    assert err.line == 5
    assert len(load_dataset(write(tmp_path, "ok.jsonl", '\n{"input": "a"}\n\n{"input": "b"}\n\n'))) == 2


def test_jsonl_utf8_bom_and_crlf(tmp_path: Path) -> None:
    p = write(tmp_path, "bom.jsonl", b'\xef\xbb\xbf{"input": "caf\xc3\xa9"}\r\n{"input": "b"}\r\n')
    assert [c.input for c in load_dataset(p)] == ["café", "b"]


def test_ten_megabyte_input_loads(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    p = jsonl(tmp_path, [{"id": "big", "input": big}, {"id": "small", "input": "s"}])
    ds = load_dataset(p)
    assert len(ds.cases[0].input) == len(big)
    c = write(tmp_path, "big.csv", f"id,input\nbig,{big}\nsmall,s\n")
    ds_csv = load_dataset(c)
    assert ds_csv.cases[0].input == big
    assert ds_csv.sha256 == ds.sha256
    y = write(tmp_path, "big.yaml", f"- id: big\n  input: {big}\n- id: small\n  input: s\n")
    assert load_dataset(y).sha256 == ds.sha256


def test_csv_rules(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "rules.csv",
        "id , input,expected,expected_list:json,lang,tags:json,notes\n"
        'a,"Hello, world","[""x"", ""y""]","[""x"", ""y""]",en,"[1, 2]",\n'
        'b,"multi\nline\ninput",,,,,"spans\nlines"\n'
        "\n"
        "c,third,,,,,\n",
    )
    a, b, c = load_dataset(p).cases
    assert a.id == "a"  # header names are stripped
    assert a.input == "Hello, world"
    assert a.expected == '["x", "y"]'  # a plain column stays a string ...
    assert a.metadata == {"expected_list": ["x", "y"], "lang": "en", "tags": [1, 2]}  # ... ':json' is parsed
    assert b.input == "multi\nline\ninput"
    assert b.expected is None  # empty cell = no value
    assert b.metadata == {"notes": "spans\nlines"}
    assert c.metadata == {}
    # a record after multi-line cells reports its own physical line
    bad = write(tmp_path, "bad.csv", 'input,expected\n"a\nb",1\n"",2\n')
    err = error_of(bad)
    assert str(err) == f"{bad}:4 field 'input': missing 'input'"


def test_csv_context_and_metadata_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", 'input,context,metadata:json,lang\nq,"one doc","{""k"": 1}",de\n')
    (case,) = load_dataset(p).cases
    assert case.context == (Doc(text="one doc"),)
    assert case.metadata == {"k": 1, "lang": "de"}


def test_tsv(tmp_path: Path) -> None:
    p = write(tmp_path, "d.tsv", "id\tinput\texpected\n1\ta, b\tc\n")
    assert load_dataset(p).cases == (Case(id="1", input="a, b", expected="c"),)


def test_yaml_values_are_normalised_to_json(tmp_path: Path) -> None:
    p = write(tmp_path, "d.yaml", "- input: when?\n  expected: 2024-05-01\n  metadata: {n: 1, ok: true}\n")
    (case,) = load_dataset(p).cases
    assert case.expected == "2024-05-01"
    assert case.metadata == {"n": 1, "ok": True}


def test_json_list_file(tmp_path: Path) -> None:
    p = write(tmp_path, "d.json", '[{"input": "a"},\n {"input": "b"}]')
    assert [c.input for c in load_dataset(p)] == ["a", "b"]


def test_relative_path_resolves_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    jsonl(tmp_path / "sub", [{"input": "a"}], "x.jsonl")
    ds = load_dataset("sub/x.jsonl", base_dir=tmp_path)
    assert ds.source == str(tmp_path / "sub" / "x.jsonl")


def test_non_json_inline_values_are_rejected_not_hashed_silently() -> None:
    err = error_of([{"input": "x", "expected": float("nan")}])
    assert (
        str(err)
        == "<inline dataset> field 'dataset[0].expected': nan is not allowed in a dataset (use null for 'no value')"
    )
    err = error_of([{"input": "x", "metadata": {"blob": b"\x00"}}])
    assert err.field == "dataset[0].metadata.blob"


# ============================================================================================ errors
def test_malformed_jsonl_line_names_file_line_and_column(tmp_path: Path) -> None:
    p = write(tmp_path, "d.jsonl", '{"input": "a"}\n\n{"input": "b" "expected": 1}\n')
    err = error_of(p)
    assert str(err) == f"{p}:3: invalid JSON: Expecting ',' delimiter (column 15)"
    assert (err.file, err.line, err.field) == (str(p), 3, None)
    assert isinstance(err, ConfigError)


def test_jsonl_nan_is_invalid_json(tmp_path: Path) -> None:
    p = write(tmp_path, "d.jsonl", '{"input": "a", "expected": NaN}\n')
    assert str(error_of(p)) == f"{p}:1: invalid JSON: NaN is not valid JSON (use null for 'no value')"


def test_row_that_is_not_an_object(tmp_path: Path) -> None:
    p = write(tmp_path, "d.jsonl", '{"input": "a"}\n["input", "b"]\n')
    assert str(error_of(p)) == f"{p}:2: a case must be an object with an 'input' key, got a list"


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"expected": "x"}, "input", "missing 'input'"),
        ({"input": "   "}, "input", "'input' is empty"),
        ({"input": []}, "input", "'input' is an empty list of messages"),
        (
            {"input": 42},
            "input",
            "'input' must be a string or a list of {role, content} messages, got a number",
        ),
        (
            {"input": {"role": "user"}},
            "input",
            "'input' must be a string or a list of {role, content} messages, got an object",
        ),
        (
            {"input": [{"role": "user", "content": "a"}, {"content": "b"}]},
            "input[1].role",
            "message has no 'role'",
        ),
        ({"input": [{"role": "user"}]}, "input[0].content", "message has no 'content'"),
        (
            {"input": [{"role": "user", "content": 3}]},
            "input[0].content",
            "message 'content' must be a string, got a number",
        ),
        (
            {"input": ["hi"]},
            "input[0]",
            "a message must be an object with 'role' and 'content', got a string",
        ),
        (
            {"input": [{"rol": "user", "content": "a"}]},
            "input[0].rol",
            "unknown key 'rol' in a message. Did you mean 'role'? Valid keys: role, content, name.",
        ),
        ({"input": "a", "metadata": ["x"]}, "metadata", "'metadata' must be an object, got a list"),
        ({"input": "a", "id": True}, "id", "'id' must be a string or an integer, got a boolean"),
        ({"input": "a", "id": ""}, "id", "'id' is empty (omit it to derive an id from the input)"),
        (
            {"input": "a", "context": 5},
            "context",
            "'context' must be a list of strings or {id, text} objects, got a number",
        ),
        (
            {"input": "a", "context": [{"id": "d"}]},
            "context[0].text",
            "a context document needs a 'text' string, got null",
        ),
        (
            {"input": "a", "expcted": "b"},
            "expcted",
            "unknown key 'expcted' in a case. Did you mean 'expected'? Valid keys: id, input, expected, context, "
            "metadata. Put other fields under 'metadata'.",
        ),
        (
            {"question": "a", "answer": "b"},
            "input",
            "no 'input' key (the case has keys: question, answer). If the input is under another key, name that "
            "key with input_field; other fields belong under 'metadata'.",
        ),
    ],
)
def test_invalid_rows_name_file_line_and_field(
    tmp_path: Path, row: dict[str, Any], field: str, message: str
) -> None:
    p = jsonl(tmp_path, [{"input": "fine"}, row])
    err = error_of(p)
    assert str(err) == f"{p}:2 field '{field}': {message}"
    assert (err.line, err.field) == (2, field)


def test_same_row_errors_in_yaml_point_at_the_key_line(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "d.yaml",
        "- input: fine\n"
        "- input:\n"
        "    - role: user\n"
        "      content: a\n"
        "    - role: assistant\n"
        "      contnt: b\n",
    )
    err = error_of(p)
    assert str(err).startswith(
        f"{p}:6 field 'input[1].contnt': unknown key 'contnt' in a message. Did you mean 'content'?"
    )


def test_yaml_missing_input_points_at_the_item(tmp_path: Path) -> None:
    p = write(tmp_path, "d.yaml", "- input: a\n\n- id: b\n  expected: c\n")
    assert str(error_of(p)) == f"{p}:3 field 'input': missing 'input'"


def test_json_list_errors_point_at_the_element_line(tmp_path: Path) -> None:
    p = write(tmp_path, "d.json", '[\n  {"input": "a"},\n\n  {"input": "b",\n   "metadata": 3}\n]\n')
    assert str(error_of(p)) == f"{p}:4 field 'metadata': 'metadata' must be an object, got a number"
    p2 = write(tmp_path, "e.json", '[\n  {"input": "a"},\n  {"input": "b"\n]\n')
    assert str(error_of(p2)) == f"{p2}:4: invalid JSON: Expecting ',' delimiter (column 1)"
    p3 = write(tmp_path, "o.json", '{"input": "a"}')
    assert "must contain a list of cases, found an object" in str(error_of(p3))


@pytest.mark.parametrize(
    ("name", "content", "line", "offset", "col"),
    [
        ("d.jsonl", b'{"input": "a"}\n{"input": "caf\xe9"}\n', 2, 29, 15),
        ("d.csv", b"input\nok\nbad \xff here\n", 3, 13, 5),
        ("d.yaml", b"- input: a\n- input: \xc3\x28\n", 2, 20, 10),
        ("d.json", b'[{"input": "a"},\n {"input": "\x80"}]', 2, 29, 13),
    ],
)
def test_non_utf8_names_line_and_byte_offset(
    tmp_path: Path, name: str, content: bytes, line: int, offset: int, col: int
) -> None:
    p = write(tmp_path, name, content)
    err = error_of(p)
    assert err.line == line
    assert f"at byte offset {offset} (byte {col} of the line)" in str(err)
    assert str(err).startswith(f"{p}:{line}: ")
    assert content[offset] >= 0x80


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("e.jsonl", "\n  \n"),
        ("e.jsonl", ""),
        ("e.csv", "id,input\n"),
        ("e.csv", ""),
        ("e.yaml", "# nothing\n"),
        ("e.yaml", "[]\n"),
        ("e.json", "[ ]"),
        ("e.json", ""),
    ],
)
def test_empty_dataset(tmp_path: Path, name: str, content: str) -> None:
    p = write(tmp_path, name, content)
    assert str(error_of(p)) == f"{p}: no cases in {p}"


def test_empty_inline_dataset() -> None:
    assert "no cases in the inline dataset" in str(error_of([]))


def test_empty_parquet(tmp_path: Path) -> None:
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"input": pa.array([], type=pa.string())}), p)
    assert str(error_of(p)) == f"{p}: no cases in {p}"


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    p = jsonl(tmp_path, [{"id": "a", "input": "x"}, {"id": "b", "input": "y"}, {"id": "a", "input": "z"}])
    err = error_of(p)
    assert str(err) == f"{p}:3 field 'id': duplicate case id 'a' (lines 1 and 3); ids must be unique"
    p2 = jsonl(tmp_path, [{"input": "same"}, {"input": "same"}], "d2.jsonl")
    assert "(lines 1 and 2); two cases have the same input and no id" in str(error_of(p2))
    c = write(tmp_path, "d.csv", 'id,input\nk,"a\nb"\nk,c\n')
    assert "duplicate case id 'k' (lines 2 and 4)" in str(error_of(c))
    err = error_of([{"id": "a", "input": "x"}, {"id": "a", "input": "y"}])
    assert (
        str(err)
        == "<inline dataset> field 'dataset[1].id': duplicate case id 'a' (items 0 and 1); ids must be unique"
    )


def test_duplicate_ids_in_parquet_name_rows(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "a", "input": "x"}, {"id": "a", "input": "y"}]), p)
    assert str(error_of(p)) == f"{p}:2 field 'id': duplicate case id 'a' (rows 1 and 2); ids must be unique"


def test_parquet_row_errors_say_row(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"input": "x"}, {"input": None}]), p)
    assert str(error_of(p)) == f"{p}:2 field 'input': row 2: missing 'input'"
    b = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"input": ["x"], "blob": pa.array([b"\x00"], type=pa.binary())}), b)
    assert (
        str(error_of(b))
        == f"{b}:1 field 'blob': row 1: binary values are not supported in a dataset; store text"
    )


def test_not_a_parquet_file(tmp_path: Path) -> None:
    p = write(tmp_path, "d.parquet", "not parquet")
    assert str(error_of(p)).startswith(f"{p}: not a readable Parquet file")


def test_file_not_found_suggests_similar_files(tmp_path: Path) -> None:
    write(tmp_path, "cases.json", "[]")
    write(tmp_path, "case.jsonl", "")
    write(tmp_path, "unrelated.txt", "")
    missing = tmp_path / "cases.jsonl"
    err = error_of(missing)
    assert (
        str(err)
        == f"{missing}: file not found: {missing}. Similar files in {tmp_path}: cases.json, case.jsonl"
    )
    err = error_of(tmp_path / "nope" / "x.jsonl")
    assert f"folder {tmp_path / 'nope'} does not exist" in str(err)


def test_unsupported_extension(tmp_path: Path) -> None:
    p = write(tmp_path, "d.txt", "hello")
    msg = str(error_of(p))
    assert "unsupported dataset file extension '.txt'" in msg
    for ext in SUPPORTED_EXTENSIONS:
        assert ext in msg


def test_csv_errors(tmp_path: Path) -> None:
    ragged = write(tmp_path, "r.csv", "id,input\n1,a\n2,b,extra\n")
    assert str(error_of(ragged)) == (
        f"{ragged}:3: record has 3 cells but the header has 2 columns "
        "(check the quoting of cells that contain the delimiter)"
    )
    badjson = write(tmp_path, "j.csv", 'input,expected:json\na,"[1, 2"\n')
    assert str(error_of(badjson)).startswith(
        f"{badjson}:2 field 'expected': cell of column 'expected:json' is not valid JSON"
    )
    dup = write(tmp_path, "d.csv", "input,expected,expected:json\na,b,c\n")
    assert (
        str(error_of(dup))
        == f"{dup}:1 field 'expected': columns 'expected' and 'expected:json' both define 'expected'"
    )
    meta = write(tmp_path, "m.csv", 'input,metadata\na,"{""k"": 1}"\n')
    assert "name the column 'metadata:json'" in str(error_of(meta))
    quoting = write(tmp_path, "q.csv", 'input,expected\na,"b"c\n')
    assert str(error_of(quoting)).startswith(f"{quoting}:2: malformed CSV:")


def test_yaml_errors(tmp_path: Path) -> None:
    syntax = write(tmp_path, "s.yaml", "- input: a\n- input: [b\n- input: c\n")
    err = error_of(syntax)
    assert str(err).startswith(f"{syntax}:") and "invalid YAML" in str(err)
    assert err.line is not None and err.line >= 2
    mapping = write(tmp_path, "m.yaml", "\ninput: a\n")
    assert (
        str(error_of(mapping))
        == f"{mapping}:2: a YAML dataset must be a list of cases (each item starting with '- ')"
    )
    dupkey = write(tmp_path, "k.yaml", "- input: a\n  expected: b\n  expected: c\n")
    assert str(error_of(dupkey)) == (
        f"{dupkey}:3: duplicate key 'expected' (first on line 2); YAML would silently keep only the last one"
    )
    nan = write(tmp_path, "n.yaml", "- input: a\n  expected: .nan\n")
    assert (
        str(error_of(nan))
        == f"{nan}:2 field 'expected': nan is not allowed in a dataset (use null for 'no value')"
    )


def test_errors_are_not_unicode_or_json_tracebacks(tmp_path: Path) -> None:
    # every bad-input path above raises DatasetError; none leaks a raw UnicodeDecodeError / JSONDecodeError
    p = write(tmp_path, "x.jsonl", b"\xff\xfe{}\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(p)
    assert info.value.__cause__ is None
    assert not isinstance(info.value, UnicodeDecodeError)
