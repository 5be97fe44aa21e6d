-- Ingest at scale. Random event ids as the primary key spread every batch's
-- inserts over the whole index (about one dirty page per event); keying
-- events by (occurred_at, event_id) keeps a batch's inserts together, since
-- events arrive roughly in time order. A retried batch resends each event
-- with its id and timestamp unchanged, so it is still stored once.
CREATE TABLE usage_events_v2 (
    occurred_at     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
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
    cost_micros     BIGINT NOT NULL,
    ingested_at     TEXT NOT NULL,
    PRIMARY KEY (occurred_at, event_id)
);
INSERT INTO usage_events_v2 (occurred_at, event_id, trace_id, tenant_id, user_id, service, operation,
    model, tokens_in, tokens_out, characters, seconds_milli, minutes_milli, duration_ms, cost_micros, ingested_at)
SELECT occurred_at, event_id, trace_id, tenant_id, user_id, service, operation,
    model, tokens_in, tokens_out, characters, seconds_milli, minutes_milli, duration_ms, cost_micros, ingested_at
FROM usage_events;
DROP TABLE usage_events;
ALTER TABLE usage_events_v2 RENAME TO usage_events;

-- Rollup deltas of ingested events, one row per ingest batch, applied to the
-- rollups by a background task (and before every analytics read) in key
-- order, many batches at a time: the rollups' pages are written once per
-- application instead of once per event.
CREATE TABLE cost_rollup_pending (
    id    INTEGER PRIMARY KEY,
    body  TEXT NOT NULL
);

-- Cost per day, tenant and service: what platform-wide analytics (forecast)
-- read instead of the per-user rollups.
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

-- Cost per ISO week (its Monday), tenant, user and service: the weekly
-- optimisation reads one week's rows in key order, with nothing to group.
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
SELECT date(day, 'weekday 0', '-6 days'), tenant_id, user_id, service, SUM(events), SUM(cost_micros)
FROM cost_daily GROUP BY 1, tenant_id, user_id, service;
