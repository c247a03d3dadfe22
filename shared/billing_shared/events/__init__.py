"""Pydantic models of the envelope and of every event type of every topic (CONTRACT.md)."""
from .catalog import EVENTS_BY_TOPIC, TOPICS, event_adapter, parse_event
from .envelope import Data, Event

__all__ = ["EVENTS_BY_TOPIC", "TOPICS", "Data", "Event", "event_adapter", "parse_event"]
