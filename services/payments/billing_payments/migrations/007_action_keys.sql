-- Idempotency-Key of apply, refund and cancel. Apply and refund record their key and answer in the same
-- transaction as the ledger change, so a retry replays the answer and never moves money twice. A cancel
-- records its key with the payment before asking the gateway and its answer once the cancel settles; a key
-- without an answer is finished by the retry (the cancel resumes, or the cancelled payment is the answer).
CREATE TABLE action_keys (
    scope           text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    payment_id      uuid NOT NULL,
    response_status integer,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (scope, key)
);
