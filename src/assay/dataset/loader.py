"""``load_dataset``: read cases from JSONL, JSON, CSV/TSV, YAML, Parquet or a Python list.

Every format goes through the same validation (``_case.build_case``), so a case means the same thing
whatever file it came from, and ``Dataset.sha256`` depends only on the cases, not on the file format.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.dataset import _readers
from assay.dataset._case import CaseHasher, FieldMap, RowError, build_case, format_path
from assay.dataset._yaml import node_line
from assay.types import Case, DatasetError, case_id_for

__all__ = ["SUPPORTED_EXTENSIONS", "Dataset", "load_dataset"]

#: file extensions ``load_dataset`` understands (case-insensitive)
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_readers.FORMATS)
INLINE = "inline"


@dataclass(frozen=True, slots=True)
class Dataset:
    """An ordered, immutable collection of validated cases.

    ``sha256`` is the hex digest of a canonical serialisation of the cases (ids included, order
    included, file format excluded): two datasets with the same digest hold the same cases. ``source`` is
    the file path, or ``"inline"`` for cases given as a Python list or inside a suite file.

    Example:
        >>> ds = Dataset.from_cases([Case(id="a", input="2+2?", expected="4")], name="math")
        >>> len(ds), ds.cases[0].expected
        (1, '4')
    """

    name: str
    source: str
    cases: tuple[Case, ...]
    sha256: str

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    @classmethod
    def from_cases(cls, cases: Iterable[Case], *, name: str = INLINE) -> Dataset:
        """Wrap already-built ``Case`` objects (validated like any inline dataset: unique ids, not empty)."""
        return load_dataset(list(cases), name=name)

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, source={self.source!r}, n={len(self.cases)}, sha256={self.sha256[:12]}…)"


def load_dataset(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any] | Case],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    input_field: str = "input",
    expected_field: str = "expected",
    id_field: str = "id",
) -> Dataset:
    """Load and validate a dataset from a file or an inline list (any iterable) of dicts or ``Case``s.

    The format follows the extension: ``.jsonl``/``.ndjson`` (one object per line, blank lines skipped),
    ``.json`` (one list of objects), ``.csv``/``.tsv``, ``.yaml``/``.yml`` (a list of mappings) and
    ``.parquet`` (read in row batches). A relative path is resolved against ``base_dir`` when given.

    Each case has the keys ``id`` (optional: defaults to a stable hash of the input), ``input`` (a string
    or a list of ``{role, content}`` messages), ``expected`` (optional, any JSON value), ``context``
    (optional: a list of strings or ``{id, text}`` objects) and ``metadata`` (optional object).
    ``input_field``, ``expected_field`` and ``id_field`` name the keys that hold the input, expected answer
    and id, so ``{"question": ..., "answer": ...}`` loads with ``input_field="question",
    expected_field="answer"``.

    JSONL, JSON, YAML and inline rows must use only those keys: anything else is rejected with the
    closest valid key suggested (put extra fields under ``metadata``). CSV and Parquet are tabular, so
    there every other column becomes a metadata entry. CSV cells are strings; a column whose header ends
    in ``:json`` (``expected:json``, ``context:json``, ``metadata:json``, ``input:json`` for message lists,
    or ``tags:json`` for an extra metadata column) holds JSON that is parsed, so ``["a", "b"]`` in an
    ``expected`` column stays the literal string while in ``expected:json`` it is a list of acceptable
    answers. An empty CSV cell means "no value" (no expected answer, no id, metadata key left out). A
    plain ``context`` cell is one document.

    Raises ``DatasetError`` naming the file, the 1-based line (Parquet: row) and the field for malformed
    lines, wrong types, invalid UTF-8 (with the byte offset), duplicate ids (both lines), an empty
    dataset, and a missing file (with similarly named files suggested).

    Example:
        >>> ds = load_dataset([{"question": "2+2?", "answer": "4"}], input_field="question",
        ...                   expected_field="answer")
        >>> ds.cases[0].input, ds.cases[0].expected
        ('2+2?', '4')
    """
    fields = FieldMap(input=input_field, expected=expected_field, id=id_field)
    try:
        fields.check()
    except ValueError as exc:
        raise DatasetError(str(exc), field="input_field") from None

    if isinstance(source, str | os.PathLike):
        return _load_file(Path(source), base_dir, name, fields)
    if isinstance(source, Mapping | bytes) or not isinstance(source, Iterable):
        raise DatasetError(
            f"a dataset is a file path or a list of cases, got {type(source).__name__}",
            file="<inline dataset>",
        )
    return _load_rows(
        ((row, i, None) for i, row in enumerate(source)),
        fields,
        display="<inline dataset>",
        name=name or INLINE,
        source=INLINE,
        unit="item",
        columns=False,
        normalise=True,
    )


def resolve_path(source: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None) -> Path:
    """``source`` joined to ``base_dir`` when relative (``~`` expanded)."""
    path = Path(source).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    return path


def missing_file_message(path: Path) -> str:
    """'not found' with similarly named files in the same folder (same stem, or close by difflib)."""
    folder = path.parent
    if not folder.is_dir():
        return f"file not found: {path} (folder {folder} does not exist)"
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        names = []
    similar = [n for n in names if Path(n).stem == path.stem and n != path.name]
    similar += [n for n in difflib.get_close_matches(path.name, names, n=3, cutoff=0.6) if n not in similar]
    hint = f". Similar files in {folder}: {', '.join(similar[:4])}" if similar else ""
    return f"file not found: {path}{hint}"


def _load_file(
    path_in: Path, base_dir: str | os.PathLike[str] | None, name: str | None, fields: FieldMap
) -> Dataset:
    path = resolve_path(path_in, base_dir)
    display = str(path)
    suffix = path.suffix.lower()
    fmt = _readers.FORMATS.get(suffix)
    if fmt is None:
        raise DatasetError(
            f"unsupported dataset file extension '{path.suffix or '(none)'}'; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}",
            file=display,
        )
    if not path.exists():
        raise DatasetError(missing_file_message(path), file=display)
    if not path.is_file():
        raise DatasetError("not a file", file=display)
    try:
        return _load_rows(
            fmt.read(path, display),
            fields,
            display=display,
            name=name or path.stem,
            source=display,
            unit=fmt.unit,
            columns=fmt.columns,
            normalise=fmt.normalise,
        )
    except OSError as exc:
        raise DatasetError(f"could not read the file: {exc.strerror or exc}", file=display) from None


def _load_rows(
    rows: Iterator[_readers.Row],
    fields: FieldMap,
    *,
    display: str,
    name: str,
    source: str,
    unit: str,
    columns: bool,
    normalise: bool,
) -> Dataset:
    inline = unit == "item"
    cases: list[Case] = []
    first_seen: dict[str, int] = {}
    hasher = CaseHasher()
    try:
        for row, pos, node in rows:
            try:
                case = build_case(row, fields, columns=columns, normalise=normalise)
                hasher.add(case)
            except RowError as exc:
                line = node_line(node, exc.path) if node is not None else pos
                raise _row_error(exc.message, display, unit, pos, line, exc.path, inline) from None
            earlier = first_seen.setdefault(case.id, pos)
            if earlier != pos:
                why = (
                    "two cases have the same input and no id"
                    if case.id == case_id_for(case.input)
                    else "ids must be unique"
                )
                raise _row_error(
                    f"duplicate case id '{case.id}' ({unit}s {earlier} and {pos}); {why}",
                    display,
                    unit,
                    pos,
                    pos,
                    (fields.id,),
                    inline,
                    prefix=False,
                )
            cases.append(case)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if not cases:
        where = "the inline dataset" if inline else display
        raise DatasetError(f"no cases in {where}", file=display)
    return Dataset(name=name, source=source, cases=tuple(cases), sha256=hasher.hexdigest())


def _row_error(
    message: str,
    display: str,
    unit: str,
    pos: int,
    line: int,
    path: tuple[str | int, ...],
    inline: bool,
    *,
    prefix: bool = True,
) -> DatasetError:
    if inline:
        # Python lists are 0-indexed; the suite loader maps ``item_path`` back to the YAML line.
        field = format_path((pos, *path))
        err = DatasetError(message, file=display, field=f"dataset{field}" if field else "dataset")
        err.item_path = (pos, *path)  # type: ignore[attr-defined]
        return err
    if prefix and unit == "row":
        message = f"row {pos}: {message}"
    return DatasetError(message, file=display, line=line, field=format_path(path))
