"""The envelope every Kafka message carries (CONTRACT.md "Kafka: envelope")."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


_RANDOM_IDS: list[bytes] = []  # 16 random bytes each, drawn from the OS a block at a time


def new_event_id() -> uuid.UUID:
    """A random (version 4) uuid as `uuid.uuid4()` makes it, from os.urandom, drawn 256 ids at a time: one
    getrandom call per event was a tenth of the CPU a consumed event cost the sync service (bench/pipeline.py)."""
    try:
        raw = _RANDOM_IDS.pop()  # list.pop and extend are atomic: no id is handed out twice, even across threads
    except IndexError:
        block = os.urandom(16 * 256)
        _RANDOM_IDS.extend(block[i:i + 16] for i in range(0, len(block), 16))
        raw = _RANDOM_IDS.pop()
    return uuid.UUID(bytes=raw, version=4)


os.register_at_fork(after_in_child=_RANDOM_IDS.clear)  # a forked child must not hand out its parent's ids


def _in_utc_range(moment: datetime) -> datetime:
    """Every consumer turns moments to UTC (and Postgres stores them so): one that would leave years 1 to 9999
    on the way (0001-01-01T00:00:00+14:00) is refused here, not by a handler's OverflowError."""
    # Only the first and the last day of those years are that close to the edge: the usual moment costs no conversion.
    if moment.tzinfo is not None and (moment.year == 1 or moment.year == 9999):
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
            event_id=event_id or new_event_id(),
            event_type=cls.TYPE,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            organization_id=organization_id,
            correlation_id=correlation_id,
            data=data,
        )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

