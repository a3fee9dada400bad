"""Human labels: labelling queues, label files, agreement with scorers, and PPI estimates.

Queues pick items from a run or from monitored events with a recorded sampling design
(``assay.label.queue``); labels live in the store (``assay.store.labels``) and travel as CSV/JSONL
(``assay.label.io``); ``assay.label.agreement`` says whether a scorer can stand in for people, and
``assay.label.estimate`` combines many judge scores with a few labels (prediction-powered inference);
``assay.label.runs`` finds a run's labels so both work from a run id.
The labelling web page is ``assay.label.http.router``.

Example:
    >>> from assay.label import agreement_from_values
    >>> r = agreement_from_values({"a": 1, "b": 0, "c": 1}, [("a", "ann", 1), ("b", "ann", 0), ("c", "ann", 0)])
    >>> r.n
    3
"""

from __future__ import annotations

from assay.label.agreement import (
    AgreementReport,
    agreement_for_queue,
    agreement_for_run,
    agreement_from_values,
)
from assay.label.estimate import (
    Estimate,
    EstimateReport,
    estimate_for_queue,
    estimate_from_values,
    queue_population,
)
from assay.label.io import export_labels, read_labels, read_values
from assay.label.queue import (
    Candidate,
    candidates_from_events,
    candidates_from_run,
    create_queue,
    sample_items,
)
from assay.label.runs import estimate_for_run, find_queue_or_run, run_labels

__all__ = [
    "AgreementReport",
    "Candidate",
    "Estimate",
    "EstimateReport",
    "agreement_for_queue",
    "agreement_for_run",
    "agreement_from_values",
    "candidates_from_events",
    "candidates_from_run",
    "create_queue",
    "estimate_for_queue",
    "estimate_for_run",
    "estimate_from_values",
    "export_labels",
    "find_queue_or_run",
    "queue_population",
    "read_labels",
    "read_values",
    "run_labels",
    "sample_items",
]
