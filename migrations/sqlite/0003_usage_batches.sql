-- Raw usage records are stored one row per writer batch instead of one row
-- per request: a batch is a compact columnar JSON document (a dictionary of
-- key / tenant / namespace labels plus one integer tuple per record), so the
-- writer keeps up with the data plane at a few inserts a second. Reports read
-- the hourly rollups; raw records are read back by time range (export).
DROP TABLE usage_records;

CREATE TABLE usage_batches (
    id INTEGER PRIMARY KEY,
    first_at    TEXT NOT NULL,
    last_at     TEXT NOT NULL,
    records     BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX usage_batches_range ON usage_batches(first_at, last_at);
