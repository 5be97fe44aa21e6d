-- Each tenant's cost per day, all services together: what the forecast's
-- history reads (sized tenants x days, a fifth of cost_daily_tenant).
CREATE TABLE cost_daily_tenant_total (
    day          TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (day, tenant_id)
);
INSERT INTO cost_daily_tenant_total (day, tenant_id, events, cost_micros)
SELECT day, tenant_id, SUM(events), SUM(cost_micros) FROM cost_daily_tenant GROUP BY day, tenant_id;
CREATE INDEX cost_daily_tenant_total_by_tenant ON cost_daily_tenant_total(tenant_id, day);

-- The weekly optimisation of a week wholly folded into the kept user spans
-- (its Sunday at or before the 'spans' anchor) reads its services and its
-- ranked users from kept rows, not by grouping a week's (user, service) rows:
-- each service's week across tenants (distinct users, events, cost), kept
-- when the week's Sunday is folded and added to by late events ...
CREATE TABLE cost_service_week (
    week         TEXT NOT NULL,
    service      TEXT NOT NULL,
    users        BIGINT NOT NULL,
    events       BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    PRIMARY KEY (week, service)
);
INSERT INTO cost_service_week (week, service, users, events, cost_micros)
SELECT week, service, CAST(COUNT(*) AS BIGINT), CAST(SUM(events) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
FROM cost_weekly
WHERE service <> 'keyward' AND week <= date((SELECT last_day FROM cost_window_anchor WHERE kind = 'spans'), '-6 days')
GROUP BY week, service;

-- ... and each span's users in the trial cohort's order (ids as bytes).
CREATE INDEX cost_user_span_ranked
    ON cost_user_span(kind, start, events DESC, cost_micros DESC, tenant_id, user_id);
