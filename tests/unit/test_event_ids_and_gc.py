"""Event ids drawn from a block of OS randomness, and the sync process's garbage-collector settings (issue 13:
both were large parts of what a consumed event cost the sync service)."""
from __future__ import annotations

import gc
import os
import uuid

from billing_shared.events.envelope import new_event_id
from billing_shared.events.invoices import InvoiceSnapshot, InvoiceSynced

from billing_shared.runtime import tune_gc


def test_event_ids_are_random_version_4_uuids_never_repeated_across_blocks():
    ids = [new_event_id() for _ in range(2_000)]  # several blocks of 256
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, uuid.UUID) and i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    event = InvoiceSynced.new(producer="sync", organization_id="autotask:1", data=InvoiceSnapshot(
        invoice_id="autotask:9", organization_id="autotask:1", invoice_number="9", status="open", currency="USD",
        total="1.00", issued_on="2026-11-01", due_on=None, paid_on=None, pdf_url=None, source_version=1))
    assert event.event_id.version == 4 and event.event_id not in ids


def test_a_forked_child_never_hands_out_the_ids_its_parent_holds_in_its_block():
    new_event_id()  # the parent holds the rest of a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, b"".join(new_event_id().bytes for _ in range(10)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(pid, 0)
    child = {uuid.UUID(bytes=raw[i:i + 16]) for i in range(0, len(raw), 16)}
    parent = {new_event_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent


def test_a_service_process_freezes_its_start_heap_and_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
