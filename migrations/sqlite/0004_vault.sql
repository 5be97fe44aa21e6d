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
