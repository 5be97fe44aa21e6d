-- The response cache's persistent tier, and data-plane usage (raw records plus
-- additive hourly rollups, so several writers can upsert without read-modify-write).

CREATE TABLE cache_entries (
    namespace   TEXT NOT NULL REFERENCES namespaces(name),
    entry_key   TEXT NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    response    TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, entry_key)
);
CREATE INDEX cache_entries_expiry ON cache_entries(expires_at);

CREATE TABLE usage_records (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    hit         BIGINT,
    bytes_in    BIGINT NOT NULL,
    bytes_out   BIGINT NOT NULL,
    latency_us  BIGINT NOT NULL,
    status      BIGINT NOT NULL
);
-- No secondary index: records are appended at request rate and read rarely
-- (reports read the rollups), so every index here would tax the hot path's writer.

CREATE TABLE usage_hourly (
    hour            TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    requests        BIGINT NOT NULL,
    hits            BIGINT NOT NULL,
    misses          BIGINT NOT NULL,
    rejected        BIGINT NOT NULL,
    bytes_in        BIGINT NOT NULL,
    bytes_out       BIGINT NOT NULL,
    hit_bytes       BIGINT NOT NULL,
    latency_sum_us  BIGINT NOT NULL,
    PRIMARY KEY (hour, key_id, tenant_id, namespace)
);
CREATE INDEX usage_hourly_tenant ON usage_hourly(tenant_id, hour);
CREATE INDEX usage_hourly_subject ON usage_hourly(key_id, tenant_id, hour);

CREATE TABLE usage_latency_hourly (
    hour       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    bucket     BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (hour, key_id, tenant_id, namespace, bucket)
);
