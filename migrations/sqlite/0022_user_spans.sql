-- Dashboards at scale. The spread of cost over users (mean, median, p95,
-- p99, standard deviation) is read from each user's total over a span kept
-- as it is ingested, instead of grouping the per-user daily rollups (about
-- one row per event at high density) on every page view:
--   kind 'week'   start = the ISO week's Monday
--   kind 'month'  start = the month's first day
--   kind 'last30' / 'last90'  start = '' : the rolling window ending with the
--       day in cost_window_anchor (moved forward each UTC day by adding the
--       day that enters and subtracting the one that leaves).
-- Only AI services (not the data plane's 'keyward' rows), as before.
CREATE TABLE cost_user_span (
    kind         TEXT NOT NULL,
    start        TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (kind, start, tenant_id, user_id)
);

CREATE TABLE cost_window_anchor (
    kind      TEXT PRIMARY KEY,
    last_day  TEXT NOT NULL
);

INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'week', date(day, 'weekday 0', '-6 days'), tenant_id, user_id, SUM(events), SUM(cost_micros)
FROM cost_daily WHERE service <> 'keyward' GROUP BY 2, tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'month', substr(day, 1, 8) || '01', tenant_id, user_id, SUM(events), SUM(cost_micros)
FROM cost_daily WHERE service <> 'keyward' GROUP BY 2, tenant_id, user_id;

-- Cost per day and service across tenants: what the platform-wide charts
-- and totals read (sized days x services).
CREATE TABLE cost_daily_service (
    day          TEXT NOT NULL,
    service      TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (day, service)
);
INSERT INTO cost_daily_service (day, service, events, cost_micros)
SELECT day, service, SUM(events), SUM(cost_micros) FROM cost_daily_tenant GROUP BY day, service;

-- One tenant's days without scanning every tenant's.
CREATE INDEX cost_daily_tenant_by_tenant ON cost_daily_tenant(tenant_id, day);

-- The rolling windows as of today (UTC), so a started server has nothing
-- to build; each later day moves them (services::costs).
INSERT INTO cost_window_anchor (kind, last_day) VALUES ('last30', date('now')), ('last90', date('now'));
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'last30', '', tenant_id, user_id, SUM(events), SUM(cost_micros) FROM cost_daily
WHERE day >= date('now', '-29 days') AND day <= date('now') AND service <> 'keyward'
GROUP BY tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'last90', '', tenant_id, user_id, SUM(events), SUM(cost_micros) FROM cost_daily
WHERE day >= date('now', '-89 days') AND day <= date('now') AND service <> 'keyward'
GROUP BY tenant_id, user_id;
