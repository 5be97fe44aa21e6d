-- A key's limits over every tenant it serves together (a pooled key's own
-- quota and per-second figure), on top of each tenant's plan. NULL: none.
ALTER TABLE api_keys ADD COLUMN overall_per_second BIGINT;
ALTER TABLE api_keys ADD COLUMN overall_monthly BIGINT;
