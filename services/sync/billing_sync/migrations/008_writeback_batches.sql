-- Fresh accounting payments are created through QuickBooks' batch API. The batch's members are claimed
-- together in one statement (a payment is in one batch at most): batch_key is the batch's `requestid` and
-- batch_item the item as sent (its place, the Payment, what it applies per invoice). A leader that crashed,
-- or lost its lock, after sending it leaves them set, and its successor sends that same batch again: the
-- same requestid gets the first answer, so accounting never makes a second payment. Both are cleared once
-- the member's answer is recorded (or it was refused, or was not in the batch that answered).
ALTER TABLE payment_writebacks ADD COLUMN batch_key text, ADD COLUMN batch_item jsonb;
CREATE INDEX payment_writebacks_batch ON payment_writebacks (batch_key) WHERE batch_key IS NOT NULL;
