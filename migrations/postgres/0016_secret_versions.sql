-- Previous versions of provider secrets, still sealed (same associated data
-- as the live row, so a version restored by a rollback opens): the newest
-- KEYWARD_SECRET_VERSIONS_KEPT of each secret are kept. Re-sealed with the
-- live rows when the master key rotates.
CREATE TABLE provider_secret_versions (
    service      TEXT NOT NULL,
    owner        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    key_version  BIGINT NOT NULL,
    nonce        TEXT NOT NULL,
    ciphertext   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    replaced_at  TEXT NOT NULL,
    PRIMARY KEY (service, owner, kind, version)
);
CREATE INDEX provider_secret_versions_key_version ON provider_secret_versions(key_version);
