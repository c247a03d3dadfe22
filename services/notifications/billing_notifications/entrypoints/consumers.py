"""Which notifications handler takes which event type, per consumer group."""
from billing_notifications.service.notify import on_contact_synced, on_invoice_synced, on_organization_synced

INVOICE_HANDLERS = {"invoice.synced": on_invoice_synced}
DIRECTORY_HANDLERS = {"organization.synced": on_organization_synced, "contact.synced": on_contact_synced}
