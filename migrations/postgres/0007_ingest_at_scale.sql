-- Ingest at scale (see the SQLite migration of the same name): events keyed
-- by (occurred_at, event_id); rollup deltas applied in the background; a
-- per-tenant daily rollup for platform-wide analytics.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey;
ALTER TABLE usage_events ADD PRIMARY KEY (occurred_at, event_id);

CREATE TABLE cost_rollup_pending (
    id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body  TEXT NOT NULL
);

CREATE TABLE cost_daily_tenant (
    day          TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    service      TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (day, tenant_id, service)
);
INSERT INTO cost_daily_tenant (day, tenant_id, service, events, cost_micros)
SELECT day, tenant_id, service, SUM(events), SUM(cost_micros) FROM cost_daily
GROUP BY day, tenant_id, service;

CREATE TABLE cost_weekly (
    week         TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    service      TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (week, tenant_id, user_id, service)
);
INSERT INTO cost_weekly (week, tenant_id, user_id, service, events, cost_micros)
SELECT to_char(date_trunc('week', day::date), 'YYYY-MM-DD'), tenant_id, user_id, service,
       SUM(events), SUM(cost_micros)
FROM cost_daily GROUP BY 1, tenant_id, user_id, service;
