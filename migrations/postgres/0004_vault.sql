-- The provider secret vault. Values are AES-256-GCM ciphertexts (see
-- src/crypto/vault.rs): key_version names the master key, nonce is fresh per
-- seal, and the associated data binds each to (name, tenant, service, kind),
-- so a ciphertext moved to another row does not open. `owner` is the tenant
-- id, or `pool:<tier>` for the platform's pooled keys; `name` follows the
-- ai-{service}-{tenantId}[-customer|-admin] convention for display.
CREATE TABLE provider_secrets (
    service            TEXT NOT NULL,
    owner              TEXT NOT NULL,
    kind               TEXT NOT NULL,
    name               TEXT NOT NULL,
    tenant_id          TEXT,
    version            BIGINT NOT NULL,
    key_version        BIGINT NOT NULL,
    nonce              TEXT NOT NULL,
    ciphertext         TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    last_validated_at  TEXT,
    last_validation    TEXT,
    PRIMARY KEY (service, owner, kind)
);
CREATE INDEX provider_secrets_tenant ON provider_secrets(tenant_id);
CREATE INDEX provider_secrets_key_version ON provider_secrets(key_version);

-- What a keyward API key may do besides the data plane (e.g. secrets:read).
ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT '';

-- Each service's cost model: a price per unit, by model ('*' = any model),
-- with the date it takes effect, so a later change never reprices history.
-- Money is integer micro-dollars: price_micros per per_units units.
CREATE TABLE service_prices (
    service         TEXT NOT NULL,
    model           TEXT NOT NULL,
    unit            TEXT NOT NULL,
    price_micros    BIGINT NOT NULL,
    per_units       BIGINT NOT NULL,
    effective_from  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (service, model, unit, effective_from)
);
INSERT INTO service_prices (service, model, unit, price_micros, per_units, effective_from, created_at) VALUES
    ('openai', '*', 'token_in', 2500000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('openai', '*', 'token_out', 10000000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('openai', 'gpt-4o-mini', 'token_in', 150000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('openai', 'gpt-4o-mini', 'token_out', 600000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('anthropic', '*', 'token_in', 3000000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('anthropic', '*', 'token_out', 15000000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('hume', '*', 'second', 1200, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('elevenlabs', '*', 'character', 300000, 1000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('deepgram', '*', 'minute', 4300, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
    ('keyward', '*', 'request', 400000, 1000000, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
