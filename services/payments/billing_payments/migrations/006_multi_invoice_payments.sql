-- Paying several invoices in one sale: what the pending payment will apply to each invoice, in the request's
-- order, as [{"invoice_id": "...", "amount": "12.34"}, ...]. NULL for a payment of one invoice (its
-- `invoice_id` gets the whole original amount); for several, `invoice_id` holds the first of them.
ALTER TABLE payments ADD COLUMN allocations jsonb;
CREATE INDEX payments_allocations ON payments USING gin (allocations jsonb_path_ops) WHERE allocations IS NOT NULL;
