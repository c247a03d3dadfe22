-- Autopay: one enrollment per organization (a stored method, a rule, a maximum per invoice), and the
-- attempts the scheduler made. An attempt is unique per (invoice, rule, attempt number): a replica that
-- starts the same attempt finds the row, and the payment's Idempotency-Key is derived from the same three.
CREATE TABLE autopay_enrollments (
    organization_id text PRIMARY KEY,
    method_id       uuid NOT NULL,
    rule_kind       text NOT NULL CHECK (rule_kind IN ('on_due_date', 'days_after_issue')),
    rule_days       integer CHECK (rule_days BETWEEN 0 AND 90),
    max_amount      numeric(14, 2) NOT NULL CHECK (max_amount > 0),
    currency        text NOT NULL,
    contact_id      text NOT NULL,  -- the payer every autopay payment names
    environment     text NOT NULL CHECK (environment IN ('autotask', 'client_portal')),
    enrolled_by     text NOT NULL,
    enrolled_at     timestamptz NOT NULL,
    CHECK ((rule_kind = 'days_after_issue') = (rule_days IS NOT NULL))
);

CREATE TABLE autopay_attempts (
    attempt_id         uuid PRIMARY KEY,
    organization_id    text NOT NULL,
    invoice_id         text NOT NULL,
    rule_key           text NOT NULL,  -- 'on_due_date' or 'days_after_issue:N'
    attempt_number     integer NOT NULL CHECK (attempt_number >= 1),
    method_id          uuid NOT NULL,
    max_amount         numeric(14, 2) NOT NULL,
    charge_on          date NOT NULL,  -- the day the rule charges the invoice
    run_at             timestamptz NOT NULL,  -- when this attempt may start (later for a retry)
    status             text NOT NULL CHECK (status IN ('scheduled', 'checking', 'charging', 'succeeded',
                                                        'failed', 'gave_up', 'skipped')),
    skip_reason        text,
    failure_reason     text,
    amount             numeric(14, 2),  -- fixed before the charge: a retry of the charge sends the same body
    accounting_balance numeric(14, 2),
    payment_id         uuid,
    check_requested_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (invoice_id, rule_key, attempt_number)
);
CREATE INDEX autopay_attempts_by_organization ON autopay_attempts (organization_id, created_at DESC, attempt_id DESC);
CREATE INDEX autopay_attempts_open ON autopay_attempts (status, run_at)
    WHERE status IN ('scheduled', 'checking', 'charging');

-- `autopay.upcoming` once per invoice and rule.
CREATE TABLE autopay_notices (
    invoice_id text NOT NULL,
    rule_key   text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, rule_key)
);
