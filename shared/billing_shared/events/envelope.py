"""The envelope every Kafka message carries (CONTRACT.md "Kafka: envelope")."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _in_utc_range(moment: datetime) -> datetime:
    """Every consumer turns moments to UTC (and Postgres stores them so): one that would leave years 1 to 9999
    on the way (0001-01-01T00:00:00+14:00) is refused here, not by a handler's OverflowError."""
    if moment.tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValueError("must be a moment within years 1 to 9999 in UTC") from None
    return moment


Instant = Annotated[datetime, AfterValidator(_in_utc_range)]
# An id other services key rows and indexes by (`<source>:<external id>`, a uuid): a megabyte-long one
# fails a store's index (Postgres btree rows are at most about 2.7 kB) after the event was accepted.
Ident = Annotated[str, Field(min_length=1, max_length=255)]


class Data(BaseModel):
    """Base of every event payload. Inbound events from other services tolerate unknown fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Event(BaseModel):
    """An envelope; each event type subclasses it with a `Literal` `event_type` and its `data` model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    TYPE: ClassVar[str] = ""

    event_id: uuid.UUID
    event_type: str
    schema_version: Literal[1] = 1  # another version's meaning is unknown here: such an event is refused
    occurred_at: Instant
    producer: str
    # The Kafka key and part of every store's keys and indexes (a megabyte-long one crashed notifications'
    # sync-freshness view, whose changelog cannot carry it); ids are `<source>:<external id>`, short.
    organization_id: str = Field(max_length=255)
    correlation_id: str | None = None
    data: Any

    @classmethod
    def new(
        cls,
        *,
        producer: str,
        organization_id: str,
        data: BaseModel,
        correlation_id: str | None = None,
        event_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        return cls(
            event_id=event_id or uuid.uuid4(),
            event_type=cls.TYPE,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            organization_id=organization_id,
            correlation_id=correlation_id,
            data=data,
        )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

