//! `keyward migrate-store`: copies a SQLite store into PostgreSQL, from one
//! read snapshot of the source into one transaction on the target, and
//! commits only when every table's row count and checksum agree.
//!
//! The copy follows the schema rather than naming it: tables and columns come
//! from the source (`sqlite_master`, `pragma_table_info`), the order from its
//! foreign keys, the value types from the target (`information_schema`).
//! Rows are copied as stored (sealed secrets stay sealed, key digests stay
//! digests) and no value is ever printed or put in an error.

use super::{ConnectError, Db, Engine};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgArguments, PgConnection, PgRow, Postgres};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Connection, Row, TypeInfo, ValueRef};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Rows per multi-row INSERT (fewer for wide tables: PostgreSQL takes at most
/// 65,535 bind parameters a statement).
const BATCH_ROWS: usize = 500;
/// Rows per FETCH when the target is read back to be checked.
const VERIFY_ROWS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The stores are not in a state to copy between; nothing was written.
    #[error("{0}")]
    Refused(String),
    #[error("target: {0}")]
    Target(#[from] ConnectError),
    #[error("{during}: {source}")]
    Database { during: String, source: sqlx::Error },
    /// The target, read back inside its transaction, differs from the source:
    /// the transaction was rolled back.
    #[error("table {table}: {message}; the copy was rolled back")]
    Mismatch { table: String, message: String },
}

fn during(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> CopyError {
    let during = what.into();
    move |source| CopyError::Database { during, source }
}

/// What was copied: per table, in copy order.
#[derive(Debug)]
pub struct Report {
    pub tables: Vec<TableReport>,
    pub replaced: bool,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    /// Hex SHA-256 over the table's rows, the same on both stores.
    pub checksum: String,
}

impl Report {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24} {:>12}  CHECKSUM", "TABLE", "ROWS")?;
        for t in &self.tables {
            writeln!(f, "{:<24} {:>12}  {}", t.table, t.rows, &t.checksum[..16])?;
        }
        writeln!(
            f,
            "total: {} tables, {} rows copied and verified (counts and checksums) in {:.2} s{}",
            self.tables.len(),
            self.total_rows(),
            self.elapsed.as_secs_f64(),
            if self.replaced {
                "; the target's previous rows were replaced"
            } else {
                ""
            }
        )
    }
}

/// Copies every application table of the SQLite store at `from` into the
/// PostgreSQL store at `to` (migrated first). Refuses a target that holds
/// data unless `replace`, in which case its rows are replaced in the same
/// transaction.
pub async fn copy_store(from: &str, to: &str, replace: bool) -> Result<Report, CopyError> {
    let started = Instant::now();
    refuse_wrong_engines(from, to)?;

    let mut source = open_source(from).await?;
    // Everything below reads one snapshot: in WAL mode the server keeps
    // writing, and none of its later writes are seen here.
    let mut src = source
        .begin()
        .await
        .map_err(during("starting the source snapshot"))?;
    let source_version = source_migration(&mut src).await?;

    let mut target = open_migrated_target(to).await?;
    let mut dst = target
        .begin()
        .await
        .map_err(during("starting the target transaction"))?;
    refuse_other_migration(&mut dst, source_version).await?;

    let tables = copy_order(source_tables(&mut src).await?)?;
    let tables = with_target_types(&mut dst, tables).await?;
    prepare_target(&mut dst, &tables, replace).await?;

    let mut sums = Vec::with_capacity(tables.len());
    for table in &tables {
        sums.push(copy_table(&mut src, &mut dst, table).await?);
    }
    reset_sequences(&mut dst, &tables).await?;

    let report = verify_target(&mut dst, &tables, &sums).await?;
    sqlx::raw_sql(&user_triggers(&tables, "ENABLE"))
        .execute(&mut *dst)
        .await
        .map_err(during("resuming the target's triggers"))?;
    dst.commit()
        .await
        .map_err(during("committing the target"))?;
    target.close().await.map_err(during("closing the target"))?;
    src.rollback()
        .await
        .map_err(during("ending the source snapshot"))?;
    source.close().await.map_err(during("closing the source"))?;
    Ok(Report {
        tables: report,
        replaced: replace,
        elapsed: started.elapsed(),
    })
}

/// Refuses a `from` that is not a SQLite URL or a `to` that is not a
/// PostgreSQL one.
fn refuse_wrong_engines(from: &str, to: &str) -> Result<(), CopyError> {
    if Engine::from_url(from) != Some(Engine::Sqlite) {
        return Err(CopyError::Refused(
            "--from must be a sqlite: URL (the store to move)".into(),
        ));
    }
    if Engine::from_url(to) != Some(Engine::Postgres) {
        return Err(CopyError::Refused(
            "--to must be a postgres:// URL (the store to move to)".into(),
        ));
    }
    Ok(())
}

/// Opens the existing SQLite store at `from` (never creating it).
async fn open_source(from: &str) -> Result<SqliteConnection, CopyError> {
    // Not `Db::connect`: that creates a missing file, and a mistyped path
    // would then copy an empty store.
    let options = SqliteConnectOptions::from_str(from)
        .map_err(during("the source URL"))?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10));
    SqliteConnection::connect_with(&options)
        .await
        .map_err(during("opening the source"))
}

/// Brings the PostgreSQL store at `to` to this build's migrations, then
/// opens the single connection the copy runs on.
async fn open_migrated_target(to: &str) -> Result<PgConnection, CopyError> {
    let target = Db::connect(to).await?;
    target.migrate().await?;
    target.close().await;
    PgConnection::connect(to)
        .await
        .map_err(during("opening the target"))
}

/// Refuses a source at another migration than the (just migrated) target,
/// saying which keyward to use instead.
async fn refuse_other_migration(
    dst: &mut PgConnection,
    source_version: i64,
) -> Result<(), CopyError> {
    let target_version: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *dst)
            .await
            .map_err(during("reading the target's migrations"))?;
    if source_version != target_version {
        return Err(CopyError::Refused(if source_version < target_version {
            format!(
                "the source is at migration {source_version}, this keyward at {target_version}: \
                 start this keyward on the source once (or run `keyward migrate` with its \
                 DATABASE_URL), then copy again"
            )
        } else {
            format!(
                "the source is at migration {source_version}, newer than this keyward \
                 ({target_version}): copy with the keyward that last served it"
            )
        }));
    }
    Ok(())
}

/// Locks the target's tables, refuses them if they hold data (unless
/// `replace`), empties them and pauses their triggers for the copy.
async fn prepare_target(
    dst: &mut PgConnection,
    tables: &[Table],
    replace: bool,
) -> Result<(), CopyError> {
    let names = tables
        .iter()
        .map(|t| quoted(&t.name))
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::raw_sql(&format!(
        "SET LOCAL lock_timeout = '30s'; LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"
    ))
    .execute(&mut *dst)
    .await
    .map_err(during(
        "locking the target's tables (is a keyward serving it?)",
    ))?;
    if !replace {
        refuse_if_holding_data(dst, tables).await?;
    }
    sqlx::raw_sql(&format!("TRUNCATE TABLE {names}"))
        .execute(&mut *dst)
        .await
        .map_err(during("emptying the target's tables"))?;
    // Rows arrive verbatim, derived columns included (a tenant's cached
    // bytes), so the triggers that keep those would count them twice.
    sqlx::raw_sql(&user_triggers(tables, "DISABLE"))
        .execute(&mut *dst)
        .await
        .map_err(during("pausing the target's triggers"))?;
    Ok(())
}

/// The statements that `verb` (`DISABLE` or `ENABLE`) every table's user
/// triggers.
fn user_triggers(tables: &[Table], verb: &str) -> String {
    tables
        .iter()
        .map(|t| format!("ALTER TABLE {} {verb} TRIGGER USER;", quoted(&t.name)))
        .collect::<String>()
}

/// Reads each copied table back inside the target's transaction and
/// compares its count and checksum with the source's; the per-table report.
async fn verify_target(
    dst: &mut PgConnection,
    tables: &[Table],
    sums: &[Checksum],
) -> Result<Vec<TableReport>, CopyError> {
    let mut report = Vec::with_capacity(tables.len());
    for (table, expected) in tables.iter().zip(sums) {
        let found = target_sum(dst, table).await?;
        if found.rows != expected.rows {
            return Err(CopyError::Mismatch {
                table: table.name.clone(),
                message: format!(
                    "{} rows in the source, {} in the target",
                    expected.rows, found.rows
                ),
            });
        }
        if found != *expected {
            return Err(CopyError::Mismatch {
                table: table.name.clone(),
                message: "the checksums differ".into(),
            });
        }
        report.push(TableReport {
            table: table.name.clone(),
            rows: expected.rows,
            checksum: expected.hex(),
        });
    }
    Ok(report)
}

/// A table to copy, with its columns in the source's order.
#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// Tables its foreign keys reference (itself excluded).
    parents: BTreeSet<String>,
    /// A foreign key to itself (child column, referenced column): parents'
    /// rows must reach the target before their children's.
    self_ref: Option<(String, String)>,
    /// SQLite's AUTOINCREMENT high-water mark, when it has one.
    sequence_floor: i64,
}

#[derive(Debug)]
struct Column {
    name: String,
    target: PgType,
    /// Backed by a sequence on the target (identity or serial).
    sequence: bool,
}

/// The target column types a value can be bound as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PgType {
    Int2,
    Int4,
    Int8,
    Bool,
    Float4,
    Float8,
    Text,
    Bytea,
}

impl PgType {
    fn parse(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "smallint" => Self::Int2,
            "integer" => Self::Int4,
            "bigint" => Self::Int8,
            "boolean" => Self::Bool,
            "real" => Self::Float4,
            "double precision" => Self::Float8,
            "text" | "character varying" | "character" => Self::Text,
            "bytea" => Self::Bytea,
            _ => return None,
        })
    }
}

/// One stored value, by SQLite storage class.
#[derive(Debug)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn storage_class(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "INTEGER",
            Value::Real(_) => "REAL",
            Value::Text(_) => "TEXT",
            Value::Blob(_) => "BLOB",
        }
    }

    /// The canonical form both stores' checksums are computed over:
    /// integers in decimal, text length-prefixed as is, blobs in hex.
    fn canonical(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writes to a Vec cannot fail.
        let _ = match self {
            Value::Null => write!(out, "n;"),
            Value::Int(v) => write!(out, "i{v};"),
            Value::Real(v) if v.is_nan() => write!(out, "rnan;"),
            Value::Real(v) => write!(out, "r{:016x};", v.to_bits()),
            Value::Text(s) => write!(out, "t{}:", s.len())
                .and_then(|()| out.write_all(s.as_bytes()))
                .and_then(|()| write!(out, ";")),
            Value::Blob(b) => write!(out, "b{};", hex::encode(b)),
        };
    }
}

/// A table's rows as a multiset: the count, and the sum modulo 2^256 of each
/// row's SHA-256. Independent of row order, so neither store has to sort
/// (PostgreSQL's collation orders text differently from SQLite's).
#[derive(Debug, Default)]
struct Checksum {
    rows: u64,
    sum: [u8; 32],
    /// The row being rendered (kept to reuse its allocation).
    scratch: Vec<u8>,
}

impl PartialEq for Checksum {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows && self.sum == other.sum
    }
}

impl Checksum {
    fn add(&mut self, row: &[Value]) {
        self.scratch.clear();
        for value in row {
            value.canonical(&mut self.scratch);
        }
        let digest = Sha256::digest(&self.scratch);
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(self.sum[i]) + u16::from(digest[i]) + carry;
            self.sum[i] = s as u8;
            carry = s >> 8;
        }
        self.rows += 1;
    }

    fn hex(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.rows.to_be_bytes());
        h.update(self.sum);
        hex::encode(h.finalize())
    }
}

/// The source's latest applied migration; a store never migrated, or with
/// a failed migration, is refused.
async fn source_migration(src: &mut SqliteConnection) -> Result<i64, CopyError> {
    let migrated: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *src)
    .await
    .map_err(during("reading the source (is it a keyward database?)"))?;
    if migrated == 0 {
        return Err(CopyError::Refused(
            "the source is not a keyward store (it has no migrations): check --from".into(),
        ));
    }
    let (version, failed): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(MAX(version), 0), COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) \
         FROM _sqlx_migrations",
    )
    .fetch_one(&mut *src)
    .await
    .map_err(during("reading the source's migrations"))?;
    if failed > 0 {
        return Err(CopyError::Refused(
            "the source has a failed migration: start keyward on it to see why, fix it, then copy"
                .into(),
        ));
    }
    Ok(version)
}

/// The source's application tables, their columns, foreign keys and
/// AUTOINCREMENT counters (types are filled in from the target later).
async fn source_tables(src: &mut SqliteConnection) -> Result<Vec<Table>, CopyError> {
    let listed: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *src)
    .await
    .map_err(during("listing the source's tables"))?;
    let sequences = autoincrement_counters(src).await?;

    let mut tables = Vec::with_capacity(listed.len());
    for (name, sql) in listed {
        tables.push(source_table(src, name, &sql, &sequences).await?);
    }
    Ok(tables)
}

/// SQLite's AUTOINCREMENT high-water marks by table (none when no table
/// uses AUTOINCREMENT).
async fn autoincrement_counters(
    src: &mut SqliteConnection,
) -> Result<BTreeMap<String, i64>, CopyError> {
    let has_sequences: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
    )
    .fetch_one(&mut *src)
    .await
    .map_err(during("reading the source's catalog"))?;
    Ok(if has_sequences > 0 {
        sqlx::query_as("SELECT name, seq FROM sqlite_sequence")
            .fetch_all(&mut *src)
            .await
            .map_err(during("reading the source's AUTOINCREMENT counters"))?
            .into_iter()
            .collect()
    } else {
        BTreeMap::new()
    })
}

/// (referenced table, child column, referenced column) of a foreign key.
type ForeignKey = (String, String, Option<String>);

/// The tables a table references, and its reference to itself (child column, parent column).
type References = (BTreeSet<String>, Option<(String, String)>);

/// One source table (`sql` is its CREATE statement): its columns, the tables
/// it references and its AUTOINCREMENT floor. A WITHOUT ROWID table is refused.
async fn source_table(
    src: &mut SqliteConnection,
    name: String,
    sql: &str,
    sequences: &BTreeMap<String, i64>,
) -> Result<Table, CopyError> {
    if sql.to_ascii_uppercase().contains("WITHOUT ROWID") {
        return Err(CopyError::Refused(format!(
            "table {name} is WITHOUT ROWID, which this copy does not read"
        )));
    }
    let columns: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut *src)
            .await
            .map_err(during(format!("reading the columns of {name}")))?;
    let keys: Vec<ForeignKey> =
        sqlx::query_as("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?)")
            .bind(&name)
            .fetch_all(&mut *src)
            .await
            .map_err(during(format!("reading the foreign keys of {name}")))?;
    let (parents, self_ref) = parents_and_self_ref(&name, &columns, keys)?;
    Ok(Table {
        sequence_floor: sequences.get(&name).copied().unwrap_or(0),
        columns: columns
            .into_iter()
            .map(|(name, _)| Column {
                name,
                target: PgType::Text,
                sequence: false,
            })
            .collect(),
        name,
        parents,
        self_ref,
    })
}

/// Splits table `name`'s foreign keys into the other tables it references
/// and its one reference to itself (child column, referenced column; the
/// referenced column defaults to the single-column primary key of `columns`,
/// given as (name, pk position)). Composite or repeated self-references are refused.
fn parents_and_self_ref(
    name: &str,
    columns: &[(String, i64)],
    keys: Vec<ForeignKey>,
) -> Result<References, CopyError> {
    let primary: Vec<&String> = columns.iter().filter(|c| c.1 > 0).map(|c| &c.0).collect();
    let mut parents = BTreeSet::new();
    let mut self_ref = None;
    for (parent, from, to) in keys {
        if parent != name {
            parents.insert(parent);
            continue;
        }
        let to = match (to, primary.as_slice()) {
            (Some(to), _) => to,
            (None, [only]) => (*only).clone(),
            (None, _) => {
                return Err(CopyError::Refused(format!(
                    "table {name} references itself through a composite key, which this copy does not order"
                )))
            }
        };
        if self_ref.replace((from, to)).is_some() {
            return Err(CopyError::Refused(format!(
                "table {name} references itself more than once, which this copy does not order"
            )));
        }
    }
    Ok((parents, self_ref))
}

/// Orders tables so every table comes after the tables it references
/// (ties by name, so the order is stable).
fn copy_order(tables: Vec<Table>) -> Result<Vec<Table>, CopyError> {
    let mut left: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| t.parents.iter().all(|p| !left.contains_key(p)))
            .map(|t| t.name.clone())
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = left.keys().map(String::as_str).collect();
            return Err(CopyError::Refused(format!(
                "the foreign keys of {} form a cycle, which this copy does not order",
                stuck.join(", ")
            )));
        }
        for name in ready {
            order.extend(left.remove(&name));
        }
    }
    Ok(order)
}

/// Checks the target has the source's tables and columns, and records each
/// column's target type and whether a sequence backs it.
async fn with_target_types(
    dst: &mut PgConnection,
    mut tables: Vec<Table>,
) -> Result<Vec<Table>, CopyError> {
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                pg_get_serial_sequence(quote_ident(c.table_name::text), c.column_name::text) IS NOT NULL \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *dst)
    .await
    .map_err(during("reading the target's columns"))?;
    let mut target: BTreeMap<String, BTreeMap<String, (String, bool)>> = BTreeMap::new();
    for (table, column, data_type, sequence) in rows {
        target
            .entry(table)
            .or_default()
            .insert(column, (data_type, sequence));
    }
    let source: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    if let Some(extra) = target.keys().find(|t| !source.contains(t.as_str())) {
        return Err(CopyError::Refused(format!(
            "the target has a table the source lacks ({extra}): the schemas differ"
        )));
    }
    for table in &mut tables {
        let Some(columns) = target.get_mut(&table.name) else {
            return Err(CopyError::Refused(format!(
                "the target has no table {}: the schemas differ",
                table.name
            )));
        };
        for column in &mut table.columns {
            let Some((data_type, sequence)) = columns.remove(&column.name) else {
                return Err(CopyError::Refused(format!(
                    "the target's table {} has no column {}: the schemas differ",
                    table.name, column.name
                )));
            };
            column.target = PgType::parse(&data_type).ok_or_else(|| {
                CopyError::Refused(format!(
                    "{}.{}: the target type {data_type} is not one this copy binds",
                    table.name, column.name
                ))
            })?;
            column.sequence = sequence;
        }
        if let Some(extra) = columns.keys().next() {
            return Err(CopyError::Refused(format!(
                "the target's table {} has a column the source lacks ({extra}): the schemas differ",
                table.name
            )));
        }
    }
    Ok(tables)
}

/// Refuses a target whose tables hold anything besides what its migrations
/// put there (the seeded plans and prices): those are compared with a freshly
/// migrated store's.
async fn refuse_if_holding_data(dst: &mut PgConnection, tables: &[Table]) -> Result<(), CopyError> {
    let pristine = pristine_sums(tables).await?;
    let mut holding = Vec::new();
    for table in tables {
        let rows: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quoted(&table.name)))
                .fetch_one(&mut *dst)
                .await
                .map_err(during(format!("counting the target's {}", table.name)))?;
        let seeded = pristine.get(&table.name);
        let fresh = match seeded {
            Some(seed) if seed.rows == rows as u64 => {
                rows == 0 || target_sum(dst, table).await? == *seed
            }
            _ => rows == 0,
        };
        if !fresh {
            holding.push(format!("{} ({rows} rows)", table.name));
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    Err(CopyError::Refused(format!(
        "the target already holds data in {}; no rows were written. Pass --replace to replace it",
        holding.join(", ")
    )))
}

/// Each table's checksum in a store just created by this build's migrations
/// (a scratch SQLite file, removed after).
async fn pristine_sums(tables: &[Table]) -> Result<BTreeMap<String, Checksum>, CopyError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let path = std::env::temp_dir().join(format!(
        "keyward-pristine-{}-{nanos}.db",
        std::process::id()
    ));
    let url = format!("sqlite://{}", path.display());
    let sums = async {
        let db = Db::connect(&url).await?;
        let migrated = db.migrate().await;
        db.close().await;
        migrated?;
        let mut conn = SqliteConnection::connect(&url)
            .await
            .map_err(during("opening a scratch store"))?;
        let mut sums = BTreeMap::new();
        for table in tables {
            let mut sum = Checksum::default();
            let mut pages = Pages::new(table);
            while let Some(rows) = pages.next(&mut conn).await? {
                for row in &rows {
                    sum.add(&source_row(row, table)?);
                }
            }
            sums.insert(table.name.clone(), sum);
        }
        conn.close()
            .await
            .map_err(during("closing a scratch store"))?;
        Ok::<_, CopyError>(sums)
    }
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    sums
}

/// Reads a source table a page at a time, by rowid; a table that references
/// itself is read parents first.
struct Pages<'t> {
    table: &'t Table,
    columns: String,
    rows: usize,
    after: i64,
    /// For a self-referencing table: its rowids, roots first, then by depth.
    order: Option<std::vec::IntoIter<i64>>,
    done: bool,
}

impl<'t> Pages<'t> {
    fn new(table: &'t Table) -> Self {
        Pages {
            table,
            columns: column_list(table),
            rows: BATCH_ROWS.min(65_535 / table.columns.len().max(1)).max(1),
            after: i64::MIN,
            order: None,
            done: false,
        }
    }

    async fn next(
        &mut self,
        src: &mut SqliteConnection,
    ) -> Result<Option<Vec<SqliteRow>>, CopyError> {
        if self.done {
            return Ok(None);
        }
        let table = self.table;
        let name = quoted(&table.name);
        let reading = || during(format!("reading the source's {}", table.name));
        let rows = match &table.self_ref {
            None => {
                let rows = sqlx::query(&format!(
                    "SELECT rowid, {} FROM {name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    self.columns
                ))
                .bind(self.after)
                .bind(self.rows as i64)
                .fetch_all(&mut *src)
                .await
                .map_err(reading())?;
                if let Some(last) = rows.last() {
                    self.after = last.try_get(0).map_err(reading())?;
                }
                rows
            }
            Some((child, parent)) => {
                if self.order.is_none() {
                    let (child, parent) = (quoted(child), quoted(parent));
                    // Roots first, then each level under them; a row in a
                    // parent cycle is never reached, which the count check catches.
                    let ids: Vec<i64> = sqlx::query_scalar(&format!(
                        "WITH RECURSIVE tree(r, k, depth) AS ( \
                           SELECT rowid, {parent}, 0 FROM {name} WHERE {child} IS NULL \
                             OR {child} = {parent} \
                             OR {child} NOT IN (SELECT {parent} FROM {name} WHERE {parent} IS NOT NULL) \
                           UNION ALL \
                           SELECT c.rowid, c.{parent}, tree.depth + 1 FROM {name} AS c \
                             JOIN tree ON c.{child} = tree.k AND c.rowid <> tree.r) \
                         SELECT r FROM tree ORDER BY depth, r"
                    ))
                    .fetch_all(&mut *src)
                    .await
                    .map_err(reading())?;
                    self.order = Some(ids.into_iter());
                }
                let ids: Vec<i64> = self
                    .order
                    .as_mut()
                    .map(|o| o.by_ref().take(self.rows).collect())
                    .unwrap_or_default();
                if ids.is_empty() {
                    Vec::new()
                } else {
                    let sql = format!(
                        "SELECT rowid, {} FROM {name} WHERE rowid IN ({})",
                        self.columns,
                        vec!["?"; ids.len()].join(",")
                    );
                    let mut query = sqlx::query(&sql);
                    for id in &ids {
                        query = query.bind(*id);
                    }
                    query.fetch_all(&mut *src).await.map_err(reading())?
                }
            }
        };
        if rows.len() < self.rows {
            self.done = true;
        }
        Ok((!rows.is_empty()).then_some(rows))
    }
}

/// A source row's values (after the leading rowid), by storage class.
fn source_row(row: &SqliteRow, table: &Table) -> Result<Vec<Value>, CopyError> {
    (0..table.columns.len())
        .map(|i| {
            let at = i + 1;
            let raw = row.try_get_raw(at)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            Ok(match raw.type_info().name() {
                "INTEGER" => Value::Int(row.try_get(at)?),
                "REAL" => Value::Real(row.try_get(at)?),
                "TEXT" => Value::Text(row.try_get(at)?),
                _ => Value::Blob(row.try_get(at)?),
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(during(format!(
            "decoding a row of the source's {}",
            table.name
        )))
}

/// A target row's values, read by the target column types.
fn target_row(row: &PgRow, table: &Table) -> sqlx::Result<Vec<Value>> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let value = match column.target {
                PgType::Int2 => row
                    .try_get::<Option<i16>, _>(i)?
                    .map(|v| Value::Int(v.into())),
                PgType::Int4 => row
                    .try_get::<Option<i32>, _>(i)?
                    .map(|v| Value::Int(v.into())),
                PgType::Int8 => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                PgType::Bool => row
                    .try_get::<Option<bool>, _>(i)?
                    .map(|v| Value::Int(v.into())),
                PgType::Float4 => row
                    .try_get::<Option<f32>, _>(i)?
                    .map(|v| Value::Real(v.into())),
                PgType::Float8 => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
                PgType::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
                PgType::Bytea => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
            };
            Ok(value.unwrap_or(Value::Null))
        })
        .collect()
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Binds a source value as its target column's type. Only lossless pairs are
/// accepted; the error names the column and the types, never the value.
fn bind<'q>(
    query: PgQuery<'q>,
    value: Value,
    table: &Table,
    column: &Column,
) -> Result<PgQuery<'q>, CopyError> {
    use PgType::*;
    Ok(match (value, column.target) {
        (Value::Null, Int2 | Int4 | Int8) => query.bind(None::<i64>),
        (Value::Null, Bool) => query.bind(None::<bool>),
        (Value::Null, Float4 | Float8) => query.bind(None::<f64>),
        (Value::Null, Text) => query.bind(None::<String>),
        (Value::Null, Bytea) => query.bind(None::<Vec<u8>>),
        (Value::Int(v), Int2 | Int4 | Int8) => query.bind(v),
        (Value::Int(v @ (0 | 1)), Bool) => query.bind(v == 1),
        (Value::Real(v), Float4 | Float8) => query.bind(v),
        (Value::Text(v), Text) => query.bind(v),
        (Value::Blob(v), Bytea) => query.bind(v),
        (value, target) => {
            return Err(CopyError::Refused(format!(
            "{}.{}: a {} value does not fit the target's {target:?} column; nothing was committed",
            table.name,
            column.name,
            value.storage_class()
        )))
        }
    })
}

/// Copies one table in multi-row INSERTs; the checksum of what was read.
async fn copy_table(
    src: &mut SqliteConnection,
    dst: &mut PgConnection,
    table: &Table,
) -> Result<Checksum, CopyError> {
    let name = quoted(&table.name);
    let overriding = if table.columns.iter().any(|c| c.sequence) {
        // Identity columns are GENERATED ALWAYS: keep the source's ids.
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let head = format!(
        "INSERT INTO {name} ({}){overriding} VALUES ",
        column_list(table)
    );
    let mut sum = Checksum::default();
    let mut pages = Pages::new(table);
    while let Some(rows) = pages.next(src).await? {
        let mut sql = head.clone();
        let width = table.columns.len();
        for r in 0..rows.len() {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&super::placeholders(Engine::Postgres, r * width + 1, width));
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for row in &rows {
            let values = source_row(row, table)?;
            sum.add(&values);
            for (value, column) in values.into_iter().zip(&table.columns) {
                query = bind(query, value, table, column)?;
            }
        }
        query
            .execute(&mut *dst)
            .await
            .map_err(during(format!("writing the target's {}", table.name)))?;
    }
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {name}"))
        .fetch_one(&mut *src)
        .await
        .map_err(during(format!("counting the source's {}", table.name)))?;
    if count as u64 != sum.rows {
        return Err(CopyError::Mismatch {
            table: table.name.clone(),
            message: format!(
                "read {} of its {count} rows (rows in a parent cycle?)",
                sum.rows
            ),
        });
    }
    Ok(sum)
}

/// Moves each sequence past the ids copied (and past SQLite's AUTOINCREMENT
/// high-water mark), so the next insert does not collide.
async fn reset_sequences(dst: &mut PgConnection, tables: &[Table]) -> Result<(), CopyError> {
    for table in tables {
        for column in table.columns.iter().filter(|c| c.sequence) {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), \
                 GREATEST((SELECT COALESCE(MAX({}), 0) FROM {}), $3) + 1, false)",
                quoted(&column.name),
                quoted(&table.name)
            ))
            .bind(quoted(&table.name))
            .bind(&column.name)
            .bind(table.sequence_floor)
            .execute(&mut *dst)
            .await
            .map_err(during(format!(
                "resetting the sequence of {}.{}",
                table.name, column.name
            )))?;
        }
    }
    Ok(())
}

/// The checksum of a target table as the transaction sees it, read through
/// a cursor so a large table is never held in memory.
async fn target_sum(dst: &mut PgConnection, table: &Table) -> Result<Checksum, CopyError> {
    let reading = || during(format!("reading back the target's {}", table.name));
    sqlx::raw_sql(&format!(
        "DECLARE keyward_copy NO SCROLL CURSOR FOR SELECT {} FROM {}",
        column_list(table),
        quoted(&table.name)
    ))
    .execute(&mut *dst)
    .await
    .map_err(reading())?;
    let fetch = format!("FETCH FORWARD {VERIFY_ROWS} FROM keyward_copy");
    let mut sum = Checksum::default();
    loop {
        let rows = sqlx::raw_sql(&fetch)
            .fetch_all(&mut *dst)
            .await
            .map_err(reading())?;
        for row in &rows {
            sum.add(&target_row(row, table).map_err(reading())?);
        }
        if rows.len() < VERIFY_ROWS {
            break;
        }
    }
    sqlx::raw_sql("CLOSE keyward_copy")
        .execute(&mut *dst)
        .await
        .map_err(reading())?;
    Ok(sum)
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An identifier quoted for both engines.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, parents: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            self_ref: None,
            sequence_floor: 0,
        }
    }

    #[test]
    fn tables_come_after_the_tables_they_reference() {
        let order = copy_order(vec![
            table("api_keys", &["tenants"]),
            table("api_key_secrets", &["api_keys"]),
            table("audit_log", &[]),
            table("tenants", &["plans"]),
            table("plans", &[]),
        ])
        .unwrap();
        let names: Vec<&str> = order.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "audit_log",
                "plans",
                "tenants",
                "api_keys",
                "api_key_secrets"
            ]
        );
    }

    #[test]
    fn a_cycle_between_tables_is_refused_by_name() {
        let err = copy_order(vec![table("a", &["b"]), table("b", &["a"])]).unwrap_err();
        assert!(err.to_string().contains("a, b"), "{err}");
    }

    #[test]
    fn a_checksum_ignores_row_order_but_not_values_or_types() {
        let rows = [
            vec![Value::Int(1), Value::Text("a".into())],
            vec![Value::Int(2), Value::Null],
        ];
        let mut forward = Checksum::default();
        let mut backward = Checksum::default();
        for r in &rows {
            forward.add(r);
        }
        for r in rows.iter().rev() {
            backward.add(r);
        }
        assert_eq!(forward.hex(), backward.hex());

        let mut text = Checksum::default();
        text.add(&[Value::Text("1".into()), Value::Text("a".into())]);
        text.add(&[Value::Int(2), Value::Null]);
        assert_ne!(forward.hex(), text.hex(), "1 and '1' differ");

        let mut twice = Checksum::default();
        twice.add(&rows[0]);
        twice.add(&rows[0]);
        twice.rows = 2;
        assert_ne!(forward.hex(), twice.hex(), "a duplicate is not another row");
    }
}
