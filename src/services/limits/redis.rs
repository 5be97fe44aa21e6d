//! Limits shared by every replica, in Redis (`KEYWARD_REDIS_URL`). One Lua
//! script per request checks and counts, atomically, the subject's monthly
//! quota, requests in flight and requests in the current second (a fixed
//! one-second window per subject); the in-flight count is given back when
//! the request ends. The local counters keep counting too, so when Redis
//! cannot be reached keyward goes on serving on local limits (per replica),
//! says so in `/healthz` and `/readyz` and in its log, and a health check
//! every second switches back to Redis as soon as it answers.

use crate::domain::limits::{
    month_id, next_month_start, EffectiveLimits, LimitExceeded, LimitKind, Subject,
};
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one Redis call may take before the request falls back to local limits.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// A request's slot in flight that was never given back (a crashed replica,
/// a reply lost to a timeout) stops counting after this long; no request
/// lasts that long (the server's own timeouts are shorter).
const SLOT_MAX_AGE_MS: i64 = 120_000;
/// After a failed call, Redis is left alone at least this long before the
/// health check may bring it back (a slow Redis does not flap).
const BACKOFF: Duration = Duration::from_secs(3);

const ADMIT: &str = r#"
-- KEYS: this second's count, this month's count, requests in flight (a
--       sorted set: one member per request, scored by its start in ms),
--       the key's overall second and month counts (all its tenants)
-- ARGV: per second, per month, concurrent, month TTL (s), month seed,
--       now (ms), request id, oldest start still in flight (ms),
--       admissions made locally while Redis was away (added to the month),
--       overall per second (0: the key has no overall limits), overall per
--       month, overall month seed, overall admissions made locally
-- Every limit is checked before anything is counted: a refused request
-- costs neither the tenant nor the key.
redis.call('SET', KEYS[2], ARGV[5], 'NX', 'EX', ARGV[4])
if tonumber(ARGV[9]) > 0 then redis.call('INCRBY', KEYS[2], ARGV[9]) end
local used = tonumber(redis.call('GET', KEYS[2]))
if used >= tonumber(ARGV[2]) then return {2, used, 0} end
-- Slots of requests that never gave them back (a crash, a lost reply) age out.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[8])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then return {3, used, 0} end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return {1, used, 0} end
local overall = 0
if tonumber(ARGV[10]) > 0 then
  redis.call('SET', KEYS[5], ARGV[12], 'NX', 'EX', ARGV[4])
  if tonumber(ARGV[13]) > 0 then redis.call('INCRBY', KEYS[5], ARGV[13]) end
  overall = tonumber(redis.call('GET', KEYS[5]))
  if overall >= tonumber(ARGV[11]) then return {5, used, overall} end
  if tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[10]) then return {4, used, overall} end
  if redis.call('INCR', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], 2) end
  overall = redis.call('INCR', KEYS[5])
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], 2) end
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[6]) - tonumber(ARGV[8]))
used = redis.call('INCR', KEYS[2])
return {0, used, overall}
"#;

/// What one admission brings to Redis besides the limits: the monthly count
/// known here (used when Redis has none for this month yet) and the
/// requests admitted here on local limits while Redis was away.
pub struct Counts {
    pub seed: i64,
    pub carry: i64,
    pub overall: Option<OverallCounts>,
}

/// The same for the key's overall limits.
pub struct OverallCounts {
    pub limits: EffectiveLimits,
    pub seed: i64,
    pub carry: i64,
}

struct State {
    client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
    last_failure: Mutex<Option<std::time::Instant>>,
    /// Requests decided by local limits because Redis was not reachable.
    fallbacks: AtomicU64,
    script: redis::Script,
}

#[derive(Clone)]
pub struct SharedLimits(Arc<State>);

/// What `/healthz` and `/readyz` say about limits.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharedLimitsHealth {
    /// "redis" when shared, "local" while Redis cannot be reached.
    pub mode: &'static str,
    pub redis: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub local_decisions: u64,
}

/// Gives a request's place in flight back to Redis when it ends.
pub struct SharedInFlight {
    limits: SharedLimits,
    key: String,
    member: String,
}

impl Drop for SharedInFlight {
    fn drop(&mut self) {
        let limits = self.limits.clone();
        let key = std::mem::take(&mut self.key);
        let member = std::mem::take(&mut self.member);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let Some(mut conn) = limits.connection() else {
                    return;
                };
                let mut zrem = redis::cmd("ZREM");
                zrem.arg(&key).arg(&member);
                let call = zrem.query_async::<i64>(&mut conn);
                match tokio::time::timeout(CALL_TIMEOUT, call).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => limits.failed(&e.to_string()),
                    Err(_) => limits.failed("timed out"),
                }
            });
        }
    }
}

impl std::fmt::Debug for SharedInFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedInFlight")
    }
}

/// A request Redis admitted: the subject's monthly count after it, and the
/// key's overall one (0 when it has no overall limits).
pub struct SharedAdmission {
    pub monthly_used: i64,
    pub overall_used: i64,
    pub in_flight: SharedInFlight,
}

impl SharedLimits {
    /// Checks the URL; the connection is made (and re-made) by the health check.
    pub fn connect(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self(Arc::new(State {
            client: redis::Client::open(url)?,
            conn: Mutex::new(None),
            healthy: AtomicBool::new(false),
            last_error: Mutex::new(Some("not connected yet".into())),
            last_failure: Mutex::new(None),
            fallbacks: AtomicU64::new(0),
            script: redis::Script::new(ADMIT),
        })))
    }

    fn connection(&self) -> Option<ConnectionManager> {
        self.0.conn.lock().expect("redis connection").clone()
    }

    pub fn is_healthy(&self) -> bool {
        self.0.healthy.load(Ordering::SeqCst)
    }

    /// Marks Redis unreachable: requests use local limits until the health
    /// check sees it again.
    fn failed(&self, error: &str) {
        *self.0.last_error.lock().expect("redis error") = Some(error.to_string());
        *self.0.last_failure.lock().expect("redis failure") = Some(std::time::Instant::now());
        if self.0.healthy.swap(false, Ordering::SeqCst) {
            tracing::warn!(
                error,
                "Redis unreachable: limits fall back to this replica's local counters until it answers again"
            );
        }
    }

    pub fn count_fallback(&self) {
        self.0.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn health(&self) -> SharedLimitsHealth {
        let healthy = self.is_healthy();
        SharedLimitsHealth {
            mode: if healthy { "redis" } else { "local" },
            redis: if healthy { "ok" } else { "unreachable" },
            error: if healthy {
                None
            } else {
                self.0.last_error.lock().expect("redis error").clone()
            },
            local_decisions: self.0.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// Pings Redis every second (connecting when needed) and flips between
    /// shared and local limits accordingly.
    pub fn spawn_health_check(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { return };
                SharedLimits(state).check().await;
            }
        })
    }

    async fn check(&self) {
        let recent_failure = self
            .0
            .last_failure
            .lock()
            .expect("redis failure")
            .is_some_and(|t| t.elapsed() < BACKOFF);
        if recent_failure {
            return;
        }
        let conn = match self.connection() {
            Some(c) => c,
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(CALL_TIMEOUT * 4)
                    .set_response_timeout(CALL_TIMEOUT)
                    .set_number_of_retries(1)
                    .set_max_delay(500);
                let made = tokio::time::timeout(
                    CALL_TIMEOUT * 8,
                    ConnectionManager::new_with_config(self.0.client.clone(), config),
                )
                .await;
                match made {
                    Ok(Ok(c)) => {
                        *self.0.conn.lock().expect("redis connection") = Some(c.clone());
                        c
                    }
                    Ok(Err(e)) => return self.failed(&e.to_string()),
                    Err(_) => return self.failed("connecting timed out"),
                }
            }
        };
        let mut conn = conn;
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, ping).await {
            Ok(Ok(_)) => {
                *self.0.last_error.lock().expect("redis error") = None;
                if !self.0.healthy.swap(true, Ordering::SeqCst) {
                    tracing::info!("Redis answers: limits are shared by every replica");
                }
            }
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("PING timed out"),
        }
    }

    /// Admits one request of `subject` in Redis, then under its key's
    /// overall limits if `counts` has them, or says which limit refuses it;
    /// `None` when Redis could not answer (the caller uses local limits).
    pub async fn admit(
        &self,
        subject: &Subject,
        limits: &EffectiveLimits,
        counts: Counts,
        now: DateTime<Utc>,
    ) -> Option<Result<SharedAdmission, LimitExceeded>> {
        let mut conn = self.connection()?;
        let base = format!("kw:{}:{}", subject.0, subject.1);
        let overall_base = format!("kw:{}:*", subject.0);
        let in_flight = format!("{base}:f");
        let member = {
            let mut b = [0u8; 12];
            getrandom::fill(&mut b).expect("system randomness");
            hex::encode(b)
        };
        let now_ms = now.timestamp_millis();
        let month_reset = (next_month_start(now) - now).num_seconds().max(1);
        let mut invocation = self.0.script.prepare_invoke();
        invocation
            .key(format!("{base}:s:{}", now.timestamp()))
            .key(format!("{base}:m:{}", month_id(now)))
            .key(&in_flight)
            .key(format!("{overall_base}:s:{}", now.timestamp()))
            .key(format!("{overall_base}:m:{}", month_id(now)))
            .arg(limits.per_second)
            .arg(limits.monthly)
            .arg(limits.concurrent)
            // Kept a day past the month's end, then gone.
            .arg(month_reset + 86_400)
            .arg(counts.seed)
            .arg(now_ms)
            .arg(&member)
            .arg(now_ms - SLOT_MAX_AGE_MS)
            .arg(counts.carry);
        match &counts.overall {
            Some(o) => invocation
                .arg(o.limits.per_second)
                .arg(o.limits.monthly)
                .arg(o.seed)
                .arg(o.carry),
            None => invocation.arg(0).arg(0).arg(0).arg(0),
        };
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            invocation.invoke_async::<(i64, i64, i64)>(&mut conn),
        )
        .await;
        let (code, used, overall_used) = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                return None;
            }
            Err(_) => {
                self.failed("timed out");
                return None;
            }
        };
        let refused = |kind, limit, reset_seconds| {
            Some(Err(LimitExceeded {
                kind,
                limit,
                remaining: 0,
                reset_seconds,
            }))
        };
        match code {
            0 => Some(Ok(SharedAdmission {
                monthly_used: used,
                overall_used,
                in_flight: SharedInFlight {
                    limits: self.clone(),
                    key: in_flight,
                    member,
                },
            })),
            1 => refused(LimitKind::PerSecond, limits.per_second, 1),
            2 => refused(LimitKind::Monthly, limits.monthly, month_reset),
            3 => refused(LimitKind::Concurrent, limits.concurrent, 1),
            code => {
                let o = counts.overall.as_ref().map(|o| o.limits)?;
                if code == 4 {
                    refused(LimitKind::KeyPerSecond, o.per_second, 1)
                } else {
                    refused(LimitKind::KeyMonthly, o.monthly, month_reset)
                }
            }
        }
    }
}
