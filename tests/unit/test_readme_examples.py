"""The README's example of publishing an upstream invoice is a valid event of its topic: copied by people
into their own systems, it must not drift from the event models."""
from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from billing_shared.events import parse_event
from billing_shared.events.upstream import InvoiceUpserted

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_upstream_invoice_example_parses_as_an_invoice_upserted():
    text = README.read_text()
    block = re.search(r"### Publishing an upstream invoice.*?```python\n(.*?)```", text, re.S)
    assert block, "the README section 'Publishing an upstream invoice' with its Python example"
    source = block.group(1)
    event_source = source[source.index("EVENT = {") + len("EVENT = "):source.index("\n}\n") + 2]
    event = eval(event_source, {"str": str, "uuid": uuid, "datetime": datetime, "UTC": UTC, "None": None})  # noqa: S307
    parsed = parse_event("upstream.invoices.v1", json.dumps(event).encode())
    assert isinstance(parsed, InvoiceUpserted)
    assert parsed.data.external_id == "INV-2026-0042" and str(parsed.data.total) == "500.00"
