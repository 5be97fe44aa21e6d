-- Limits shared by replicas through the database (PostgreSQL without
-- Redis). Each replica adds the requests it admitted to its subjects'
-- monthly counts every few hundred milliseconds (`last_delta` is what the
-- latest addition added, so one multi-row upsert can add different amounts)
-- and reads the others' additions back; the first row of a month is seeded
-- from the usage rollups.
CREATE TABLE limit_counters (
    subject     TEXT NOT NULL,
    period      TEXT NOT NULL,
    used        BIGINT NOT NULL,
    last_delta  BIGINT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (subject, period)
);
CREATE INDEX limit_counters_updated ON limit_counters(period, updated_at);

-- Replicas alive (a heartbeat with each sync): per-second and concurrency
-- limits are split among the live ones.
CREATE TABLE replicas (
    instance_id  TEXT PRIMARY KEY,
    seen_at      TEXT NOT NULL
);
