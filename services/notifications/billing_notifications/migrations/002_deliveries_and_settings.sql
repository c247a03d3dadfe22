-- One delivery per (notification, channel): the intent, recorded in the same transaction as the
-- notification. A worker claims due rows with a lease (claim_token, claimed_until), sends outside
-- any transaction and records the outcome under the same token. A claim whose lease ran out
-- without an outcome means the worker died mid-send: the next claim marks the outcome unknown.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    delivery_id     uuid NOT NULL UNIQUE,
    notification_id uuid NOT NULL REFERENCES notifications (notification_id),
    type            text NOT NULL,
    organization_id text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'ticket')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claim_token     uuid,
    claimed_until   timestamptz,
    outcome_unknown boolean NOT NULL DEFAULT false,
    waiting         boolean NOT NULL DEFAULT false,
    recipients      text[] NOT NULL DEFAULT '{}',
    external_id     text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_waiting ON deliveries (organization_id) WHERE status = 'pending' AND waiting;
CREATE INDEX deliveries_by_type ON deliveries (type, status, id);

-- Per type: email on/off, ticket on/off. A type without a row has its default (domain/catalog.py).
CREATE TABLE channel_settings (
    type       text PRIMARY KEY,
    email      boolean NOT NULL,
    ticket     boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The ticketing configuration: one row, or none for the defaults.
CREATE TABLE ticketing_settings (
    singleton           boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    queue_id            integer,
    issue_type_id       integer,
    priority            integer NOT NULL,
    status              integer NOT NULL,
    internal_company_id integer NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Invoice numbers from billing.invoices.v1, so payment notifications can name their invoices.
CREATE TABLE invoices (
    invoice_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    invoice_number  text,
    source_version  bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
