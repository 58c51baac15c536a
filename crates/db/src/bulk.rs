//! Bulk loading of many rows into one table, the fastest way each database offers: PostgreSQL's
//! `COPY … FROM STDIN` (text format, streamed in 1 MiB chunks), and on SQLite large multi-row
//! `INSERT`s with bound parameters (up to SQLite's 32 766 a statement) inside one transaction.
//!
//! The plumbing only: which rows go into which table is the business of the module that owns the
//! table (its `seed` module implements [`BulkRow`] for its own row types). Used by `kanjian seed`.
//!
//! A writer holds one connection for as long as it is open. On SQLite the pool has a single
//! connection, so open one writer at a time and make no other query until it is finished.

use std::fmt;
use std::sync::Arc;

use sea_orm::prelude::ChronoDateTimeUtc;
use sea_orm::sqlx;
use sea_orm::sqlx::Arguments as _;
use sea_orm::sqlx::postgres::PgPoolCopyExt as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

/// SQLite's limit on bound parameters in one statement.
const SQLITE_MAX_PARAMS: usize = 32_766;
/// Bytes buffered before a chunk is sent to `COPY`.
const COPY_CHUNK: usize = 1 << 20;

/// A row of one table, as its owning module writes it.
pub trait BulkRow: Send + Sync {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    /// Writes every column, in the order of [`BulkRow::COLUMNS`].
    fn write(&self, row: &mut RowWriter<'_>);
}

/// Why a bulk load failed.
#[derive(Debug)]
pub struct BulkError {
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BulkError {
    fn new(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
    fn msg(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }
}

impl fmt::Display for BulkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for BulkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub type BulkResult<T> = Result<T, BulkError>;

enum Sink<'a> {
    Copy(&'a mut Vec<u8>),
    Sqlite(&'a mut sqlx::sqlite::SqliteArguments),
}

/// Receives one row's columns in order; see [`BulkRow::write`].
pub struct RowWriter<'a> {
    sink: Sink<'a>,
    cols: usize,
    error: Option<String>,
}

impl RowWriter<'_> {
    fn copy_sep(&mut self) {
        if let Sink::Copy(buf) = &mut self.sink
            && self.cols > 0
        {
            buf.push(b'\t');
        }
        self.cols += 1;
    }

    fn bind<T>(&mut self, value: T)
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + 'static,
    {
        if let Sink::Sqlite(args) = &mut self.sink
            && let Err(e) = args.add(value)
        {
            self.error.get_or_insert_with(|| e.to_string());
        }
    }

    pub fn int(&mut self, value: i64) {
        self.copy_sep();
        match &mut self.sink {
            Sink::Copy(buf) => push_int(buf, value),
            Sink::Sqlite(_) => self.bind(value),
        }
    }

    pub fn bool(&mut self, value: bool) {
        self.copy_sep();
        match &mut self.sink {
            Sink::Copy(buf) => buf.push(if value { b't' } else { b'f' }),
            Sink::Sqlite(_) => self.bind(value),
        }
    }

    pub fn text(&mut self, value: &str) {
        self.copy_sep();
        match &mut self.sink {
            Sink::Copy(buf) => push_escaped(buf, value),
            Sink::Sqlite(_) => self.bind(value.to_owned()),
        }
    }

    /// A `timestamp with time zone`. On SQLite it is bound as chrono's `DateTime<Utc>`, so it is
    /// stored exactly as the application's own writes store it.
    pub fn time(&mut self, value: ChronoDateTimeUtc) {
        self.copy_sep();
        match &mut self.sink {
            Sink::Copy(buf) => push_time(buf, value),
            Sink::Sqlite(_) => self.bind(value),
        }
    }

    pub fn null(&mut self) {
        self.copy_sep();
        match &mut self.sink {
            Sink::Copy(buf) => buf.extend_from_slice(b"\\N"),
            Sink::Sqlite(_) => self.bind(Option::<i64>::None),
        }
    }

    pub fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    pub fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub fn opt_time(&mut self, value: Option<ChronoDateTimeUtc>) {
        match value {
            Some(v) => self.time(v),
            None => self.null(),
        }
    }
}

enum Target {
    Copy {
        copy: sqlx::postgres::PgCopyIn<sqlx::pool::PoolConnection<sqlx::Postgres>>,
        buf: Vec<u8>,
    },
    Sqlite {
        tx: sqlx::Transaction<'static, sqlx::Sqlite>,
        args: sqlx::sqlite::SqliteArguments,
        rows_per_statement: usize,
        pending: usize,
        full_sql: Arc<str>,
    },
}

/// Loads rows of one table: [`BulkWriter::begin`], [`BulkWriter::write`] as often as needed,
/// then [`BulkWriter::finish`]. Nothing is visible to others before `finish` on SQLite (one
/// transaction) and on PostgreSQL (one `COPY`); dropped unfinished, nothing is written.
pub struct BulkWriter<R: BulkRow> {
    target: Target,
    rows: u64,
    _row: std::marker::PhantomData<fn(&R)>,
}

fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(","));
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    sql.reserve(rows * (one.len() + 1));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&one);
    }
    sql
}

impl<R: BulkRow> BulkWriter<R> {
    /// Starts loading `R::TABLE`: a `COPY` on PostgreSQL, a transaction on SQLite.
    pub async fn begin(db: &DatabaseConnection) -> BulkResult<Self> {
        Self::begin_with(db, usize::MAX).await
    }

    /// As [`BulkWriter::begin`], with at most `sqlite_rows_cap` rows per multi-row `INSERT` on
    /// SQLite (otherwise as many as the parameter limit allows), to measure the best size.
    pub async fn begin_with(db: &DatabaseConnection, sqlite_rows_cap: usize) -> BulkResult<Self> {
        let target =
            match db.get_database_backend() {
                DbBackend::Postgres => {
                    let pool = db.get_postgres_connection_pool();
                    let sql = format!("COPY {} ({}) FROM STDIN", R::TABLE, R::COLUMNS.join(", "));
                    let copy = pool.copy_in_raw(&sql).await.map_err(|e| {
                        BulkError::new(format!("starting COPY into {}", R::TABLE), e)
                    })?;
                    Target::Copy {
                        copy,
                        buf: Vec::with_capacity(COPY_CHUNK + 4096),
                    }
                }
                DbBackend::Sqlite => {
                    let pool = db.get_sqlite_connection_pool();
                    let tx = pool.begin().await.map_err(|e| {
                        BulkError::new(format!("beginning a load of {}", R::TABLE), e)
                    })?;
                    let rows_per_statement = (SQLITE_MAX_PARAMS / R::COLUMNS.len().max(1))
                        .clamp(1, sqlite_rows_cap.max(1));
                    Target::Sqlite {
                        tx,
                        args: sqlx::sqlite::SqliteArguments::default(),
                        rows_per_statement,
                        pending: 0,
                        full_sql: insert_sql(R::TABLE, R::COLUMNS, rows_per_statement).into(),
                    }
                }
                other => {
                    return Err(BulkError::msg(format!(
                        "bulk loading is not supported on {other:?}"
                    )));
                }
            };
        Ok(Self {
            target,
            rows: 0,
            _row: std::marker::PhantomData,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub async fn write(&mut self, rows: &[R]) -> BulkResult<()> {
        for row in rows {
            self.write_one(row).await?;
        }
        Ok(())
    }

    pub async fn write_one(&mut self, row: &R) -> BulkResult<()> {
        let mut writer = RowWriter {
            sink: match &mut self.target {
                Target::Copy { buf, .. } => Sink::Copy(buf),
                Target::Sqlite { args, .. } => Sink::Sqlite(args),
            },
            cols: 0,
            error: None,
        };
        row.write(&mut writer);
        let (cols, error) = (writer.cols, writer.error);
        if let Some(e) = error {
            return Err(BulkError::msg(format!(
                "encoding a row of {}: {e}",
                R::TABLE
            )));
        }
        if cols != R::COLUMNS.len() {
            return Err(BulkError::msg(format!(
                "a row of {} has {cols} values for {} columns",
                R::TABLE,
                R::COLUMNS.len()
            )));
        }
        self.rows += 1;
        match &mut self.target {
            Target::Copy { copy, buf } => {
                buf.push(b'\n');
                if buf.len() >= COPY_CHUNK {
                    let chunk = std::mem::replace(buf, Vec::with_capacity(COPY_CHUNK + 4096));
                    copy.send(chunk)
                        .await
                        .map_err(|e| BulkError::new(format!("copying into {}", R::TABLE), e))?;
                }
            }
            Target::Sqlite {
                tx,
                args,
                rows_per_statement,
                pending,
                full_sql,
            } => {
                *pending += 1;
                if *pending == *rows_per_statement {
                    let args = std::mem::take(args);
                    *pending = 0;
                    sqlx::query_with(sqlx::AssertSqlSafe(full_sql.clone()), args)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| BulkError::new(format!("inserting into {}", R::TABLE), e))?;
                }
            }
        }
        Ok(())
    }

    /// Sends what is buffered and commits; returns the number of rows written.
    pub async fn finish(self) -> BulkResult<u64> {
        match self.target {
            Target::Copy { mut copy, buf } => {
                if !buf.is_empty() {
                    copy.send(buf)
                        .await
                        .map_err(|e| BulkError::new(format!("copying into {}", R::TABLE), e))?;
                }
                copy.finish()
                    .await
                    .map_err(|e| BulkError::new(format!("finishing COPY into {}", R::TABLE), e))?;
            }
            Target::Sqlite {
                mut tx,
                args,
                pending,
                ..
            } => {
                if pending > 0 {
                    let sql = insert_sql(R::TABLE, R::COLUMNS, pending);
                    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| BulkError::new(format!("inserting into {}", R::TABLE), e))?;
                }
                tx.commit().await.map_err(|e| {
                    BulkError::new(format!("committing the load of {}", R::TABLE), e)
                })?;
            }
        }
        Ok(self.rows)
    }
}

/// Writes all `rows` into their table in one go.
pub async fn write_all<R: BulkRow>(db: &DatabaseConnection, rows: &[R]) -> BulkResult<u64> {
    let mut writer = BulkWriter::<R>::begin(db).await?;
    writer.write(rows).await?;
    writer.finish().await
}

/// After loading explicit ids into `table.column` on PostgreSQL, moves its sequence past the
/// largest id so the application's own inserts do not collide. SQLite needs nothing: it keeps
/// track of the largest rowid itself.
pub async fn reset_sequence(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        ))
        .await?;
    }
    Ok(())
}

/// Refreshes the planner's statistics of freshly loaded tables (`ANALYZE`).
pub async fn analyze(db: &DatabaseConnection, tables: &[&str]) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(&format!("ANALYZE {}", tables.join(", ")))
                .await?;
        }
        _ => {
            for table in tables {
                db.execute_unprepared(&format!("ANALYZE {table}")).await?;
            }
        }
    }
    Ok(())
}

fn push_int(buf: &mut Vec<u8>, value: i64) {
    let mut tmp = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_padded(buf: &mut Vec<u8>, value: u32, width: usize) {
    let mut tmp = [b'0'; 10];
    let mut n = value;
    for slot in tmp[10 - width..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.extend_from_slice(&tmp[10 - width..]);
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn push_escaped(buf: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]+00`, without chrono's formatting machinery (hot path).
fn push_time(buf: &mut Vec<u8>, value: ChronoDateTimeUtc) {
    let secs = value.timestamp();
    let micros = value.timestamp_subsec_micros();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    push_int(buf, year);
    buf.push(b'-');
    push_padded(buf, month, 2);
    buf.push(b'-');
    push_padded(buf, day, 2);
    buf.push(b' ');
    push_padded(buf, rem / 3600, 2);
    buf.push(b':');
    push_padded(buf, rem / 60 % 60, 2);
    buf.push(b':');
    push_padded(buf, rem % 60, 2);
    if micros > 0 {
        buf.push(b'.');
        push_padded(buf, micros, 6);
    }
    buf.extend_from_slice(b"+00");
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::prelude::ChronoDateTimeUtc;

    fn time_text(t: ChronoDateTimeUtc) -> String {
        let mut buf = Vec::new();
        push_time(&mut buf, t);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn times_format_like_postgres_text() {
        for secs in [
            0i64,
            951_782_400,
            1_700_000_000,
            1_798_761_599,
            4_102_444_800,
        ] {
            for micros in [0u32, 1, 123_456] {
                let t = ChronoDateTimeUtc::from_timestamp(secs, micros * 1000).unwrap();
                let expected = if micros == 0 {
                    t.format("%Y-%m-%d %H:%M:%S+00").to_string()
                } else {
                    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
                };
                assert_eq!(time_text(t), expected);
            }
        }
    }

    #[test]
    fn text_is_escaped_for_copy() {
        let mut buf = Vec::new();
        push_escaped(&mut buf, "a\tb\\c\nd\re 王");
        assert_eq!(String::from_utf8(buf).unwrap(), "a\\tb\\\\c\\nd\\re 王");
        let mut buf = Vec::new();
        for v in [0, -1, 42, i64::MAX, i64::MIN] {
            push_int(&mut buf, v);
            buf.push(b' ');
        }
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            format!("0 -1 42 {} {} ", i64::MAX, i64::MIN)
        );
    }
}
