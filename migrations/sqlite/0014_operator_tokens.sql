-- Operator tokens for the management API: each with a name, permissions
-- (comma-separated names), an optional tenant restriction (`acme` or
-- `acme-*`), an optional expiry, and when it was last used. The secret is
-- stored only as a keyed digest (HMAC-SHA256 under the pepper).
CREATE TABLE operator_tokens (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    digest          TEXT NOT NULL UNIQUE,
    display_prefix  TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    tenant_scope    TEXT,
    expires_at      TEXT,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    last_used_at    TEXT,
    revoked_at      TEXT
);

-- Switches an operator flips at run time and every replica reads
-- (`root_token` = `disabled` turns the bootstrap root token off).
CREATE TABLE operator_settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
