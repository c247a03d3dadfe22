-- Transient failures are retried until a time horizon, counted from when the delivery's retry
-- window opened: when it was recorded, or when an admin re-drove it after it failed.
ALTER TABLE deliveries ADD COLUMN retry_since timestamptz NOT NULL DEFAULT now();
UPDATE deliveries SET retry_since = created_at;

-- `integration.connection_failed` notifies once per episode of an integration: the episode a
-- failure opens lasts until a sync run of that integration completes; the next failure after that
-- opens the next episode.
CREATE TABLE integration_episodes (
    organization_id text NOT NULL,
    integration     text NOT NULL,
    episode         integer NOT NULL DEFAULT 1,
    failing         boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, integration)
);
