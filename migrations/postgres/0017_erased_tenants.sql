-- Tenants erased: their ids are never issued again (their invoices stay
-- under them), and the maintenance sweep deletes anything of theirs that a
-- queue still in flight at the erasure wrote afterwards.
CREATE TABLE erased_tenants (
    id         TEXT PRIMARY KEY,
    erased_at  TEXT NOT NULL
);
