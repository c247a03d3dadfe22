-- The PSA connection tickets are created with, set through the API (Connect to Ticketing); when
-- absent, the PSA_* environment is used. The secret is sealed with SECRETS_KEY.
CREATE TABLE psa_connection (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    username         text NOT NULL,
    integration_code text NOT NULL,
    base_url         text,
    secret_sealed    bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
