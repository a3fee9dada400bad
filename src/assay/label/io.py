"""Labels to and from files (CSV and JSONL), so labelling can happen elsewhere and come back.

Each row/line is one label: ``item_id`` and ``value`` are required; ``annotator`` (default
``"imported"``), ``name`` (default: the queue's label name, else ``"label"``), ``label`` (the category),
``note``, ``skipped``, ``queue_id`` and ``created_at`` (ISO 8601 with a zone) are optional. Exports add the
join keys ``run_id``, ``case_id``, ``repeat``, ``event_id`` and the item's ``inclusion_prob``, so an
exported file is self-describing and re-imports unchanged.

Bad input raises ``DatasetError`` naming the file, the line and the field.

Example:
    >>> records = read_labels("labels.jsonl")                       # doctest: +SKIP
    >>> LabelStore(store).add_labels(records)                        # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from assay.store.labels import LabelRecord, QueueItem
from assay.types import DatasetError

__all__ = ["EXPORT_FIELDS", "export_labels", "read_inclusion_probs", "read_labels", "read_values"]

EXPORT_FIELDS: Final = (
    "queue_id",
    "item_id",
    "annotator",
    "name",
    "value",
    "label",
    "note",
    "skipped",
    "created_at",
    "run_id",
    "case_id",
    "repeat",
    "event_id",
    "inclusion_prob",
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def _format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in ("csv", "jsonl"):
            raise DatasetError(f"unknown label file format {fmt!r}; use csv or jsonl", file=str(path))
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise DatasetError("cannot tell the format from the extension; use .csv or .jsonl", file=str(path))


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from exc
    if fmt == "jsonl":
        for no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"not valid JSON: {exc.msg}", file=str(path), line=no) from exc
            if not isinstance(row, dict):
                raise DatasetError("each line must be a JSON object", file=str(path), line=no)
            yield no, row
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if k is not None}


def _number(value: Any, path: Path, no: int, field: str, *, required: bool) -> float | None:
    if value is None or value == "":
        if required:
            raise DatasetError("is missing", file=str(path), line=no, field=field)
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return 1.0 if low == "true" else 0.0
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise DatasetError(
            f"must be a number (or true/false), got {value!r:.60}", file=str(path), line=no, field=field
        ) from None
    if not math.isfinite(f):
        raise DatasetError(f"must be a finite number, got {value!r}", file=str(path), line=no, field=field)
    return f


def _text(row: dict[str, Any], key: str, path: Path, no: int, *, default: str | None = None) -> str | None:
    v = row.get(key)
    if v is None or v == "":
        return default
    if isinstance(v, int | float) and not isinstance(v, bool) and key in ("item_id", "annotator"):
        return str(v)
    if not isinstance(v, str):
        raise DatasetError(f"must be a string, got {v!r:.60}", file=str(path), line=no, field=key)
    return v


def read_labels(
    path: str | Path, *, fmt: str | None = None, queue_id: str | None = None, name: str | None = None
) -> list[LabelRecord]:
    """Read label records from a CSV or JSONL file (see the module docs for the columns).

    ``queue_id`` and ``name`` fill rows that do not give them. Raises ``DatasetError`` (file, line, field).

    Example:
        >>> read_labels("labels.jsonl")[0].value                   # doctest: +SKIP
        1.0
    """
    p = Path(path)
    kind = _format(p, fmt)
    out: list[LabelRecord] = []
    for no, row in _rows(p, kind):
        item_id = _text(row, "item_id", p, no)
        if not item_id:
            raise DatasetError("is missing", file=str(p), line=no, field="item_id")
        skipped_raw = row.get("skipped")
        if isinstance(skipped_raw, bool):
            skipped = skipped_raw
        elif skipped_raw is None or str(skipped_raw).strip().lower() in _FALSE:
            skipped = False
        elif str(skipped_raw).strip().lower() in _TRUE:
            skipped = True
        else:
            raise DatasetError(
                f"must be true or false, got {skipped_raw!r:.40}", file=str(p), line=no, field="skipped"
            )
        value = _number(row.get("value"), p, no, "value", required=not skipped)
        created_raw = row.get("created_at")
        created = datetime.now(UTC)
        if created_raw not in (None, ""):
            try:
                created = datetime.fromisoformat(str(created_raw).replace("Z", "+00:00"))
            except ValueError:
                raise DatasetError(
                    f"not an ISO 8601 time: {created_raw!r:.40}", file=str(p), line=no, field="created_at"
                ) from None
            if created.tzinfo is None:
                raise DatasetError(
                    "needs a time zone (e.g. 2025-03-01T12:00:00Z)", file=str(p), line=no, field="created_at"
                )
        out.append(
            LabelRecord(
                queue_id=_text(row, "queue_id", p, no, default=queue_id or "") or "",
                item_id=item_id,
                annotator=_text(row, "annotator", p, no, default="imported") or "imported",
                name=_text(row, "name", p, no, default=name or "label") or "label",
                value=value,
                label=_text(row, "label", p, no),
                note=_text(row, "note", p, no, default="") or "",
                skipped=skipped,
                created_at=created,
            )
        )
    return out


def read_values(path: str | Path, *, what: str = "judged") -> dict[str, float]:
    """``{item_id: value}`` from a JSONL (or CSV) file of ``{"item_id", "value"}`` rows (judge scores).

    A repeated item id is an error (which value would count?). Raises ``DatasetError``.
    """
    p = Path(path)
    kind = _format(p, None)
    out: dict[str, float] = {}
    for no, row in _rows(p, kind):
        item_id = _text(row, "item_id", p, no)
        if not item_id:
            raise DatasetError("is missing", file=str(p), line=no, field="item_id")
        if item_id in out:
            raise DatasetError(
                f"item {item_id!r} appears twice in the {what} file", file=str(p), line=no, field="item_id"
            )
        value = _number(row.get("value"), p, no, "value", required=True)
        assert value is not None
        out[item_id] = value
    if not out:
        raise DatasetError(f"the {what} file has no rows", file=str(p))
    return out


def read_inclusion_probs(path: str | Path) -> dict[str, float] | None:
    """``{item_id: inclusion_prob}`` from a label file whose rows carry ``inclusion_prob`` (None if none do).

    A file where only some rows give it is an error: the weighting would silently mix designs.
    """
    p = Path(path)
    found: dict[str, float] = {}
    without: int | None = None
    for no, row in _rows(p, _format(p, None)):
        value = _number(row.get("inclusion_prob"), p, no, "inclusion_prob", required=False)
        if value is None:
            without = without or no
            continue
        if not 0.0 < value <= 1.0:
            raise DatasetError(
                f"must be in (0, 1], got {value}", file=str(p), line=no, field="inclusion_prob"
            )
        found[str(row.get("item_id"))] = value
    if found and without is not None:
        raise DatasetError(
            "some rows give inclusion_prob and others do not",
            file=str(p),
            line=without,
            field="inclusion_prob",
        )
    return found or None


def export_labels(
    records: Sequence[LabelRecord],
    path: str | Path,
    *,
    fmt: str | None = None,
    items: dict[str, QueueItem] | None = None,
) -> int:
    """Write labels to CSV or JSONL (with the items' join keys when ``items`` is given). Returns the count."""
    p = Path(path)
    kind = _format(p, fmt)
    rows = []
    for r in records:
        it = (items or {}).get(r.item_id)
        rows.append(
            {
                **r.to_dict(),
                "run_id": it.run_id if it else None,
                "case_id": it.case_id if it else None,
                "repeat": it.repeat if it else None,
                "event_id": it.event_id if it else None,
                "inclusion_prob": it.inclusion_prob if it else None,
            }
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8", newline="") as fh:
        if kind == "jsonl":
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(fh, fieldnames=list(EXPORT_FIELDS))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row[k] is None else row[k] for k in EXPORT_FIELDS})
    return len(rows)
