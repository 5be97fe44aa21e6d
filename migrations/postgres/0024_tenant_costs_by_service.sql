-- SQLite adds an index here for the statements' sums per tenant (see its
-- 0024). PostgreSQL groups those rows with a hash aggregate and needs none;
-- this migration keeps both engines at the same version (migrate-store
-- compares them).
SELECT 1;
