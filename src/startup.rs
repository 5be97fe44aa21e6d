//! Builds the application from settings: data directory, database,
//! migrations, local secrets, the core, and the HTTP router.

use crate::config::Settings;
use crate::crypto::api_key::KeyHasher;
use crate::crypto::root_token::RootToken;
use crate::crypto::secret_file::{self, Origin};
use crate::crypto::vault::Keyring;
use crate::db::{ConnectError, Db};
use crate::integrations::providers::Providers;
use crate::services::Keyward;
use axum::extract::FromRef;
use axum::Router;
use leptos::config::LeptosOptions;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Everything a handler or server function may need, cloned per request
/// (so every field is cheap to clone).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: std::sync::Arc<LeptosOptions>,
    pub core: Keyward,
    pub root: RootToken,
    /// Behind a proxy that appends the client to `X-Forwarded-For`.
    pub trusted_proxy: bool,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos_options).clone()
    }
}

/// Each bounded context's service is a substate: a handler asks for the one
/// it calls (`State<Keys>`), never for the whole core.
macro_rules! service_substates {
    ($($field:ident: $service:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $service {
            fn from_ref(state: &AppState) -> Self {
                state.core.$field.clone()
            }
        }
    )*};
}

service_substates!(
    keys: crate::services::keys::Keys,
    tenants: crate::services::tenants::Tenants,
    plans: crate::services::plans::Plans,
    limits: crate::services::limits::Limits,
    data_plane: crate::services::data_plane::DataPlane,
    usage: crate::services::usage::Usage,
    vault: crate::services::vault::Vault,
    costs: crate::services::costs::Costs,
    billing: crate::services::billing::Billing,
    admins: crate::services::admins::Admins,
    audit: crate::services::audit::Audit,
    operations: crate::services::operations::Operations,
    operators: crate::services::operators::Operators,
    metrics: crate::services::metrics::Metrics,
    webhooks: crate::services::webhooks::Webhooks,
    scheduler: crate::services::scheduler::Scheduler,
    budgets: crate::services::budgets::Budgets,
);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Database(#[from] ConnectError),
    #[error("cannot start: {0}")]
    Core(String),
    /// This replica's secrets differ from those the database was used with.
    #[error("cannot start: {variable}: {message}")]
    Misconfigured {
        variable: &'static str,
        message: String,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Opens the store named by the settings and applies the embedded migrations.
pub async fn open_store(settings: &Settings) -> Result<Db, StartupError> {
    ensure_data_dir(settings)?;
    let db = Db::connect(&settings.database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

fn ensure_data_dir(settings: &Settings) -> Result<(), StartupError> {
    let dir = &settings.data_dir;
    let err = |source| StartupError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

fn store_failure(e: sqlx::Error) -> StartupError {
    StartupError::Core(format!("reading the configuration fingerprints: {e}"))
}

/// Refuses to start when this replica's pepper or master keys differ from
/// those the database was used with (their fingerprints are kept there,
/// never the secrets), naming the variable to fix: otherwise it would refuse
/// every API key, or fail to open every secret. The first start records them.
async fn check_shared_secrets(
    db: &Db,
    pepper: &str,
    keyring: &Keyring,
) -> Result<(), StartupError> {
    use crate::db::fingerprints;
    let now = crate::services::now();
    let mut conn = db.pool().acquire().await.map_err(store_failure)?;
    let mine = crate::crypto::fingerprint(pepper.as_bytes(), "key hash secret");
    let recorded = fingerprints::record_first(&mut conn, "key_hash_secret", &mine, now)
        .await
        .map_err(store_failure)?;
    if recorded != mine {
        return Err(StartupError::Misconfigured {
            variable: "KEYWARD_KEY_HASH_SECRET",
            message: "differs from the pepper this database's API keys were hashed with \
                      (every key would be refused); give every replica the same value \
                      (or the same <data dir>/key_hash_secret file)"
                .into(),
        });
    }
    let local = keyring.fingerprints();
    for (version, mine) in &local {
        let name = format!("master_key_v{version}");
        let recorded = fingerprints::record_first(&mut conn, &name, mine, now)
            .await
            .map_err(store_failure)?;
        if &recorded != mine {
            return Err(StartupError::Misconfigured {
                variable: "KEYWARD_MASTER_KEY",
                message: format!(
                    "master key version {version} differs from the one this database's secrets \
                     were sealed with; give every replica the same keyring"
                ),
            });
        }
    }
    for (name, _) in fingerprints::all(&mut conn).await.map_err(store_failure)? {
        let Some(version) = name
            .strip_prefix("master_key_v")
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        if !local.iter().any(|(v, _)| *v == version) {
            return Err(StartupError::Misconfigured {
                variable: "KEYWARD_MASTER_KEY",
                message: format!(
                    "master key version {version} is in use in this database but missing here \
                     (<data dir>/master.keys); every replica needs every version"
                ),
            });
        }
    }
    Ok(())
}

/// Refuses a root token other than the one the database's other replicas
/// use (its fingerprint, keyed by the pepper, is kept in the database), unless
/// `KEYWARD_ROOT_TOKEN_CHANGED=1` says it is being changed on purpose.
async fn check_root_token(
    db: &Db,
    pepper: &str,
    token: &str,
    changed: bool,
) -> Result<(), StartupError> {
    use crate::db::fingerprints;
    let now = crate::services::now();
    let mine = crate::crypto::fingerprint(pepper.as_bytes(), &format!("root token {token}"));
    let mut conn = db.pool().acquire().await.map_err(store_failure)?;
    if changed {
        return fingerprints::set(&mut conn, "root_token", &mine, now)
            .await
            .map_err(store_failure);
    }
    let recorded = fingerprints::record_first(&mut conn, "root_token", &mine, now)
        .await
        .map_err(store_failure)?;
    if recorded != mine {
        return Err(StartupError::Misconfigured {
            variable: "KEYWARD_ROOT_TOKEN",
            message: "differs from the root token this database's other replicas use; give \
                      every replica the same token, or set KEYWARD_ROOT_TOKEN_CHANGED=1 once \
                      (on every replica) to change it"
                .into(),
        });
    }
    Ok(())
}

/// The pepper of API-key digests: from the settings, or the data directory
/// (generated there on first run).
fn pepper(settings: &Settings) -> Result<String, StartupError> {
    match &settings.key_hash_secret {
        Some(secret) => Ok(secret.expose_secret().to_string()),
        None => {
            let path = settings.data_dir.join("key_hash_secret");
            secret_file::load_or_create(&path, RootToken::generate)
                .map(|(pepper, _)| pepper)
                .map_err(|source| StartupError::DataDir {
                    path: path.display().to_string(),
                    source,
                })
        }
    }
}

/// The core over an opened store: the key-hashing pepper and the vault's
/// keyring from the settings or the data directory, the provider adapters
/// from the environment. The CLI uses it without the HTTP server.
pub async fn open_core(settings: &Settings, db: Db) -> Result<Keyward, StartupError> {
    let pepper = pepper(settings)?;
    let env_key = settings
        .master_key
        .as_ref()
        .map(|k| k.expose_secret().to_string());
    let keyring = match &settings.master_keys {
        Some(versions) => Keyring::configured(
            versions.expose_secret(),
            settings.master_key_active,
            env_key,
        )
        .map_err(|e| StartupError::Misconfigured {
            variable: "KEYWARD_MASTER_KEYS",
            message: e.to_string(),
        })?,
        None => Keyring::open(&settings.data_dir, env_key)
            .map_err(|e| StartupError::Core(format!("vault keyring: {e}")))?,
    };
    check_shared_secrets(&db, &pepper, &keyring).await?;
    Keyward::start(
        db,
        KeyHasher::new(pepper.as_bytes()),
        crate::services::CoreOptions {
            cache_memory_bytes: settings.cache_memory_mb * 1024 * 1024,
            keyring: std::sync::Arc::new(keyring),
            providers: std::sync::Arc::new(Providers::new(
                &settings.provider_urls,
                settings.provider_timeout,
            )),
            billing: billing_options(settings),
            redis_url: settings.redis_url.clone(),
            change_ttl: settings.change_ttl,
            limit_sync: settings.limit_sync,
            sign_in_concurrency: settings.guard.sign_in_concurrency,
            retention: settings.retention,
            secret_versions_kept: settings.secret_versions_kept,
            webhooks: settings.webhooks.clone(),
            scheduler: settings.scheduler.clone(),
        },
    )
    .await
    .map_err(|e| StartupError::Core(e.to_string()))
}

fn billing_options(settings: &Settings) -> crate::services::billing::BillingOptions {
    let x = &settings.xero;
    crate::services::billing::BillingOptions {
        ledger: crate::domain::invoice::Ledger {
            account_code: x.account_code.clone(),
            tax_type: x.tax_type.clone(),
        },
        currency: x.currency.clone(),
        xero: match (&x.client_id, &x.client_secret) {
            (Some(id), Some(secret)) => Some(crate::services::billing::XeroClient::new(
                x.api_url.clone(),
                x.token_url.clone(),
                id.clone(),
                secret.clone(),
                x.tenant_id.clone(),
                settings.provider_timeout,
            )),
            _ => None,
        },
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    guard: crate::config::GuardSettings,
    core: Keyward,
    /// Set when this start generated the root token: shown once, by the caller.
    pub generated_root_token: Option<String>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = open_store(&settings).await?;
        let secret_err = |path: std::path::PathBuf| {
            move |source| StartupError::DataDir {
                path: path.display().to_string(),
                source,
            }
        };

        let mut generated_root_token = None;
        let token = match &settings.root_token {
            Some(token) => zeroize::Zeroizing::new(token.expose_secret().to_string()),
            None => {
                let path = settings.data_dir.join("root_token");
                let (token, origin) = secret_file::load_or_create(&path, RootToken::generate)
                    .map_err(secret_err(path))?;
                if origin == Origin::Created {
                    generated_root_token = Some(token.clone());
                }
                zeroize::Zeroizing::new(token)
            }
        };
        // After the pepper is known to match (open_core): the root token's
        // fingerprint is keyed by it.
        let core = open_core(&settings, db.clone()).await?;
        check_root_token(
            &db,
            &pepper(&settings)?,
            &token,
            settings.root_token_changed,
        )
        .await?;
        let root = RootToken::new(&token);

        let leptos_options = LeptosOptions::builder()
            .output_name("keyward")
            .site_root(settings.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(settings.addr)
            .build();
        let state = AppState {
            leptos_options: std::sync::Arc::new(leptos_options),
            core: core.clone(),
            root,
            trusted_proxy: settings.trusted_proxy,
        };
        let router = crate::routes(state, settings.bench_routes, &settings.guard);
        let listener =
            TcpListener::bind(settings.addr)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.addr,
                    source,
                })?;
        Ok(Self {
            listener,
            router,
            guard: settings.guard.clone(),
            core,
            generated_root_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    pub fn core(&self) -> &Keyward {
        &self.core
    }

    /// Serves until `shutdown` resolves, lets requests in flight finish, then
    /// closes the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let core = self.core.clone();
        crate::http_server::serve(self.listener, self.router, &self.guard, shutdown).await?;
        core.shutdown().await;
        core.db().close().await;
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
