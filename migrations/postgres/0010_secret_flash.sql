-- A secret made by a dashboard action (rotation, provisioning), held for the
-- one page view that shows it: sealed with the vault's master key (AAD binds
-- it to the session and key), taken (deleted) when shown, gone after two
-- minutes. In the store rather than in one replica's memory, so the page can
-- be served by any replica.
CREATE TABLE secret_flash (
    session_hash     TEXT PRIMARY KEY,
    key_id           TEXT NOT NULL,
    key_version      BIGINT NOT NULL,
    nonce            TEXT NOT NULL,
    ciphertext       TEXT NOT NULL,
    old_valid_until  TEXT,
    expires_at       TEXT NOT NULL
);
