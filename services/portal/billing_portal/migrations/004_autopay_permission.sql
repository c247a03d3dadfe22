-- "Manage automatic payments": a client may turn its organization's autopay on or off. Off for new profiles;
-- the Default profile allows everything, as it always has.
ALTER TABLE client_profiles ADD COLUMN autopay boolean NOT NULL DEFAULT false;
UPDATE client_profiles SET autopay = true WHERE profile_id = '00000000-0000-0000-0000-000000000001';
