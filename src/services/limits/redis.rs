//! Limits shared by every replica, in Redis (`KEYWARD_REDIS_URL`), counted
//! with leases: a replica takes a block of a subject's tokens from Redis
//! (this second's requests, this month's quota, places in flight) in one
//! atomic script, then admits requests from that block in memory, going
//! back to Redis only when a block runs out. Blocks shrink as a limit nears
//! (a quarter of what is left, at least one), so near a limit every request
//! asks Redis again and no limit is ever exceeded: leased tokens are already
//! counted there. A second's unused tokens lapse with it (tighter, never
//! looser); unused monthly tokens and idle places are given back each
//! second, and places at once when they are scarce. The local counters keep
//! counting too, so when Redis cannot be reached keyward goes on serving on
//! local limits (per replica), says so in `/healthz` and `/readyz` and in
//! its log, and a health check every second switches back to Redis as soon
//! as it answers.

use super::local::SubjectState;
use crate::domain::ids::TenantId;
use crate::domain::limits::{
    month_id, next_month_start, EffectiveLimits, LimitExceeded, LimitKind, Subject,
};
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one Redis call may take before the request falls back to local limits.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// Places in flight held by a replica that stopped refreshing them (it
/// crashed, or lost Redis) stop counting after this long.
const SLOT_MAX_AGE_MS: i64 = 120_000;
/// After a failed call, Redis is left alone at least this long before the
/// health check may bring it back (a slow Redis does not flap).
const BACKOFF: Duration = Duration::from_secs(3);
/// The largest block of tokens one lease asks for.
const BLOCK: i64 = 256;
/// Places in flight one lease asks for at most.
const SLOT_BLOCK: i64 = 16;

const LEASE: &str = r#"
-- KEYS: 1 this second's count, 2 this month's count, 3 places in flight
--       held per replica (a hash), 4 when each replica last refreshed its
--       places (a sorted set, ms), 5 the key's overall second count, 6 its
--       overall month count (all its tenants)
-- ARGV: 1 per second, 2 per month, 3 concurrent, 4 month TTL (s), 5 month
--       seed, 6 now (ms), 7 this replica, 8 places older than this (ms) stop
--       counting, 9 admissions made locally while Redis was away (added to
--       the month), 10-12 tokens wanted this second / this month / places,
--       13 overall per second (0: the key has none), 14 overall per month,
--       15 overall month seed, 16 overall local admissions, 17-18 overall
--       tokens wanted this second / this month
-- Each block granted is a quarter of what is left (at least 1, at most
-- what was asked), so near a limit every request comes here. Every limit
-- is checked before anything is granted: a refused request costs nothing.
local function block(want, left)
  local g = math.floor(left / 4)
  if g < 1 then g = 1 end
  if g > want then g = want end
  return g
end
-- What replicas admitted on local limits during an outage is counted first,
-- whatever this call decides.
redis.call('SET', KEYS[2], ARGV[5], 'NX', 'EX', ARGV[4])
if tonumber(ARGV[9]) > 0 then redis.call('INCRBY', KEYS[2], ARGV[9]) end
local used = tonumber(redis.call('GET', KEYS[2]))
local gm, gc, gs, gos, gom, overall = 0, 0, 0, 0, 0, 0
if tonumber(ARGV[13]) > 0 then
  redis.call('SET', KEYS[6], ARGV[15], 'NX', 'EX', ARGV[4])
  if tonumber(ARGV[16]) > 0 then redis.call('INCRBY', KEYS[6], ARGV[16]) end
  overall = tonumber(redis.call('GET', KEYS[6]))
end
if tonumber(ARGV[11]) > 0 then
  local left = tonumber(ARGV[2]) - used
  if left <= 0 then return {2, used, 0, 0, 0, 0, 0, 0} end
  gm = block(tonumber(ARGV[11]), left)
end
if tonumber(ARGV[12]) > 0 then
  for _, r in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[8])) do
    redis.call('HDEL', KEYS[3], r)
    redis.call('ZREM', KEYS[4], r)
  end
  local held = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do held = held + tonumber(v) end
  local left = tonumber(ARGV[3]) - held
  if left <= 0 then return {3, used, 0, 0, 0, 0, 0, 0} end
  gc = block(tonumber(ARGV[12]), left)
end
if tonumber(ARGV[10]) > 0 then
  local left = tonumber(ARGV[1]) - tonumber(redis.call('GET', KEYS[1]) or '0')
  if left <= 0 then return {1, used, 0, 0, 0, 0, 0, 0} end
  gs = block(tonumber(ARGV[10]), left)
end
if tonumber(ARGV[13]) > 0 then
  if tonumber(ARGV[18]) > 0 then
    local left = tonumber(ARGV[14]) - overall
    if left <= 0 then return {5, used, overall, 0, 0, 0, 0, 0} end
    gom = block(tonumber(ARGV[18]), left)
  end
  if tonumber(ARGV[17]) > 0 then
    local left = tonumber(ARGV[13]) - tonumber(redis.call('GET', KEYS[5]) or '0')
    if left <= 0 then return {4, used, overall, 0, 0, 0, 0, 0} end
    gos = block(tonumber(ARGV[17]), left)
  end
  if gos > 0 and redis.call('INCRBY', KEYS[5], gos) == gos then redis.call('EXPIRE', KEYS[5], 2) end
  if gom > 0 then overall = redis.call('INCRBY', KEYS[6], gom) end
end
if gs > 0 and redis.call('INCRBY', KEYS[1], gs) == gs then redis.call('EXPIRE', KEYS[1], 2) end
if gc > 0 then
  redis.call('HINCRBY', KEYS[3], ARGV[7], gc)
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], 2 * (tonumber(ARGV[6]) - tonumber(ARGV[8])))
  redis.call('PEXPIRE', KEYS[4], 2 * (tonumber(ARGV[6]) - tonumber(ARGV[8])))
end
if gm > 0 then used = redis.call('INCRBY', KEYS[2], gm) end
return {0, used, overall, gs, gm, gc, gos, gom}
"#;

/// Settles a replica's share of a subject with Redis: gives a month's
/// unused tokens back, and sets the places it holds to what it really holds
/// (absolute, so a lost reply or a give-back that failed heals here), with
/// their refresh time; none held removes its entry.
/// KEYS: month count, places hash, refresh set. ARGV: tokens, places held,
/// replica, now (ms), how long the places' keys live (ms).
const SETTLE: &str = r#"
if tonumber(ARGV[1]) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DECRBY', KEYS[1], ARGV[1])
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
else
  redis.call('HDEL', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
end
return 0
"#;

/// The tokens and places this replica holds for one subject. Lives in the
/// subject's counters (`SubjectState`).
#[derive(Debug, Default)]
pub struct Lease {
    /// The second (Unix) this second's tokens belong to, and how many are left.
    second: i64,
    per_second: i64,
    /// The month (`month_id`) the monthly tokens belong to, and how many are left.
    month: i64,
    monthly: i64,
    /// Redis's monthly count after the last lease (every replica's leases in it).
    monthly_used: i64,
    /// When monthly tokens were last taken or used (ms): idle ones go back.
    touched_ms: i64,
    /// Places in flight held in Redis, and how many requests here use one.
    slots: i64,
    in_flight: i64,
    /// The last block of places was 1: give places back as requests end.
    scarce_slots: bool,
    /// When the places held were last refreshed in Redis (ms).
    refreshed_ms: i64,
    /// Redis's last refusal of this second's or this month's tokens, kept
    /// until the end of that second: the requests behind it are refused
    /// here without asking again.
    refused: Option<(LimitExceeded, i64)>,
    /// The limits (per second, month, concurrent) the tokens were leased
    /// under: a plan change drops them.
    limits: Option<(i64, i64, i64)>,
    /// Monthly tokens of `month` dropped by a plan change, to give back.
    stale_monthly: i64,
    /// The most requests in flight here since the last sweep: places above
    /// it go back.
    peak: i64,
    /// The places Redis was last told this replica holds.
    settled: i64,
}

impl Lease {
    /// Drops the tokens leased under other limits (a plan change): the
    /// next request leases under the new ones. Places above a lowered
    /// concurrency limit go back as requests end.
    fn adopt(&mut self, limits: &EffectiveLimits) {
        let now_limits = (limits.per_second, limits.monthly, limits.concurrent);
        if self.limits == Some(now_limits) {
            return;
        }
        if self.limits.is_some() {
            self.per_second = 0;
            self.stale_monthly += self.monthly.max(0);
            self.monthly_used -= self.monthly.max(0);
            self.monthly = 0;
            self.refused = None;
            if self.slots > limits.concurrent {
                self.scarce_slots = true;
            }
        }
        self.limits = Some(now_limits);
    }

    /// What Redis must be asked for before this request can be admitted
    /// from here (nothing: it can).
    fn needs(&mut self, now: DateTime<Utc>, limits: &EffectiveLimits, with_slot: bool) -> Wants {
        self.adopt(limits);
        Wants {
            per_second: i64::from(self.second != now.timestamp() || self.per_second <= 0),
            monthly: i64::from(self.month != month_id(now) || self.monthly <= 0),
            slots: i64::from(with_slot && self.in_flight >= self.slots),
        }
    }

    /// Takes one of each token, and a place when `with_slot` (after
    /// `needs` said nothing is lacking).
    fn take(&mut self, now: DateTime<Utc>, with_slot: bool) {
        self.per_second -= 1;
        self.monthly -= 1;
        self.touched_ms = now.timestamp_millis();
        if with_slot {
            self.in_flight += 1;
            self.peak = self.peak.max(self.in_flight);
        }
    }

    /// Adds what Redis granted at `now`.
    /// Tokens of a window already left behind (a late answer) are dropped.
    fn add(&mut self, now: DateTime<Utc>, g: &Granted) {
        let (second, month) = (now.timestamp(), month_id(now));
        if g.per_second > 0 && second >= self.second {
            if second > self.second {
                self.second = second;
                self.per_second = 0;
            }
            self.per_second += g.per_second;
        }
        if g.monthly > 0 && month >= self.month {
            if month > self.month {
                self.month = month;
                self.monthly = 0;
                self.monthly_used = 0;
                self.stale_monthly = 0;
            }
            self.monthly += g.monthly;
            self.monthly_used = self.monthly_used.max(g.used);
        }
        if g.slots > 0 {
            self.slots += g.slots;
            self.scarce_slots = g.slots == 1;
            self.refreshed_ms = now.timestamp_millis();
        }
        self.touched_ms = now.timestamp_millis();
    }

    /// The refusal Redis gave in this second, if it still holds for `limits`.
    fn refused(&self, now: DateTime<Utc>, limits: &EffectiveLimits) -> Option<LimitExceeded> {
        let (refusal, second) = self.refused.as_ref()?;
        let limit = match refusal.kind {
            LimitKind::PerSecond | LimitKind::KeyPerSecond => limits.per_second,
            _ => limits.monthly,
        };
        (*second == now.timestamp() && refusal.limit == limit).then(|| refusal.clone())
    }

    /// The subject's monthly count as seen from here: Redis's at the last
    /// lease, less the tokens leased here and not used yet.
    fn used(&self) -> i64 {
        (self.monthly_used - self.monthly.max(0)).max(0)
    }
}

/// Takes the request's tokens (and place) from the subject's lease and the
/// key's, when both have them; what each lacks otherwise. The monthly
/// counts as seen from here.
fn take(
    state: &SubjectState,
    limits: &EffectiveLimits,
    overall: Option<&OverallCounts>,
    now: DateTime<Utc>,
) -> Result<(i64, i64), (Wants, Wants)> {
    let mut lease = state.lease.lock().expect("lease lock");
    let mut key_lease = overall.map(|o| o.state.lease.lock().expect("lease lock"));
    let wants = lease.needs(now, limits, true);
    let key_wants = match (key_lease.as_mut(), overall) {
        (Some(k), Some(o)) => k.needs(now, &o.limits, false),
        _ => Wants::default(),
    };
    if !(wants.is_empty() && key_wants.is_empty()) {
        return Err((wants, key_wants));
    }
    lease.take(now, true);
    let key_used = key_lease.as_mut().map_or(0, |k| {
        k.take(now, false);
        k.used()
    });
    Ok((lease.used(), key_used))
}

/// Tokens a lease asks Redis for (0: it has some).
#[derive(Debug, Clone, Copy, Default)]
struct Wants {
    per_second: i64,
    monthly: i64,
    slots: i64,
}

impl Wants {
    fn is_empty(&self) -> bool {
        self.per_second == 0 && self.monthly == 0 && self.slots == 0
    }

    /// The block sizes asked for, by how much the limit allows.
    fn sized(self, limits: &EffectiveLimits) -> Self {
        Self {
            per_second: self.per_second * limits.per_second.clamp(1, BLOCK),
            monthly: self.monthly * limits.monthly.clamp(1, BLOCK),
            slots: self.slots * limits.concurrent.clamp(1, SLOT_BLOCK),
        }
    }
}

/// What one lease call granted.
#[derive(Debug, Default)]
struct Granted {
    per_second: i64,
    monthly: i64,
    slots: i64,
    /// The month's count after the grant.
    used: i64,
}

/// What one admission brings to Redis besides the limits: the monthly count
/// known here (used when Redis has none for this month yet). Requests
/// admitted here on local limits while Redis was away (the counters'
/// pending count) are added with the next lease.
pub struct Counts {
    pub seed: i64,
    pub overall: Option<OverallCounts>,
}

/// The same for the key's overall limits, with its counters (and lease).
pub struct OverallCounts {
    pub limits: EffectiveLimits,
    pub state: Arc<SubjectState>,
    pub seed: i64,
}

struct State {
    client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
    last_failure: Mutex<Option<std::time::Instant>>,
    /// Requests decided by local limits because Redis was not reachable.
    fallbacks: AtomicU64,
    /// Calls to Redis to lease tokens (one per block, not per request).
    lease_calls: AtomicU64,
    lease: redis::Script,
    settle: redis::Script,
    /// This replica's name on the places it holds.
    replica: String,
    /// The subjects whose leases hold tokens or places: what the sweep
    /// visits (kept here even if the subject cache drops one).
    holding: Mutex<HashMap<Subject, Arc<SubjectState>>>,
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
    /// Calls to Redis that leased a block of tokens.
    pub lease_calls: u64,
}

/// Keys of one subject in Redis.
struct SubjectKeys {
    base: String,
}

impl SubjectKeys {
    fn of(subject: &Subject) -> Self {
        Self {
            base: format!("kw:{}:{}", subject.0, subject.1),
        }
    }
    fn second(&self, now: DateTime<Utc>) -> String {
        format!("{}:s:{}", self.base, now.timestamp())
    }
    fn month(&self, month: i64) -> String {
        format!("{}:m:{}", self.base, month)
    }
    // Not `:f`, the sorted set of the per-request design before leases: a
    // rolling upgrade runs both side by side.
    fn slots(&self) -> String {
        format!("{}:fh", self.base)
    }
    fn refreshed(&self) -> String {
        format!("{}:fr", self.base)
    }
}

/// Frees a request's place in flight when it ends: in the lease, and in
/// Redis at once when places are scarce (the last block was a single one).
pub struct SharedInFlight {
    limits: SharedLimits,
    subject: Subject,
    state: Arc<SubjectState>,
}

impl Drop for SharedInFlight {
    fn drop(&mut self) {
        let scarce = {
            let mut lease = self.state.lease.lock().expect("lease lock");
            lease.in_flight -= 1;
            lease.scarce_slots && lease.slots > lease.in_flight
        };
        if scarce {
            // Given back under the subject's refill lock, like every change
            // of its places, so what Redis is told is never stale.
            let (limits, state) = (self.limits.clone(), self.state.clone());
            let keys = SubjectKeys::of(&self.subject);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _refill = state.refill.lock().await;
                    let held = {
                        let mut lease = state.lease.lock().expect("lease lock");
                        if lease.slots <= lease.in_flight {
                            return;
                        }
                        lease.slots -= 1;
                        lease.settled = lease.slots;
                        lease.slots
                    };
                    limits.settle(&keys, None, held).await;
                });
            }
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
            lease_calls: AtomicU64::new(0),
            lease: redis::Script::new(LEASE),
            settle: redis::Script::new(SETTLE),
            replica: {
                let mut b = [0u8; 12];
                getrandom::fill(&mut b).expect("system randomness");
                hex::encode(b)
            },
            holding: Mutex::new(HashMap::new()),
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
            lease_calls: self.0.lease_calls.load(Ordering::Relaxed),
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

    /// Admits one request of `subject`, then under its key's overall limits
    /// if `counts` has them, from this replica's leases, leasing a new block
    /// from Redis when one runs out; or says which limit refuses it. `None`
    /// when Redis could not answer (the caller uses local limits).
    pub async fn admit(
        &self,
        subject: &Subject,
        state: &Arc<SubjectState>,
        limits: &EffectiveLimits,
        counts: Counts,
        now: DateTime<Utc>,
    ) -> Option<Result<SharedAdmission, LimitExceeded>> {
        let overall = counts.overall.as_ref();
        let used = match take(state, limits, overall, now) {
            Ok(used) => used,
            Err(_) => {
                // One lease call at a time per subject on this replica: the
                // requests behind it use the block it brings, or its refusal.
                let _refill = state.refill.lock().await;
                // The wait may have been long (a slow Redis): the time, and
                // whether Redis answers, are read again.
                let now = Utc::now();
                if !self.is_healthy() {
                    return None;
                }
                let mut attempts = 0;
                loop {
                    let (wants, key_wants) = match take(state, limits, overall, now) {
                        Ok(used) => break used,
                        Err(lacking) => lacking,
                    };
                    let remembered = {
                        let lease = state.lease.lock().expect("lease lock");
                        lease.refused(now, limits).or_else(|| {
                            overall.and_then(|o| {
                                let key = o.state.lease.lock().expect("lease lock");
                                key.refused(now, &o.limits)
                            })
                        })
                    };
                    if let Some(refusal) = remembered {
                        return Some(Err(refusal));
                    }
                    // Other requests took the new tokens first, again and
                    // again: the limit is all but reached.
                    attempts += 1;
                    if attempts > 4 {
                        let (kind, limit) = match overall {
                            Some(o) => (LimitKind::KeyPerSecond, o.limits.per_second),
                            None => (LimitKind::PerSecond, limits.per_second),
                        };
                        return Some(Err(LimitExceeded {
                            kind,
                            limit,
                            remaining: 0,
                            reset_seconds: 1,
                        }));
                    }
                    let key_wants = overall.map(|o| key_wants.sized(&o.limits));
                    let granted = self
                        .lease(
                            subject,
                            state,
                            limits,
                            &counts,
                            wants.sized(limits),
                            key_wants,
                            now,
                        )
                        .await?;
                    match granted {
                        Ok((mine, key)) => {
                            state.lease.lock().expect("lease lock").add(now, &mine);
                            self.hold(subject, state);
                            if let (Some(o), Some(g)) = (overall, &key) {
                                o.state.lease.lock().expect("lease lock").add(now, g);
                                self.hold(&(subject.0.clone(), TenantId::every()), &o.state);
                            }
                        }
                        Err(refusal) => {
                            if refusal.kind != LimitKind::Concurrent {
                                let remembered = Some((refusal.clone(), now.timestamp()));
                                match (refusal.kind, overall) {
                                    (LimitKind::KeyPerSecond | LimitKind::KeyMonthly, Some(o)) => {
                                        o.state.lease.lock().expect("lease lock").refused =
                                            remembered
                                    }
                                    _ => {
                                        state.lease.lock().expect("lease lock").refused = remembered
                                    }
                                }
                            }
                            return Some(Err(refusal));
                        }
                    }
                }
            }
        };
        let (monthly_used, overall_used) = used;
        Some(Ok(SharedAdmission {
            monthly_used,
            overall_used,
            in_flight: SharedInFlight {
                limits: self.clone(),
                subject: subject.clone(),
                state: state.clone(),
            },
        }))
    }

    /// One lease call: blocks of what `wants` (and `key_wants`, the key's
    /// overall limits) ask for, or the limit that refuses; `None` when Redis
    /// did not answer.
    #[allow(clippy::too_many_arguments)]
    async fn lease(
        &self,
        subject: &Subject,
        state: &SubjectState,
        limits: &EffectiveLimits,
        counts: &Counts,
        wants: Wants,
        key_wants: Option<Wants>,
        now: DateTime<Utc>,
    ) -> Option<Result<(Granted, Option<Granted>), LimitExceeded>> {
        let mut conn = self.connection()?;
        self.0.lease_calls.fetch_add(1, Ordering::Relaxed);
        // What was admitted here on local limits while Redis was away; kept
        // for the next call if this one fails.
        let carry = state.take_pending();
        let key_carry = counts
            .overall
            .as_ref()
            .map_or(0, |o| o.state.take_pending());
        let keep_carries = || {
            state.add_pending(carry);
            if let Some(o) = &counts.overall {
                o.state.add_pending(key_carry);
            }
        };
        let keys = SubjectKeys::of(subject);
        let key_keys = SubjectKeys::of(&(subject.0.clone(), TenantId::every()));
        let now_ms = now.timestamp_millis();
        let month = month_id(now);
        let month_reset = (next_month_start(now) - now).num_seconds().max(1);
        let mut invocation = self.0.lease.prepare_invoke();
        invocation
            .key(keys.second(now))
            .key(keys.month(month))
            .key(keys.slots())
            .key(keys.refreshed())
            .key(key_keys.second(now))
            .key(key_keys.month(month))
            .arg(limits.per_second)
            .arg(limits.monthly)
            .arg(limits.concurrent)
            // Kept a day past the month's end, then gone.
            .arg(month_reset + 86_400)
            .arg(counts.seed)
            .arg(now_ms)
            .arg(&self.0.replica)
            .arg(now_ms - SLOT_MAX_AGE_MS)
            .arg(carry)
            .arg(wants.per_second)
            .arg(wants.monthly)
            .arg(wants.slots);
        match (&counts.overall, key_wants) {
            (Some(o), Some(w)) => invocation
                .arg(o.limits.per_second)
                .arg(o.limits.monthly)
                .arg(o.seed)
                .arg(key_carry)
                .arg(w.per_second)
                .arg(w.monthly),
            _ => invocation.arg(0).arg(0).arg(0).arg(0).arg(0).arg(0),
        };
        let answer =
            tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async::<Vec<i64>>(&mut conn))
                .await;
        let reply = match answer {
            Ok(Ok(a)) if a.len() == 8 => a,
            Ok(Ok(_)) => {
                keep_carries();
                self.failed("the lease script answered an unexpected shape");
                return None;
            }
            Ok(Err(e)) => {
                keep_carries();
                self.failed(&e.to_string());
                return None;
            }
            Err(_) => {
                keep_carries();
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
        match reply[0] {
            0 => Some(Ok((
                Granted {
                    used: reply[1],
                    per_second: reply[3],
                    monthly: reply[4],
                    slots: reply[5],
                },
                counts.overall.as_ref().map(|_| Granted {
                    used: reply[2],
                    per_second: reply[6],
                    monthly: reply[7],
                    slots: 0,
                }),
            ))),
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

    /// Gives `tokens` of `month` back to Redis and tells it this replica
    /// holds `held` places of the subject.
    async fn settle(&self, keys: &SubjectKeys, month_tokens: Option<(i64, i64)>, held: i64) {
        let Some(mut conn) = self.connection() else {
            return;
        };
        let now_ms = Utc::now().timestamp_millis();
        let (month, tokens) = month_tokens.unwrap_or((0, 0));
        let mut invocation = self.0.settle.prepare_invoke();
        invocation
            .key(keys.month(month))
            .key(keys.slots())
            .key(keys.refreshed())
            .arg(tokens)
            .arg(held)
            .arg(&self.0.replica)
            .arg(now_ms)
            .arg(2 * SLOT_MAX_AGE_MS);
        let call = invocation.invoke_async::<i64>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("timed out"),
        }
    }

    /// Once a second: gives back monthly tokens idle for a second (or
    /// dropped by a plan change) and places above the most this replica
    /// used since the last sweep, and settles the places it holds with
    /// Redis whenever they changed, or every 5 s (so a lost reply or a
    /// failed give-back heals, and held places never age out).
    pub async fn sweep(&self) {
        if !self.is_healthy() {
            return;
        }
        let holding: Vec<(Subject, Arc<SubjectState>)> = self
            .0
            .holding
            .lock()
            .expect("holding lock")
            .iter()
            .map(|(subject, state)| (subject.clone(), state.clone()))
            .collect();
        // Sixteen at a time: a slow Redis holds the sweep up by 250 ms per round.
        for round in holding.chunks(16) {
            let mut settles = tokio::task::JoinSet::new();
            for (subject, state) in round {
                let (me, subject, state) = (self.clone(), subject.clone(), state.clone());
                settles.spawn(async move { me.settle_subject(&subject, &state).await });
            }
            while settles.join_next().await.is_some() {}
        }
    }

    /// Notes that `subject`'s lease holds something (for the sweep).
    fn hold(&self, subject: &Subject, state: &Arc<SubjectState>) {
        let mut holding = self.0.holding.lock().expect("holding lock");
        if !holding.contains_key(subject) {
            holding.insert(subject.clone(), state.clone());
        }
    }

    /// Forgets `subject` once its lease holds nothing. The map's lock is
    /// taken before the lease's: a grant added after the check finds the
    /// subject gone and notes it again.
    fn forget_if_empty(&self, subject: &Subject, state: &SubjectState) {
        let mut holding = self.0.holding.lock().expect("holding lock");
        let lease = state.lease.lock().expect("lease lock");
        let empty = lease.slots == 0
            && lease.settled == 0
            && lease.in_flight == 0
            && lease.monthly <= 0
            && lease.stale_monthly == 0;
        if empty {
            holding.remove(subject);
        }
    }

    /// One subject's part of the sweep, under its refill lock (no lease call
    /// changes its places meanwhile).
    async fn settle_subject(&self, subject: &Subject, state: &SubjectState) {
        let _refill = state.refill.lock().await;
        let now = Utc::now();
        let (now_ms, month) = (now.timestamp_millis(), month_id(now));
        let settle = {
            let mut lease = state.lease.lock().expect("lease lock");
            let idle = now_ms - lease.touched_ms >= 1_000;
            let mut tokens = 0;
            if lease.month == month {
                tokens += std::mem::take(&mut lease.stale_monthly);
                if idle && lease.monthly > 0 {
                    let unused = std::mem::take(&mut lease.monthly);
                    lease.monthly_used -= unused;
                    tokens += unused;
                }
            }
            let spare = (lease.slots - lease.peak.max(lease.in_flight)).max(0);
            lease.slots -= spare;
            lease.peak = lease.in_flight;
            let due = lease.slots > 0 && now_ms - lease.refreshed_ms >= 5_000;
            if tokens > 0 || lease.slots != lease.settled || due {
                lease.settled = lease.slots;
                lease.refreshed_ms = now_ms;
                Some((tokens, lease.slots))
            } else {
                None
            }
        };
        if let Some((tokens, held)) = settle {
            let keys = SubjectKeys::of(subject);
            self.settle(&keys, (tokens > 0).then_some((month, tokens)), held)
                .await;
        }
        self.forget_if_empty(subject, state);
    }
}
