//! The money model's terms: each plan's terms over time, the allocation
//! rates over time and each tenant's plan history.

use super::{corrupt, ts, Conn};
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::statement::{AllocationRates, BillingMode, PlanTerms, Schedule, Terms};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

fn day(row: &AnyRow, column: &str) -> sqlx::Result<NaiveDate> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| corrupt(format!("{column}: {e}")))
}

fn plan(row: &AnyRow) -> sqlx::Result<Plan> {
    let text: String = row.try_get("plan")?;
    Plan::parse_field("plan", &text).map_err(|e| corrupt(format!("plan: {e}")))
}

/// Every plan's terms and the allocation rates, with their history.
pub async fn terms(conn: &mut Conn) -> sqlx::Result<Terms> {
    let rows = sqlx::query(
        "SELECT plan, effective_from, billing_mode, monthly_price_micros, usage_markup_bps \
         FROM plan_terms ORDER BY plan, effective_from",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut plans: HashMap<Plan, Vec<(NaiveDate, PlanTerms)>> = HashMap::new();
    for r in &rows {
        let mode: String = r.try_get("billing_mode")?;
        plans.entry(plan(r)?).or_default().push((
            day(r, "effective_from")?,
            PlanTerms {
                mode: BillingMode::parse(&mode).map_err(|e| corrupt(e.to_string()))?,
                monthly_price_micros: r.try_get("monthly_price_micros")?,
                usage_rate_bps: r.try_get("usage_markup_bps")?,
            },
        ));
    }
    let rows = sqlx::query(
        "SELECT effective_from, sga_bps, compliance_bps FROM allocation_rates ORDER BY effective_from",
    )
    .fetch_all(&mut *conn)
    .await?;
    let rates = rows
        .iter()
        .map(|r| {
            Ok((
                day(r, "effective_from")?,
                AllocationRates {
                    sga_bps: r.try_get("sga_bps")?,
                    compliance_bps: r.try_get("compliance_bps")?,
                },
            ))
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Terms {
        plans: plans
            .into_iter()
            .map(|(p, s)| (p, Schedule::new(s)))
            .collect(),
        rates: Some(Schedule::new(rates)),
    })
}

/// Sets a plan's terms from a day on (replacing terms set for that same day).
pub async fn set_plan_terms(
    conn: &mut Conn,
    plan: Plan,
    from: NaiveDate,
    terms: PlanTerms,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO plan_terms (plan, effective_from, billing_mode, monthly_price_micros, \
         usage_markup_bps, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (plan, effective_from) DO UPDATE SET billing_mode = excluded.billing_mode, \
         monthly_price_micros = excluded.monthly_price_micros, \
         usage_markup_bps = excluded.usage_markup_bps, created_at = excluded.created_at",
    )
    .bind(plan.as_str())
    .bind(from.to_string())
    .bind(terms.mode.as_str())
    .bind(terms.monthly_price_micros)
    .bind(terms.usage_rate_bps)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets the allocation rates from a day on (replacing those set for that day).
pub async fn set_rates(
    conn: &mut Conn,
    from: NaiveDate,
    rates: AllocationRates,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO allocation_rates (effective_from, sga_bps, compliance_bps, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (effective_from) DO UPDATE SET \
         sga_bps = excluded.sga_bps, compliance_bps = excluded.compliance_bps, \
         created_at = excluded.created_at",
    )
    .bind(from.to_string())
    .bind(rates.sga_bps)
    .bind(rates.compliance_bps)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records that `tenant` is on `plan` from `from` on (what was recorded
/// for that day or later is replaced).
pub async fn record_plan(
    conn: &mut Conn,
    tenant: &TenantId,
    plan: Plan,
    from: NaiveDate,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM tenant_plans WHERE tenant_id = $1 AND effective_from > $2")
        .bind(tenant.as_str())
        .bind(from.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO tenant_plans (tenant_id, effective_from, plan) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, effective_from) DO UPDATE SET plan = excluded.plan",
    )
    .bind(tenant.as_str())
    .bind(from.to_string())
    .bind(plan.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The plan histories of one tenant or (`None`) of every tenant.
pub async fn plan_histories(
    conn: &mut Conn,
    tenant: Option<&TenantId>,
) -> sqlx::Result<HashMap<String, Schedule<Plan>>> {
    let rows = sqlx::query(
        "SELECT tenant_id, effective_from, plan FROM tenant_plans \
         WHERE ($1 = '' OR tenant_id = $1) ORDER BY tenant_id, effective_from",
    )
    .bind(super::tenant_filter(tenant))
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<String, Vec<(NaiveDate, Plan)>> = HashMap::new();
    for r in &rows {
        out.entry(r.try_get("tenant_id")?)
            .or_default()
            .push((day(r, "effective_from")?, plan(r)?));
    }
    Ok(out
        .into_iter()
        .map(|(t, s)| (t, Schedule::new(s)))
        .collect())
}

/// Whether a parent takes its sub-organisations' charges on its own invoice.
pub async fn invoices_children(conn: &mut Conn, tenant: &TenantId) -> sqlx::Result<bool> {
    let row = sqlx::query("SELECT invoices_children FROM tenants WHERE id = $1")
        .bind(tenant.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64, _>("invoices_children")? != 0,
        None => false,
    })
}

pub async fn set_invoices_children(
    conn: &mut Conn,
    tenant: &TenantId,
    on: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE tenants SET invoices_children = $1 WHERE id = $2")
        .bind(i64::from(on))
        .bind(tenant.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Every tenant's parent and whether it invoices its sub-organisations.
pub async fn billing_tree(
    conn: &mut Conn,
) -> sqlx::Result<HashMap<String, (Option<String>, bool)>> {
    let rows = sqlx::query("SELECT id, parent_id, invoices_children FROM tenants")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                (
                    r.try_get("parent_id")?,
                    r.try_get::<i64, _>("invoices_children")? != 0,
                ),
            ))
        })
        .collect()
}

/// The first day terms may still change from: the day after the last
/// period with an invoice sent or paid (which stays as it was issued), or
/// `None` when nothing has been issued.
pub async fn first_open_day(conn: &mut Conn) -> sqlx::Result<Option<NaiveDate>> {
    let row =
        sqlx::query("SELECT MAX(period) AS period FROM invoices WHERE status IN ('sent', 'paid')")
            .fetch_one(&mut *conn)
            .await?;
    let period: Option<String> = row.try_get("period")?;
    period
        .map(|p| {
            crate::domain::invoice::BillingPeriod::parse(&p)
                .map(|p| p.end())
                .map_err(|e| corrupt(format!("invoices.period: {e}")))
        })
        .transpose()
}
