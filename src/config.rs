//! Typed configuration, read from the environment once at start-up. A bad
//! value stops start-up with a message naming the variable.

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    pub provider_timeout_ms: u64,
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
    pub change_ttl_secs: u64,
    /// `KEYWARD_LIMIT_SYNC_MS`, default 200 (20 to 10000): on PostgreSQL
    /// without Redis, how often replicas exchange their limit counts.
    pub limit_sync_ms: u64,
    /// `KEYWARD_TRUSTED_PROXY=1`: requests come through a proxy that appends
    /// the client's address to `X-Forwarded-For` (sign-in limits count it).
    pub trusted_proxy: bool,
    /// Invoices: Xero's API and token URLs, client credentials, organisation,
    /// ledger codes and currency (`KEYWARD_XERO_*`).
    pub xero: XeroSettings,
    /// What one client may cost the server: timeouts, memory, hashing.
    pub guard: GuardSettings,
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
    pub header_timeout_secs: u64,
    /// `KEYWARD_BODY_TIMEOUT_SECS`, default 10 (1-300): the longest a
    /// request body may pause between two pieces; then 408 and the
    /// connection closes.
    pub body_timeout_secs: u64,
    /// `KEYWARD_REQUEST_TIMEOUT_SECS`, default 30 (1-3600): the longest a
    /// request may take, body included; then 408 and the connection closes.
    pub request_timeout_secs: u64,
    /// `KEYWARD_IDLE_TIMEOUT_SECS`, default 60 (1-3600): an idle keep-alive
    /// connection is closed after this long.
    pub idle_timeout_secs: u64,
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests can supply their own variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let addr = match non_empty("KEYWARD_ADDR") {
            Some(raw) => raw.trim().parse().map_err(|e| ConfigError {
                name: "KEYWARD_ADDR",
                message: format!("{raw:?} is not a socket address like 127.0.0.1:3000 ({e})"),
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let database_url = non_empty("DATABASE_URL");
        if let Some(url) = &database_url {
            if crate::db::Engine::from_url(url).is_none() {
                return Err(ConfigError {
                    name: "DATABASE_URL",
                    message: "must start with sqlite: or postgres://".into(),
                });
            }
        }
        if non_empty("KEYWARD_MASTER_KEY_ACTIVE").is_some()
            && non_empty("KEYWARD_MASTER_KEYS").is_none()
        {
            return Err(ConfigError {
                name: "KEYWARD_MASTER_KEY_ACTIVE",
                message: "only means something with KEYWARD_MASTER_KEYS".into(),
            });
        }
        let root_token = non_empty("KEYWARD_ROOT_TOKEN");
        if root_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError {
                name: "KEYWARD_ROOT_TOKEN",
                message: "must be at least 16 characters".into(),
            });
        }
        let ranged = |name: &'static str, default: u64, lo: u64, hi: u64, unit: &str| {
            match non_empty(name) {
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                    _ => Err(ConfigError {
                        name,
                        message: format!("{raw:?} is not a number of {unit} from {lo} to {hi}"),
                    }),
                },
                None => Ok(default),
            }
        };
        let guard = GuardSettings {
            sign_in_concurrency: ranged("KEYWARD_SIGN_IN_CONCURRENCY", 4, 1, 64, "checks")?
                as usize,
            header_timeout_secs: ranged("KEYWARD_HEADER_TIMEOUT_SECS", 10, 1, 300, "seconds")?,
            body_timeout_secs: ranged("KEYWARD_BODY_TIMEOUT_SECS", 10, 1, 300, "seconds")?,
            request_timeout_secs: ranged("KEYWARD_REQUEST_TIMEOUT_SECS", 30, 1, 3600, "seconds")?,
            idle_timeout_secs: ranged("KEYWARD_IDLE_TIMEOUT_SECS", 60, 1, 3600, "seconds")?,
            body_memory_mb: ranged("KEYWARD_BODY_MEMORY_MB", 512, 1, 65536, "megabytes")?,
        };
        Ok(Self {
            guard,
            addr,
            data_dir: non_empty("KEYWARD_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data")),
            database_url,
            root_token: root_token.map(SecretString::from),
            root_token_changed: non_empty("KEYWARD_ROOT_TOKEN_CHANGED")
                .is_some_and(|v| v == "1" || v == "true"),
            key_hash_secret: non_empty("KEYWARD_KEY_HASH_SECRET").map(SecretString::from),
            master_key: non_empty("KEYWARD_MASTER_KEY").map(SecretString::from),
            master_keys: non_empty("KEYWARD_MASTER_KEYS").map(SecretString::from),
            master_key_active: match non_empty("KEYWARD_MASTER_KEY_ACTIVE") {
                Some(raw) => Some(
                    raw.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|v| *v >= 1)
                        .ok_or_else(|| ConfigError {
                            name: "KEYWARD_MASTER_KEY_ACTIVE",
                            message: format!("{raw:?} is not a key version (1, 2, ...)"),
                        })?,
                ),
                None => None,
            },
            provider_urls: crate::domain::secret::Service::ALL
                .into_iter()
                .filter_map(|s| {
                    let var = format!("KEYWARD_PROVIDER_{}_URL", s.as_str().to_ascii_uppercase());
                    non_empty(&var).map(|u| (s, u.trim().to_string()))
                })
                .collect(),
            provider_timeout_ms: match non_empty("KEYWARD_PROVIDER_TIMEOUT_MS") {
                Some(raw) => raw.trim().parse().map_err(|_| ConfigError {
                    name: "KEYWARD_PROVIDER_TIMEOUT_MS",
                    message: format!("{raw:?} is not a number of milliseconds"),
                })?,
                None => 5_000,
            },
            cache_memory_mb: match non_empty("KEYWARD_CACHE_MEMORY_MB") {
                Some(raw) => raw.trim().parse().map_err(|_| ConfigError {
                    name: "KEYWARD_CACHE_MEMORY_MB",
                    message: format!("{raw:?} is not a whole number of megabytes"),
                })?,
                None => 256,
            },
            xero: XeroSettings {
                api_url: non_empty("KEYWARD_XERO_API_URL")
                    .unwrap_or_else(|| "https://api.xero.com".into()),
                token_url: non_empty("KEYWARD_XERO_TOKEN_URL")
                    .unwrap_or_else(|| "https://identity.xero.com/connect/token".into()),
                client_id: non_empty("KEYWARD_XERO_CLIENT_ID"),
                client_secret: non_empty("KEYWARD_XERO_CLIENT_SECRET").map(SecretString::from),
                tenant_id: non_empty("KEYWARD_XERO_TENANT_ID"),
                account_code: non_empty("KEYWARD_XERO_ACCOUNT_CODE")
                    .unwrap_or_else(|| "200".into()),
                tax_type: non_empty("KEYWARD_XERO_TAX_TYPE").unwrap_or_else(|| "OUTPUT".into()),
                currency: non_empty("KEYWARD_CURRENCY").unwrap_or_else(|| "USD".into()),
            },
            redis_url: non_empty("KEYWARD_REDIS_URL"),
            change_ttl_secs: match non_empty("KEYWARD_CHANGE_TTL_SECS") {
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(n) if (1..=3600).contains(&n) => n,
                    _ => {
                        return Err(ConfigError {
                            name: "KEYWARD_CHANGE_TTL_SECS",
                            message: format!("{raw:?} is not a number of seconds from 1 to 3600"),
                        })
                    }
                },
                None => 10,
            },
            limit_sync_ms: match non_empty("KEYWARD_LIMIT_SYNC_MS") {
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(n) if (20..=10_000).contains(&n) => n,
                    _ => {
                        return Err(ConfigError {
                            name: "KEYWARD_LIMIT_SYNC_MS",
                            message: format!(
                                "{raw:?} is not a number of milliseconds from 20 to 10000"
                            ),
                        })
                    }
                },
                None => 200,
            },
            trusted_proxy: non_empty("KEYWARD_TRUSTED_PROXY")
                .is_some_and(|v| v == "1" || v == "true"),
            bench_routes: non_empty("KEYWARD_BENCH_ROUTES")
                .is_some_and(|v| v == "1" || v == "true"),
            site_root: non_empty("LEPTOS_SITE_ROOT")
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
