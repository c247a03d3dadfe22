-- A claimed key that names no payment yet is only leased: a crash between the claim and the pending
-- payment must not wedge the key. `claim_id` fences the holder: once a retry has taken the key over,
-- the first holder can no longer attach a payment to it, complete it or release it.
ALTER TABLE idempotency_keys ADD COLUMN claim_id uuid;
ALTER TABLE idempotency_keys ADD COLUMN claimed_at timestamptz NOT NULL DEFAULT now();
