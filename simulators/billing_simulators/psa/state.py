"""Everything one running simulator holds, under one AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .config import PsaSimConfig
from .store import Store
from .usage import Faults, RequestLog
from .values import now_stamp


@dataclass
class SimState:
    config: PsaSimConfig
    store: Store = field(default_factory=Store)
    requests: RequestLog = field(default_factory=RequestLog)
    faults: Faults = field(default_factory=Faults)
    ticket_seq: int = 0

    def __post_init__(self) -> None:
        self._seed_local_company()

    def reset(self) -> None:
        """Drop data, counters and faults; the settings stay, and so does company 0."""
        self.store = Store()
        self.requests = RequestLog(self.requests.clock)
        self.faults.clear()
        self.ticket_seq = 0
        self._seed_local_company()

    def _seed_local_company(self) -> None:
        """Company 0, the MSP's own, as every Autotask instance has it."""
        if self.config.local_company_name is not None:
            self.store.add("Companies", {"id": 0, "companyName": self.config.local_company_name,
                                         "companyNumber": "0"}, now_stamp())

    def next_ticket_number(self, created: str) -> str:
        # Autotask's form: T<yyyymmdd>.<sequence>, e.g. T20250930.0256.
        self.ticket_seq += 1
        return f"T{created[:10].replace('-', '')}.{self.ticket_seq:04d}"


STATE = web.AppKey("psa_sim_state", SimState)


def api_errors(status: int, *messages: str) -> web.Response:
    """The Autotask error body: {"errors": ["message", ...]} [C: AT-DJ]."""
    return web.json_response({"errors": list(messages)}, status=status)


def sim_error(status: int, code: str, message: str, **details: Any) -> web.Response:
    """Errors of the /_sim control surface, in the project's own shape."""
    return web.json_response(
        {"error": {"code": code, "message": message, "details": details}}, status=status)
