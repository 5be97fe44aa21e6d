-- Fingerprints (keyed one-way digests, never the secrets) of what every
-- replica sharing this database must share: the key-hashing pepper, each
-- master key version, the root token. A replica whose secrets do not match
-- refuses to start, naming the variable, instead of rejecting every key or
-- failing to open secrets.
CREATE TABLE config_fingerprints (
    name         TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
