-- Who started a payment: a person (manual) or the autopay scheduler. The snapshot says so, so that a client
-- charged by autopay gets the autopay notice and not a second receipt for the same charge.
ALTER TABLE payments ADD COLUMN origin text NOT NULL DEFAULT 'manual' CHECK (origin IN ('manual', 'autopay'));
