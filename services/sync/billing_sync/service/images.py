"""Invoice images: the configured sources in order (PSA PDF first by default, then accounting);
the first that has the invoice wins."""
from __future__ import annotations

import structlog

from billing_shared.psa import PsaError

from billing_sync.adapters import integration_store, psa_invoice_store
from billing_sync.adapters.quickbooks import QuickBooksError
from billing_sync.domain.integrations import DEFAULT_IMAGE_SOURCES
from billing_sync.service.deps import Deps

log = structlog.get_logger(__name__)
IMAGE_SOURCES_KEY = "invoice_image_sources"


async def sources(deps: Deps) -> tuple[str, ...]:
    stored = await integration_store.app_setting(deps.pool, IMAGE_SOURCES_KEY)
    return tuple(stored) if stored else DEFAULT_IMAGE_SOURCES


async def invoice_image(deps: Deps, invoice_id: str) -> tuple[bytes, str] | None:
    """(PDF bytes, the source that had them), or None when no source has an image."""
    accounting = await deps.connections.quickbooks()
    row = await psa_invoice_store.image_keys(deps.pool, invoice_id, accounting.settings.realm_id if accounting else None)
    if row is None:
        return None
    for source in await sources(deps):
        try:
            image = await _from(deps, source, row)
        except (PsaError, QuickBooksError, ValueError) as exc:
            log.info("invoice image source failed", source=source, invoice_id=invoice_id, error=str(exc)[:200])
            continue
        if image:
            return image, source
    return None


async def _from(deps: Deps, source: str, row) -> bytes | None:  # type: ignore[no-untyped-def]
    if source == "psa" and row["source"] == "autotask" and row["external_id"].isdigit():
        psa = await deps.connections.autotask()
        return await psa.client.invoice_pdf(int(row["external_id"])) if psa else None
    if source == "accounting" and row["accounting_id"]:
        accounting = await deps.connections.quickbooks()
        return await accounting.client.invoice_pdf(row["accounting_id"]) if accounting else None
    return None
