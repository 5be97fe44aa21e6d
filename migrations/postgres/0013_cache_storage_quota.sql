-- A per-tenant quota on the bytes its cached responses take in the store (a
-- plan figure). Each tenant carries the running total of its namespaces'
-- entries, kept by a trigger on every insert, replace and delete, so `set`
-- checks the quota with one row read and nothing can forget to count. The
-- tenant row's lock also serialises concurrent sets of one tenant, so two
-- writers cannot both slip under the quota.
ALTER TABLE plans ADD COLUMN max_cached_bytes BIGINT NOT NULL DEFAULT 104857600;
UPDATE plans SET max_cached_bytes = 10737418240 WHERE name = 'pro';
UPDATE plans SET max_cached_bytes = 214748364800 WHERE name = 'enterprise';

ALTER TABLE tenants ADD COLUMN cached_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE tenants SET cached_bytes = (
    SELECT COALESCE(SUM(c.size_bytes), 0) FROM cache_entries c
    JOIN namespaces n ON n.name = c.namespace WHERE n.tenant_id = tenants.id);

CREATE FUNCTION cache_entries_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        UPDATE tenants SET cached_bytes = cached_bytes - OLD.size_bytes
        WHERE id = (SELECT tenant_id FROM namespaces WHERE name = OLD.namespace);
    END IF;
    IF TG_OP = 'UPDATE' OR TG_OP = 'INSERT' THEN
        UPDATE tenants SET cached_bytes = cached_bytes + NEW.size_bytes
        WHERE id = (SELECT tenant_id FROM namespaces WHERE name = NEW.namespace);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER cache_entries_count AFTER INSERT OR UPDATE OR DELETE ON cache_entries
    FOR EACH ROW EXECUTE FUNCTION cache_entries_count();
