"""Trusted knowledge sources: a folder (or file) of text/Markdown, a JSONL of documents, a CSV of facts.

Each source loads into ``Document``s; ``chunk_documents`` cuts them into ``Passage``s, the unit that is
indexed and quoted as evidence. Bad input raises ``DatasetError`` naming the file, the line and the field.

=======================  ==================================================================================
source                   what it holds
=======================  ==================================================================================
folder                   every ``*.md``, ``*.markdown`` and ``*.txt`` below it (sorted); the id is the
                         relative path without its suffix, the title the first ``# heading``
``*.md`` / ``*.txt``     one document
``*.jsonl``              one object per line: ``text`` (required), ``id``, ``title``, ``metadata``
``*.csv``                facts with columns ``subject``, ``relation`` (or ``predicate``), ``object`` and
                         optionally ``id`` and ``source``: each row is one passage, ``"S R O."``
=======================  ==================================================================================

Example:
    >>> docs = load_documents("examples/support_bot/kb")            # doctest: +SKIP
    >>> passages = chunk_documents(docs, max_words=120)              # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.knowledge.text import split_units
from assay.types import DatasetError, Doc

__all__ = ["TEXT_SUFFIXES", "Document", "Passage", "chunk_documents", "load_documents"]

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".md", ".markdown", ".txt")


@dataclass(frozen=True, slots=True)
class Document:
    """One source document before chunking. ``kind`` is ``"text"`` or ``"fact"`` (a CSV row)."""

    id: str
    text: str
    title: str = ""
    kind: str = "text"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Passage:
    """One indexed chunk of a document: what retrieval returns and verification quotes as evidence."""

    id: str
    doc_id: str
    text: str
    title: str = ""
    section: str = ""

    @property
    def index_text(self) -> str:
        """The text BM25 indexes: title and section prepended to the passage (embedding search mixes the
        vectors of the two instead; see ``assay.knowledge.index``)."""
        head = " — ".join(p for p in (self.title, self.section) if p and p not in self.text[:80])
        return f"{head}: {self.text}" if head else self.text

    def to_doc(self, score: float | None = None) -> Doc:
        meta = {"doc_id": self.doc_id, **({"title": self.title} if self.title else {})}
        return Doc(text=self.text, id=self.id, score=score, metadata=meta)


# ------------------------------------------------------------------------------------ loading
def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"not UTF-8 text (byte {exc.start}); re-encode the file as UTF-8", file=str(path)
        ) from exc


def _title_of(text: str, fallback: str) -> str:
    for line in text.splitlines():
        m = re.match(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", line)
        if m:
            return m.group(1).strip()
        if line.strip():
            break
    return fallback


def _load_text_files(root: Path, files: list[Path]) -> list[Document]:
    docs = []
    for path in files:
        text = _read_text(path)
        if not text.strip():
            log.warning("skipping empty knowledge file %s", path)
            continue
        rel = path.relative_to(root) if root != path else Path(path.name)
        doc_id = rel.with_suffix("").as_posix()
        docs.append(Document(id=doc_id, text=text, title=_title_of(text, path.stem.replace("-", " "))))
    return docs


def _load_jsonl(path: Path) -> list[Document]:
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"invalid JSON: {exc.msg} (column {exc.colno})", file=str(path), line=lineno
            ) from exc
        if not isinstance(obj, dict):
            raise DatasetError("each line must be a JSON object", file=str(path), line=lineno)
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError("must be a non-empty string", file=str(path), line=lineno, field="text")
        raw_id = obj.get("id", f"{path.stem}:{lineno}")
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or not str(raw_id).strip():
            raise DatasetError(
                "must be a non-empty string or integer", file=str(path), line=lineno, field="id"
            )
        doc_id = str(raw_id)
        if doc_id in seen:
            raise DatasetError(
                f"duplicate id {doc_id!r} (first on line {seen[doc_id]})",
                file=str(path),
                line=lineno,
                field="id",
            )
        seen[doc_id] = lineno
        title = obj.get("title") or ""
        if not isinstance(title, str):
            raise DatasetError("must be a string", file=str(path), line=lineno, field="title")
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise DatasetError("must be an object", file=str(path), line=lineno, field="metadata")
        docs.append(Document(id=doc_id, text=text, title=title, metadata=meta))
    return docs


_FACT_COLUMNS = {
    "subject": ("subject", "head", "s"),
    "relation": ("relation", "predicate", "p", "r"),
    "object": ("object", "tail", "o"),
}


def _load_csv(path: Path) -> list[Document]:
    text = _read_text(path)
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DatasetError("empty CSV: expected a header subject,relation,object", file=str(path)) from None
    cols: dict[str, int] = {}
    for key, names in _FACT_COLUMNS.items():
        for n in names:
            if n in header:
                cols[key] = header.index(n)
                break
        else:
            raise DatasetError(
                f"missing column '{key}' (header is {', '.join(header)})", file=str(path), line=1, field=key
            )
    id_col = header.index("id") if "id" in header else None
    src_col = header.index("source") if "source" in header else None
    docs: list[Document] = []
    seen: set[str] = set()
    for lineno, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        values: dict[str, str] = {}
        for key, idx in cols.items():
            value = row[idx].strip() if idx < len(row) else ""
            if not value:
                raise DatasetError("is empty", file=str(path), line=lineno, field=key)
            values[key] = value
        fact_id = (
            row[id_col].strip()
            if id_col is not None and id_col < len(row) and row[id_col].strip()
            else (f"fact:{lineno}")
        )
        if fact_id in seen:
            raise DatasetError(f"duplicate id {fact_id!r}", file=str(path), line=lineno, field="id")
        seen.add(fact_id)
        sentence = f"{values['subject']} {values['relation']} {values['object']}".rstrip()
        if not sentence.endswith((".", "!", "?")):
            sentence += "."
        meta: dict[str, Any] = dict(values)
        if src_col is not None and src_col < len(row) and row[src_col].strip():
            meta["source"] = row[src_col].strip()
        docs.append(Document(id=fact_id, text=sentence, title=values["subject"], kind="fact", metadata=meta))
    if not docs:
        raise DatasetError("no facts: the CSV has a header but no rows", file=str(path))
    return docs


def load_documents(path: str | Path) -> list[Document]:
    """Load a knowledge source (folder, ``.md``/``.txt``, ``.jsonl`` or facts ``.csv``) into documents.

    Raises ``DatasetError`` (file, line, field) for unreadable or malformed input and for a source
    without any document.

    Example:
        >>> [d.id for d in load_documents("kb/")][:2]               # doctest: +SKIP
        ['account-changing-email-and-password', 'account-inactive-and-duplicate-accounts']
    """
    p = Path(path)
    if not p.exists():
        raise DatasetError("knowledge source not found", file=str(p), field="knowledge")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES)
        docs = _load_text_files(p, files)
    elif p.suffix.lower() in TEXT_SUFFIXES:
        docs = _load_text_files(p, [p])
    elif p.suffix.lower() == ".jsonl":
        docs = _load_jsonl(p)
    elif p.suffix.lower() == ".csv":
        docs = _load_csv(p)
    else:
        raise DatasetError(
            "unsupported knowledge source: give a folder, a .md/.txt file, a .jsonl of documents or a .csv "
            "of (subject, relation, object) facts",
            file=str(p),
            field="knowledge",
        )
    if not docs:
        raise DatasetError(f"no documents found (looked for {', '.join(TEXT_SUFFIXES)})", file=str(p))
    return docs


# ------------------------------------------------------------------------------------ chunking
def chunk_documents(docs: list[Document], *, max_words: int = 120) -> list[Passage]:
    """Cut documents into passages of at most about ``max_words`` words along natural boundaries.

    Headings start a new passage and name its ``section``; paragraphs and list items are packed
    together until the next would exceed ``max_words``; a single over-long paragraph is split between
    sentences; a table cut across passages repeats its header row at the top of each continuation. Fact documents (CSV rows) stay one passage each. Passage ids are ``"{doc_id}#{n}"``.

    Example:
        >>> d = Document(id="d", title="T", text="# T\\nA b.\\n\\n## S\\nC d. E f.")
        >>> [(p.id, p.section, p.text) for p in chunk_documents([d])]
        [('d#0', '', 'A b.'), ('d#1', 'S', 'C d. E f.')]
        >>> chunk_documents([Document(id="l", text="Pay with:\\n- cards\\n- PayPal")])[0].text
        'Pay with:\\n- cards\\n- PayPal'
    """
    if max_words < 10:
        raise ValueError(f"max_words must be >= 10, got {max_words}")
    out: list[Passage] = []
    for doc in docs:
        if doc.kind == "fact":
            out.append(Passage(id=doc.id, doc_id=doc.id, text=doc.text, title=doc.title))
            continue
        out.extend(_chunk_text(doc, max_words))
    return out


def _chunk_text(doc: Document, max_words: int) -> list[Passage]:
    passages: list[Passage] = []
    section = ""
    lines: list[str] = []
    words = 0
    last: tuple[int, str] = (-1, "")
    header: tuple[int, str] | None = None  # (block, text) of the current table's first row

    def emit() -> None:
        if lines:
            passages.append(
                Passage(
                    id=f"{doc.id}#{len(passages)}",
                    doc_id=doc.id,
                    text="\n".join(lines).strip(),
                    title=doc.title,
                    section=section,
                )
            )
        lines.clear()

    for unit in split_units(doc.text):
        if unit.kind == "heading":
            emit()
            words, last = 0, (-1, "")
            section = "" if unit.text == doc.title else unit.text
            continue
        w = len(unit.text.split())
        if unit.kind == "row" and last != (unit.block, "row"):
            header = (unit.block, unit.text)  # a table's first row names its columns
        if lines and words + w > max_words:
            emit()
            words, last = 0, (-1, "")
            # a table cut across passages repeats its header row: "| SYNC-417 | Device clock off |" means
            # little without "| Code | Meaning | What to do |", to a reader and to claim verification alike
            if (
                unit.kind == "row"
                and header is not None
                and header[0] == unit.block
                and header[1] != unit.text
            ):
                lines.append(f"| {header[1]} |")
                words += len(header[1].split())
        if unit.kind == "item":
            lines.append(f"- {unit.text}")
        elif unit.kind == "row":
            lines.append(f"| {unit.text} |")
        elif lines and last == (unit.block, "sentence"):
            lines[-1] += " " + unit.text
        elif lines and last[1] == "sentence":
            # a new paragraph: keep the blank line, or re-splitting the passage (as verification does)
            # would join "Base URL: https://x/v2" and "Authentication: ..." into one sentence
            lines.extend(("", unit.text))
        else:
            lines.append(unit.text)
        words += w
        last = (unit.block, unit.kind)
    emit()
    return passages
