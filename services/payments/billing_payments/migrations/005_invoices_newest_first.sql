-- An organization's invoices newest first (Invoice History, the client's invoices), paged by key.
CREATE INDEX invoices_by_organization_newest ON invoices (organization_id, issued_on DESC, invoice_id DESC);
