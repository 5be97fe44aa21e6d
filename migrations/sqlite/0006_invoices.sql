-- Invoices: one per tenant per calendar month (period 'YYYY-MM'), with a
-- deterministic number. Drafts are replaced when a period is regenerated;
-- sent and paid invoices are kept as they are.
CREATE TABLE invoices (
    number           TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    period           TEXT NOT NULL,
    contact_name     TEXT NOT NULL,
    invoice_date     TEXT NOT NULL,
    due_date         TEXT NOT NULL,
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL,
    total_cents      BIGINT NOT NULL,
    paid_cents       BIGINT NOT NULL,
    xero_invoice_id  TEXT,
    generated_at     TEXT NOT NULL,
    sent_at          TEXT,
    paid_at          TEXT,
    UNIQUE (tenant_id, period)
);
CREATE INDEX invoices_period ON invoices(period, status);

CREATE TABLE invoice_lines (
    invoice_number     TEXT NOT NULL,
    line_no            BIGINT NOT NULL,
    item_code          TEXT NOT NULL,
    description        TEXT NOT NULL,
    quantity           BIGINT NOT NULL,
    unit_amount_cents  BIGINT NOT NULL,
    PRIMARY KEY (invoice_number, line_no)
);

-- Payments reconciled against invoices; idempotent by payment id.
CREATE TABLE invoice_payments (
    payment_id      TEXT PRIMARY KEY,
    invoice_number  TEXT NOT NULL,
    amount_cents    BIGINT NOT NULL,
    paid_on         TEXT NOT NULL,
    reference       TEXT,
    recorded_at     TEXT NOT NULL
);
CREATE INDEX invoice_payments_invoice ON invoice_payments(invoice_number);
