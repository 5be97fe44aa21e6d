-- Dashboards at scale (see the SQLite migration of the same name): each
-- user's total per ISO week, month and rolling 30 / 90 days; cost per day
-- and service across tenants; one tenant's days by index.
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

-- Whole days up to yesterday (UTC) are kept (see the SQLite migration).
INSERT INTO cost_window_anchor (kind, last_day) VALUES ('spans', to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYY-MM-DD'));
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'week', to_char(date_trunc('week', day::date), 'YYYY-MM-DD'), tenant_id, user_id,
       CAST(SUM(events) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
FROM cost_daily WHERE service <> 'keyward' AND day <= to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYY-MM-DD') GROUP BY 2, tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'month', substr(day, 1, 8) || '01', tenant_id, user_id,
       CAST(SUM(events) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
FROM cost_daily WHERE service <> 'keyward' AND day <= to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYY-MM-DD') GROUP BY 2, tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'last30', '', tenant_id, user_id, CAST(SUM(events) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
FROM cost_daily
WHERE day >= to_char((now() AT TIME ZONE 'UTC')::date - 29, 'YYYY-MM-DD') AND day <= to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYY-MM-DD')
  AND service <> 'keyward'
GROUP BY tenant_id, user_id;
INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros)
SELECT 'last90', '', tenant_id, user_id, CAST(SUM(events) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
FROM cost_daily
WHERE day >= to_char((now() AT TIME ZONE 'UTC')::date - 89, 'YYYY-MM-DD') AND day <= to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYY-MM-DD')
  AND service <> 'keyward'
GROUP BY tenant_id, user_id;

CREATE TABLE cost_daily_service (
    day          TEXT NOT NULL,
    service      TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (day, service)
);
INSERT INTO cost_daily_service (day, service, events, cost_micros)
SELECT day, service, CAST(SUM(events) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
FROM cost_daily_tenant GROUP BY day, service;

CREATE INDEX cost_daily_tenant_by_tenant ON cost_daily_tenant(tenant_id, day);

