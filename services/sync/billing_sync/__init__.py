"""The sync service: mirrors the PSA and accounting, numbers invoices, publishes invoice snapshots."""
