-- People who sign in, their sessions, sign-in failures (for throttling) and the audit log.
CREATE TABLE users (
    user_id          uuid PRIMARY KEY,
    email            text NOT NULL,
    password_hash    text,  -- null until an invited person sets a password
    role             text NOT NULL CHECK (role IN ('admin', 'manager', 'client')),
    organization_id  text,
    contact_id       text,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'client' OR (organization_id IS NOT NULL AND contact_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_by_email ON users (lower(email));

-- The cookie holds a random token; only its SHA-256 is stored, so a copy of this table opens no session.
CREATE TABLE sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE sign_in_failures (
    id       bigserial PRIMARY KEY,
    email    text NOT NULL,
    address  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_by_email ON sign_in_failures (lower(email), at);
CREATE INDEX sign_in_failures_by_address ON sign_in_failures (address, at);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    user_id    uuid,
    email      text NOT NULL,
    action     text NOT NULL,
    target     text,
    details    jsonb NOT NULL DEFAULT '{}',
    address    text
);
CREATE INDEX audit_log_by_time ON audit_log (at DESC, id DESC);
