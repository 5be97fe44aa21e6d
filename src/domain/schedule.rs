//! Scheduled jobs: what a job does (its [`Task`]), when (a cron [`Schedule`],
//! UTC), and what each run of an occurrence recorded ([`JobRun`]).

use super::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a job does when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Generate (or refresh) a month's invoice drafts.
    GenerateInvoices,
    /// Push a month's drafts to Xero.
    PushInvoices,
    /// Check every stored provider key against its provider; re-provision
    /// managed keys the provider refuses (where the adapter can).
    ValidateProviderKeys,
    /// Rotate keys whose rotation policy is due, delivering the new secret sealed to webhooks.
    RotateKeys,
    /// Warn (an event) about keys expiring soon.
    KeyExpiry,
    /// Delete usage and audit records past their retention.
    Retention,
    /// Flag days whose cost is far above the trailing mean.
    CheckAnomalies,
    /// Compare month-to-date spend to budgets; alert and cap.
    CheckBudgets,
}

impl Task {
    pub const ALL: [Task; 8] = [
        Self::GenerateInvoices,
        Self::PushInvoices,
        Self::ValidateProviderKeys,
        Self::RotateKeys,
        Self::KeyExpiry,
        Self::Retention,
        Self::CheckAnomalies,
        Self::CheckBudgets,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GenerateInvoices => "generate_invoices",
            Self::PushInvoices => "push_invoices",
            Self::ValidateProviderKeys => "validate_provider_keys",
            Self::RotateKeys => "rotate_keys",
            Self::KeyExpiry => "key_expiry",
            Self::Retention => "retention",
            Self::CheckAnomalies => "check_anomalies",
            Self::CheckBudgets => "check_budgets",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "task",
                    format!(
                        "unknown task; known: {}",
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }
}

impl Task {
    /// The permission a caller needs besides `jobs:write` to set or run a
    /// job of this task: what the task does with keyward's own rights.
    pub fn needs(self) -> Option<super::access::Permission> {
        use super::access::Permission;
        match self {
            Self::GenerateInvoices | Self::PushInvoices => Some(Permission::BillingWrite),
            Self::RotateKeys => Some(Permission::KeysWrite),
            Self::ValidateProviderKeys => Some(Permission::SecretsWrite),
            Self::KeyExpiry | Self::Retention | Self::CheckAnomalies | Self::CheckBudgets => None,
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cron expression in UTC: five fields (minute hour day month weekday), or
/// six with seconds first; `@daily`-style shorthands too.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: croner::Cron,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Schedule {
    pub const MAX_LEN: usize = 100;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let text = value.trim();
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "schedule",
                "must be a cron expression of at most 100 characters, e.g. \"0 2 * * *\"",
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(text)
            .map_err(|e| ValidationError::new("schedule", format!("not a cron expression: {e}")))?;
        let schedule = Self {
            text: text.to_string(),
            cron,
        };
        // A pattern that matches no date at all (31 February) is refused here,
        // not found out at run time.
        if schedule
            .next_after(DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000))
            .is_none()
        {
            return Err(ValidationError::new(
                "schedule",
                "the expression never matches a date",
            ));
        }
        Ok(schedule)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first occurrence strictly after `at`.
    pub fn next_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&at, false).ok()
    }

    /// In words ("At 02:00"), for pages and the CLI.
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

/// How a run came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Its occurrence came due (or was missed while no replica ran: once).
    Schedule,
    /// Someone asked for it now.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "schedule" => Some(Self::Schedule),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

/// Where a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
    /// Its replica stopped mid-run; another attempt took the occurrence over.
    Abandoned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Abandoned,
        ]
        .into_iter()
        .find(|o| o.as_str() == value)
    }
}

/// A scheduled job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub task: Task,
    pub schedule: Schedule,
    pub params: serde_json::Value,
    pub enabled: bool,
    /// The occurrence it runs for next (in the past after downtime: run once).
    pub next_run_at: DateTime<Utc>,
    pub lease_holder: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl Job {
    /// `generate-invoices`: lowercase letters, digits and dashes, 1-64.
    pub fn check_name(name: &str) -> Result<(), ValidationError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(ValidationError::new(
                "name",
                "must be 1-64 lowercase letters, digits and dashes",
            ))
        }
    }
}

/// One attempt at one occurrence of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub id: String,
    pub job: String,
    pub occurrence: DateTime<Utc>,
    pub attempt: i64,
    pub trigger: Trigger,
    pub replica: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    /// What the run changed (counts, invoice numbers), or why it failed.
    pub summary: serde_json::Value,
}

/// The jobs every new install starts with (the operator edits or disables them).
pub fn default_jobs() -> Vec<(&'static str, Task, &'static str, serde_json::Value, bool)> {
    use serde_json::json;
    vec![
        (
            "generate-invoices",
            Task::GenerateInvoices,
            "0 2 * * *",
            json!({"period": "previous_month"}),
            true,
        ),
        (
            "push-invoices",
            Task::PushInvoices,
            "30 2 * * *",
            json!({"period": "previous_month"}),
            false,
        ),
        (
            "validate-provider-keys",
            Task::ValidateProviderKeys,
            "15 * * * *",
            json!({}),
            true,
        ),
        (
            "rotate-keys",
            Task::RotateKeys,
            "45 * * * *",
            json!({}),
            true,
        ),
        (
            "key-expiry",
            Task::KeyExpiry,
            "0 8 * * *",
            json!({"within_days": 7}),
            true,
        ),
        ("retention", Task::Retention, "30 3 * * *", json!({}), true),
        (
            "check-anomalies",
            Task::CheckAnomalies,
            "5 * * * *",
            json!({"window_days": 14, "threshold_sigma": 3, "min_cost_micros": 1_000_000}),
            true,
        ),
        (
            "check-budgets",
            Task::CheckBudgets,
            "*/5 * * * *",
            json!({}),
            true,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_seed_schedules_fall_when_they_say() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 16, 0, 0).unwrap();
        let daily = Schedule::parse("0 2 * * *").unwrap();
        assert_eq!(
            daily.next_after(at).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap()
        );
        // Weekly on Monday at 3 AM (2026-12-07 is a Monday).
        let weekly = Schedule::parse("0 3 * * MON").unwrap();
        assert_eq!(
            weekly.next_after(at).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap()
        );
        let monthly = Schedule::parse("0 2 1 * *").unwrap();
        assert_eq!(
            monthly.next_after(at).unwrap(),
            Utc.with_ymd_and_hms(2027, 1, 1, 2, 0, 0).unwrap()
        );
        // Strictly after: an occurrence is never due twice.
        let exact = Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap();
        assert_eq!(
            daily.next_after(exact).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 8, 2, 0, 0).unwrap()
        );
        // Seconds, for tight schedules.
        let every2 = Schedule::parse("*/2 * * * * *").unwrap();
        assert_eq!(
            every2.next_after(at).unwrap(),
            at + chrono::Duration::seconds(2)
        );
    }

    #[test]
    fn a_bad_schedule_is_refused_with_the_field() {
        for bad in [
            "",
            "every day",
            "61 * * * *",
            "0 0 31 2 *",
            &"* ".repeat(60),
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert_eq!(e.field, "schedule", "{bad:?}");
        }
    }

    #[test]
    fn every_task_round_trips_by_name() {
        for t in Task::ALL {
            assert_eq!(Task::parse(t.as_str()).unwrap(), t);
        }
        assert!(Task::parse("nope").is_err());
        for (name, ..) in default_jobs() {
            Job::check_name(name).unwrap();
        }
    }
}

#[cfg(test)]
mod describe_tests {
    #[test]
    fn schedules_are_described_in_words() {
        let s = super::Schedule::parse("0 3 * * MON").unwrap();
        assert!(s.describe().contains("Monday"), "{}", s.describe());
    }
}
