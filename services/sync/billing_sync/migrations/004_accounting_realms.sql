-- Accounting ids are unique within one QuickBooks company (realm) only, and a reset sandbox (or a
-- restarted simulator) hands the same ids out again. Links are keyed by realm and id; the object's
-- CreateTime tells a reused id from the object we linked; a link whose object is gone is retired
-- (kept, with the number it gave, but no longer matched by id). See services/sync/README.md.
ALTER TABLE accounting_invoices
    ADD COLUMN realm_id          text,
    ADD COLUMN source_created_at timestamptz,
    ADD COLUMN retired_at        timestamptz;
UPDATE accounting_invoices
   SET realm_id = coalesce((SELECT settings->>'realm_id' FROM integrations WHERE name = 'quickbooks'), '');
ALTER TABLE accounting_invoices
    ALTER COLUMN realm_id SET NOT NULL,
    DROP CONSTRAINT accounting_invoices_accounting_id_key;
CREATE UNIQUE INDEX accounting_invoices_current ON accounting_invoices (realm_id, accounting_id)
    WHERE retired_at IS NULL;

-- A numbering intent belongs to the books it was made in: in other books there is nothing to find.
ALTER TABLE numbering_intents ADD COLUMN realm_id text NOT NULL DEFAULT '';
UPDATE numbering_intents
   SET realm_id = coalesce((SELECT settings->>'realm_id' FROM integrations WHERE name = 'quickbooks'), '');

-- Records a run skipped, with the reason (the run goes on with the others).
CREATE TABLE sync_record_failures (
    run_id     uuid NOT NULL,
    entity     text NOT NULL,
    record_id  text NOT NULL,
    reason     text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, entity, record_id)
);
CREATE INDEX sync_record_failures_by_record ON sync_record_failures (entity, record_id, failed_at DESC);
