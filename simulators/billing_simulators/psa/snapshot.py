"""The PSA simulator's state as a snapshot (see ../persistence.py): every table's rows and next id,
and the ticket number sequence. The request log and faults describe one run of the process and
are not kept; the settings come from the command line and environment at every start."""

from __future__ import annotations

from typing import Any

from .state import SimState
from .store import Store


def dump(state: SimState) -> dict[str, Any]:
    return {
        "tables": {name: {"next_id": table.next_id, "rows": [table.rows[i] for i in table.ids]}
                   for name, table in state.store.tables.items()},
        "ticket_seq": state.ticket_seq,
    }


def load(state: SimState, stored: dict[str, Any]) -> None:
    store = Store()
    for name, table in store.tables.items():
        kept = stored["tables"].get(name)
        if kept is None:
            continue
        for row in kept["rows"]:
            table.insert(row)
        table.next_id = max(table.next_id, kept["next_id"])
    state.store = store
    state.ticket_seq = stored["ticket_seq"]
