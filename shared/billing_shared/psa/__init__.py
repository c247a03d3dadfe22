"""Autotask PSA REST client (ATServicesRest V1.0), shared by sync and notifications."""

from .budget import RequestBudget
from .change_fields import CHANGE_FIELDS, changed_since
from .client import DEFAULT_BASE_URL, AutotaskClient, PicklistValue, ThresholdInformation
from .errors import (
    PsaAuthError, PsaBudgetExhausted, PsaError, PsaNotFound, PsaPermissionError,
    PsaRateLimited, PsaUnavailable,
)
from .query import ALL_ROWS, F, Filter, format_time
from .transport import RetryPolicy
from .zone import Zone

__all__ = [
    "ALL_ROWS", "AutotaskClient", "CHANGE_FIELDS", "DEFAULT_BASE_URL", "F", "Filter",
    "PicklistValue", "PsaAuthError", "PsaBudgetExhausted", "PsaError", "PsaNotFound",
    "PsaPermissionError", "PsaRateLimited", "PsaUnavailable", "RequestBudget", "RetryPolicy",
    "ThresholdInformation", "Zone", "changed_since", "format_time",
]
