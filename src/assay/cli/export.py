"""``assay export``: one row per result (case × repeat) as JSONL, CSV or Parquet.

The JSONL row is a public contract: ``{"case_id", "input", "expected", "output", "scores": {name: value},
"error"}`` plus ``repeat``, ``metadata``, ``latency_s`` and ``score_errors``. Files are written to a
temporary name and renamed, so an interrupted export never leaves a half-written file.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from assay.cli.app import STORE_HELP, app, console, fail, handle_errors, open_store_or_fail


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


def export_rows(st: Any, run_id: str) -> Iterator[dict[str, Any]]:
    for r in st.iter_results(run_id):
        yield {
            "case_id": r.case_id,
            "repeat": r.repeat,
            "input": r.case.get("input"),
            "expected": r.case.get("expected"),
            "output": r.output.get("text") if not r.error_kind else None,
            "scores": {s["name"]: s.get("value") for s in r.scores},
            "score_errors": {s["name"]: s["error"] for s in r.scores if s.get("error")},
            "error": {"kind": r.error_kind, "message": r.error_message} if r.error_kind else None,
            "metadata": r.case.get("metadata") or {},
            "latency_s": r.latency_s,
        }


def _flat(row: dict[str, Any], score_names: list[str]) -> dict[str, Any]:
    def text(v: Any) -> Any:
        return v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    flat = {
        "case_id": row["case_id"],
        "repeat": row["repeat"],
        "input": text(row["input"]),
        "expected": text(row["expected"]),
        "output": row["output"],
        "error_kind": row["error"]["kind"] if row["error"] else None,
        "error_message": row["error"]["message"] if row["error"] else None,
        "latency_s": row["latency_s"],
        "metadata": json.dumps(row["metadata"], ensure_ascii=False),
    }
    for n in score_names:
        v = row["scores"].get(n)
        flat[f"score.{n}"] = float(v) if isinstance(v, bool) else v
    return flat


def write_export(st: Any, run_id: str, fmt: str, path: Path) -> int:
    """Write the run's results to ``path`` atomically; returns the number of rows."""
    rec = st.find_run(run_id)
    score_names = list(((rec.summary or {}).get("metrics") or {}).keys())
    if not score_names:
        names: dict[str, None] = {}
        for r in st.iter_results(rec.run_id):
            for s in r.scores:
                names.setdefault(s["name"], None)
        score_names = list(names)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    try:
        if fmt == "jsonl":
            with tmp.open("w", encoding="utf-8") as f:
                for row in export_rows(st, rec.run_id):
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
        elif fmt == "csv":
            with tmp.open("w", encoding="utf-8", newline="") as f:
                writer: Any = None
                for row in export_rows(st, rec.run_id):
                    flat = _flat(row, score_names)
                    if writer is None:
                        writer = csv.DictWriter(f, fieldnames=list(flat))
                        writer.writeheader()
                    writer.writerow(flat)
                    n += 1
                if writer is None:
                    f.write(
                        ",".join(
                            _flat(
                                {
                                    "case_id": "",
                                    "repeat": 0,
                                    "input": "",
                                    "expected": None,
                                    "output": None,
                                    "error": None,
                                    "latency_s": None,
                                    "metadata": {},
                                    "scores": {},
                                },
                                score_names,
                            )
                        )
                        + "\n"
                    )
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer_pq: Any = None
            batch: list[dict[str, Any]] = []
            schema = pa.schema(
                [
                    ("case_id", pa.string()),
                    ("repeat", pa.int64()),
                    ("input", pa.string()),
                    ("expected", pa.string()),
                    ("output", pa.string()),
                    ("error_kind", pa.string()),
                    ("error_message", pa.string()),
                    ("latency_s", pa.float64()),
                    ("metadata", pa.string()),
                ]
                + [(f"score.{s}", pa.float64()) for s in score_names]
            )
            writer_pq = pq.ParquetWriter(tmp, schema)
            try:
                for row in export_rows(st, rec.run_id):
                    batch.append(_flat(row, score_names))
                    n += 1
                    if len(batch) >= 5000:
                        writer_pq.write_table(pa.Table.from_pylist(batch, schema=schema))
                        batch = []
                if batch or n == 0:
                    writer_pq.write_table(pa.Table.from_pylist(batch, schema=schema))
            finally:
                writer_pq.close()
        else:  # pragma: no cover - guarded by the enum
            raise ValueError(fmt)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


@app.command("export")
@handle_errors
def export_command(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    fmt: ExportFormat = typer.Option(ExportFormat.jsonl, "--format", "-f", help="jsonl | csv | parquet"),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Export every result of a run (one row per case and repeat)."""
    if output.parent and not output.parent.exists():
        fail(f"folder does not exist: {output.parent}")
    st = open_store_or_fail(store)
    try:
        n = write_export(st, run_id, fmt.value, output)
    finally:
        st.close()
    console(stderr=True).print(f"wrote {n} rows to {output}")
