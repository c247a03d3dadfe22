"""`billing.sync.v1`: sync runs and integration health."""
from __future__ import annotations

from typing import ClassVar, Literal

from .envelope import Data, Event, Instant

Integration = Literal["autotask", "quickbooks"]


class SyncStartedData(Data):
    integration: Integration
    run_id: str
    mode: Literal["full", "incremental"]
    interval_minutes: int | None = None


class SyncProgressData(Data):
    integration: Integration
    run_id: str
    entity: str
    fetched: int
    total: int | None = None


class SyncCompletedData(Data):
    integration: Integration
    run_id: str
    completed_at: Instant
    interval_minutes: int | None = None
    counts: dict[str, int] = {}


class SyncFailedData(Data):
    integration: Integration
    run_id: str
    reason: str


class SyncRecordFailedData(Data):
    """One record a run could not sync and skipped (the run went on with the others)."""
    integration: Integration
    run_id: str
    entity: str
    record_id: str
    reason: str


class SyncStalledData(Data):
    integration: Integration
    last_completed_at: Instant | None
    interval_minutes: int


class ConnectionFailedData(Data):
    integration: Integration
    reason: str


class SyncStarted(Event):
    TYPE: ClassVar[str] = "sync.started"
    event_type: Literal["sync.started"] = "sync.started"
    data: SyncStartedData


class SyncProgress(Event):
    TYPE: ClassVar[str] = "sync.progress"
    event_type: Literal["sync.progress"] = "sync.progress"
    data: SyncProgressData


class SyncCompleted(Event):
    TYPE: ClassVar[str] = "sync.completed"
    event_type: Literal["sync.completed"] = "sync.completed"
    data: SyncCompletedData


class SyncFailed(Event):
    TYPE: ClassVar[str] = "sync.failed"
    event_type: Literal["sync.failed"] = "sync.failed"
    data: SyncFailedData


class SyncRecordFailed(Event):
    TYPE: ClassVar[str] = "sync.record_failed"
    event_type: Literal["sync.record_failed"] = "sync.record_failed"
    data: SyncRecordFailedData


class SyncStalled(Event):
    TYPE: ClassVar[str] = "sync.stalled"
    event_type: Literal["sync.stalled"] = "sync.stalled"
    data: SyncStalledData


class IntegrationConnectionFailed(Event):
    TYPE: ClassVar[str] = "integration.connection_failed"
    event_type: Literal["integration.connection_failed"] = "integration.connection_failed"
    data: ConnectionFailedData
