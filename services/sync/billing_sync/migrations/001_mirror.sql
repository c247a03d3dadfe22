-- The mirror of upstream organizations and invoices. `version` only grows: an incoming version that is
-- not newer than the stored one is ignored.
CREATE TABLE organizations (
    organization_id    text PRIMARY KEY,
    source             text NOT NULL,
    external_id        text NOT NULL,
    name               text NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    default_contact_id text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoices (
    invoice_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    source          text NOT NULL,
    external_id     text NOT NULL,
    version         bigint NOT NULL,
    invoice_number  text,
    status          text NOT NULL CHECK (status IN ('open', 'paid', 'voided')),
    currency        text NOT NULL,
    total           numeric(14, 2) NOT NULL,
    issued_on       date NOT NULL,
    due_on          date,
    paid_on         date,
    pdf_url         text,
    lines           jsonb NOT NULL DEFAULT '[]',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_by_organization ON invoices (organization_id);
