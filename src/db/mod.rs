//! The store: sqlx repositories over SQLite (the embedded default) or
//! PostgreSQL, through one code path (`sqlx::Any`).
//!
//! Conventions every repository follows:
//! * placeholders are `$1..$n` (both engines accept them);
//! * timestamps are fixed-width RFC 3339 text (see [`ts`]), integers BIGINT;
//! * a transaction that will write starts with its write, so SQLite takes the
//!   write lock up front (no deferred-upgrade failures) and PostgreSQL locks the
//!   row that serialises concurrent changes to the same key.

pub mod admins;
pub mod audit;
pub mod budgets;
pub mod cache;
pub mod copy;
pub mod cost_spans;
pub mod costs;
pub mod erasure;
pub mod fingerprints;
pub mod invoices;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod money;
pub mod namespaces;
pub mod operator_tokens;
pub mod plans;
pub mod prices;
pub mod retention;
pub mod secrets;
pub mod tenants;
pub mod usage;
pub mod webhooks;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

pub use sqlx::AnyConnection as Conn;

/// How long a writer waits for SQLite's write lock (its busy timeout, also
/// the wait for a turn at it) or PostgreSQL for a row or table lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// This process's writers waited the busy timeout for their turn at
/// SQLite's write lock ([`Db::begin`]); [`is_busy`] says so.
#[derive(Debug, thiserror::Error)]
#[error("waited the busy timeout for a turn at the SQLite write lock")]
struct WriteQueueTimeout;

fn write_queue_timeout() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        WriteQueueTimeout,
    ))
}

/// A write transaction ([`Db::begin`]): it reads and writes as a
/// connection (`&mut *tx`) and ends with [`WriteTx::commit`]; dropped
/// without it, it rolls back. On SQLite it also holds this process's turn
/// at the write lock until it ends.
pub struct WriteTx {
    // Dropped first: the rollback is under way before the turn passes on.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl WriteTx {
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.tx
    }
}

/// The text a report query binds for "one tenant, or all of them": its id,
/// or `''`, which the query's `($n = '' OR tenant_id = $n)` reads as all.
/// The sentinel stays inside `db/`; callers say `Option<&TenantId>`.
fn tenant_filter(tenant: Option<&crate::domain::ids::TenantId>) -> &str {
    tenant.map_or("", |t| t.as_str())
}

/// `AND <column> IN ($first, ...)` for some tenants: nothing for all
/// (`None`), never true for none. Bind them with [`bind_tenants`].
fn tenants_clause(
    column: &str,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    first: usize,
) -> String {
    match tenants {
        None => String::new(),
        Some([]) => "AND 1 = 0".to_string(),
        Some(ids) => format!(
            "AND {column} IN ({})",
            (0..ids.len())
                .map(|i| format!("${}", i + first))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_tenants<'q>(
    mut q: AnyQuery<'q>,
    tenants: Option<&'q [crate::domain::ids::TenantId]>,
) -> AnyQuery<'q> {
    for t in tenants.unwrap_or_default() {
        q = q.bind(t.as_str());
    }
    q
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
    /// SQLite: this process's writers take turns here, first come first
    /// served, before asking for the write lock (see [`Db::begin`]).
    write_turns: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// The URL it was opened with (the change feed opens its own connection).
    url: std::sync::Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("cannot open the database: {0}")]
    Open(#[from] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens a pool. SQLite files are created when missing and put in WAL mode.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let engine = Engine::from_url(url).ok_or(ConnectError::UnsupportedUrl)?;
        let given: std::sync::Arc<str> = std::sync::Arc::from(url);
        let (url, max) = match engine {
            Engine::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{sep}mode=rwc"), 8)
            }
            Engine::Sqlite => (url.to_string(), 8),
            Engine::Postgres => (url.to_string(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            // An embedded SQLite connection cannot go away under us; pinging
            // it on every acquire is a round trip to its worker for nothing.
            .test_before_acquire(engine == Engine::Postgres)
            // Never hand out a connection still inside a transaction (one
            // whose owner went away before its rollback ran): closing it
            // rolls it back and releases its locks.
            .before_acquire(|conn, _| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(
                            // A 32 MiB page cache and reads through mmap keep
                            // large tables (usage events) off read syscalls.
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456; \
                             PRAGMA temp_store = MEMORY;",
                        )
                        .await?;
                    } else {
                        // Waits bounded as SQLite's busy timeout bounds them:
                        // a lock still held after 10 s fails (55P03, answered
                        // 503 STORE_BUSY), and a session left idle inside a
                        // transaction for a minute (its owner gone) is ended
                        // by the server, which releases its locks.
                        conn.execute(
                            "SET lock_timeout = '10s'; \
                             SET idle_in_transaction_session_timeout = '60s'",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Self {
            pool,
            engine,
            url: given,
            write_turns: (engine == Engine::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1))),
        })
    }

    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let migrator = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        };
        let mut conn = self.pool.acquire().await?;
        if self.engine == Engine::Postgres {
            // The migrator waits on an advisory lock while another process
            // (a replica starting at the same time) migrates: no time limit
            // on that wait, then the session's 10 s again.
            conn.execute("SET lock_timeout = 0").await?;
            migrator.run(&mut *conn).await?;
            conn.execute("SET lock_timeout = '10s'").await?;
        } else {
            migrator.run(&mut *conn).await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that writes. On SQLite it takes the write lock at its
    /// start (`BEGIN IMMEDIATE`, waiting for it up to the busy timeout): a
    /// deferred transaction that reads, then writes, fails at once with
    /// "database is locked" when another connection wrote in between (its
    /// snapshot is stale), which concurrent background writers make likely.
    ///
    /// On SQLite this process's writers first wait for their turn in a
    /// queue (at most the busy timeout; then busy, 503 `STORE_BUSY`): each
    /// gets the lock the moment the one before it lets go, first come first
    /// served. Left to SQLite, a writer that finds the lock taken sleeps (1,
    /// 2, 5, ... up to 100 ms) and tries again, so the one that waited
    /// longest could lose to one that just came. (Measured on a backfill:
    /// the same ingest rate, p99 per batch 1.31-1.33 s against 1.45-1.53 s.)
    /// Writes outside `begin` (single statements on a pooled connection,
    /// other processes such as the CLI) still meet SQLite's busy handler,
    /// and so may the next writer when a transaction was dropped rather
    /// than ended (its rollback is queued to its connection's thread).
    ///
    /// The BEGIN runs in a task of its own, so a caller dropped while it
    /// waits (a request timing out or cancelled, a task aborted) never
    /// leaves a connection in the pool inside a transaction nobody owns:
    /// sqlx marks the transaction its own only once BEGIN has answered, and
    /// a SQLite connection left inside `BEGIN IMMEDIATE` would hold the
    /// write lock for every other writer. Here the task finishes the BEGIN
    /// and drops the transaction it gets, which rolls it back (and gives up
    /// the turn).
    pub async fn begin(&self) -> sqlx::Result<WriteTx> {
        let (pool, engine) = (self.pool.clone(), self.engine);
        let turns = self.write_turns.clone();
        let (mut answer, answered) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let turn = match turns {
                Some(turns) => {
                    let wait = tokio::time::timeout(BUSY_TIMEOUT, turns.acquire_owned());
                    tokio::select! {
                        turn = wait => match turn {
                            Ok(Ok(turn)) => Some(turn),
                            Ok(Err(_)) => {
                                let _ = answer.send(Err(sqlx::Error::PoolClosed));
                                return;
                            }
                            Err(_) => {
                                let _ = answer.send(Err(write_queue_timeout()));
                                return;
                            }
                        },
                        // Its caller gave up: the turn goes to the next.
                        _ = answer.closed() => return,
                    }
                }
                None => None,
            };
            let tx = match engine {
                Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Engine::Postgres => pool.begin().await,
            };
            // Not taken (its caller gave up meanwhile): dropped here,
            // which rolls it back.
            let _ = answer.send(tx.map(|tx| WriteTx { tx, _turn: turn }));
        });
        match answered.await {
            Ok(answer) => answer,
            // No answer: BEGIN panicked (raised here, as before), or the
            // runtime shuts down.
            Err(_) => match task.await {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                _ => Err(sqlx::Error::PoolClosed),
            },
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether every migration this build knows has been applied.
    pub async fn migrations_current(&self) -> sqlx::Result<bool> {
        let migrator = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        };
        let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let row = sqlx::query(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(sqlx::Row::try_get::<i64, _>(&row, "v")? >= latest)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The journal mode SQLite reports (for health output and tests).
    pub async fn sqlite_journal_mode(&self) -> sqlx::Result<Option<String>> {
        if self.engine != Engine::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.try_get::<String, _>(0)?))
    }
}

/// Formats a timestamp the way every table stores it:
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width, so text order is time order.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The rows with the sums of equal keys added up, in key order. Sorting
/// once and adding up neighbours compares far fewer keys than inserting
/// each row into an ordered map (a rollup apply has one key per event or
/// so), and the sort is stable, so rows that come as a few sorted runs
/// (queued batches, each in key order) are merged rather than sorted.
pub(crate) fn summed<K: Ord, const N: usize>(mut rows: Vec<(K, [i64; N])>) -> Vec<(K, [i64; N])> {
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(K, [i64; N])> = Vec::with_capacity(rows.len());
    for (key, sums) in rows {
        match out.last_mut() {
            Some((last, total)) if *last == key => {
                for (t, s) in total.iter_mut().zip(sums) {
                    *t += s;
                }
            }
            _ => out.push((key, sums)),
        }
    }
    out
}

/// `n` bind placeholders starting at `$first`. SQLite gets anonymous `?`
/// ones: it resolves each named placeholder by a linear scan, which makes
/// large multi-row statements quadratic.
pub fn placeholders(engine: Engine, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| match engine {
            Engine::Sqlite => "?".to_string(),
            Engine::Postgres => format!("${i}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `VALUES (..), (..)`: `rows` rows of `cols` placeholders each, numbered
/// from `$1` (see [`placeholders`]).
pub fn values(engine: Engine, rows: usize, cols: usize) -> String {
    let mut sql = String::from("VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        sql.push_str(&placeholders(engine, i * cols + 1, cols));
        sql.push(')');
    }
    sql
}

/// A column of rows bound as one JSON value (see [`json_rows`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Text,
    Int,
}

/// A `SELECT` of the rows held by parameter `$param`: a JSON array of
/// arrays, one per row, with the values of `cols` in order (JSON null for
/// NULL). A whole batch is then one bound value: binding costs nothing per
/// row, and the engine unpacks the rows in C (`json_each` on SQLite,
/// `jsonb_array_elements` on PostgreSQL).
pub(crate) fn json_rows(engine: Engine, param: usize, cols: &[Col]) -> String {
    let values: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| match (engine, c) {
            (Engine::Sqlite, _) => format!("r.value ->> {i}"),
            (Engine::Postgres, Col::Text) => format!("r ->> {i}"),
            (Engine::Postgres, Col::Int) => format!("CAST(r ->> {i} AS BIGINT)"),
        })
        .collect();
    let from = match engine {
        Engine::Sqlite => format!("json_each(${param}) AS r"),
        Engine::Postgres => format!("jsonb_array_elements(CAST(${param} AS jsonb)) AS r"),
    };
    // (`WHERE true`: SQLite reads an upsert after a SELECT only with one.)
    format!("SELECT {} FROM {from} WHERE true", values.join(", "))
}

/// Many small rows read as one text value: `string_agg` of `expr` (text)
/// joined by commas, for [`unpack`]. sqlx hands each SQLite row from the
/// connection's thread to the task on its own (a channel send, a wake-up
/// and a copy of the row each), which is most of the time a read of 100,000
/// rows takes (measured: the spread over 100,000 users, 90,000 tenant days
/// of the forecast); one row of text costs one. Both engines have
/// `string_agg` (SQLite from 3.44; sqlx bundles 3.46).
pub(crate) fn packed(expr: &str) -> String {
    format!("string_agg({expr}, ',')")
}

/// The items of a [`packed`] value (none for NULL: no rows).
pub(crate) fn unpack(packed: Option<&str>) -> impl Iterator<Item = &str> {
    packed.into_iter().flat_map(|p| p.split(','))
}

/// The integers of a [`packed`] value.
pub(crate) fn unpack_ints(packed: Option<&str>) -> sqlx::Result<Vec<i64>> {
    unpack(packed)
        .map(|n| {
            n.parse()
                .map_err(|e| corrupt(format!("packed integer {n:?}: {e}")))
        })
        .collect()
}

pub(crate) fn corrupt(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

pub(crate) fn get_ts(row: &AnyRow, column: &str) -> sqlx::Result<DateTime<Utc>> {
    let raw: String = row.try_get(column)?;
    parse_ts(column, &raw)
}

pub(crate) fn get_opt_ts(row: &AnyRow, column: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|r| parse_ts(column, &r)).transpose()
}

fn parse_ts(column: &str, raw: &str) -> sqlx::Result<DateTime<Utc>> {
    DateTime::<chrono::FixedOffset>::from_str(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(format!("{column}: bad timestamp {raw:?}: {e}")))
}

/// Parses a stored domain value, turning a rule violation into a decode error.
pub(crate) fn get_parsed<T, E: std::fmt::Display>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> sqlx::Result<T> {
    let raw: String = row.try_get(column)?;
    parse(raw).map_err(|e| corrupt(format!("{column}: {e}")))
}

/// True when `err` is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether the store refused for a while rather than for good: SQLite's
/// write lock still held by another writer after the busy timeout
/// (SQLITE_BUSY, 5, and its extended codes), or PostgreSQL's lock timeout
/// or a deadlock it broke (55P03, 40P01), or this process's other writers
/// ahead of it for as long ([`Db::begin`]). Nothing was written; a retry
/// may succeed. (A pool with no connection to give, `PoolTimedOut`, is not
/// busy: it may be a store that is down.)
pub fn is_busy(err: &sqlx::Error) -> bool {
    if let sqlx::Error::Io(e) = err {
        return e
            .get_ref()
            .is_some_and(|inner| inner.is::<WriteQueueTimeout>());
    }
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    // SQLite's codes have at most 4 digits, PostgreSQL's SQLSTATEs always 5
    // characters (some all digits, like 42501).
    match code.parse::<i64>() {
        Ok(sqlite) if code.len() < 5 => sqlite & 0xff == 5,
        _ => matches!(code.as_ref(), "55P03" | "40P01"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write transaction whose caller gave up while BEGIN waited for
    /// SQLite's write lock (a request timed out, a task was aborted) leaves
    /// no connection behind holding that lock: the next writers get it.
    #[tokio::test]
    async fn a_begin_given_up_while_waiting_leaves_no_writer_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("b.db").display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(db.pool())
            .await
            .unwrap();
        let holder = db.begin().await.unwrap();
        for wait_ms in [1, 5, 20, 50] {
            let gave_up = tokio::time::timeout(Duration::from_millis(wait_ms), db.begin()).await;
            assert!(gave_up.is_err(), "the write lock was held");
        }
        holder.rollback().await.unwrap();
        // Given up at every point of its way: after each poll, with the
        // work it waits for (the connection's thread) let run in between.
        for polls in 1..64 {
            let mut begin = Box::pin(db.begin());
            for _ in 0..polls {
                if futures::poll!(begin.as_mut()).is_ready() {
                    break;
                }
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
        }
        for n in 0..8 {
            let mut tx = db.begin().await.expect("the write lock is free again");
            sqlx::query("INSERT INTO t (n) VALUES ($1)")
                .bind(n)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        // Another process (here another pool) sees them committed, and
        // can write too: no connection is left holding the lock.
        let other = Db::connect(&format!("sqlite:{}", dir.path().join("b.db").display()))
            .await
            .unwrap();
        let mut tx = other.begin().await.expect("no writer left behind");
        sqlx::query("INSERT INTO t (n) VALUES (8)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM t")
            .fetch_one(other.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(n, 9);
    }

    /// A writer that waited its turn for the busy timeout is busy (503
    /// STORE_BUSY, retry); a pool with no connection to give is not (it
    /// may be a store that is down: 500, logged as a storage failure).
    #[test]
    fn a_turn_not_given_in_time_is_busy_a_pool_timeout_is_not() {
        assert!(is_busy(&write_queue_timeout()));
        assert!(!is_busy(&sqlx::Error::PoolTimedOut));
        assert!(!is_busy(&sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out"
        ))));
    }

    /// Equal keys are added up, whichever run they came in, and the rows
    /// come out in key order.
    #[test]
    fn summed_adds_up_equal_keys_in_key_order() {
        let runs = vec![
            (("a", 2), [1, 10]),
            (("b", 1), [2, 20]),
            (("c", 0), [3, 30]),
            (("a", 2), [4, 40]),
            (("b", 0), [5, 50]),
            (("c", 0), [6, 60]),
        ];
        assert_eq!(
            summed(runs),
            vec![
                (("a", 2), [5, 50]),
                (("b", 0), [5, 50]),
                (("b", 1), [2, 20]),
                (("c", 0), [9, 90]),
            ]
        );
        assert!(summed::<u8, 1>(Vec::new()).is_empty());
    }

    /// This process's SQLite writers get the write lock in the order they
    /// asked for it, the moment it is let go. Left to SQLite's busy
    /// handler, a writer that has waited a while sleeps up to 100 ms between
    /// tries, so one that asks just as the lock is let go takes it first.
    #[tokio::test]
    async fn sqlite_writers_take_the_lock_in_the_order_they_asked() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("o.db").display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (name TEXT)")
            .execute(db.pool())
            .await
            .unwrap();
        let write = |name: &'static str| {
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.unwrap();
                sqlx::query("INSERT INTO t (name) VALUES ($1)")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        };
        let holder = db.begin().await.unwrap();
        let first = tokio::spawn(write("first"));
        // Long enough for a writer left to SQLite to sleep 100 ms at a time.
        tokio::time::sleep(Duration::from_millis(300)).await;
        holder.commit().await.unwrap();
        let second = tokio::spawn(write("second"));
        second.await.unwrap();
        first.await.unwrap();
        let order: Vec<String> = sqlx::query("SELECT name FROM t ORDER BY rowid")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("name").unwrap())
            .collect();
        assert_eq!(order, ["first", "second"]);
    }

    /// On PostgreSQL a lock still held by another transaction fails after
    /// the 10 s lock timeout as busy (503 STORE_BUSY), rather than waiting
    /// for as long as its holder likes.
    #[tokio::test]
    async fn a_postgres_lock_wait_ends_as_busy() {
        let db = Db::connect("postgres://postgres@127.0.0.1:5432/test")
            .await
            .expect("PostgreSQL at 127.0.0.1:5432");
        let table = format!("lock_wait_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE TABLE {table} (n INTEGER)"))
            .execute(db.pool())
            .await
            .unwrap();
        let mut holder = db.begin().await.unwrap();
        sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .execute(&mut *holder)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let count = format!("SELECT COUNT(*) FROM {table}");
        let wait = sqlx::query(&count).execute(db.pool());
        let waited = tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the wait ends")
            .expect_err("the table is locked");
        assert!(is_busy(&waited), "{waited}");
        assert!(started.elapsed() >= Duration::from_secs(9));
        holder.rollback().await.unwrap();
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(db.pool())
            .await
            .unwrap();
    }

    /// The cost rollups' anchor lock is the one wait the 10 s lock timeout
    /// leaves unbounded: an apply behind a fold that holds it for longer
    /// waits, then goes on, rather than failing every read.
    #[tokio::test]
    async fn the_rollups_anchor_lock_is_waited_for_past_the_lock_timeout() {
        let admin = Db::connect("postgres://postgres@127.0.0.1:5432/test")
            .await
            .expect("PostgreSQL at 127.0.0.1:5432");
        let name = format!("kw_anchor_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await
            .unwrap();
        let db = Db::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        // (The migrations create the anchor's row.)
        let mut fold = db.begin().await.unwrap();
        cost_spans::lock(&mut fold, Engine::Postgres).await.unwrap();
        let waiter = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut apply = db.begin().await?;
                cost_spans::lock(&mut apply, Engine::Postgres).await?;
                apply.commit().await
            })
        };
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(!waiter.is_finished(), "the apply waits for the fold");
        fold.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the apply goes on once the fold is done")
            .unwrap()
            .expect("and does not fail");
        db.pool().close().await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(admin.pool())
            .await
            .unwrap();
    }
}
