-- A run during which an integration's settings changed: a follow-up run starts as soon as it ends
-- (cleared when the run ended having used the settings as they now are).
ALTER TABLE sync_runs ADD COLUMN rerun_requested boolean NOT NULL DEFAULT false;

-- The last paid date sync itself wrote on the PSA invoice (kept when it is cleared again): a PSA paid
-- date equal to it is ours, any other was set by other means.
ALTER TABLE psa_paid_dates ADD COLUMN last_set_on date;
UPDATE psa_paid_dates SET last_set_on = paid_on WHERE paid_on IS NOT NULL;
