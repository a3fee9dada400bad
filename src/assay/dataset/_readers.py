"""File-format readers. Each yields ``(row, position, yaml_node)`` one row at a time.

``position`` is the 1-based physical line of the row (JSONL, JSON, CSV, YAML) or its 1-based row number
(Parquet). Readers stream where the format allows it (JSONL, CSV, Parquet in row batches) and raise
``DatasetError`` naming the file and line for anything malformed; validating the row itself is
``_case.build_case``'s job.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from assay.dataset import _yaml
from assay.types import DatasetError

Row = tuple[Any, int, yaml.Node | None]
_BOM = b"\xef\xbb\xbf"
#: a CSV cell may be as large as a case input (the csv module's default limit is 128 KiB)
_CSV_FIELD_LIMIT = 2**31 - 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (use null for 'no value')")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def strict_json_loads(text: str) -> Any:
    """``json.loads`` that rejects NaN and Infinity (Python accepts them; JSON does not)."""
    return _DECODER.decode(text)


def _utf8_error(
    display: str, line: int, raw: bytes, exc: UnicodeDecodeError, line_offset: int
) -> DatasetError:
    return DatasetError(
        f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {line_offset + exc.start} "
        f"(byte {exc.start + 1} of the line); save the file as UTF-8",
        file=display,
        line=line,
    )


def _decoded_lines(f: BinaryIO, display: str) -> Iterator[tuple[int, str]]:
    """Physical lines as text, numbered from 1; invalid UTF-8 raises with the line and byte offset."""
    offset = 0
    for lineno, raw in enumerate(f, 1):
        start = offset
        offset += len(raw)
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[3:]
            start += 3
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _utf8_error(display, lineno, raw, exc, start) from None


# ---------------------------------------------------------------------------------------------- JSONL
def read_jsonl(path: Path, display: str) -> Iterator[Row]:
    """One JSON value per line; blank lines are skipped. Streams: memory is one line at a time."""
    with path.open("rb") as f:
        for lineno, text in _decoded_lines(f, display):
            if not text.strip():
                continue
            try:
                yield strict_json_loads(text), lineno, None
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"invalid JSON: {exc.msg} (column {exc.colno})", file=display, line=lineno
                ) from None
            except ValueError as exc:
                raise DatasetError(f"invalid JSON: {exc}", file=display, line=lineno) from None


# ---------------------------------------------------------------------------------------------- JSON
def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i


def read_json(path: Path, display: str) -> Iterator[Row]:
    """A JSON file holding one list of cases; each case is reported at the line where it starts."""
    raw = path.read_bytes()
    try:
        text = _yaml.decode_utf8(raw)
    except _yaml.YAMLProblem as exc:
        raise DatasetError(exc.message, file=display, line=exc.line) from None
    decoder = _DECODER

    def bad(msg: str, pos: int) -> DatasetError:
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return DatasetError(f"invalid JSON: {msg} (column {col})", file=display, line=line)

    i = _skip_ws(text, 0)
    if i == len(text):
        return
    if text[i] != "[":
        try:
            value = decoder.decode(text)
        except json.JSONDecodeError as exc:
            raise bad(exc.msg, exc.pos) from None
        except ValueError as exc:
            raise DatasetError(f"invalid JSON: {exc}", file=display) from None
        kind = "an object" if isinstance(value, dict) else f"a {type(value).__name__}"
        raise DatasetError(
            f"a .json dataset must contain a list of cases, found {kind} (for one case per line use .jsonl)",
            file=display,
            line=1,
        )
    i = _skip_ws(text, i + 1)
    line, counted_to = 1, 0
    if i < len(text) and text[i] == "]":
        i = _skip_ws(text, i + 1)
    else:
        while True:
            try:
                value, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError as exc:
                raise bad(exc.msg, exc.pos) from None
            except ValueError as exc:
                raise DatasetError(f"invalid JSON: {exc}", file=display, line=line) from None
            line += text.count("\n", counted_to, i)
            counted_to = i
            yield value, line, None
            i = _skip_ws(text, end)
            if i < len(text) and text[i] == ",":
                i = _skip_ws(text, i + 1)
                continue
            if i < len(text) and text[i] == "]":
                i = _skip_ws(text, i + 1)
                break
            raise bad("Expecting ',' delimiter or ']'", i)
    if i != len(text):
        raise bad("Extra data after the list", i)


# ---------------------------------------------------------------------------------------------- CSV
def _csv_reader(path: Path, display: str, delimiter: str) -> Iterator[Row]:
    """Header row, then one case per record. See ``load_dataset`` for the column rules.

    Positions are the physical line where a record starts (a quoted cell may span several lines).
    """
    with path.open("rb") as f:
        lines = _decoded_lines(f, display)
        reader = csv.reader((text for _, text in lines), delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return
            columns: list[tuple[str, bool]] = []
            seen: dict[str, str] = {}
            for n, col in enumerate(header, 1):
                name = col.strip()
                is_json = name.endswith(":json")
                key = name[: -len(":json")].strip() if is_json else name
                if not key:
                    raise DatasetError(f"column {n} of the header has no name", file=display, line=1)
                if key in seen:
                    raise DatasetError(
                        f"columns '{seen[key]}' and '{name}' both define '{key}'",
                        file=display,
                        line=1,
                        field=key,
                    )
                seen[key] = name
                columns.append((key, is_json))
            prev = reader.line_num
            for cells in reader:
                start, prev = prev + 1, reader.line_num
                if not any(c.strip() for c in cells):
                    continue  # blank line
                if len(cells) != len(columns):
                    raise DatasetError(
                        f"record has {len(cells)} cells but the header has {len(columns)} columns "
                        "(check the quoting of cells that contain the delimiter)",
                        file=display,
                        line=start,
                    )
                row: dict[str, Any] = {}
                for (key, is_json), cell in zip(columns, cells, strict=True):
                    if cell == "":
                        continue  # an empty cell means "no value"
                    if not is_json:
                        row[key] = cell
                        continue
                    try:
                        row[key] = strict_json_loads(cell)
                    except ValueError as exc:
                        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                        raise DatasetError(
                            f"cell of column '{key}:json' is not valid JSON: {msg}",
                            file=display,
                            line=start,
                            field=key,
                        ) from None
                yield row, start, None
        except csv.Error as exc:
            raise DatasetError(f"malformed CSV: {exc}", file=display, line=reader.line_num) from None


def _with_field_limit(gen: Iterator[Row]) -> Iterator[Row]:
    old = csv.field_size_limit()
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        yield from gen
    finally:
        csv.field_size_limit(old)
        close = getattr(gen, "close", None)
        if close is not None:
            close()


def read_csv(path: Path, display: str) -> Iterator[Row]:
    return _with_field_limit(_csv_reader(path, display, ","))


def read_tsv(path: Path, display: str) -> Iterator[Row]:
    return _with_field_limit(_csv_reader(path, display, "\t"))


# ---------------------------------------------------------------------------------------------- YAML
def read_yaml(path: Path, display: str) -> Iterator[Row]:
    """A YAML list of cases; each row carries its node so errors point at the exact key's line."""
    try:
        node = _yaml.compose(_yaml.decode_utf8(path.read_bytes()))
    except _yaml.YAMLProblem as exc:
        raise DatasetError(exc.message, file=display, line=exc.line) from None
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        raise DatasetError(
            "a YAML dataset must be a list of cases (each item starting with '- ')",
            file=display,
            line=node.start_mark.line + 1,
        )
    for item in node.value:
        try:
            value = _yaml.construct(item)
        except _yaml.YAMLProblem as exc:
            raise DatasetError(exc.message, file=display, line=exc.line) from None
        yield value, item.start_mark.line + 1, item


# ---------------------------------------------------------------------------------------------- Parquet
def read_parquet(path: Path, display: str, *, batch_size: int = 8192) -> Iterator[Row]:
    """Parquet rows, read in record batches of ``batch_size`` (positions are 1-based row numbers)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError("reading Parquet needs pyarrow: pip install pyarrow", file=display) from None
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"not a readable Parquet file: {exc}", file=display) from None
    n = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist(maps_as_pydicts="strict"):
                n += 1
                yield row, n, None
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read Parquet row {n + 1}: {exc}", file=display, line=n + 1) from None
    finally:
        pf.close()


@dataclass(frozen=True, slots=True)
class Format:
    """How to read one file format and how its rows are validated."""

    read: Callable[[Path, str], Iterator[Row]]
    unit: str  # what a position counts: "line" or "row"
    columns: bool  # tabular: extra columns become metadata
    normalise: bool  # values may be non-JSON types (dates, decimals ...)


FORMATS: dict[str, Format] = {
    ".jsonl": Format(read_jsonl, "line", columns=False, normalise=False),
    ".ndjson": Format(read_jsonl, "line", columns=False, normalise=False),
    ".json": Format(read_json, "line", columns=False, normalise=False),
    ".csv": Format(read_csv, "line", columns=True, normalise=False),
    ".tsv": Format(read_tsv, "line", columns=True, normalise=False),
    ".yaml": Format(read_yaml, "line", columns=False, normalise=True),
    ".yml": Format(read_yaml, "line", columns=False, normalise=True),
    ".parquet": Format(read_parquet, "row", columns=True, normalise=True),
}
