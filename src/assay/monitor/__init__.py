"""assay.monitor: live telemetry. Ingest events (SDK, HTTP, OTLP, files), anonymise them, score a sample
online with the offline scorers, aggregate windows, evaluate rules and deliver alerts.

Example:
    >>> from assay.monitor import Monitor
    >>> monitor = Monitor("sqlite:///:memory:", app="support-bot")
    >>> monitor.log(input="How do I reset my password?", output="Open Settings ...", latency_s=0.4)  # doctest: +ELLIPSIS
    '...'
    >>> monitor.close()

Modules: ``event`` (the versioned event model), ``anonymise``, ``ingest`` (batches and files), ``sdk``
(``Monitor``), ``http`` (the FastAPI router: POST /v1/events, /v1/traces), ``otlp``, ``windows``,
``rules``, ``alerts``, ``notify``, ``scoring`` (the online scorer), ``config`` (monitor.yaml), ``clock``,
``demo``. FastAPI is imported only by ``assay.monitor.http``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from assay.monitor.alerts import AlertEngine
    from assay.monitor.anonymise import AnonymisationConfig, Anonymiser
    from assay.monitor.clock import ManualClock, SystemClock
    from assay.monitor.config import MonitorConfig, load_monitor_config
    from assay.monitor.event import EVENT_SCHEMA_VERSION, Event, EventError, parse_event
    from assay.monitor.ingest import Ingestor, IngestResult, ingest_file
    from assay.monitor.scoring import ScoringWorker
    from assay.monitor.sdk import Monitor
    from assay.monitor.windows import WindowAggregate, aggregate

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "AlertEngine",
    "AnonymisationConfig",
    "Anonymiser",
    "Event",
    "EventError",
    "IngestResult",
    "Ingestor",
    "ManualClock",
    "Monitor",
    "MonitorConfig",
    "ScoringWorker",
    "SystemClock",
    "WindowAggregate",
    "aggregate",
    "ingest_file",
    "load_monitor_config",
    "parse_event",
]

_LAZY = {
    "AlertEngine": "assay.monitor.alerts",
    "AnonymisationConfig": "assay.monitor.anonymise",
    "Anonymiser": "assay.monitor.anonymise",
    "ManualClock": "assay.monitor.clock",
    "SystemClock": "assay.monitor.clock",
    "MonitorConfig": "assay.monitor.config",
    "load_monitor_config": "assay.monitor.config",
    "EVENT_SCHEMA_VERSION": "assay.monitor.event",
    "Event": "assay.monitor.event",
    "EventError": "assay.monitor.event",
    "parse_event": "assay.monitor.event",
    "Ingestor": "assay.monitor.ingest",
    "IngestResult": "assay.monitor.ingest",
    "ingest_file": "assay.monitor.ingest",
    "ScoringWorker": "assay.monitor.scoring",
    "Monitor": "assay.monitor.sdk",
    "WindowAggregate": "assay.monitor.windows",
    "aggregate": "assay.monitor.windows",
}


# Imported on first use: ``import assay.monitor.event`` (an ingest worker, the CLI) then does not pay for
# SQLAlchemy, the rules engine and the notifiers.
__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__)
