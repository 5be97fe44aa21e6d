//! The cost engine: usage events priced at ingest, and True Production Cost.

use super::{now, Error, Keyward, Result};
use crate::db;
use crate::domain::analytics::{tpc, CostRow, Earnings, Period, Span, Tpc};
use crate::domain::audit::Actor;
use crate::domain::cost::{dedup_batch, UsageEvent};
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::ValidationError;
use serde_json::json;
use std::collections::BTreeSet;

/// At most this many events per ingest call.
pub const MAX_EVENTS_PER_BATCH: usize = 1_000;

/// What an ingest call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Events stored now.
    pub accepted: usize,
    /// Events already stored (same event id), ignored.
    pub duplicates: usize,
    pub cost_micros: i64,
}

impl Keyward {
    /// Stores a batch of usage events, each priced at the price in force at
    /// its timestamp. Idempotent by event id: a retried batch counts nothing
    /// twice. The batch lands whole or not at all.
    pub async fn ingest_events(&self, events: Vec<UsageEvent>) -> Result<Ingested> {
        if events.is_empty() || events.len() > MAX_EVENTS_PER_BATCH {
            return Err(ValidationError::new(
                "events",
                format!("give 1 to {MAX_EVENTS_PER_BATCH} events"),
            )
            .into());
        }
        let given = events.len();
        let events = dedup_batch(events);
        let tenants: BTreeSet<&TenantId> = events.iter().map(|e| &e.tenant_id).collect();
        for t in tenants {
            self.require_tenant(t).await?;
        }
        let prices = self.prices(None).await?;
        let priced = events
            .into_iter()
            .map(|e| {
                let cost = e.cost_micros(&prices)?;
                Ok((e, cost))
            })
            .collect::<std::result::Result<Vec<_>, ValidationError>>()?;
        let mut tx = self.db().pool().begin().await?;
        let accepted = db::costs::ingest(&mut tx, self.db().engine(), &priced, now()).await?;
        tx.commit().await?;
        let cost_micros = priced.iter().map(|(_, c)| *c).sum();
        Ok(Ingested {
            accepted,
            duplicates: given - accepted,
            cost_micros,
        })
    }

    /// A tenant's True Production Cost over `span`, with the previous span for trends.
    pub async fn tpc(&self, tenant: &TenantId, span: Span) -> Result<(Plan, Tpc)> {
        let t = self.require_tenant(tenant).await?;
        let mut conn = self.db().pool().acquire().await?;
        let rows = |days: Vec<db::costs::DailyCost>| -> Vec<CostRow> {
            days.into_iter()
                .map(|d| (d.day, d.user_id, d.service, d.events, d.cost_micros))
                .collect()
        };
        let current =
            rows(db::costs::tenant_days(&mut conn, tenant.as_str(), span.from, span.to).await?);
        let prev_span = span.previous();
        let previous = rows(
            db::costs::tenant_days(&mut conn, tenant.as_str(), prev_span.from, prev_span.to)
                .await?,
        );
        let earnings = db::costs::plan_pricing(&mut conn, t.plan).await?;
        Ok((t.plan, tpc(span, &current, &previous, earnings)))
    }

    pub async fn plan_pricing(&self, plan: Plan) -> Result<Earnings> {
        let mut conn = self.db().pool().acquire().await?;
        Ok(db::costs::plan_pricing(&mut conn, plan).await?)
    }

    /// Sets what a plan earns: its monthly price and its usage markup.
    pub async fn set_plan_pricing(
        &self,
        actor: &Actor,
        plan: Plan,
        pricing: Earnings,
    ) -> Result<Earnings> {
        if !(0..=1_000_000_000_000).contains(&pricing.monthly_price_micros) {
            return Err(ValidationError::new(
                "monthly_price_micros",
                "must be between 0 and 10^12",
            )
            .into());
        }
        if !(0..=1_000_000).contains(&pricing.usage_markup_bps) {
            return Err(
                ValidationError::new("usage_markup_bps", "must be between 0 and 1000000").into(),
            );
        }
        let now = now();
        let mut tx = self.db().pool().begin().await?;
        db::costs::set_plan_pricing(&mut tx, plan, pricing, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "plan.pricing",
                "plan",
                plan.as_str(),
                None,
                json!({"monthly_price_micros": pricing.monthly_price_micros, "usage_markup_bps": pricing.usage_markup_bps}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(pricing)
    }
}

/// Parses the period query of the analytics endpoints.
pub fn parse_span(
    period: Option<&str>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> std::result::Result<(Period, Span), Error> {
    let period = Period::parse(period)?;
    let span = Span::parse(period, from, to, now().date_naive())?;
    Ok((period, span))
}
