//! Webhooks: endpoints that subscribe to events, deliveries signed per the
//! Standard Webhooks specification (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`),
//! retried with backoff by whichever replica takes a delivery's lease,
//! logged with each attempt's response, and replayable.

use super::events::{Events, Queued};
use super::metrics::Metrics;
use super::webhook_targets;
use super::{now, Error, Result, Tasks};
use crate::crypto::vault::{Keyring, Sealed};
use crate::db::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use crate::db::{self, Db};
use crate::domain::audit::Actor;
use crate::domain::events::{Event, EventType, Subscription};
use crate::domain::ids::TenantId;
use crate::domain::ValidationError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Tunables (tests shorten them).
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// The first retry's delay; later ones are 6, 24, 120, 360, 720 and 1440 times it.
    pub retry_base: Duration,
    /// Attempts before a delivery is given up (failed; still replayable).
    pub max_attempts: i64,
    /// How often each replica looks for due deliveries.
    pub poll: Duration,
    /// How long an endpoint may take to answer.
    pub timeout: Duration,
    /// Whether endpoints may be internal addresses (`KEYWARD_WEBHOOK_TARGETS=any`);
    /// by default only public ones are called (see `webhook_targets`).
    pub any_target: bool,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(5),
            max_attempts: 8,
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            any_target: false,
        }
    }
}

const BACKOFF: [u32; 7] = [1, 6, 24, 120, 360, 720, 1440];
/// Bytes of an endpoint's answer kept in the delivery log.
const RESPONSE_KEPT: usize = 1024;
/// Deliveries one replica sends at once.
const IN_FLIGHT: usize = 50;
const SEAL_LABEL: &[u8] = b"keyward-sealed-secret-v1";

#[derive(Clone)]
pub struct Webhooks(Arc<Inner>);

struct Inner {
    db: Db,
    keyring: Arc<Keyring>,
    metrics: Metrics,
    events: Events,
    http: reqwest::Client,
    options: WebhookOptions,
    /// This replica's name on the leases it takes.
    holder: String,
    /// Sends under way on this replica (at most `IN_FLIGHT`).
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// An endpoint as shown (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub tenant_id: Option<String>,
    pub events: Vec<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// The signing secret (`whsec_...`), shown once when its endpoint is created.
pub struct SigningSecret(Zeroizing<String>);

impl SigningSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What registering an endpoint takes.
pub struct NewEndpoint {
    pub url: String,
    pub tenant_id: Option<TenantId>,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// A delivery as shown, with its attempts when asked for one.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub tenant_id: Option<String>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempt: i64,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<DeliveryRow> for Delivery {
    fn from(d: DeliveryRow) -> Self {
        Self {
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            id: d.id,
            message_id: d.message_id,
            endpoint_id: d.endpoint_id,
            event_type: d.event_type,
            tenant_id: d.tenant_id,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

impl From<AttemptRow> for Attempt {
    fn from(a: AttemptRow) -> Self {
        Self {
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            response: a.response,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

fn endpoint_view(e: &EndpointRow) -> Endpoint {
    Endpoint {
        id: e.id.clone(),
        url: e.url.clone(),
        tenant_id: e.tenant_id.clone(),
        events: Subscription::from_stored(&e.events)
            .map(|s| s.names())
            .unwrap_or_default(),
        description: e.description.clone(),
        created_at: e.created_at,
        created_by: e.created_by.clone(),
    }
}

pub(crate) fn endpoint_aad(id: &str) -> Vec<u8> {
    format!("webhook-endpoint:{id}").into_bytes()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// An endpoint's signing secret as sealed.
pub(crate) fn sealed_of(e: &EndpointRow) -> Result<Sealed> {
    let corrupt =
        |what: &str| Error::internal("reading a webhook signing secret", what.to_string());
    Ok(Sealed {
        key_version: e.key_version,
        nonce: B64.decode(&e.secret_nonce).map_err(|_| corrupt("nonce"))?,
        ciphertext: B64
            .decode(&e.secret_sealed)
            .map_err(|_| corrupt("ciphertext"))?,
    })
}

/// The Standard Webhooks signature of one message.
pub fn sign(secret: &[u8], message_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Seals `plaintext` to an endpoint: AES-256-GCM under
/// HMAC-SHA256(signing secret bytes, "keyward-sealed-secret-v1"), bound to
/// the message id. Only a holder of the endpoint's secret can open it.
pub fn seal_to_endpoint(secret: &[u8], message_id: &str, plaintext: &[u8]) -> serde_json::Value {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Key, Nonce};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(SEAL_LABEL);
    let key = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_slice()));
    let nonce = crate::crypto::random_bytes::<12>();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: message_id.as_bytes(),
            },
        )
        .expect("AES-GCM seals any length we hand it");
    json!({
        "alg": "A256GCM",
        "key": "HMAC-SHA256(signing secret bytes, \"keyward-sealed-secret-v1\")",
        "aad": "webhook-id",
        "nonce": B64.encode(nonce),
        "ciphertext": B64.encode(ciphertext),
    })
}

fn check_url(url: &str, any_target: bool) -> Result<String> {
    let bad = |m: &str| Error::from(ValidationError::new("url", m.to_string()));
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|_| bad("must be an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("must be an absolute http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "must not carry credentials; the signature authenticates keyward",
        ));
    }
    if url.len() > 2048 {
        return Err(bad("must be at most 2048 characters"));
    }
    if let Some(refused) = webhook_targets::refused_host(&parsed).filter(|_| !any_target) {
        return Err(bad(refused));
    }
    Ok(parsed.to_string())
}

fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

impl Webhooks {
    /// Starts the event writer and the delivery loop.
    pub(crate) fn start(
        db: Db,
        keyring: Arc<Keyring>,
        metrics: Metrics,
        events: Events,
        queue: mpsc::Receiver<Queued>,
        options: WebhookOptions,
        tasks: &Tasks,
    ) -> Self {
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .user_agent("keyward-webhooks/1");
        if !options.any_target {
            // Names resolved here, public addresses only; no proxy (it
            // would resolve them where this check cannot see).
            http = http
                .dns_resolver(Arc::new(webhook_targets::PublicOnly))
                .no_proxy();
        }
        let http = http.build().expect("a TLS backend is compiled in");
        let hooks = Self(Arc::new(Inner {
            db,
            keyring,
            metrics,
            events,
            http,
            options,
            holder: format!("replica-{}", uuid::Uuid::new_v4().simple()),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        }));
        let writer = hooks.clone();
        tasks.push(tokio::spawn(
            async move { writer.write_queued(queue).await },
        ));
        let sender = hooks.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(sender.0.options.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sender.send_due().await;
            }
        }));
        hooks
    }

    pub fn events(&self) -> &Events {
        &self.0.events
    }

    async fn write_queued(&self, mut queue: mpsc::Receiver<Queued>) {
        while let Some(q) = queue.recv().await {
            let result = match q.once {
                Some(mark) => self.publish_once(&mark, q.event).await.map(|_| ()),
                None => self.publish(q.event).await.map(|_| ()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "an event could not be queued for its webhooks");
            }
        }
    }

    /// Registers an endpoint; its signing secret is returned this once.
    pub async fn create_endpoint(
        &self,
        actor: &Actor,
        new: NewEndpoint,
    ) -> Result<(Endpoint, SigningSecret)> {
        let url = check_url(&new.url, self.0.options.any_target)?;
        let subscription = Subscription::parse(&new.events)?;
        let description = new.description.unwrap_or_default();
        if description.chars().count() > 200 {
            return Err(ValidationError::new("description", "at most 200 characters").into());
        }
        let mut conn = self.0.db.pool().acquire().await?;
        if let Some(t) = &new.tenant_id {
            if db::tenants::find(&mut conn, t).await?.is_none() {
                return Err(Error::not_found(
                    "TENANT_NOT_FOUND",
                    format!("no tenant {t}"),
                ));
            }
        }
        let id = format!("wh_{}", uuid::Uuid::new_v4().simple());
        let raw = Zeroizing::new(crate::crypto::random_bytes::<32>());
        let secret = SigningSecret(Zeroizing::new(format!("whsec_{}", B64.encode(*raw))));
        let sealed = self
            .0
            .keyring
            .seal(raw.as_slice(), &endpoint_aad(&id))
            .map_err(|e| Error::Unavailable {
                code: "VAULT_UNAVAILABLE",
                message: format!("the signing secret could not be sealed: {e}"),
            })?;
        let row = EndpointRow {
            id: id.clone(),
            url,
            tenant_id: new.tenant_id.map(|t| t.to_string()),
            events: subscription.to_stored(),
            description,
            key_version: sealed.key_version,
            secret_nonce: B64.encode(&sealed.nonce),
            secret_sealed: B64.encode(&sealed.ciphertext),
            created_at: now(),
            created_by: actor.name.clone(),
        };
        let mut tx = self.0.db.begin().await?;
        db::webhooks::insert_endpoint(&mut tx, &row).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "webhook.create",
                "webhook",
                &id,
                row.tenant_id.as_deref(),
                json!({"url": row.url, "events": row.events}),
            ),
            row.created_at,
        )
        .await?;
        tx.commit().await?;
        Ok((endpoint_view(&row), secret))
    }

    pub async fn endpoints(&self) -> Result<Vec<Endpoint>> {
        let mut conn = self.0.db.pool().acquire().await?;
        Ok(db::webhooks::endpoints(&mut conn)
            .await?
            .iter()
            .map(endpoint_view)
            .collect())
    }

    pub async fn delete_endpoint(&self, actor: &Actor, id: &str) -> Result<()> {
        let mut tx = self.0.db.begin().await?;
        let Some(row) = db::webhooks::endpoint(&mut tx, id).await? else {
            return Err(endpoint_not_found(id));
        };
        db::webhooks::delete_endpoint(&mut tx, id).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "webhook.delete",
                "webhook",
                id,
                row.tenant_id.as_deref(),
                json!({"url": row.url}),
            ),
            now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends a `webhook.test` event to one endpoint.
    pub async fn test_endpoint(&self, actor: &Actor, id: &str) -> Result<Delivery> {
        let mut conn = self.0.db.pool().acquire().await?;
        let Some(endpoint) = db::webhooks::endpoint(&mut conn, id).await? else {
            return Err(endpoint_not_found(id));
        };
        let event = Event::new(
            EventType::WebhookTest,
            endpoint.tenant_id.as_deref(),
            json!({"endpoint_id": id, "requested_by": actor.name}),
        );
        let row = self.delivery_for(&endpoint, &message_id(), &event, None)?;
        db::webhooks::insert_delivery(&mut conn, &row).await?;
        Ok(row.into())
    }

    /// Whether some endpoint would receive an event of `kind` about `tenant`.
    pub async fn has_receiver(&self, kind: EventType, tenant: Option<&str>) -> Result<bool> {
        let mut conn = self.0.db.pool().acquire().await?;
        let probe = Event::new(kind, tenant, serde_json::Value::Null);
        Ok(db::webhooks::endpoints(&mut conn)
            .await?
            .iter()
            .any(|e| wants(e, &probe)))
    }

    /// Queues a delivery of `event` to every endpoint that wants it; returns how many.
    pub async fn publish(&self, event: Event) -> Result<usize> {
        self.publish_with_secret(event, None).await
    }

    /// Publishes unless an event with `mark` went out already (any replica).
    /// The mark and the deliveries are written together: a failure leaves
    /// neither, so the event goes out on a later try.
    pub async fn publish_once(&self, mark: &str, event: Event) -> Result<bool> {
        let mut tx = self.0.db.begin().await?;
        if !db::webhooks::mark_once(&mut tx, mark, now()).await? {
            return Ok(false);
        }
        self.queue_all(&mut tx, &event, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Publishes an event carrying a new secret: each endpoint's copy has it
    /// sealed to that endpoint (`data.sealed_secret`), never in clear.
    pub async fn publish_with_secret(&self, event: Event, secret: Option<&str>) -> Result<usize> {
        let mut tx = self.0.db.begin().await?;
        let queued = self.queue_all(&mut tx, &event, secret).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Queues `event` for every endpoint that wants it; returns how many.
    async fn queue_all(
        &self,
        conn: &mut db::Conn,
        event: &Event,
        secret: Option<&str>,
    ) -> Result<usize> {
        let endpoints = db::webhooks::endpoints(conn).await?;
        let message = message_id();
        let mut queued = 0;
        for e in endpoints.iter().filter(|e| wants(e, event)) {
            match self.delivery_for(e, &message, event, secret) {
                Ok(row) => {
                    db::webhooks::insert_delivery(conn, &row).await?;
                    queued += 1;
                }
                Err(err) => tracing::warn!(endpoint = %e.id, error = %err, "delivery not queued"),
            }
        }
        Ok(queued)
    }

    /// The delivery of `event` to one endpoint, as it will be queued.
    fn delivery_for(
        &self,
        endpoint: &EndpointRow,
        message: &str,
        event: &Event,
        secret: Option<&str>,
    ) -> Result<DeliveryRow> {
        let mut body = event.body();
        if let Some(secret) = secret {
            let key = self.signing_key(endpoint)?;
            body["data"]["sealed_secret"] = seal_to_endpoint(&key, message, secret.as_bytes());
        }
        let at = now();
        Ok(DeliveryRow {
            id: format!("dlv_{}", uuid::Uuid::new_v4().simple()),
            message_id: message.to_string(),
            endpoint_id: endpoint.id.clone(),
            event_type: event.kind.as_str().to_string(),
            tenant_id: event.tenant_id.clone(),
            payload: body.to_string(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: at,
            last_status_code: None,
            last_error: None,
            created_at: at,
            delivered_at: None,
        })
    }

    fn signing_key(&self, e: &EndpointRow) -> Result<Zeroizing<Vec<u8>>> {
        self.0
            .keyring
            .open_sealed(&sealed_of(e)?, &endpoint_aad(&e.id))
            .map_err(|err| Error::internal("opening a webhook signing secret", err.to_string()))
    }

    /// Deliveries newest first (at most 500), optionally of one endpoint or status.
    pub async fn deliveries(
        &self,
        endpoint: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        if let Some(s) = status {
            if !["pending", "delivered", "failed"].contains(&s) {
                return Err(ValidationError::new("status", "pending, delivered or failed").into());
            }
        }
        let mut conn = self.0.db.pool().acquire().await?;
        Ok(
            db::webhooks::deliveries(&mut conn, endpoint, status, limit.clamp(1, 500))
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        )
    }

    pub async fn delivery(&self, id: &str) -> Result<(Delivery, Vec<Attempt>)> {
        let mut conn = self.0.db.pool().acquire().await?;
        let Some(row) = db::webhooks::delivery(&mut conn, id).await? else {
            return Err(delivery_not_found(id));
        };
        let attempts = db::webhooks::attempts(&mut conn, id).await?;
        Ok((row.into(), attempts.into_iter().map(Into::into).collect()))
    }

    /// Sends a delivery again (same webhook-id, so receivers can tell a
    /// replay from a new event), whatever its status.
    pub async fn replay(&self, actor: &Actor, id: &str) -> Result<Delivery> {
        let at = now();
        let mut tx = self.0.db.begin().await?;
        let Some(row) = db::webhooks::delivery(&mut tx, id).await? else {
            return Err(delivery_not_found(id));
        };
        if db::webhooks::endpoint(&mut tx, &row.endpoint_id)
            .await?
            .is_none()
        {
            return Err(Error::conflict(
                "WEBHOOK_ENDPOINT_GONE",
                "the delivery's endpoint was removed",
            ));
        }
        db::webhooks::requeue(&mut tx, id, at).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "webhook.replay",
                "webhook_delivery",
                id,
                row.tenant_id.as_deref(),
                json!({"message_id": row.message_id, "endpoint_id": row.endpoint_id}),
            ),
            at,
        )
        .await?;
        tx.commit().await?;
        let mut conn = self.0.db.pool().acquire().await?;
        let row = db::webhooks::delivery(&mut conn, id)
            .await?
            .ok_or_else(|| delivery_not_found(id))?;
        Ok(row.into())
    }

    /// Deliveries waiting to be sent, on every replica.
    pub async fn queue_depth(&self) -> i64 {
        match self.0.db.pool().acquire().await {
            Ok(mut conn) => db::webhooks::pending_count(&mut conn).await.unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// One pass of the delivery loop: starts sending what is due (this
    /// replica's share: each delivery is leased to one replica), at most
    /// `IN_FLIGHT` at once. It does not wait for the sends, so one slow
    /// endpoint holds up only its own deliveries. Returns how many started.
    pub async fn send_due(&self) -> usize {
        let free = self.0.in_flight.available_permits();
        if free == 0 {
            return 0;
        }
        let at = now();
        let due = match self.0.db.pool().acquire().await {
            Ok(mut conn) => db::webhooks::due(&mut conn, at, free as i64).await,
            Err(e) => Err(e),
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due webhook deliveries failed");
                return 0;
            }
        };
        let mut started = 0;
        for d in due {
            let Ok(permit) = self.0.in_flight.clone().try_acquire_owned() else {
                break;
            };
            let hooks = self.clone();
            tokio::spawn(async move {
                hooks.send_one(d).await;
                drop(permit);
            });
            started += 1;
        }
        started
    }

    async fn send_one(&self, d: DeliveryRow) {
        let inner = &self.0;
        let at = now();
        let lease = at + chrono::Duration::from_std(inner.options.timeout * 2).unwrap_or_default();
        let claimed = match inner.db.pool().acquire().await {
            Ok(mut conn) => db::webhooks::claim(&mut conn, &d.id, &inner.holder, at, lease)
                .await
                .unwrap_or(false),
            Err(_) => false,
        };
        if !claimed {
            return;
        }
        let attempt = self.attempt(&d).await;
        let number = attempt.attempt;
        let ok = attempt.status_code.is_some_and(|c| (200..300).contains(&c));
        let (status, next, outcome) = if ok {
            ("delivered", attempt.attempted_at, "delivered")
        } else if number >= inner.options.max_attempts {
            ("failed", attempt.attempted_at, "failed")
        } else {
            let factor = BACKOFF[((number - 1) as usize).min(BACKOFF.len() - 1)];
            let delay = chrono::Duration::from_std(inner.options.retry_base * factor)
                .unwrap_or_else(|_| chrono::Duration::hours(1));
            ("pending", attempt.attempted_at + delay, "retrying")
        };
        inner.metrics.webhook_attempt(outcome);
        let recorded = match inner.db.pool().acquire().await {
            Ok(mut conn) => {
                db::webhooks::record_attempt(
                    &mut conn,
                    &d.id,
                    &inner.holder,
                    &attempt,
                    status,
                    next,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            tracing::warn!(delivery = %d.id, error = %e, "a webhook attempt was not recorded; it will be retried");
        }
    }

    /// Signs and posts one delivery; what the endpoint answered.
    async fn attempt(&self, d: &DeliveryRow) -> AttemptRow {
        let started = std::time::Instant::now();
        let attempted_at = now();
        let number = d.attempts + 1;
        let result = self.post(d, attempted_at).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        match result {
            Ok((code, body)) => AttemptRow {
                attempt: number,
                attempted_at,
                status_code: Some(i64::from(code)),
                response: Some(body),
                error: (!(200..300).contains(&code))
                    .then(|| format!("the endpoint answered {code}")),
                duration_ms,
            },
            Err(e) => AttemptRow {
                attempt: number,
                attempted_at,
                status_code: None,
                response: None,
                error: Some(e),
                duration_ms,
            },
        }
    }

    async fn post(
        &self,
        d: &DeliveryRow,
        at: DateTime<Utc>,
    ) -> std::result::Result<(u16, String), String> {
        let mut conn = self
            .0
            .db
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let endpoint = db::webhooks::endpoint(&mut conn, &d.endpoint_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the endpoint was removed")?;
        drop(conn);
        if !self.0.options.any_target {
            // An endpoint stored while internal targets were allowed.
            let url = reqwest::Url::parse(&endpoint.url).map_err(|e| e.to_string())?;
            if let Some(refused) = webhook_targets::refused_host(&url) {
                return Err(format!("not delivered: the URL {refused}"));
            }
        }
        let key = self.signing_key(&endpoint).map_err(|e| e.to_string())?;
        let timestamp = at.timestamp();
        let signature = sign(&key, &d.message_id, timestamp, &d.payload);
        let res = self
            .0
            .http
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| format!("not delivered: {}", without_url(&e)))?;
        let code = res.status().as_u16();
        // Only the start of the answer is kept: read no more than that.
        let mut res = res;
        let mut body = Vec::new();
        while body.len() <= RESPONSE_KEPT {
            match res.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&body);
        let mut kept: String = text.chars().take(RESPONSE_KEPT).collect();
        if kept.len() < text.len() {
            kept.push('…');
        }
        Ok((code, kept))
    }

    /// Finished deliveries older than `before`, with their attempts (retention).
    pub async fn forget_before(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut conn = self.0.db.pool().acquire().await?;
        Ok(db::webhooks::delete_before(&mut conn, before).await?)
    }
}

/// A transport error's text without the URL (it may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains(webhook_targets::NO_PUBLIC_ADDRESS) {
            return format!("the host {}", webhook_targets::NO_PUBLIC_ADDRESS);
        }
        cause = c.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirected (not followed)"
    } else {
        "transport error"
    };
    kind.to_string()
}

fn wants(e: &EndpointRow, event: &Event) -> bool {
    let subscribed = Subscription::from_stored(&e.events).is_ok_and(|s| s.wants(event.kind));
    let tenant_ok = match &e.tenant_id {
        None => true,
        Some(t) => event.tenant_id.as_deref() == Some(t.as_str()),
    };
    subscribed && tenant_ok
}

fn endpoint_not_found(id: &str) -> Error {
    Error::not_found("WEBHOOK_NOT_FOUND", format!("no webhook endpoint {id}"))
}

fn delivery_not_found(id: &str) -> Error {
    Error::not_found("DELIVERY_NOT_FOUND", format!("no webhook delivery {id}"))
}
