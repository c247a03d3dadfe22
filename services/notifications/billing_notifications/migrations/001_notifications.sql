-- The directory as sync publishes it: who to address.
CREATE TABLE organizations (
    organization_id    text PRIMARY KEY,
    name               text NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    default_contact_id text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    contact_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    name            text NOT NULL,
    email           text,
    active          boolean NOT NULL DEFAULT true,
    is_primary      boolean NOT NULL DEFAULT false,
    is_billing      boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_by_organization ON contacts (organization_id);

-- One notification per (type, dedupe key): the key is the source event id, or for "invoice available"
-- the invoice id, so a replayed or re-synced source never notifies twice.
CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    type            text NOT NULL,
    dedupe_key      text NOT NULL,
    source_event_id uuid NOT NULL,
    organization_id text NOT NULL,
    channels        text[] NOT NULL,
    email           jsonb,
    ticket          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (type, dedupe_key)
);
