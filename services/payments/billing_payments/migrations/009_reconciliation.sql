-- Three-way reconciliation runs and their drifts. Payments checks the gateway part itself; sync answers the
-- books part (accounting and PSA) by event. A run completes when both parts are in (or failed, with why).
CREATE TABLE reconciliation_runs (
    run_id            uuid PRIMARY KEY,
    trigger           text NOT NULL CHECK (trigger IN ('nightly', 'on_demand')),
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL CHECK (period_end > period_start),
    requested_by      text,
    status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed')),
    gateway_state     text NOT NULL DEFAULT 'pending' CHECK (gateway_state IN ('pending', 'checked', 'failed')),
    gateway_claimed_at timestamptz,  -- a replica checking it; another takes it over once the lease is over
    gateway_failure   text,
    gateway_checked   jsonb NOT NULL DEFAULT '{}',  -- counts of what was compared
    books_state       text NOT NULL DEFAULT 'pending' CHECK (books_state IN ('pending', 'checked', 'failed')),
    books_failure     text,
    books_checked     jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz
);
CREATE INDEX reconciliation_runs_newest ON reconciliation_runs (created_at DESC, run_id);
-- One nightly run per night, however many replicas schedule it.
CREATE UNIQUE INDEX reconciliation_nightly_once ON reconciliation_runs (period_start) WHERE trigger = 'nightly';

CREATE TABLE reconciliation_drifts (
    drift_id        uuid PRIMARY KEY,
    run_id          uuid NOT NULL REFERENCES reconciliation_runs,
    part            text NOT NULL CHECK (part IN ('gateway', 'books')),
    seq             integer NOT NULL,
    code            text NOT NULL,
    organization_id text,
    payment_id      text,
    invoice_id      text,
    transaction_id  text,
    accounting_id   text,
    currency        text,
    amount          numeric(14, 2),
    summary         text NOT NULL,
    evidence        jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'explained', 'repair_requested', 'repaired')),
    note            text,
    resolved_by     text,
    resolved_at     timestamptz,
    UNIQUE (run_id, part, seq)
);
