-- The directory as sync publishes it (billing.directory.v1): who may be invited, and whether a client's
-- contact is still active (a deactivated contact cannot sign in).
CREATE TABLE contacts (
    contact_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    name            text NOT NULL,
    email           text,
    active          boolean NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_by_organization ON contacts (organization_id, name);

-- Invitations: the emailed link carries a random token; only its SHA-256 is kept. Single use.
CREATE TABLE invitations (
    invitation_id   uuid PRIMARY KEY,
    token_hash      bytea NOT NULL UNIQUE,
    organization_id text NOT NULL,
    contact_id      text NOT NULL,
    email           text NOT NULL,
    name            text NOT NULL,
    profile_id      uuid NOT NULL REFERENCES client_profiles,
    invited_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
