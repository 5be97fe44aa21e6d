//! What each scheduled task does when its job runs; each returns a summary
//! of what it changed, kept with the run.

use super::billing::Billing;
use super::budgets::Budgets;
use super::events::Events;
use super::keys::Keys;
use super::retention::RetentionTask;
use super::vault::Vault;
use super::webhooks::Webhooks;
use super::{now, Result};
use crate::db::{self, Db};
use crate::domain::anomaly::{assess, Rule};
use crate::domain::api_key::Rotation;
use crate::domain::audit::Actor;
use crate::domain::events::{Event, EventType};
use crate::domain::ids::KeyId;
use crate::domain::invoice::BillingPeriod;
use crate::domain::schedule::{Job, Task};
use crate::domain::secret::Validation;
use crate::domain::ValidationError;
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The services the tasks call.
#[derive(Clone)]
pub struct Runner {
    pub(crate) db: Db,
    pub(crate) billing: Billing,
    pub(crate) vault: Vault,
    pub(crate) keys: Keys,
    pub(crate) retention: RetentionTask,
    pub(crate) budgets: Budgets,
    pub(crate) costs: super::costs::Costs,
    pub(crate) webhooks: Webhooks,
    /// Deliveries and job runs are kept this long.
    pub(crate) history_days: u64,
}

/// Default grace for a policy rotation's old secret: a day.
const POLICY_GRACE_SECONDS: i64 = 86_400;

fn period_param(params: &Value) -> Result<PeriodChoice, ValidationError> {
    match params.get("period").and_then(Value::as_str) {
        None | Some("previous_month") => Ok(PeriodChoice::Previous),
        Some("current_month") => Ok(PeriodChoice::Current),
        Some(p) => BillingPeriod::parse(p)
            .map(PeriodChoice::Fixed)
            .map_err(|_| {
                ValidationError::new(
                    "params",
                    "period: previous_month, current_month or a month as YYYY-MM",
                )
            }),
    }
}

enum PeriodChoice {
    Previous,
    Current,
    Fixed(BillingPeriod),
}

impl PeriodChoice {
    fn resolve(self, today: NaiveDate) -> BillingPeriod {
        match self {
            Self::Fixed(p) => p,
            Self::Current => BillingPeriod::containing(today),
            Self::Previous => BillingPeriod::containing(
                NaiveDate::from_ymd_opt(today.year(), today.month(), 1).expect("a first of month")
                    - Duration::days(1),
            ),
        }
    }
}

fn int_param(
    params: &Value,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, ValidationError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.as_i64().filter(|n| range.contains(n)).ok_or_else(|| {
            ValidationError::new(
                "params",
                format!(
                    "{name}: a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        }),
    }
}

impl Runner {
    /// Refuses params a task cannot use (422 on the `params` field).
    pub fn check_params(task: Task, params: &Value) -> Result<(), ValidationError> {
        if !params.is_object() {
            return Err(ValidationError::new("params", "must be a JSON object"));
        }
        match task {
            Task::GenerateInvoices | Task::PushInvoices => period_param(params).map(|_| ()),
            Task::CheckAnomalies => Rule::from_params(params).map(|_| ()),
            Task::KeyExpiry => int_param(params, "within_days", 1..=365, 7).map(|_| ()),
            Task::RotateKeys => {
                int_param(
                    params,
                    "grace_seconds",
                    0..=30 * 86_400,
                    POLICY_GRACE_SECONDS,
                )?;
                int_param(params, "ahead_days", 0..=30, 0).map(|_| ())
            }
            Task::ValidateProviderKeys | Task::Retention | Task::CheckBudgets => Ok(()),
        }
    }

    pub fn events(&self) -> &Events {
        self.webhooks.events()
    }

    pub async fn execute(&self, job: &Job, actor: Option<&Actor>) -> Result<Value> {
        Self::check_params(job.task, &job.params)?;
        let actor = actor.cloned().unwrap_or_else(|| Actor {
            name: format!("job:{}", job.name),
            request_id: String::new(),
        });
        let p = &job.params;
        match job.task {
            Task::GenerateInvoices => self.generate_invoices(&actor, p).await,
            Task::PushInvoices => self.push_invoices(&actor, p).await,
            Task::ValidateProviderKeys => self.validate_provider_keys(&actor).await,
            Task::RotateKeys => self.rotate_keys(&actor, p).await,
            Task::KeyExpiry => self.key_expiry(p).await,
            Task::Retention => self.retention().await,
            Task::CheckAnomalies => self.check_anomalies(p).await,
            Task::CheckBudgets => self.budgets.check_all().await,
        }
    }

    async fn generate_invoices(&self, actor: &Actor, p: &Value) -> Result<Value> {
        let period = period_param(p)?.resolve(now().date_naive());
        let generated = self.billing.generate_invoices(actor, period).await?;
        for inv in &generated.invoices {
            self.webhooks
                .publish(Event::new(
                    EventType::InvoiceGenerated,
                    Some(&inv.tenant_id),
                    json!({"number": inv.number, "tenant_id": inv.tenant_id, "period": period.to_string(),
                           "currency": inv.currency, "total_cents": inv.total_cents(), "status": "draft"}),
                ))
                .await?;
        }
        Ok(json!({
            "period": period.to_string(),
            "invoices": generated.invoices.iter().map(|i| &i.number).collect::<Vec<_>>(),
            "replaced": generated.replaced,
            "kept": generated.kept.len(),
        }))
    }

    async fn push_invoices(&self, actor: &Actor, p: &Value) -> Result<Value> {
        let period = period_param(p)?.resolve(now().date_naive());
        let sent = self.billing.push_invoices(actor, period).await?;
        for inv in &sent {
            self.webhooks
                .publish(Event::new(
                    EventType::InvoicePushed,
                    Some(&inv.tenant_id),
                    json!({"number": inv.number, "tenant_id": inv.tenant_id, "period": period.to_string(),
                           "xero_invoice_id": inv.xero_invoice_id, "total_cents": inv.total_cents()}),
                ))
                .await?;
        }
        Ok(
            json!({"period": period.to_string(), "pushed": sent.iter().map(|i| &i.number).collect::<Vec<_>>()}),
        )
    }

    /// Checks every stored provider key; the vault replaces invalid managed
    /// keys where the adapter can provision (self-healing).
    async fn validate_provider_keys(&self, actor: &Actor) -> Result<Value> {
        let secrets = self.vault.list_secrets(None).await?;
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        for meta in secrets {
            let outcome = match self.vault.check_secret(actor, &meta.secret).await {
                Ok(c) if c.healed => "healed",
                Ok(c) => match c.validation {
                    Validation::Valid => "valid",
                    Validation::Invalid => "invalid",
                    _ => "unreachable",
                },
                Err(e) => {
                    tracing::warn!(secret = %meta.name, error = %e, "validating a provider key failed");
                    "unreachable"
                }
            };
            *counts.entry(outcome).or_default() += 1;
        }
        Ok(json!(counts))
    }

    /// Rotates every key whose policy is due; the new secret goes out to the
    /// webhooks sealed to each endpoint, and nowhere else.
    async fn rotate_keys(&self, actor: &Actor, p: &Value) -> Result<Value> {
        let grace = int_param(p, "grace_seconds", 0..=30 * 86_400, POLICY_GRACE_SECONDS)?;
        // Rotating a little early (keys due within this many days) lets a
        // weekly job keep a weekly policy.
        let ahead = int_param(p, "ahead_days", 0..=30, 0)?;
        let at = now() + Duration::days(ahead);
        let due = {
            let mut conn = self.db.pool().acquire().await?;
            db::keys::under_rotation_policy(&mut conn).await?
        };
        let (mut rotated, mut skipped) = (Vec::new(), Vec::new());
        for d in due
            .into_iter()
            .filter(|d| d.last_rotated_at + Duration::days(d.every_days) <= at)
        {
            // The new secret reaches the platform only through a webhook:
            // without an endpoint to receive it, rotating would lock the
            // tenant out when the grace ends. Skipped, and said so.
            if !self
                .webhooks
                .has_receiver(EventType::KeySecretRotated, Some(&d.tenant_id))
                .await?
            {
                tracing::warn!(key = %d.key_id, "rotation due, but no webhook endpoint receives key.secret_rotated: not rotated");
                skipped.push(d.key_id);
                continue;
            }
            let id = KeyId::parse(d.key_id.clone())?;
            let r = self
                .keys
                .rotate(
                    &id,
                    Rotation {
                        grace: Duration::seconds(grace),
                    },
                    actor,
                )
                .await?;
            let data = json!({"key_id": d.key_id, "tenant_id": d.tenant_id, "version": r.version,
                              "previous_expires_at": r.previous_expires_at,
                              "display_prefix": r.api_key.display_prefix(),
                              "policy_days": d.every_days});
            let queued = self
                .webhooks
                .publish_with_secret(
                    Event::new(EventType::KeySecretRotated, Some(&d.tenant_id), data),
                    Some(r.api_key.expose()),
                )
                .await?;
            if queued == 0 {
                return Err(crate::services::Error::internal(
                    "delivering a rotated key",
                    format!("key {} was rotated but its new secret reached no endpoint; rotate it by hand", d.key_id),
                ));
            }
            rotated.push(d.key_id);
        }
        Ok(json!({"rotated": rotated, "skipped_no_endpoint": skipped}))
    }

    async fn key_expiry(&self, p: &Value) -> Result<Value> {
        let within = int_param(p, "within_days", 1..=365, 7)?;
        let at = now();
        let expiring = {
            let mut conn = self.db.pool().acquire().await?;
            db::keys::expiring(&mut conn, at, at + Duration::days(within)).await?
        };
        let mut warned = Vec::new();
        for (key_id, tenant_id, expires_at) in expiring {
            let mark = format!("key.expiring:{key_id}:{}", crate::db::ts(expires_at));
            let fresh = self
                .webhooks
                .publish_once(
                    &mark,
                    Event::new(
                        EventType::KeyExpiring,
                        Some(&tenant_id),
                        json!({"key_id": key_id, "tenant_id": tenant_id, "expires_at": expires_at}),
                    ),
                )
                .await?;
            if fresh {
                warned.push(key_id);
            }
        }
        Ok(json!({"warned": warned}))
    }

    async fn retention(&self) -> Result<Value> {
        let at = now();
        let run = self.retention.run(at).await?;
        let before = at - Duration::days(self.history_days as i64);
        let deliveries = self.webhooks.forget_before(before).await?;
        let mut conn = self.db.pool().acquire().await?;
        let runs = db::jobs::delete_runs_before(&mut conn, before).await?;
        Ok(
            json!({"usage_records": run.usage_records, "usage_events": run.usage_events,
                  "audit_records": run.audit_records, "webhook_deliveries": deliveries,
                  "job_runs": runs}),
        )
    }

    /// Today's cost of each tenant's service against its trailing window.
    async fn check_anomalies(&self, p: &Value) -> Result<Value> {
        let rule = Rule::from_params(p)?;
        self.costs.apply_cost_rollups().await?;
        let at = now();
        let today = at.date_naive();
        let from = today - Duration::days(i64::from(rule.window_days));
        let rows = {
            let mut conn = self.db.pool().acquire().await?;
            db::costs::tenant_day_costs(&mut conn, None, from, today + Duration::days(1)).await?
        };
        // (tenant, service) -> cost per day of the window, then today's.
        let mut series: BTreeMap<(String, String), (Vec<i64>, i64)> = BTreeMap::new();
        for (tenant, d) in rows {
            let entry = series
                .entry((tenant, d.service.as_str().to_string()))
                .or_insert_with(|| (vec![0; rule.window_days as usize], 0));
            if d.day == today {
                entry.1 += d.cost_micros;
            } else if let Ok(i) = usize::try_from((d.day - from).num_days()) {
                if let Some(slot) = entry.0.get_mut(i) {
                    *slot += d.cost_micros;
                }
            }
        }
        let mut flagged = Vec::new();
        for ((tenant, service), (history, cost)) in series {
            let Some(f) = assess(&history, cost, &rule) else {
                continue;
            };
            let new = {
                let mut conn = self.db.pool().acquire().await?;
                db::budgets::insert_anomaly(&mut conn, &tenant, &service, today, &f, at).await?
            };
            if new {
                self.webhooks
                    .publish(Event::new(
                        EventType::CostAnomaly,
                        Some(&tenant),
                        json!({"tenant_id": tenant, "service": service, "day": today.to_string(),
                               "cost_micros": f.cost_micros, "mean_micros": f.mean_micros,
                               "stddev_micros": f.stddev_micros, "score": f.score_milli as f64 / 1000.0}),
                    ))
                    .await?;
                flagged.push(json!({"tenant_id": tenant, "service": service}));
            }
        }
        Ok(json!({"day": today.to_string(), "flagged": flagged}))
    }
}
