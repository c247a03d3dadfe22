-- Client profiles: what a client contact may do. Every client user has one; "Default" allows all.
CREATE TABLE client_profiles (
    profile_id     uuid PRIMARY KEY,
    name           text NOT NULL,
    view_invoices  boolean NOT NULL DEFAULT true,
    make_payments  boolean NOT NULL DEFAULT true,
    view_quotes    boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX client_profiles_by_name ON client_profiles (lower(name));
INSERT INTO client_profiles (profile_id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'Default');

ALTER TABLE users ADD COLUMN profile_id uuid REFERENCES client_profiles;
UPDATE users SET profile_id = '00000000-0000-0000-0000-000000000001' WHERE role = 'client';
ALTER TABLE users ADD CONSTRAINT clients_have_a_profile CHECK (role <> 'client' OR profile_id IS NOT NULL);
