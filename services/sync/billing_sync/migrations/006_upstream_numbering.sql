-- Invoices from upstream.invoices.v1 keep the version their source sent apart from the version sync
-- publishes: sync numbers an open one that came without a number through accounting and publishes it
-- again (version + 1), and the source's next version must still be taken. NULL: a PSA-read invoice.
-- See services/sync/README.md ("Upstream invoices").
ALTER TABLE invoices ADD COLUMN upstream_version bigint;
UPDATE invoices i SET upstream_version = i.version
 WHERE NOT EXISTS (SELECT 1 FROM psa_invoices p WHERE p.invoice_id = i.invoice_id);
CREATE INDEX invoices_upstream_to_number ON invoices (invoice_id)
    WHERE upstream_version IS NOT NULL AND status = 'open' AND invoice_number IS NULL;

-- Upstream invoices accounting refused to number: the reason (raised once per reason) and the next try.
CREATE TABLE upstream_numbering_failures (
    invoice_id      text PRIMARY KEY,
    reason          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 1,
    next_attempt_at timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
