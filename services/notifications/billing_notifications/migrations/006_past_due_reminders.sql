-- Past-due reminders. What the invoice snapshots say (status, due date, total) and what the payment
-- snapshots applied to each invoice give its balance; a reminder is a notification like any other, once
-- per (invoice, step) through the notifications' (type, dedupe_key) key.
ALTER TABLE invoices ADD COLUMN status text;
ALTER TABLE invoices ADD COLUMN currency text;
ALTER TABLE invoices ADD COLUMN total numeric(14, 2);
ALTER TABLE invoices ADD COLUMN due_on date;
CREATE INDEX invoices_open_by_due ON invoices (due_on) WHERE status = 'open';

-- The latest snapshot of each payment says what it applies to each invoice (a cancel applies nothing).
CREATE TABLE invoice_applications (
    payment_id text NOT NULL,
    invoice_id text NOT NULL,
    amount     numeric(14, 2) NOT NULL,
    PRIMARY KEY (payment_id, invoice_id)
);
CREATE INDEX invoice_applications_by_invoice ON invoice_applications (invoice_id);

CREATE TABLE reminder_settings (
    id             integer PRIMARY KEY CHECK (id = 1),
    days_after_due integer[] NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
