-- Three-way reconciliation, sync's half (services/sync/README.md "Reconciliation").
-- A `reconciliation.requested` run: recorded by the consumer (once per run id), checked by one leader
-- outside the handler, answered by ONE `reconciliation.books_checked` (published with the row's change
-- to `done`, in one transaction). A crash mid-check leaves it `pending`: the next leader checks it again.
CREATE TABLE reconciliation_requests (
    run_id          text PRIMARY KEY,
    trigger         text NOT NULL,
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    checked_at      timestamptz
);
CREATE INDEX reconciliation_requests_due ON reconciliation_requests (next_attempt_at) WHERE status = 'pending';

-- A `writeback.resend_requested`: the payment's write-back is queued again by the consumer; the leader
-- re-writes the PSA paid dates of its invoices (and of the invoice named) from the ledger's state.
CREATE TABLE writeback_resends (
    event_id        uuid PRIMARY KEY,
    drift_id        text NOT NULL,
    payment_id      text,
    invoice_id      text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX writeback_resends_due ON writeback_resends (next_attempt_at) WHERE done_at IS NULL;
