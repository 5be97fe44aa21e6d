-- keyward runs itself: scheduled jobs and their runs, webhook endpoints and
-- deliveries, once-only event marks, budgets, cost anomalies and key
-- rotation policies.

-- A job: what it does (task, params as JSON), when (a cron expression, UTC),
-- the occurrence it is due for next, and the lease of the replica running it.
CREATE TABLE jobs (
    name              TEXT PRIMARY KEY,
    task              TEXT NOT NULL,
    schedule          TEXT NOT NULL,
    params            TEXT NOT NULL,
    enabled           BIGINT NOT NULL,
    next_run_at       TEXT NOT NULL,
    lease_holder      TEXT,
    lease_expires_at  TEXT,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT NOT NULL
);

-- Each run of a job's occurrence; a run whose replica died is marked
-- abandoned and taken over by a new attempt.
CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    occurrence   TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    trigger_kind TEXT NOT NULL,
    replica      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    outcome      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    UNIQUE (job, occurrence, attempt)
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);

-- Where events go: a platform endpoint (tenant_id NULL) gets every tenant's
-- events, a tenant's only that tenant's. The signing secret is sealed by the
-- vault's keyring, bound to the endpoint's id.
CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    tenant_id      TEXT,
    events         TEXT NOT NULL,
    description    TEXT NOT NULL,
    key_version    BIGINT NOT NULL,
    secret_nonce   TEXT NOT NULL,
    secret_sealed  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);

-- One message to one endpoint, its signed body as sent, and where its
-- retries stand. message_id is the webhook-id header (the same on retries
-- and replays).
CREATE TABLE webhook_deliveries (
    id                TEXT PRIMARY KEY,
    message_id        TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    tenant_id         TEXT,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    next_attempt_at   TEXT NOT NULL,
    lease_holder      TEXT,
    lease_expires_at  TEXT,
    last_status_code  BIGINT,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    delivered_at      TEXT,
    UNIQUE (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id   TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    attempted_at  TEXT NOT NULL,
    status_code   BIGINT,
    response      TEXT,
    error         TEXT,
    duration_ms   BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Events that must go out once (a quota's 80% in a month, a budget
-- threshold, a key's expiry warning), whichever replica notices first.
CREATE TABLE event_marks (
    mark        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

-- A tenant's monthly spend budget (its priced usage cost), the percentages
-- that raise an alert, and whether reaching it refuses the tenant's
-- requests; exhausted_period is the month it was reached in, while capped.
CREATE TABLE budgets (
    tenant_id          TEXT PRIMARY KEY,
    limit_micros       BIGINT NOT NULL,
    alert_percents     TEXT NOT NULL,
    hard_cap           BIGINT NOT NULL,
    exhausted_period   TEXT,
    updated_at         TEXT NOT NULL,
    updated_by         TEXT NOT NULL
);

-- A day's cost of a tenant's service far above its trailing mean.
CREATE TABLE cost_anomalies (
    tenant_id      TEXT NOT NULL,
    service        TEXT NOT NULL,
    day            TEXT NOT NULL,
    cost_micros    BIGINT NOT NULL,
    mean_micros    BIGINT NOT NULL,
    stddev_micros  BIGINT NOT NULL,
    score_milli    BIGINT NOT NULL,
    detected_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, service, day)
);

-- Rotation policies: a key (or every key of a plan) rotated this often, with
-- this grace for the old secret. NULL: no policy.
ALTER TABLE api_keys ADD COLUMN rotate_every_days BIGINT;
ALTER TABLE plans ADD COLUMN rotate_every_days BIGINT;
