//! Typed configuration, read once at start-up from three layers: the
//! defaults, then an optional `keyward.toml` (`KEYWARD_CONFIG` names another
//! file), then the environment, which wins. The file's keys are the
//! variables' names in lower case without the `KEYWARD_` prefix
//! (`cache_memory_mb = 512`, `database_url = "postgres://..."`); an unknown
//! key, a secret (those stay in the environment or the data directory's
//! 0600 files) and a file others may write are refused. A bad value stops
//! start-up with a message naming the variable; a bad file is named by
//! `KEYWARD_CONFIG` with its path, never echoing its text.

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_ADDR`, default `127.0.0.1:3000`.
    pub addr: SocketAddr,
    /// `KEYWARD_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`, default the SQLite file `keyward.db` in the data directory.
    pub database_url: Option<String>,
    /// `KEYWARD_ROOT_TOKEN`; generated into the data directory when absent.
    pub root_token: Option<SecretString>,
    /// `KEYWARD_ROOT_TOKEN_CHANGED=1`: the root token is being changed on
    /// purpose (otherwise a token differing from the one the database's other
    /// replicas use stops start-up).
    pub root_token_changed: bool,
    /// `KEYWARD_KEY_HASH_SECRET`: the pepper for API-key digests; generated
    /// into the data directory when absent. Replicas sharing a database must share it.
    pub key_hash_secret: Option<SecretString>,
    /// `KEYWARD_MASTER_KEY` (base64, 32 bytes): version 1 of the vault's
    /// master keys; generated into `master.keys` in the data directory when absent.
    pub master_key: Option<SecretString>,
    /// `KEYWARD_MASTER_KEYS` (`1:<base64>,2:<base64>`): the whole keyring,
    /// every version, the same on every replica; never written to disk.
    pub master_keys: Option<SecretString>,
    /// `KEYWARD_MASTER_KEY_ACTIVE`: with `KEYWARD_MASTER_KEYS`, the version
    /// that seals new secrets (default: the highest).
    pub master_key_active: Option<i64>,
    /// `KEYWARD_PROVIDER_<SERVICE>_URL` (e.g. `KEYWARD_PROVIDER_OPENAI_URL`):
    /// a provider's API base URL; each defaults to the provider's real API.
    pub provider_urls: std::collections::HashMap<crate::domain::secret::Service, String>,
    /// `KEYWARD_PROVIDER_TIMEOUT_MS`, default 5000: how long a provider call may take.
    pub provider_timeout: Duration,
    /// `LEPTOS_SITE_ROOT`, default `target/site`: where the built site (wasm, css) lives.
    pub site_root: PathBuf,
    /// `KEYWARD_CACHE_MEMORY_MB`, default 256: the in-memory tier of the response cache.
    pub cache_memory_mb: u64,
    /// `KEYWARD_BENCH_ROUTES=1` serves `/bench/bare`, a bare handler for benchmarks.
    pub bench_routes: bool,
    /// `KEYWARD_REDIS_URL` (`redis://host:port/db`): limits shared by every
    /// replica; without it, limits are counted per replica.
    pub redis_url: Option<String>,
    /// `KEYWARD_CHANGE_TTL_SECS`, default 10: with several replicas, the
    /// longest a change made through another replica can go unseen here if
    /// its notice is lost (1 to 3600).
    pub change_ttl: Duration,
    /// `KEYWARD_LIMIT_SYNC_MS`, default 200 (20 to 10000): on PostgreSQL
    /// without Redis, how often replicas exchange their limit counts.
    pub limit_sync: Duration,
    /// The job scheduler: `KEYWARD_SCHEDULER=off` stops this replica running
    /// scheduled occurrences; `KEYWARD_SCHEDULER_TICK_MS` (default 1000, 50
    /// to 60000) and `KEYWARD_JOB_LEASE_SECS` (default 60, 1 to 3600).
    pub scheduler: crate::services::scheduler::SchedulerOptions,
    /// Webhooks: `KEYWARD_WEBHOOK_RETRY_BASE_MS` (first retry, default
    /// 5000, 10 to 600000), `KEYWARD_WEBHOOK_MAX_ATTEMPTS` (default 8, 1 to
    /// 20), `KEYWARD_WEBHOOK_POLL_MS` (default 1000, 50 to 60000),
    /// `KEYWARD_WEBHOOK_TIMEOUT_MS` (default 10000, 100 to 60000).
    pub webhooks: crate::services::webhooks::WebhookOptions,
    /// `KEYWARD_TRUSTED_PROXY=1`: requests come through a proxy that appends
    /// the client's address to `X-Forwarded-For` (sign-in limits count it).
    pub trusted_proxy: bool,
    /// Invoices: Xero's API and token URLs, client credentials, organisation,
    /// ledger codes and currency (`KEYWARD_XERO_*`).
    pub xero: XeroSettings,
    /// What one client may cost the server: timeouts, memory, hashing.
    pub guard: GuardSettings,
    /// How long usage and audit records are kept.
    pub retention: crate::domain::retention::Retention,
    /// `KEYWARD_SECRET_VERSIONS_KEPT`, default 3 (0-100): previous versions
    /// of each provider secret kept sealed, for a rollback.
    pub secret_versions_kept: u32,
    /// The `keyward.toml` (or `KEYWARD_CONFIG`) the settings came from, if any.
    pub config_file: Option<PathBuf>,
}

/// Bounds on what hostile or broken clients can make the server spend.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// `KEYWARD_SIGN_IN_CONCURRENCY`, default 4 (1-64): password checks
    /// (argon2id, 19 MiB each) running at once; more sign-ins are answered
    /// 503 `SIGN_IN_BUSY` with `Retry-After` without hashing.
    pub sign_in_concurrency: usize,
    /// `KEYWARD_HEADER_TIMEOUT_SECS`, default 10 (1-300): the time a client
    /// has to send a request's headers (a slowloris is cut off).
    pub header_timeout: Duration,
    /// `KEYWARD_BODY_TIMEOUT_SECS`, default 10 (1-300): the longest a
    /// request body may pause between two pieces; then 408 and the
    /// connection closes.
    pub body_timeout: Duration,
    /// `KEYWARD_REQUEST_TIMEOUT_SECS`, default 30 (1-3600): the longest a
    /// request may take, body included; then 408 and the connection closes.
    pub request_timeout: Duration,
    /// `KEYWARD_IDLE_TIMEOUT_SECS`, default 60 (1-3600): an idle keep-alive
    /// connection is closed after this long.
    pub idle_timeout: Duration,
    /// `KEYWARD_BODY_MEMORY_MB`, default 512 (1-65536): request bodies held
    /// in memory across all requests; beyond it, 503 `SERVER_BUSY` with
    /// `Retry-After`.
    pub body_memory_mb: u64,
}

/// Where invoices are booked and pushed.
#[derive(Debug, Clone)]
pub struct XeroSettings {
    pub api_url: String,
    pub token_url: String,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub tenant_id: Option<String>,
    pub account_code: String,
    pub tax_type: String,
    pub currency: String,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

impl Settings {
    /// The environment over `keyward.toml` (or `KEYWARD_CONFIG`) over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let file = match std::env::var("KEYWARD_CONFIG")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(path) => ConfigFile::read(std::path::Path::new(&path), true)?,
            None => ConfigFile::read(std::path::Path::new("keyward.toml"), false)?,
        };
        let mut settings = Self::from_lookup(|name| {
            // A blank variable counts as unset: the file's value, if any, applies.
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| file.get(name))
        })?;
        settings.config_file = file.path().map(|p| p.to_path_buf());
        Ok(settings)
    }

    /// Reads settings through `get`, so tests can supply their own variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(get);
        // Checked in this order, so the first bad variable is the one named.
        let addr = listen_addr(&vars)?;
        let database_url = checked_database_url(&vars)?;
        require_keyring_for_active_key(&vars)?;
        let root_token = root_token(&vars)?;
        let guard = GuardSettings::from_vars(&vars)?;
        let master_key_active = master_key_active(&vars)?;
        let provider_timeout_ms = vars.unbounded(
            "KEYWARD_PROVIDER_TIMEOUT_MS",
            5_000,
            "a number of milliseconds",
        )?;
        let cache_memory_mb = vars.unbounded(
            "KEYWARD_CACHE_MEMORY_MB",
            256,
            "a whole number of megabytes",
        )?;
        let (change_ttl, limit_sync) = replica_sync(&vars)?;
        let (scheduler, webhooks) = automation(&vars)?;
        let retention = retention(&vars)?;
        let secret_versions_kept =
            vars.ranged("KEYWARD_SECRET_VERSIONS_KEPT", 3, 0, 100, "versions")? as u32;
        Ok(Self {
            retention,
            secret_versions_kept,
            config_file: None,
            guard,
            addr,
            data_dir: vars
                .non_empty("KEYWARD_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data")),
            database_url,
            root_token: root_token.map(SecretString::from),
            root_token_changed: vars.flag("KEYWARD_ROOT_TOKEN_CHANGED"),
            key_hash_secret: vars.secret("KEYWARD_KEY_HASH_SECRET"),
            master_key: vars.secret("KEYWARD_MASTER_KEY"),
            master_keys: vars.secret("KEYWARD_MASTER_KEYS"),
            master_key_active,
            provider_urls: provider_urls(&vars),
            provider_timeout: Duration::from_millis(provider_timeout_ms),
            cache_memory_mb,
            xero: XeroSettings::from_vars(&vars),
            redis_url: vars.non_empty("KEYWARD_REDIS_URL"),
            change_ttl,
            limit_sync,
            scheduler,
            webhooks,
            trusted_proxy: vars.flag("KEYWARD_TRUSTED_PROXY"),
            bench_routes: vars.flag("KEYWARD_BENCH_ROUTES"),
            site_root: vars
                .non_empty("LEPTOS_SITE_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target/site")),
        })
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("keyward.db").display()),
        }
    }
}

/// The variables settings are read from, through a lookup function; a blank
/// value counts as unset.
/// The optional configuration file: variable name -> value, as text.
#[derive(Debug, Default)]
pub struct ConfigFile(
    std::collections::HashMap<String, String>,
    /// Where it was read from (none: no file).
    Option<PathBuf>,
);

impl ConfigFile {
    /// Reads `path`; a missing file is no layer unless `required` (named by
    /// `KEYWARD_CONFIG`).
    pub fn read(path: &std::path::Path, required: bool) -> Result<Self, ConfigError> {
        let refuse = |message: String| ConfigError {
            name: "KEYWARD_CONFIG",
            message: format!("{}: {message}", path.display()),
        };
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o022 != 0 {
                return Err(refuse(
                    "others may write it (group or world writable); chmod go-w it".into(),
                ));
            }
        }
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .map(|mut f| {
                    f.1 = Some(path.to_path_buf());
                    f
                })
                .map_err(|message| ConfigError {
                    name: "KEYWARD_CONFIG",
                    message: format!("{}: {message}", path.display()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Self::default()),
            Err(e) => Err(ConfigError {
                name: "KEYWARD_CONFIG",
                message: format!("{}: {e}", path.display()),
            }),
        }
    }

    /// Parses the file's text: a flat table of known keys with string,
    /// integer or boolean values.
    pub fn parse(text: &str) -> Result<Self, String> {
        // toml's own message quotes the offending line, which may hold a
        // secret: say where, and what, but never echo the text.
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(line) => format!("not valid TOML at line {line}: {}", e.message()),
                None => format!("not valid TOML: {}", e.message()),
            }
        })?;
        let mut vars = std::collections::HashMap::new();
        for (key, value) in table {
            let name = variable_name(&key).ok_or_else(|| {
                format!("unknown setting `{key}` (the names are the KEYWARD_* variables', lower case, without the prefix)")
            })?;
            if NOT_IN_FILES.contains(&name.as_str()) {
                return Err(format!(
                    "`{key}` may not be set in a file: give {name} in the environment (secrets also \
                     live in the data directory's 0600 files)"
                ));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => if b { "1" } else { "0" }.to_string(),
                other => {
                    return Err(format!(
                        "`{key}` must be a string, a whole number or true/false, not {}",
                        other.type_str()
                    ))
                }
            };
            vars.insert(name, text);
        }
        Ok(Self(vars, None))
    }

    /// The file the settings were read from, if any (shown at start-up).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.1.as_deref()
    }

    /// The file's value for an environment variable's name.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Secrets, and the one-start override of the root token's check: never
/// from a file that may be copied around or left behind.
const NOT_IN_FILES: &[&str] = &[
    "KEYWARD_ROOT_TOKEN",
    "KEYWARD_ROOT_TOKEN_CHANGED",
    "KEYWARD_KEY_HASH_SECRET",
    "KEYWARD_MASTER_KEY",
    "KEYWARD_MASTER_KEYS",
    "KEYWARD_XERO_CLIENT_SECRET",
];

/// Every variable the settings read, so the file's keys can be checked.
const VARIABLES: &[&str] = &[
    "KEYWARD_ADDR",
    "KEYWARD_DATA_DIR",
    "DATABASE_URL",
    "KEYWARD_ROOT_TOKEN",
    "KEYWARD_ROOT_TOKEN_CHANGED",
    "KEYWARD_KEY_HASH_SECRET",
    "KEYWARD_MASTER_KEY",
    "KEYWARD_MASTER_KEYS",
    "KEYWARD_MASTER_KEY_ACTIVE",
    "KEYWARD_PROVIDER_TIMEOUT_MS",
    "LEPTOS_SITE_ROOT",
    "KEYWARD_CACHE_MEMORY_MB",
    "KEYWARD_BENCH_ROUTES",
    "KEYWARD_REDIS_URL",
    "KEYWARD_CHANGE_TTL_SECS",
    "KEYWARD_LIMIT_SYNC_MS",
    "KEYWARD_SCHEDULER",
    "KEYWARD_SCHEDULER_TICK_MS",
    "KEYWARD_JOB_LEASE_SECS",
    "KEYWARD_WEBHOOK_RETRY_BASE_MS",
    "KEYWARD_WEBHOOK_MAX_ATTEMPTS",
    "KEYWARD_WEBHOOK_POLL_MS",
    "KEYWARD_WEBHOOK_TIMEOUT_MS",
    "KEYWARD_USAGE_RECORD_RETENTION_DAYS",
    "KEYWARD_USAGE_EVENT_RETENTION_DAYS",
    "KEYWARD_AUDIT_RETENTION_DAYS",
    "KEYWARD_SECRET_VERSIONS_KEPT",
    "KEYWARD_TRUSTED_PROXY",
    "KEYWARD_SIGN_IN_CONCURRENCY",
    "KEYWARD_HEADER_TIMEOUT_SECS",
    "KEYWARD_BODY_TIMEOUT_SECS",
    "KEYWARD_REQUEST_TIMEOUT_SECS",
    "KEYWARD_IDLE_TIMEOUT_SECS",
    "KEYWARD_BODY_MEMORY_MB",
    "KEYWARD_XERO_API_URL",
    "KEYWARD_XERO_TOKEN_URL",
    "KEYWARD_XERO_CLIENT_ID",
    "KEYWARD_XERO_CLIENT_SECRET",
    "KEYWARD_XERO_TENANT_ID",
    "KEYWARD_XERO_ACCOUNT_CODE",
    "KEYWARD_XERO_TAX_TYPE",
    "KEYWARD_CURRENCY",
];

/// `cache_memory_mb` -> `KEYWARD_CACHE_MEMORY_MB`; `database_url` and
/// `leptos_site_root` keep their own names; a provider URL
/// (`provider_openai_url`) is accepted for every service.
fn variable_name(key: &str) -> Option<String> {
    // One spelling per variable: lower case, without the `keyward_` prefix.
    if key != key.to_ascii_lowercase() || key.starts_with("keyward_") {
        return None;
    }
    let upper = key.to_ascii_uppercase();
    let candidates = [upper.clone(), format!("KEYWARD_{upper}")];
    if let Some(found) = candidates.iter().find(|c| VARIABLES.contains(&c.as_str())) {
        return Some(found.clone());
    }
    let provider = crate::domain::secret::Service::ALL
        .iter()
        .map(|s| format!("PROVIDER_{}_URL", s.as_str().to_ascii_uppercase()))
        .find(|p| *p == upper)?;
    Some(format!("KEYWARD_{provider}"))
}

struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The variable's value, unless unset or blank.
    fn non_empty(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// A secret variable's value, unless unset or blank.
    fn secret(&self, name: &str) -> Option<SecretString> {
        self.non_empty(name).map(SecretString::from)
    }

    /// A switch: on when set to `1` or `true`.
    fn flag(&self, name: &str) -> bool {
        self.non_empty(name)
            .is_some_and(|v| v == "1" || v == "true")
    }

    /// A duration given in whole seconds, from 1 to `hi`, `default` when unset.
    fn seconds(&self, name: &'static str, default: u64, hi: u64) -> Result<Duration, ConfigError> {
        self.ranged(name, default, 1, hi, "seconds")
            .map(Duration::from_secs)
    }

    /// A whole number of `unit` from `lo` to `hi`, `default` when unset.
    fn ranged(
        &self,
        name: &'static str,
        default: u64,
        lo: u64,
        hi: u64,
        unit: &str,
    ) -> Result<u64, ConfigError> {
        match self.non_empty(name) {
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(ConfigError {
                    name,
                    message: format!("{raw:?} is not a number of {unit} from {lo} to {hi}"),
                }),
            },
            None => Ok(default),
        }
    }

    /// A whole number without bounds, `default` when unset; a bad value is
    /// reported as "not `what`".
    fn unbounded(&self, name: &'static str, default: u64, what: &str) -> Result<u64, ConfigError> {
        match self.non_empty(name) {
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError {
                name,
                message: format!("{raw:?} is not {what}"),
            }),
            None => Ok(default),
        }
    }
}

/// `KEYWARD_ADDR`: the address to listen on, default `127.0.0.1:3000`.
fn listen_addr<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<SocketAddr, ConfigError> {
    match vars.non_empty("KEYWARD_ADDR") {
        Some(raw) => raw.trim().parse().map_err(|e| ConfigError {
            name: "KEYWARD_ADDR",
            message: format!("{raw:?} is not a socket address like 127.0.0.1:3000 ({e})"),
        }),
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 3000))),
    }
}

/// `DATABASE_URL`, when set: a SQLite or PostgreSQL URL.
fn checked_database_url<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Option<String>, ConfigError> {
    let database_url = vars.non_empty("DATABASE_URL");
    if let Some(url) = &database_url {
        if crate::db::Engine::from_url(url).is_none() {
            return Err(ConfigError {
                name: "DATABASE_URL",
                message: "must start with sqlite: or postgres://".into(),
            });
        }
    }
    Ok(database_url)
}

/// Refuses `KEYWARD_MASTER_KEY_ACTIVE` without the keyring it picks from.
fn require_keyring_for_active_key<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<(), ConfigError> {
    if vars.non_empty("KEYWARD_MASTER_KEY_ACTIVE").is_some()
        && vars.non_empty("KEYWARD_MASTER_KEYS").is_none()
    {
        return Err(ConfigError {
            name: "KEYWARD_MASTER_KEY_ACTIVE",
            message: "only means something with KEYWARD_MASTER_KEYS".into(),
        });
    }
    Ok(())
}

/// `KEYWARD_ROOT_TOKEN`, when set: at least 16 characters.
fn root_token<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Option<String>, ConfigError> {
    let root_token = vars.non_empty("KEYWARD_ROOT_TOKEN");
    if root_token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(ConfigError {
            name: "KEYWARD_ROOT_TOKEN",
            message: "must be at least 16 characters".into(),
        });
    }
    Ok(root_token)
}

/// `KEYWARD_MASTER_KEY_ACTIVE`, when set: a key version from 1.
fn master_key_active<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Option<i64>, ConfigError> {
    match vars.non_empty("KEYWARD_MASTER_KEY_ACTIVE") {
        Some(raw) => Some(
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| ConfigError {
                    name: "KEYWARD_MASTER_KEY_ACTIVE",
                    message: format!("{raw:?} is not a key version (1, 2, ...)"),
                }),
        )
        .transpose(),
        None => Ok(None),
    }
}

/// `KEYWARD_PROVIDER_<SERVICE>_URL`: the providers whose base URL is overridden.
fn provider_urls<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> std::collections::HashMap<crate::domain::secret::Service, String> {
    crate::domain::secret::Service::ALL
        .into_iter()
        .filter_map(|s| {
            let var = format!("KEYWARD_PROVIDER_{}_URL", s.as_str().to_ascii_uppercase());
            vars.non_empty(&var).map(|u| (s, u.trim().to_string()))
        })
        .collect()
}

/// How long records are kept: `KEYWARD_USAGE_RECORD_RETENTION_DAYS` (raw
/// data-plane records, default 90), `KEYWARD_USAGE_EVENT_RETENTION_DAYS`
/// (cost events, default 400) and `KEYWARD_AUDIT_RETENTION_DAYS` (default
/// 730, at least 365: the audit trail is the security record).
fn retention<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<crate::domain::retention::Retention, ConfigError> {
    use crate::domain::retention::{Retention, MIN_AUDIT_DAYS};
    let d = Retention::default();
    Ok(Retention {
        usage_record_days: vars.ranged(
            "KEYWARD_USAGE_RECORD_RETENTION_DAYS",
            d.usage_record_days,
            1,
            36_500,
            "days",
        )?,
        usage_event_days: vars.ranged(
            "KEYWARD_USAGE_EVENT_RETENTION_DAYS",
            d.usage_event_days,
            1,
            36_500,
            "days",
        )?,
        audit_days: vars.ranged(
            "KEYWARD_AUDIT_RETENTION_DAYS",
            d.audit_days,
            MIN_AUDIT_DAYS,
            36_500,
            "days",
        )?,
    })
}

/// How replicas keep in step: `KEYWARD_CHANGE_TTL_SECS` (default 10, 1 to
/// 3600) and `KEYWARD_LIMIT_SYNC_MS` (default 200, 20 to 10000).
fn replica_sync<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<(Duration, Duration), ConfigError> {
    let change_ttl_secs = vars.ranged("KEYWARD_CHANGE_TTL_SECS", 10, 1, 3600, "seconds")?;
    let limit_sync_ms = vars.ranged("KEYWARD_LIMIT_SYNC_MS", 200, 20, 10_000, "milliseconds")?;
    Ok((
        Duration::from_secs(change_ttl_secs),
        Duration::from_millis(limit_sync_ms),
    ))
}

/// The scheduler's and the webhooks' tunables (`KEYWARD_SCHEDULER*`,
/// `KEYWARD_JOB_LEASE_SECS`, `KEYWARD_WEBHOOK_*`).
fn automation<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<
    (
        crate::services::scheduler::SchedulerOptions,
        crate::services::webhooks::WebhookOptions,
    ),
    ConfigError,
> {
    let enabled = match vars.non_empty("KEYWARD_SCHEDULER").as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(_) => {
            return Err(ConfigError {
                name: "KEYWARD_SCHEDULER",
                message: "must be on or off".into(),
            })
        }
    };
    let scheduler = crate::services::scheduler::SchedulerOptions {
        tick: Duration::from_millis(vars.ranged(
            "KEYWARD_SCHEDULER_TICK_MS",
            1000,
            50,
            60_000,
            "milliseconds",
        )?),
        lease: Duration::from_secs(vars.ranged(
            "KEYWARD_JOB_LEASE_SECS",
            60,
            1,
            3600,
            "seconds",
        )?),
        enabled,
    };
    let any_target = match vars.non_empty("KEYWARD_WEBHOOK_TARGETS").as_deref() {
        None | Some("public") => false,
        Some("any") => true,
        Some(_) => {
            return Err(ConfigError {
                name: "KEYWARD_WEBHOOK_TARGETS",
                message: "must be public or any".into(),
            })
        }
    };
    let webhooks = crate::services::webhooks::WebhookOptions {
        retry_base: Duration::from_millis(vars.ranged(
            "KEYWARD_WEBHOOK_RETRY_BASE_MS",
            5000,
            10,
            600_000,
            "milliseconds",
        )?),
        max_attempts: vars.ranged("KEYWARD_WEBHOOK_MAX_ATTEMPTS", 8, 1, 20, "attempts")? as i64,
        poll: Duration::from_millis(vars.ranged(
            "KEYWARD_WEBHOOK_POLL_MS",
            1000,
            50,
            60_000,
            "milliseconds",
        )?),
        timeout: Duration::from_millis(vars.ranged(
            "KEYWARD_WEBHOOK_TIMEOUT_MS",
            10_000,
            100,
            60_000,
            "milliseconds",
        )?),
        any_target,
    };
    Ok((scheduler, webhooks))
}

impl GuardSettings {
    /// The `KEYWARD_*` bounds on what one client may cost, each checked
    /// against its range.
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            sign_in_concurrency: vars.ranged("KEYWARD_SIGN_IN_CONCURRENCY", 4, 1, 64, "checks")?
                as usize,
            header_timeout: vars.seconds("KEYWARD_HEADER_TIMEOUT_SECS", 10, 300)?,
            body_timeout: vars.seconds("KEYWARD_BODY_TIMEOUT_SECS", 10, 300)?,
            request_timeout: vars.seconds("KEYWARD_REQUEST_TIMEOUT_SECS", 30, 3600)?,
            idle_timeout: vars.seconds("KEYWARD_IDLE_TIMEOUT_SECS", 60, 3600)?,
            body_memory_mb: vars.ranged("KEYWARD_BODY_MEMORY_MB", 512, 1, 65536, "megabytes")?,
        })
    }
}

impl XeroSettings {
    /// `KEYWARD_XERO_*` and `KEYWARD_CURRENCY`, with Xero's real URLs and
    /// the default ledger code, tax type and currency.
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Self {
        Self {
            api_url: vars
                .non_empty("KEYWARD_XERO_API_URL")
                .unwrap_or_else(|| "https://api.xero.com".into()),
            token_url: vars
                .non_empty("KEYWARD_XERO_TOKEN_URL")
                .unwrap_or_else(|| "https://identity.xero.com/connect/token".into()),
            client_id: vars.non_empty("KEYWARD_XERO_CLIENT_ID"),
            client_secret: vars.secret("KEYWARD_XERO_CLIENT_SECRET"),
            tenant_id: vars.non_empty("KEYWARD_XERO_TENANT_ID"),
            account_code: vars
                .non_empty("KEYWARD_XERO_ACCOUNT_CODE")
                .unwrap_or_else(|| "200".into()),
            tax_type: vars
                .non_empty("KEYWARD_XERO_TAX_TYPE")
                .unwrap_or_else(|| "OUTPUT".into()),
            currency: vars
                .non_empty("KEYWARD_CURRENCY")
                .unwrap_or_else(|| "USD".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_file_names_variables_in_lower_case_without_the_prefix() {
        let file = ConfigFile::parse(
            "cache_memory_mb = 512\ndatabase_url = \"sqlite://x.db\"\ntrusted_proxy = true\n\
             provider_openai_url = \"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        assert_eq!(file.get("KEYWARD_CACHE_MEMORY_MB").as_deref(), Some("512"));
        assert_eq!(file.get("DATABASE_URL").as_deref(), Some("sqlite://x.db"));
        assert_eq!(file.get("KEYWARD_TRUSTED_PROXY").as_deref(), Some("1"));
        assert_eq!(
            file.get("KEYWARD_PROVIDER_OPENAI_URL").as_deref(),
            Some("http://127.0.0.1:9")
        );
        let s = Settings::from_lookup(|k| file.get(k)).unwrap();
        assert_eq!((s.cache_memory_mb, s.trusted_proxy), (512, true));
    }

    #[test]
    fn the_file_refuses_unknown_keys_and_other_shapes() {
        let typo = ConfigFile::parse("cache_memory = 5").unwrap_err();
        assert!(typo.contains("unknown setting `cache_memory`"), "{typo}");
        assert!(
            ConfigFile::parse("KEYWARD_ADDR = \"x\"").is_err(),
            "upper case"
        );
        assert!(
            ConfigFile::parse("[xero]\nclient_id = \"a\"").is_err(),
            "tables"
        );
        assert!(ConfigFile::parse("addr = ").is_err(), "not TOML");
        assert!(
            ConfigFile::parse("keyward_addr = \"x\"").is_err(),
            "one spelling"
        );
        for secret in [
            "root_token",
            "master_keys",
            "key_hash_secret",
            "xero_client_secret",
            "root_token_changed",
        ] {
            let err =
                ConfigFile::parse(&format!("{secret} = \"s3cret-value-0123456789\"")).unwrap_err();
            assert!(err.contains("may not be set in a file"), "{secret}: {err}");
        }
        // A syntax error says where, never echoing the line (it may hold a secret).
        let err = ConfigFile::parse("addr = \"127.0.0.1:1\"\nredis_url = \"redis://:hunter2@x")
            .unwrap_err();
        assert!(err.contains("line 2") && !err.contains("hunter2"), "{err}");
        let missing = ConfigFile::read(std::path::Path::new("/nonexistent/keyward.toml"), false);
        assert!(missing.unwrap().get("KEYWARD_ADDR").is_none());
        let required = ConfigFile::read(std::path::Path::new("/nonexistent/keyward.toml"), true);
        assert_eq!(required.unwrap_err().name, "KEYWARD_CONFIG");
    }

    #[test]
    fn durations_are_durations() {
        let s = from(&[
            ("KEYWARD_CHANGE_TTL_SECS", "5"),
            ("KEYWARD_LIMIT_SYNC_MS", "250"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "7"),
        ])
        .unwrap();
        assert_eq!(s.change_ttl, Duration::from_secs(5));
        assert_eq!(s.limit_sync, Duration::from_millis(250));
        assert_eq!(s.guard.idle_timeout, Duration::from_secs(7));
        assert_eq!(s.provider_timeout, Duration::from_millis(5_000));
    }

    #[test]
    fn the_audit_trail_is_kept_at_least_a_year() {
        let e = from(&[("KEYWARD_AUDIT_RETENTION_DAYS", "30")]).unwrap_err();
        assert_eq!(e.name, "KEYWARD_AUDIT_RETENTION_DAYS");
        assert!(e.message.contains("365"), "{}", e.message);
        let s = from(&[
            ("KEYWARD_AUDIT_RETENTION_DAYS", "365"),
            ("KEYWARD_USAGE_RECORD_RETENTION_DAYS", "7"),
        ])
        .unwrap();
        assert_eq!(s.retention.audit_days, 365);
        assert_eq!(s.retention.usage_record_days, 7);
        assert_eq!(s.retention.usage_event_days, 400);
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = from(&[]).unwrap();
        assert_eq!(s.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(s.database_url(), "sqlite://data/keyward.db");
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            from(&[("KEYWARD_ADDR", "nope")]).unwrap_err().name,
            "KEYWARD_ADDR"
        );
        assert_eq!(
            from(&[("DATABASE_URL", "mysql://x")]).unwrap_err().name,
            "DATABASE_URL"
        );
        assert_eq!(
            from(&[("KEYWARD_ROOT_TOKEN", "short")]).unwrap_err().name,
            "KEYWARD_ROOT_TOKEN"
        );
        for name in [
            "KEYWARD_SIGN_IN_CONCURRENCY",
            "KEYWARD_HEADER_TIMEOUT_SECS",
            "KEYWARD_REQUEST_TIMEOUT_SECS",
            "KEYWARD_BODY_TIMEOUT_SECS",
            "KEYWARD_IDLE_TIMEOUT_SECS",
            "KEYWARD_BODY_MEMORY_MB",
        ] {
            for bad in ["0", "-1", "ten", "99999999"] {
                assert_eq!(from(&[(name, bad)]).unwrap_err().name, name, "{name}={bad}");
            }
        }
    }
}
