-- Signed outbound webhooks (issue 14 item 2). A subscription wants some billing.* event types at a URL;
-- the consumer group notifications-webhooks enqueues one message per enabled subscription that wants an
-- event's type, in the inbox's transaction (so once per event and subscription); the delivery leader
-- posts them, oldest first per (subscription, organization), and logs every attempt.
CREATE TABLE webhook_subscriptions (
    subscription_id uuid PRIMARY KEY,
    url             text NOT NULL,
    event_types     text[] NOT NULL,
    secret_sealed   bytea NOT NULL,  -- whsec_..., sealed with SECRETS_KEY
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_messages (
    message_id      uuid PRIMARY KEY,  -- also the webhook-id header: the same on every attempt and replay
    seq             bigserial NOT NULL UNIQUE,  -- the order messages are sent in, per lane
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    organization_id text NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    body            text NOT NULL,  -- the envelope JSON exactly as posted (and signed)
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    attempts        integer NOT NULL DEFAULT 0,  -- failures in a row since it was last due afresh
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    failing_since   timestamptz,  -- the first failure in a row: the retry horizon counts from it
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_messages_lanes ON webhook_messages (subscription_id, organization_id, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_messages_by_subscription ON webhook_messages (subscription_id, created_at);

CREATE TABLE webhook_attempts (
    attempt_id   bigserial PRIMARY KEY,
    message_id   uuid NOT NULL REFERENCES webhook_messages ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    status_code  integer,  -- the receiver's answer; NULL when there was none (see error)
    error        text,
    duration_ms  integer NOT NULL
);
CREATE INDEX webhook_attempts_by_message ON webhook_attempts (message_id, attempt_id);
