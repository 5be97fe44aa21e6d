-- Dashboards at scale. The spread of cost over users (mean, median, p95,
-- p99, standard deviation) is read from each user's total over a span kept
-- in advance, instead of grouping the per-user daily rollups (about one row
-- per event at high density) over the whole span on every page view:
--   kind 'week'   start = the ISO week's Monday
--   kind 'month'  start = the month's first day
--   kind 'last30' / 'last90'  start = '' : the 29 / 89 days ending with the
--       anchor, so with today (read fresh) a rolling window ending today.
-- The rows hold whole days up to the anchor (cost_window_anchor 'spans',
-- yesterday once the day has turned); a read adds the days after it from
-- cost_daily. Only AI services (not the data plane's 'keyward' rows).
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

-- Whole days up to yesterday (UTC) are kept: a started server has nothing
-- to fold until the day turns (services::costs folds each day that ends).
INSERT INTO cost_window_anchor (kind, last_day) VALUES ('spans', date('now', '-1 day'));
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'week', date(day, 'weekday 0', '-6 days'), tenant_id, user_id, SUM(events), SUM(cost_micros)
FROM cost_daily WHERE service <> 'keyward' AND day <= date('now', '-1 day') GROUP BY 2, tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'month', substr(day, 1, 8) || '01', tenant_id, user_id, SUM(events), SUM(cost_micros)
FROM cost_daily WHERE service <> 'keyward' AND day <= date('now', '-1 day') GROUP BY 2, tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'last30', '', tenant_id, user_id, SUM(events), SUM(cost_micros) FROM cost_daily
WHERE day >= date('now', '-29 days') AND day <= date('now', '-1 day') AND service <> 'keyward'
GROUP BY tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'last90', '', tenant_id, user_id, SUM(events), SUM(cost_micros) FROM cost_daily
WHERE day >= date('now', '-89 days') AND day <= date('now', '-1 day') AND service <> 'keyward'
GROUP BY tenant_id, user_id;

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

