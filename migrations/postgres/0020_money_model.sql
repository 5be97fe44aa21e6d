-- One money model (see the README's cost engine).
--
-- What each plan charges, effective-dated like prices: its billing mode
-- (cost_plus: each service at cost plus the SG&A and compliance
-- allocations; plan_pricing: the monthly subscription plus usage at cost
-- times usage_markup_bps / 10000). Replaces plan_pricing, whose figures
-- carry over from the beginning of time; the free plan is plan pricing at
-- zero (nothing billed), pro and enterprise bill cost-plus as the seed's
-- invoices do.
CREATE TABLE plan_terms (
    plan                  TEXT NOT NULL REFERENCES plans(name),
    effective_from        TEXT NOT NULL,
    billing_mode          TEXT NOT NULL,
    monthly_price_micros  BIGINT NOT NULL,
    usage_markup_bps      BIGINT NOT NULL,
    created_at            TEXT NOT NULL,
    PRIMARY KEY (plan, effective_from)
);
INSERT INTO plan_terms (plan, effective_from, billing_mode, monthly_price_micros, usage_markup_bps, created_at)
    SELECT plan, '2000-01-01',
           CASE WHEN plan = 'free' THEN 'plan_pricing' ELSE 'cost_plus' END,
           monthly_price_micros, usage_markup_bps, updated_at
    FROM plan_pricing;
DROP TABLE plan_pricing;

-- The platform's allocation rates (SG&A, compliance) in basis points of
-- direct cost, effective-dated; the seed's 10 % and 5 % from the start.
CREATE TABLE allocation_rates (
    effective_from  TEXT PRIMARY KEY,
    sga_bps         BIGINT NOT NULL,
    compliance_bps  BIGINT NOT NULL,
    created_at      TEXT NOT NULL
);
INSERT INTO allocation_rates (effective_from, sga_bps, compliance_bps, created_at)
    VALUES ('2000-01-01', 1000, 500, '2026-01-01T00:00:00.000000Z');

-- Each tenant's plan over time (a change counts from its UTC day on), so
-- past periods are billed and forecast on the plan they were on.
CREATE TABLE tenant_plans (
    tenant_id       TEXT NOT NULL,
    effective_from  TEXT NOT NULL,
    plan            TEXT NOT NULL REFERENCES plans(name),
    PRIMARY KEY (tenant_id, effective_from)
);
INSERT INTO tenant_plans (tenant_id, effective_from, plan)
    SELECT id, substr(created_at, 1, 10), plan FROM tenants;

-- A parent may take its sub-organisations' charges on its own invoice.
ALTER TABLE tenants ADD COLUMN invoices_children BIGINT NOT NULL DEFAULT 0;

-- The seed design's prices: Hume $0.002 per second, ElevenLabs $0.18 per
-- 1,000 characters (the seeded rows, where nobody changed them).
UPDATE service_prices SET price_micros = 2000
    WHERE service = 'hume' AND model = '*' AND unit = 'second' AND price_micros = 1200
      AND created_at = '2026-01-01T00:00:00.000000Z';
UPDATE service_prices SET price_micros = 180000
    WHERE service = 'elevenlabs' AND model = '*' AND unit = 'character' AND price_micros = 300000
      AND created_at = '2026-01-01T00:00:00.000000Z';
