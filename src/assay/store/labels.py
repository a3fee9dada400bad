"""Human labels and labelling queues in the store, and ``LabelStore``, their API.

Tables (on their own ``MetaData``, created on first use in the store's database; the same conventions as
``assay.store.schema``: JSON as text, UTC timestamps, idempotent inserts):

    label_queues  one row per queue: its name, where its items came from (``source_json``: run or
                  events, sampling design, seed), what is asked (``rubric_json``: label name, choices,
                  instructions) and the overlap design (``overlap_k`` annotators on overlap items).
    label_items   one row per (queue, item): the item as shown to annotators (``payload_json``: input,
                  context, output, scores), its position, its stratum and its **inclusion probability**
                  (the chance the sampling design had of picking it), so estimates can be re-weighted.
                  ``run_id``/``case_id``/``repeat`` or ``event_id`` join it to the run or event it shows.
    labels        one row per (queue, item, annotator, label name): ``value`` (a number, NULL when the
                  item was skipped), ``label`` (the category chosen, when categorical), ``note``, times.
                  Labelling the same item again replaces the annotator's earlier label.

Labels imported without a queue use ``queue_id = ''``.

Example:
    >>> from assay.store import open_store
    >>> with open_store("sqlite:///:memory:") as store:
    ...     LabelStore(store).list_queues()
    []
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    func,
    inspect,
    select,
)

from assay.store.schema import UTCDateTime
from assay.types import StoreError

if TYPE_CHECKING:
    from assay.store.store import Store

__all__ = [
    "LABEL_TABLES",
    "LabelRecord",
    "LabelStore",
    "QueueItem",
    "QueueRecord",
    "label_items",
    "label_metadata",
    "label_queues",
    "labels",
]

label_metadata = MetaData()

label_queues = Table(
    "label_queues",
    label_metadata,
    Column("queue_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("source_json", Text, nullable=False),
    Column("rubric_json", Text, nullable=False),
    Column("overlap_k", Integer, nullable=False),
    Column("n_items", Integer, nullable=False),
)

label_items = Table(
    "label_items",
    label_metadata,
    Column("queue_id", String, nullable=False),
    Column("item_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("run_id", String, nullable=True),
    Column("case_id", String, nullable=True),
    Column("repeat", Integer, nullable=True),
    Column("event_id", String, nullable=True),
    Column("stratum", String, nullable=True),
    Column("inclusion_prob", Double, nullable=False),
    Column("overlap", Boolean, nullable=False),
    Column("payload_json", Text, nullable=False),
    PrimaryKeyConstraint("queue_id", "item_id", name="pk_label_items"),
    Index("ix_label_items_queue_pos", "queue_id", "position"),
    Index("ix_label_items_run", "run_id", "case_id", "repeat"),
    Index("ix_label_items_event", "event_id"),
)

labels = Table(
    "labels",
    label_metadata,
    Column("queue_id", String, nullable=False),
    Column("item_id", String, nullable=False),
    Column("annotator", String, nullable=False),
    Column("name", String, nullable=False),
    Column("value", Double, nullable=True),
    Column("label", String, nullable=True),
    Column("skipped", Boolean, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("queue_id", "item_id", "annotator", "name", name="pk_labels"),
    Index("ix_labels_item", "item_id"),
)

LABEL_TABLES: Final = (label_queues, label_items, labels)

_ready: weakref.WeakSet[Any] = weakref.WeakSet()
_ready_lock = threading.Lock()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """A labelling queue. ``rubric`` holds ``name`` (the label's name), ``choices`` ({label: value}),
    ``instructions``; ``source`` says how its items were chosen (run/events, strategy, seed)."""

    queue_id: str
    name: str
    created_at: datetime
    source: dict[str, Any] = field(default_factory=dict)
    rubric: dict[str, Any] = field(default_factory=dict)
    overlap_k: int = 2
    n_items: int = 0

    @property
    def label_name(self) -> str:
        return str(self.rubric.get("name") or "label")


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One item of a queue, as annotators see it (``payload``) with its sampling design facts."""

    item_id: str
    position: int
    inclusion_prob: float
    payload: dict[str, Any] = field(default_factory=dict)
    stratum: str | None = None
    overlap: bool = False
    run_id: str | None = None
    case_id: str | None = None
    repeat: int | None = None
    event_id: str | None = None
    queue_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "item_id": self.item_id,
            "position": self.position,
            "inclusion_prob": self.inclusion_prob,
            "stratum": self.stratum,
            "overlap": self.overlap,
            "run_id": self.run_id,
            "case_id": self.case_id,
            "repeat": self.repeat,
            "event_id": self.event_id,
            "payload": self.payload,
        }


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """One human label: ``annotator`` gave ``value`` (and ``label`` for a category) to ``item_id``.

    ``skipped`` labels carry no value. ``created_at`` is timezone-aware (UTC when read back).
    """

    item_id: str
    annotator: str
    value: float | None
    name: str = "label"
    label: str | None = None
    note: str = ""
    skipped: bool = False
    queue_id: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "item_id": self.item_id,
            "annotator": self.annotator,
            "name": self.name,
            "value": self.value,
            "label": self.label,
            "note": self.note,
            "skipped": self.skipped,
            "created_at": self.created_at.isoformat(),
        }


class LabelStore:
    """Queues, their items and human labels in ``store``'s database (tables created on first use).

    Example:
        >>> ls = LabelStore(store)                                                    # doctest: +SKIP
        >>> ls.add_labels([LabelRecord(item_id="r1/c1/0", annotator="ana", value=1.0)])  # doctest: +SKIP
        1
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ensure_tables()

    # ------------------------------------------------------------------------------ setup
    def _ensure_tables(self) -> None:
        engine = self.store.engine
        with _ready_lock:
            if engine in _ready:
                return
        with self.store._read("look for the label tables") as conn:
            present = all(inspect(conn).has_table(t.name) for t in LABEL_TABLES)
        if not present:
            with self.store._write("create the label tables") as conn:
                label_metadata.create_all(conn, checkfirst=True)
        with _ready_lock:
            _ready.add(engine)

    def _insert(self, table: Table) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        return (sqlite.insert if self.store.dialect == "sqlite" else postgresql.insert)(table)

    # ------------------------------------------------------------------------------ queues
    def create_queue(self, queue: QueueRecord, items: Sequence[QueueItem]) -> None:
        """Store a new queue with its items (one transaction). StoreError if the id exists."""
        ids = [it.item_id for it in items]
        if len(set(ids)) != len(ids):
            raise StoreError(f"queue {queue.queue_id!r}: item ids must be unique")
        for it in items:
            if not 0.0 < it.inclusion_prob <= 1.0:
                raise StoreError(
                    f"queue {queue.queue_id!r}, item {it.item_id!r}: inclusion_prob must be in (0, 1], "
                    f"got {it.inclusion_prob!r}"
                )
        row = {
            "queue_id": queue.queue_id,
            "name": queue.name,
            "created_at": queue.created_at,
            "source_json": _dumps(queue.source),
            "rubric_json": _dumps(queue.rubric),
            "overlap_k": int(queue.overlap_k),
            "n_items": len(items),
        }
        rows = [
            {
                "queue_id": queue.queue_id,
                "item_id": it.item_id,
                "position": it.position,
                "run_id": it.run_id,
                "case_id": it.case_id,
                "repeat": it.repeat,
                "event_id": it.event_id,
                "stratum": it.stratum,
                "inclusion_prob": float(it.inclusion_prob),
                "overlap": bool(it.overlap),
                "payload_json": _dumps(it.payload),
            }
            for it in items
        ]
        with self.store._write(f"create label queue {queue.queue_id!r}") as conn:
            exists = conn.execute(
                select(label_queues.c.queue_id).where(label_queues.c.queue_id == queue.queue_id)
            ).first()
            if exists is not None:
                raise StoreError(f"a label queue {queue.queue_id!r} already exists in {self.store.safe_url}")
            conn.execute(label_queues.insert(), row)
            if rows:
                conn.execute(label_items.insert(), rows)

    @staticmethod
    def _queue(row: Any) -> QueueRecord:
        return QueueRecord(
            queue_id=row.queue_id,
            name=row.name,
            created_at=row.created_at,
            source=json.loads(row.source_json),
            rubric=json.loads(row.rubric_json),
            overlap_k=row.overlap_k,
            n_items=row.n_items,
        )

    def get_queue(self, queue_id: str) -> QueueRecord | None:
        with self.store._read(f"read label queue {queue_id!r}") as conn:
            row = conn.execute(select(label_queues).where(label_queues.c.queue_id == queue_id)).first()
        return None if row is None else self._queue(row)

    def find_queue(self, id_or_name: str) -> QueueRecord:
        """The queue with this id, else the only one with this name or id prefix. StoreError otherwise."""
        exact = self.get_queue(id_or_name)
        if exact is not None:
            return exact
        found = [q for q in self.list_queues() if q.name == id_or_name or q.queue_id.startswith(id_or_name)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise StoreError(
                f"no label queue {id_or_name!r} in {self.store.safe_url}; `assay label list` shows them"
            )
        names = ", ".join(f"{q.queue_id} ({q.name})" for q in found[:10])
        raise StoreError(f"label queue {id_or_name!r} is ambiguous: {names}")

    def list_queues(self) -> list[QueueRecord]:
        """All queues, newest first."""
        with self.store._read("list label queues") as conn:
            rows = conn.execute(
                select(label_queues).order_by(label_queues.c.created_at.desc(), label_queues.c.queue_id)
            ).all()
        return [self._queue(r) for r in rows]

    @staticmethod
    def _item(row: Any) -> QueueItem:
        return QueueItem(
            queue_id=row.queue_id,
            item_id=row.item_id,
            position=row.position,
            inclusion_prob=row.inclusion_prob,
            payload=json.loads(row.payload_json),
            stratum=row.stratum,
            overlap=bool(row.overlap),
            run_id=row.run_id,
            case_id=row.case_id,
            repeat=row.repeat,
            event_id=row.event_id,
        )

    def items(self, queue_id: str) -> list[QueueItem]:
        """A queue's items in presentation order."""
        with self.store._read(f"read the items of queue {queue_id!r}") as conn:
            rows = conn.execute(
                select(label_items).where(label_items.c.queue_id == queue_id).order_by(label_items.c.position)
            ).all()
        return [self._item(r) for r in rows]

    def get_item(self, queue_id: str, item_id: str) -> QueueItem | None:
        with self.store._read(f"read item {item_id!r}") as conn:
            row = conn.execute(
                select(label_items).where(
                    label_items.c.queue_id == queue_id, label_items.c.item_id == item_id
                )
            ).first()
        return None if row is None else self._item(row)

    def items_for_run(self, run_id: str) -> list[QueueItem]:
        """Every queue item that shows a result of ``run_id`` (in any queue)."""
        with self.store._read(f"read the label items of run {run_id!r}") as conn:
            rows = conn.execute(
                select(label_items)
                .where(label_items.c.run_id == run_id)
                .order_by(label_items.c.queue_id, label_items.c.position)
            ).all()
        return [self._item(r) for r in rows]

    # ------------------------------------------------------------------------------ labels
    def add_labels(self, records: Sequence[LabelRecord]) -> int:
        """Insert labels, replacing an annotator's earlier label of the same item and name (one transaction).

        Returns the number of records written. Raises ``StoreError`` for a NaN value or a naive time.
        """
        rows = []
        for r in records:
            if r.value is not None and r.value != r.value:
                raise StoreError(
                    f"label of item {r.item_id!r} by {r.annotator!r} is NaN; use skipped=True instead"
                )
            if r.created_at.tzinfo is None:
                raise StoreError(f"label of item {r.item_id!r}: created_at must be timezone-aware")
            if not r.annotator or not r.item_id or not r.name:
                raise StoreError("a label needs an item_id, an annotator and a name")
            rows.append(
                {
                    "queue_id": r.queue_id,
                    "item_id": r.item_id,
                    "annotator": r.annotator,
                    "name": r.name,
                    "value": None if r.value is None else float(r.value),
                    "label": r.label,
                    "skipped": bool(r.skipped),
                    "note": r.note or "",
                    "created_at": r.created_at,
                }
            )
        if not rows:
            return 0
        latest = {(r["queue_id"], r["item_id"], r["annotator"], r["name"]): r for r in rows}
        stmt = self._insert(labels)
        stmt = stmt.on_conflict_do_update(
            index_elements=[labels.c.queue_id, labels.c.item_id, labels.c.annotator, labels.c.name],
            set_={k: getattr(stmt.excluded, k) for k in ("value", "label", "skipped", "note", "created_at")},
        )
        with self.store._write(f"store {len(latest)} labels") as conn:
            conn.execute(stmt, list(latest.values()))
        return len(latest)

    @staticmethod
    def _label(row: Any) -> LabelRecord:
        return LabelRecord(
            queue_id=row.queue_id,
            item_id=row.item_id,
            annotator=row.annotator,
            name=row.name,
            value=row.value,
            label=row.label,
            skipped=bool(row.skipped),
            note=row.note,
            created_at=row.created_at,
        )

    def labels(
        self,
        *,
        queue_id: str | None = None,
        item_ids: Sequence[str] | None = None,
        name: str | None = None,
        include_skipped: bool = True,
    ) -> list[LabelRecord]:
        """Labels filtered by queue, items and label name (each optional), oldest first."""
        stmt = select(labels)
        if queue_id is not None:
            stmt = stmt.where(labels.c.queue_id == queue_id)
        if name is not None:
            stmt = stmt.where(labels.c.name == name)
        if not include_skipped:
            stmt = stmt.where(labels.c.skipped.is_(False))
        stmt = stmt.order_by(labels.c.created_at, labels.c.item_id, labels.c.annotator)
        with self.store._read("read labels") as conn:
            if item_ids is None:
                rows = conn.execute(stmt).all()
            else:
                ids = list(dict.fromkeys(item_ids))
                rows = []
                for start in range(0, len(ids), 500):
                    rows += conn.execute(stmt.where(labels.c.item_id.in_(ids[start : start + 500]))).all()
        return [self._label(r) for r in rows]

    # ------------------------------------------------------------------------------ labelling flow
    def next_item(self, queue_id: str, annotator: str, *, after: int = -1) -> QueueItem | None:
        """The next item ``annotator`` should label, in queue order after position ``after``.

        An item is due when the annotator has not labelled or skipped it, and either nobody has
        labelled it yet or it is an overlap item with fewer than the queue's ``overlap_k`` labels.
        """
        queue = self.get_queue(queue_id)
        if queue is None:
            raise StoreError(f"no label queue {queue_id!r}")
        mine = select(labels.c.item_id).where(labels.c.queue_id == queue_id, labels.c.annotator == annotator)
        counts = (
            select(labels.c.item_id, func.count().label("n"))
            .where(labels.c.queue_id == queue_id, labels.c.skipped.is_(False))
            .group_by(labels.c.item_id)
            .subquery()
        )
        n = func.coalesce(counts.c.n, 0)
        stmt = (
            select(label_items)
            .outerjoin(counts, counts.c.item_id == label_items.c.item_id)
            .where(
                label_items.c.queue_id == queue_id,
                label_items.c.position > after,
                label_items.c.item_id.not_in(mine),
                (n == 0) | and_(label_items.c.overlap.is_(True), n < queue.overlap_k),
            )
            .order_by(label_items.c.position)
            .limit(1)
        )
        with self.store._read(f"find the next item of queue {queue_id!r}") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._item(row)

    def progress(self, queue_id: str) -> dict[str, Any]:
        """How far a queue is: items, items labelled (by anyone), skipped, overlap coverage, per annotator."""
        queue = self.get_queue(queue_id)
        if queue is None:
            raise StoreError(f"no label queue {queue_id!r}")
        with self.store._read(f"read the progress of queue {queue_id!r}") as conn:
            rows = conn.execute(
                select(labels.c.item_id, labels.c.annotator, labels.c.skipped).where(
                    labels.c.queue_id == queue_id
                )
            ).all()
            overlap_ids = {
                r[0]
                for r in conn.execute(
                    select(label_items.c.item_id).where(
                        label_items.c.queue_id == queue_id, label_items.c.overlap.is_(True)
                    )
                )
            }
        per_item: dict[str, int] = {}
        skipped_items: set[str] = set()
        annotators: dict[str, dict[str, int]] = {}
        for item_id, annotator, skipped in rows:
            a = annotators.setdefault(annotator, {"labelled": 0, "skipped": 0})
            if skipped:
                a["skipped"] += 1
                skipped_items.add(item_id)
            else:
                a["labelled"] += 1
                per_item[item_id] = per_item.get(item_id, 0) + 1
        overlap_done = sum(1 for i in overlap_ids if per_item.get(i, 0) >= queue.overlap_k)
        return {
            "queue_id": queue_id,
            "name": queue.name,
            "n_items": queue.n_items,
            "n_labelled": len(per_item),
            "n_skipped_only": len(skipped_items - set(per_item)),
            "n_overlap": len(overlap_ids),
            "n_overlap_done": overlap_done,
            "annotators": annotators,
        }
