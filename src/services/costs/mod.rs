//! The cost engine: usage events priced at ingest, and True Production Cost.

mod dashboard;
mod statements;

pub use statements::TenantStatement;

use super::keys::Keys;
use super::{now, Error, Result};
use crate::db::{self, Db};
use crate::domain::analytics::{
    optimize, tpc, CohortPage, CostRow, Fit, Optimization, Period, Span, Thresholds, Tpc,
};
use crate::domain::audit::Actor;
use crate::domain::cost::{dedup_batch, UsageEvent};
use crate::domain::forecast::{next_quarters, project, History};
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::pricing::{CostService, Price};
use crate::domain::statement::{AllocationRates, PlanTerms, Statement, Terms};
use crate::domain::ValidationError;
use serde_json::json;
use std::collections::BTreeSet;

/// At most this many events per ingest call.
pub const MAX_EVENTS_PER_BATCH: usize = 1_000;
/// One usage event may cost at most $1,000,000 (a bound that keeps every
/// sum of costs far from overflowing).
pub const MAX_EVENT_COST_MICROS: i64 = 1_000_000_000_000;

/// What an ingest call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Events stored now.
    pub accepted: usize,
    /// Events already stored (same event id), ignored.
    pub duplicates: usize,
    pub cost_micros: i64,
}

/// The costs service: usage events priced at ingest, the daily rollups,
/// True Production Cost, forecasts, the optimizer and the cost dashboards.
#[derive(Clone)]
pub struct Costs {
    db: Db,
    /// Tenants are checked through the key directory's cache.
    keys: Keys,
    /// Events older than this are refused: their duplicates may already be
    /// deleted by retention, so they could be counted twice.
    event_retention_days: u64,
}

impl Costs {
    pub fn new(db: Db, keys: Keys, event_retention_days: u64) -> Self {
        Self {
            db,
            keys,
            event_retention_days,
        }
    }
}

impl Costs {
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
        let oldest = crate::domain::retention::cutoff(super::now(), self.event_retention_days);
        if let Some(i) = events.iter().position(|e| e.at < oldest) {
            return Err(ValidationError::new(
                "timestamp",
                format!(
                    "event {i}: older than the usage event retention ({} days)",
                    self.event_retention_days
                ),
            )
            .into());
        }
        let given = events.len();
        let events = dedup_batch(events);
        let tenants: BTreeSet<&TenantId> = events.iter().map(|e| &e.tenant_id).collect();
        for t in tenants {
            self.keys.require_tenant(t).await?;
        }
        let prices = self.prices(None).await?;
        let priced = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let cost = e.cost_micros(&prices)?;
                if cost > MAX_EVENT_COST_MICROS {
                    return Err(ValidationError::new(
                        "units",
                        format!(
                            "event {i}: costs more than $1,000,000; split it or check its units"
                        ),
                    ));
                }
                Ok((e, cost))
            })
            .collect::<std::result::Result<Vec<_>, ValidationError>>()?;
        let mut tx = self.db.begin().await?;
        let accepted = db::costs::ingest(&mut tx, self.db.engine(), &priced, now()).await?;
        tx.commit().await?;
        let cost_micros = priced.iter().map(|(_, c)| *c).sum();
        Ok(Ingested {
            accepted,
            duplicates: given - accepted,
            cost_micros,
        })
    }

    /// A tenant's True Production Cost over `span` with its sub-organisations
    /// rolled up, with the previous period (in the calendar, see
    /// `Span::previous_period`) for trends, and what it was billed.
    pub async fn tpc(&self, tenant: &TenantId, span: Span) -> Result<(Plan, Tpc)> {
        let t = self.keys.require_tenant(tenant).await?;
        self.apply_cost_rollups().await?;
        let mut conn = self.db.pool().acquire().await?;
        let family = self.family(&mut conn, tenant).await?;
        let rows = |days: Vec<db::costs::DailyCost>| -> Vec<CostRow> {
            days.into_iter()
                .map(|d| (d.day, d.user_id, d.service, d.events, d.cost_micros))
                .collect()
        };
        let current = rows(db::costs::tenant_days(&mut conn, &family, span.from, span.to).await?);
        let prev_span = span.previous_period();
        let previous =
            rows(db::costs::tenant_days(&mut conn, &family, prev_span.from, prev_span.to).await?);
        let members = self.statements(&mut conn, Some(&family), span).await?;
        let mut money = Statement::default();
        for m in &members {
            money.add(&m.statement);
        }
        let mut t_pc = tpc(span, &current, &previous, money);
        t_pc.previous = prev_span;
        if members.len() > 1 {
            t_pc.members = members
                .into_iter()
                .map(|m| (m.tenant_id, m.statement))
                .collect();
        }
        Ok((t.plan, t_pc))
    }

    /// Applies the rollup deltas queued by ingest. Runs every second in the
    /// background and before every read of the rollups, so analytics always
    /// see every event ingested before they were asked.
    ///
    /// It also moves the rolling windows of users' cost (last 30 and 90
    /// days) to end with today, once a UTC day.
    pub async fn apply_cost_rollups(&self) -> Result<usize> {
        let today = now().date_naive();
        // A read first: most ticks find nothing, and need no write lock.
        let (upto, behind) = {
            let mut conn = self.db.pool().acquire().await?;
            (
                db::costs::last_pending(&mut conn).await?,
                db::cost_spans::behind(&mut conn, today).await?,
            )
        };
        let mut applied = 0;
        if let Some(upto) = upto {
            // What was queued when asked, a bounded part per transaction, so
            // ingest's writes get the lock in between (SQLite has one writer).
            loop {
                let mut tx = self.db.begin().await?;
                let n = db::costs::apply_pending(&mut tx, self.db.engine(), upto, APPLY_BATCHES)
                    .await?;
                tx.commit().await?;
                applied += n;
                // On PostgreSQL a short part may mean another applier (a
                // replica, the background tick) holds the rest: go on until
                // none up to `upto` is left (waiting on its lock). SQLite has
                // one writer, so a short part is the end; its ids are reused
                // once the queue is empty, so asking again could chase ingest.
                if n < APPLY_BATCHES as usize {
                    if self.db.engine() == db::Engine::Sqlite {
                        break;
                    }
                    let mut conn = self.db.pool().acquire().await?;
                    if !db::costs::pending_upto(&mut conn, upto).await? {
                        break;
                    }
                }
            }
        }
        if behind {
            self.fold_days(today).await;
        }
        Ok(applied)
    }

    /// Folds the days that have ended into users' kept spans, in its own
    /// transaction. A failure is logged, not returned: with the anchor left
    /// where it was, reads add more days from `cost_daily` (week, month) or
    /// group it (rolling windows), so every figure stays right, only slower.
    async fn fold_days(&self, today: chrono::NaiveDate) {
        let fold = async {
            let mut tx = self.db.begin().await?;
            db::cost_spans::advance(&mut tx, self.db.engine(), today).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = fold.await {
            tracing::warn!(error = %e, "folding ended days into users' kept cost spans failed; will retry");
        }
    }

    /// Every plan's terms and the allocation rates, with their history.
    pub async fn terms(&self) -> Result<Terms> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::money::terms(&mut conn).await?)
    }

    /// Sets what a plan charges from `from` on (today when absent): its
    /// billing mode, monthly subscription and usage rate.
    pub async fn set_plan_terms(
        &self,
        actor: &Actor,
        plan: Plan,
        from: Option<chrono::NaiveDate>,
        terms: PlanTerms,
    ) -> Result<(chrono::NaiveDate, PlanTerms)> {
        let terms = terms.check()?;
        let now = now();
        let from = check_effective_from(from, now.date_naive())?;
        let mut tx = self.db.begin().await?;
        check_open(&mut tx, from).await?;
        db::money::set_plan_terms(&mut tx, plan, from, terms, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "plan.pricing",
                "plan",
                plan.as_str(),
                None,
                json!({"effective_from": from, "billing_mode": terms.mode.as_str(),
                       "monthly_price_micros": terms.monthly_price_micros,
                       "usage_markup_bps": terms.usage_rate_bps}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((from, terms))
    }

    /// Sets the SG&A and compliance allocation rates from `from` on (today
    /// when absent).
    pub async fn set_allocation_rates(
        &self,
        actor: &Actor,
        from: Option<chrono::NaiveDate>,
        rates: AllocationRates,
    ) -> Result<(chrono::NaiveDate, AllocationRates)> {
        let rates = rates.check()?;
        let now = now();
        let from = check_effective_from(from, now.date_naive())?;
        let mut tx = self.db.begin().await?;
        check_open(&mut tx, from).await?;
        db::money::set_rates(&mut tx, from, rates, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "allocation_rates.set",
                "platform",
                "allocation_rates",
                None,
                json!({"effective_from": from, "sga_bps": rates.sga_bps,
                       "compliance_bps": rates.compliance_bps}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((from, rates))
    }
}

/// Refuses (409 `PERIOD_INVOICED`) a change of what was billed from a day
/// inside a period whose invoices were already sent or paid: those stay as
/// issued, and the figures must keep agreeing with them.
pub(crate) async fn check_open(conn: &mut db::Conn, from: chrono::NaiveDate) -> Result<()> {
    match db::money::first_open_day(conn).await? {
        Some(open) if from < open => Err(Error::conflict(
            "PERIOD_INVOICED",
            format!(
                "invoices up to {} were sent or paid; changes may take effect from {open} on",
                open - chrono::Duration::days(1)
            ),
        )),
        _ => Ok(()),
    }
}

/// An effective date of terms: today when absent, within the years 2000..=9999.
fn check_effective_from(
    from: Option<chrono::NaiveDate>,
    today: chrono::NaiveDate,
) -> std::result::Result<chrono::NaiveDate, ValidationError> {
    let from = from.unwrap_or(today);
    if !(2000..=9999).contains(&chrono::Datelike::year(&from)) {
        return Err(ValidationError::new(
            "effective_from",
            "must be a day between the years 2000 and 9999",
        ));
    }
    Ok(from)
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

/// The forecast of the next calendar quarters from the daily cost, revenue
/// and allocated costs so far (of the platform, or of one tenant with its
/// sub-organisations).
#[derive(Debug, Clone)]
pub struct Forecast {
    pub quarters: i64,
    /// The days the regression used: `[data_from, data_to)`; none without data.
    pub data_from: Option<chrono::NaiveDate>,
    pub data_to: chrono::NaiveDate,
    pub days: i64,
    pub cost_fit: Option<Fit>,
    pub revenue_fit: Option<Fit>,
    pub allocated_fit: Option<Fit>,
    pub forecast_from: chrono::NaiveDate,
    pub forecast_to: chrono::NaiveDate,
    pub tpc_micros: i64,
    pub revenue_micros: i64,
    pub allocated_micros: i64,
    pub gross_profit_micros: i64,
    pub net_profit_micros: i64,
    pub margin_bps: Option<i64>,
    pub net_margin_bps: Option<i64>,
    /// The days the fit used: (day, cost, revenue), oldest first.
    pub history: Vec<(chrono::NaiveDate, i64, i64)>,
}

/// Queued ingest batches applied to the rollups per transaction (each up
/// to 1,000 events, sometimes more).
const APPLY_BATCHES: i64 = 50;

impl Costs {
    /// Fits least-squares lines to the daily cost, revenue and allocated
    /// costs over the last `lookback_days` (from the first day with data)
    /// and projects the next `quarters` calendar quarters.
    pub async fn forecast(
        &self,
        quarters: i64,
        lookback_days: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Forecast> {
        if !(1..=8).contains(&quarters) {
            return Err(ValidationError::new("quarters", "must be between 1 and 8").into());
        }
        if !(2..=730).contains(&lookback_days) {
            return Err(ValidationError::new("days", "must be between 2 and 730").into());
        }
        if let Some(t) = tenant {
            self.keys.require_tenant(t).await?;
        }
        let today = now().date_naive();
        let start = today - chrono::Duration::days(lookback_days);
        self.apply_cost_rollups().await?;
        let mut conn = self.db.pool().acquire().await?;
        let family = match tenant {
            Some(t) => Some(self.family(&mut conn, t).await?),
            None => None,
        };
        let rows = db::costs::tenant_day_totals(&mut conn, family.as_deref(), start, today).await?;
        let terms = db::money::terms(&mut conn).await?;
        let mut plans = db::money::plan_histories(&mut conn, None).await?;
        if let Some(family) = &family {
            plans.retain(|t, _| family.iter().any(|f| f.as_str() == t));
        }
        drop(conn);
        let first = rows.iter().map(|r| r.1).min();
        let (forecast_from, forecast_to) = next_quarters(today, quarters as u32);
        let mut forecast = Forecast {
            quarters,
            data_from: first,
            data_to: today,
            days: 0,
            cost_fit: None,
            revenue_fit: None,
            allocated_fit: None,
            forecast_from,
            forecast_to,
            tpc_micros: 0,
            revenue_micros: 0,
            allocated_micros: 0,
            gross_profit_micros: 0,
            net_profit_micros: 0,
            margin_bps: None,
            net_margin_bps: None,
            history: Vec::new(),
        };
        let Some(first) = first else {
            return Ok(forecast);
        };
        let days = (today - first).num_days();
        let series = History {
            rows: &rows,
            plans: &plans,
            terms: &terms,
            first,
            days,
        }
        .points();
        let p = project(first, &series, (forecast_from, forecast_to));
        forecast.days = days;
        forecast.cost_fit = p.cost_fit;
        forecast.revenue_fit = p.revenue_fit;
        forecast.allocated_fit = p.allocated_fit;
        forecast.tpc_micros = p.tpc_micros;
        forecast.revenue_micros = p.revenue_micros;
        forecast.allocated_micros = p.allocated_micros;
        forecast.gross_profit_micros = p.gross_profit_micros;
        forecast.net_profit_micros = p.net_profit_micros;
        forecast.margin_bps = p.margin_bps;
        forecast.net_margin_bps = p.net_margin_bps;
        forecast.history = p.history;
        Ok(forecast)
    }
}

impl Costs {
    /// The weekly degradation analysis of the ISO week containing `day`.
    pub async fn optimize(
        &self,
        day: chrono::NaiveDate,
        thresholds: Thresholds,
        page: Option<CohortPage>,
    ) -> Result<(Span, Optimization)> {
        if !(2000..=9999).contains(&chrono::Datelike::year(&day)) {
            return Err(ValidationError::new(
                "week",
                "must be a day between the years 2000 and 9999",
            )
            .into());
        }
        let (from, to) = Period::Weekly.containing(day);
        self.apply_cost_rollups().await?;
        let mut conn = self.db.pool().acquire().await?;
        let (services, users) =
            db::costs::week_totals(&mut conn, self.db.engine(), from, page).await?;
        Ok((Span { from, to }, optimize(&services, users, thresholds)))
    }
}

impl Costs {
    /// The services' prices (their full history), of one service or all.
    pub async fn prices(&self, service: Option<CostService>) -> Result<Vec<Price>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::prices::list(&mut conn, service).await?)
    }

    /// Adds a price to a service's cost model, in force from its
    /// `effective_from`; earlier prices stay for the usage before it.
    pub async fn set_price(&self, actor: &Actor, price: Price) -> Result<Price> {
        let price = price.validate()?;
        let now = now();
        let mut tx = self.db.begin().await?;
        db::prices::put(&mut tx, &price, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "price.set",
                "service",
                price.service.as_str(),
                None,
                json!({"model": price.model, "unit": price.unit.as_str(), "price_micros": price.price_micros,
                       "per_units": price.per_units, "effective_from": price.effective_from}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(price)
    }
}
