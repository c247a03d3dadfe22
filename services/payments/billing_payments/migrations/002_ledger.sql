-- The ledger. Amounts are numeric(14,2); corrections are new rows (application entries, refund rows).
ALTER TABLE invoices ADD COLUMN in_flight_payment_id uuid;  -- one payment in flight per invoice

CREATE TABLE payments (
    payment_id       uuid PRIMARY KEY,
    invoice_id       text NOT NULL,
    organization_id  text NOT NULL,
    contact_id       text,
    environment      text NOT NULL CHECK (environment IN ('autotask', 'client_portal')),
    method_type      text NOT NULL CHECK (method_type IN ('credit_card', 'echeck')),
    method_brand     text,
    method_last4     text,
    method_id        uuid,
    vault_id         text,
    currency         text NOT NULL,
    original_amount  numeric(14, 2) NOT NULL CHECK (original_amount > 0),
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled', 'charged_back')),
    failure_reason   text,
    transaction_id   text,
    sale_amount      numeric(14, 2) NOT NULL DEFAULT 0 CHECK (sale_amount >= 0),
    unapplied_amount numeric(14, 2) NOT NULL DEFAULT 0 CHECK (unapplied_amount >= 0),
    refund_amount    numeric(14, 2) NOT NULL DEFAULT 0 CHECK (refund_amount >= 0),
    version          integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_by_organization ON payments (organization_id, created_at DESC, payment_id DESC);
CREATE INDEX payments_by_time ON payments (created_at DESC, payment_id DESC);
CREATE INDEX payments_pending ON payments (updated_at) WHERE status = 'pending';

-- Positive when money is applied to an invoice, negative when taken back.
CREATE TABLE application_entries (
    id          bigserial PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES payments,
    invoice_id  text NOT NULL,
    amount      numeric(14, 2) NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX application_entries_by_payment ON application_entries (payment_id, id);
CREATE INDEX application_entries_by_invoice ON application_entries (invoice_id);

-- One sale row, then one row per refund. `gateway_status` says whether a refund went to the gateway:
-- recorded (kept here only), pending (to be sent), issued, failed.
CREATE TABLE payment_transactions (
    payment_id     uuid NOT NULL REFERENCES payments,
    seq            integer NOT NULL,
    type           text NOT NULL CHECK (type IN ('sale', 'refund')),
    amount         numeric(14, 2) NOT NULL CHECK (amount > 0),
    at             timestamptz NOT NULL,
    transaction_id text,
    gateway_status text NOT NULL DEFAULT 'recorded',
    gateway_error  text,
    gateway_attempted_at timestamptz,
    PRIMARY KEY (payment_id, seq)
);
CREATE INDEX payment_transactions_pending ON payment_transactions (at) WHERE gateway_status = 'pending';

-- POST /v1/payments: the first response under a key is stored and replayed.
CREATE TABLE idempotency_keys (
    scope           text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    payment_id      uuid,
    response_status integer,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_payment ON idempotency_keys (payment_id);

CREATE TABLE processing_settings (
    id                    integer PRIMARY KEY CHECK (id = 1),
    active                boolean NOT NULL DEFAULT false,
    currency              text,
    accept_payments_in    text[] NOT NULL DEFAULT '{}',
    payment_types         jsonb NOT NULL DEFAULT '{}',
    public_key            bytea,   -- Fernet-sealed
    private_key           bytea,   -- Fernet-sealed
    refund_via_gateway    boolean NOT NULL DEFAULT false,
    auto_cancel_unsettled boolean NOT NULL DEFAULT true,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Stored methods: the gateway's vault id and what may be shown, never a card or account number.
CREATE TABLE wallet_methods (
    method_id       uuid PRIMARY KEY,
    organization_id text NOT NULL,
    contact_id      text,
    vault_id        text NOT NULL,
    type            text NOT NULL CHECK (type IN ('credit_card', 'echeck')),
    brand           text,
    last4           text,
    exp_month       integer,
    exp_year        integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX wallet_methods_by_organization ON wallet_methods (organization_id) WHERE deleted_at IS NULL;

-- The directory, to check that a payer belongs to the invoice's organization.
CREATE TABLE contacts (
    contact_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Gateway webhooks: a repeated event id or nonce has no second effect.
CREATE TABLE webhook_events (
    event_id    text PRIMARY KEY,
    nonce       text NOT NULL UNIQUE,
    event_type  text NOT NULL,
    order_id    text,
    outcome     text,
    body        jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
