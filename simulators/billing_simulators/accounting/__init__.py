"""A QuickBooks Online (Accounting API v3) shaped simulator with its OAuth token endpoint."""

from .app import create_app
from .config import AccountingSimConfig

__all__ = ["AccountingSimConfig", "create_app"]
