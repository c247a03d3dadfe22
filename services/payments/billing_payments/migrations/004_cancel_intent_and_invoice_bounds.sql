-- A cancel is recorded before the gateway is asked to void or refund the sale (`gateway_reversal`
-- 'pending'), so a void that succeeded before a failed commit is never forgotten: the reconciler asks the
-- gateway and finishes it. Afterwards it says what moved at the gateway: 'voided' (the unsettled sale),
-- 'refunded' (the settled sale, with refund_via_gateway on) or 'none' (settled, refund_via_gateway off).
ALTER TABLE payments ADD COLUMN gateway_reversal text
    CHECK (gateway_reversal IN ('pending', 'voided', 'refunded', 'none'));
ALTER TABLE payments ADD COLUMN reversal_claimed_at timestamptz;  -- lease of whoever carries the cancel out
ALTER TABLE payments ADD COLUMN reversal_sent boolean NOT NULL DEFAULT false;  -- a void/refund may have left
ALTER TABLE payments ADD COLUMN reversal_transaction_id text;  -- the gateway's void or refund
CREATE INDEX payments_reversal_pending ON payments (reversal_claimed_at) WHERE gateway_reversal = 'pending';

-- The invoice total as sync reports it, apart from `total`, which never drops below what the ledger applied:
-- an accounting total lowered under the applied money leaves the invoice at balance 0 (not payable) instead of
-- a negative balance, and staff are told.
ALTER TABLE invoices ADD COLUMN source_total numeric(14, 2);
UPDATE invoices SET source_total = total;
ALTER TABLE invoices ALTER COLUMN source_total SET NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_source_total_not_negative CHECK (source_total >= 0);
UPDATE invoices SET total = applied WHERE applied > total;
ALTER TABLE invoices ADD CONSTRAINT invoices_applied_within_total CHECK (applied >= 0 AND applied <= total);
