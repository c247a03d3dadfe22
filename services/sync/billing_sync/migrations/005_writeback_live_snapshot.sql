-- The newest snapshot in which the payment stood (succeeded). A cancel or chargeback can replace it as
-- the desired snapshot before accounting ever took the payment (a refused first create, retried later);
-- write-back then records the payment as it stood and voids it, so every payment charged at the
-- gateway shows in the books as recorded then voided, whatever the timing. See services/sync/README.md.
ALTER TABLE payment_writebacks ADD COLUMN live jsonb;
UPDATE payment_writebacks SET live = desired WHERE desired->>'status' = 'succeeded';
