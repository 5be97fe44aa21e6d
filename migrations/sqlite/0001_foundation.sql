-- keyward foundation: plans, tenants, namespaces, API keys with secret versions, audit.
-- Timestamps are TEXT in RFC 3339 UTC with fixed width (YYYY-MM-DDTHH:MM:SS.ffffffZ),
-- so they sort and compare correctly as text on both engines.

CREATE TABLE plans (
    name                 TEXT PRIMARY KEY,
    requests_per_month   BIGINT NOT NULL,
    requests_per_second  BIGINT NOT NULL,
    concurrent_requests  BIGINT NOT NULL,
    max_payload_bytes    BIGINT NOT NULL,
    updated_at           TEXT NOT NULL
);

INSERT INTO plans VALUES
    ('free',       10000,    10,  5,   10485760,   '2026-01-01T00:00:00.000000Z'),
    ('pro',        100000,   50,  20,  104857600,  '2026-01-01T00:00:00.000000Z'),
    ('enterprise', 10000000, 500, 100, 1073741824, '2026-01-01T00:00:00.000000Z');

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL REFERENCES plans(name),
    parent_id   TEXT REFERENCES tenants(id),
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX tenants_parent ON tenants(parent_id);

CREATE TABLE namespaces (
    name        TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    sector      TEXT NOT NULL,
    use_case    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX namespaces_tenant ON namespaces(tenant_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    integration  TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    status       TEXT NOT NULL,
    rate_limit   BIGINT,
    expires_at   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE api_key_scopes (
    key_id   TEXT NOT NULL REFERENCES api_keys(id),
    pattern  TEXT NOT NULL,
    PRIMARY KEY (key_id, pattern)
);

CREATE TABLE api_key_secrets (
    key_id          TEXT NOT NULL REFERENCES api_keys(id),
    version         BIGINT NOT NULL,
    digest          TEXT NOT NULL UNIQUE,
    display_prefix  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target       TEXT NOT NULL,
    tenant_id    TEXT,
    request_id   TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX audit_target ON audit_log(target, id);
CREATE INDEX audit_tenant ON audit_log(tenant_id, id);
CREATE INDEX audit_at ON audit_log(at);
