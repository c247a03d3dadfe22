-- Integrations, sync runs, the PSA and accounting mirrors, invoice numbering and payment write-back.

-- One row per integration. `settings` holds what may be shown; `sealed` is a Fernet token of a JSON
-- object with the secrets (never shown). Delete clears `sealed` and sets `deleted_at`; history stays.
CREATE TABLE integrations (
    name        text PRIMARY KEY CHECK (name IN ('autotask', 'quickbooks')),
    settings    jsonb NOT NULL,
    sealed      bytea,
    revision    bigint NOT NULL DEFAULT 1,
    deleted_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app_settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A run: its plan (`since` per entity), its progress and checkpoints per entity (`progress`).
CREATE TABLE sync_runs (
    run_id      uuid PRIMARY KEY,
    integration text NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('full', 'incremental')),
    status      text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    trigger     text NOT NULL,
    since       jsonb NOT NULL DEFAULT '{}',
    progress    jsonb NOT NULL DEFAULT '{}',
    reason      text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
-- At most one run per integration at a time.
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (integration) WHERE status = 'running';
CREATE INDEX sync_runs_recent ON sync_runs (integration, started_at DESC);

-- What the last completed run saw: the newest change stamp per entity, the highest invoice id.
CREATE TABLE sync_watermarks (
    integration text NOT NULL,
    entity      text NOT NULL,
    changed_at  timestamptz,
    last_id     bigint,
    PRIMARY KEY (integration, entity)
);

ALTER TABLE organizations
    ADD COLUMN psa_changed_at          timestamptz,
    ADD COLUMN accounting_customer_id  text,
    ADD COLUMN accounting_email        text,
    -- something other services see changed: published at the end of the directory step
    ADD COLUMN dirty                   boolean NOT NULL DEFAULT false,
    -- its contacts changed: the default contact may have too
    ADD COLUMN recheck_default         boolean NOT NULL DEFAULT false;

CREATE TABLE contacts (
    contact_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    external_id     text NOT NULL,
    first_name      text,
    last_name       text,
    email           text,
    active          boolean NOT NULL,
    is_primary      boolean NOT NULL,
    is_billing      boolean NOT NULL,
    psa_changed_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_by_organization ON contacts (organization_id, contact_id);

CREATE TABLE contracts (
    contract_id     text PRIMARY KEY,
    organization_id text NOT NULL,
    name            text,
    number          text,
    status          integer,
    start_date      date,
    end_date        date,
    psa_changed_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contracts_by_organization ON contracts (organization_id);

CREATE TABLE tickets (
    ticket_id       text PRIMARY KEY,
    organization_id text NOT NULL,
    number          text,
    title           text,
    status          integer,
    priority        integer,
    psa_changed_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_by_organization ON tickets (organization_id);

CREATE TABLE opportunities (
    opportunity_id  text PRIMARY KEY,
    organization_id text NOT NULL,
    title           text NOT NULL,
    status          integer,
    amount          numeric(14, 2),
    user_fields     jsonb NOT NULL DEFAULT '[]',
    psa_changed_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opportunities_by_organization ON opportunities (organization_id, opportunity_id);

-- Invoices as the PSA shows them (the published snapshot lives in `invoices`).
CREATE TABLE psa_invoices (
    invoice_id      text PRIMARY KEY,
    external_id     bigint NOT NULL UNIQUE,
    organization_id text NOT NULL,
    invoice_number  text,
    total           numeric(14, 2) NOT NULL,
    issued_on       date NOT NULL,
    due_on          date,
    voided          boolean NOT NULL,
    voided_at       timestamptz,
    paid_on         date,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The accounting invoice each of our invoices is linked to, as last read.
CREATE TABLE accounting_invoices (
    invoice_id         text PRIMARY KEY,
    accounting_id      text NOT NULL UNIQUE,
    doc_number         text,
    customer_id        text,
    currency           text,
    total              numeric(14, 2) NOT NULL,
    balance            numeric(14, 2) NOT NULL,
    paid_elsewhere_on  date,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounting_invoices_by_doc_number ON accounting_invoices (doc_number);

-- Numbering: an accounting invoice is about to be created for a PSA invoice (written before the call,
-- so a crash after QuickBooks created it is resolved by looking for the marker, not by a second create).
CREATE TABLE numbering_intents (
    invoice_id   text PRIMARY KEY,
    customer_id  text NOT NULL,
    marker       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Payment write-back: the newest payment snapshot (desired) and what was written (done).
CREATE TABLE payment_writebacks (
    payment_id            text PRIMARY KEY,
    organization_id       text NOT NULL,
    desired               jsonb NOT NULL,
    desired_at            timestamptz NOT NULL,
    desired_seq           bigint NOT NULL DEFAULT 1,
    done_seq              bigint NOT NULL DEFAULT 0,
    accounting_payment_id text,
    accounting_voided     boolean NOT NULL DEFAULT false,
    intent_at             timestamptz,
    attempts              integer NOT NULL DEFAULT 0,
    next_attempt_at       timestamptz NOT NULL DEFAULT now(),
    last_error            text,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_writebacks_due ON payment_writebacks (next_attempt_at) WHERE desired_seq > done_seq;

-- Per payment and invoice: the amount the newest snapshot applies (desired, 0 once cancelled) and the
-- amount sync has applied in accounting (written). The record of every accounting payment we created.
CREATE TABLE writeback_applications (
    payment_id      text NOT NULL,
    invoice_id      text NOT NULL,
    desired_amount  numeric(14, 2) NOT NULL DEFAULT 0,
    written_amount  numeric(14, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (payment_id, invoice_id)
);
CREATE INDEX writeback_applications_by_invoice ON writeback_applications (invoice_id);

-- The paid date sync last wrote on each PSA invoice (null: cleared).
CREATE TABLE psa_paid_dates (
    invoice_id text PRIMARY KEY,
    paid_on    date,
    updated_at timestamptz NOT NULL DEFAULT now()
);
