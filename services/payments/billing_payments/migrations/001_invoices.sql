-- Payments' own projection of invoices (from billing.invoices.v1). `source_*` columns hold what sync
-- said; `applied` is the ledger's sum of live applications; the balance is derived from both.
CREATE TABLE invoices (
    invoice_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    invoice_number  text,
    source_status   text NOT NULL CHECK (source_status IN ('open', 'paid', 'voided')),
    currency        text NOT NULL,
    total           numeric(14, 2) NOT NULL CHECK (total >= 0),
    applied         numeric(14, 2) NOT NULL DEFAULT 0 CHECK (applied >= 0),
    issued_on       date NOT NULL,
    due_on          date,
    source_paid_on  date,
    ledger_paid_on  date,
    pdf_url         text,
    source_version  bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_by_organization ON invoices (organization_id, invoice_id);
