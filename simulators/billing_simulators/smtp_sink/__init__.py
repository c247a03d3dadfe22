"""A real SMTP server that keeps every message, with an HTTP view for tests and the demo."""

from .app import SinkHandle, create_app, start_sink

__all__ = ["SinkHandle", "create_app", "start_sink"]
