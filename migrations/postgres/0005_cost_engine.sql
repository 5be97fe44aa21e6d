-- The cost engine: usage events (one AI call, or data-plane request, by a
-- tenant's user) with their cost fixed at ingest, and daily rollups per
-- tenant / user / service that analytics read instead of scanning events.
CREATE TABLE usage_events (
    event_id        TEXT PRIMARY KEY,
    trace_id        TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    service         TEXT NOT NULL,
    operation       TEXT NOT NULL,
    model           TEXT,
    tokens_in       BIGINT,
    tokens_out      BIGINT,
    characters      BIGINT,
    seconds_milli   BIGINT,
    minutes_milli   BIGINT,
    duration_ms     BIGINT NOT NULL,
    occurred_at     TEXT NOT NULL,
    cost_micros     BIGINT NOT NULL,
    ingested_at     TEXT NOT NULL
);

CREATE TABLE cost_daily (
    day          TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    service      TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, user_id, service)
);
CREATE INDEX cost_daily_day ON cost_daily(day);

-- What a plan earns: a monthly price (prorated by day) plus usage billed at
-- cost times usage_markup_bps / 10000.
CREATE TABLE plan_pricing (
    plan                  TEXT PRIMARY KEY,
    monthly_price_micros  BIGINT NOT NULL,
    usage_markup_bps      BIGINT NOT NULL,
    updated_at            TEXT NOT NULL
);
INSERT INTO plan_pricing (plan, monthly_price_micros, usage_markup_bps, updated_at) VALUES
    ('free', 0, 0, '2026-01-01T00:00:00.000000Z'),
    ('pro', 49000000, 12000, '2026-01-01T00:00:00.000000Z'),
    ('enterprise', 499000000, 11000, '2026-01-01T00:00:00.000000Z');
