#![doc = include_str!("../README.md")]

pub mod bulk;
pub mod idempotency;
mod config;
pub mod keyset;
mod params;
pub mod rate_limit;
mod rule;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use kanjian_kernel::{Clock, Timestamp};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, Statement, TransactionTrait,
};

pub use config::DatabaseConfig;
pub use params::Params;
pub use rate_limit::{Limit, Rate};
pub use sea_orm::metric::Info as StatementInfo;

/// The database as a module sees it: where reads go, where writes go, and the clock. Cheap to
/// clone. `server` opens one and hands each module its own [`Db::for_module`] copy, which names
/// the module in the open-transaction rule (see [`Db::begin`]).
#[derive(Clone)]
pub struct Db {
    shared: Arc<Shared>,
    module: &'static str,
}

struct Shared {
    /// SQLite: the one writer connection. PostgreSQL: the pool.
    writer: DatabaseConnection,
    /// SQLite: a pool of WAL readers (`query_only`). PostgreSQL: the same pool as `writer`.
    reader: DatabaseConnection,
    clock: Clock,
    open: rule::OpenTransactions,
    /// When this node last pruned the rate limits (ms since the epoch, from the clock).
    rate_limits_pruned_at: std::sync::atomic::AtomicI64,
    /// When this node last pruned the idempotency keys past their 24 hours.
    idempotency_pruned_at: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens `url` (`sqlite://path?mode=rwc` or `postgres://…`). On SQLite: one writer and
    /// `config.sqlite_readers` WAL readers, every connection set up with the PRAGMAs as it is
    /// opened (so they survive recycling). No ping before each statement on either database.
    pub async fn connect(url: &str, config: &DatabaseConfig, clock: Clock) -> Result<Self, DbErr> {
        let (writer, reader) = if url.starts_with("sqlite:") {
            let writer = Database::connect(sqlite_options(url, config, 1, false)).await?;
            // The writer has made the file and switched it to WAL; readers open it next.
            let readers = config.sqlite_readers.max(1);
            let reader = Database::connect(sqlite_options(url, config, readers, true)).await?;
            (writer, reader)
        } else {
            let mut options = common_options(url, config);
            options
                .max_connections(config.max_connections.max(2))
                .min_connections(config.min_connections.min(config.max_connections));
            let pool = Database::connect(options).await?;
            (pool.clone(), pool)
        };
        Ok(Self {
            shared: Arc::new(Shared { writer, reader, clock, open: Default::default(), rate_limits_pruned_at: Default::default(), idempotency_pruned_at: Default::default() }),
            module: "server",
        })
    }

    /// Counts every statement through `callback`, on the writer and the readers. Call it before
    /// the first clone (it returns `false`, changing nothing, once the `Db` is shared).
    pub fn watch_statements<F>(&mut self, callback: F) -> bool
    where
        F: Fn(&StatementInfo<'_>) + Send + Sync + 'static,
    {
        let Some(shared) = Arc::get_mut(&mut self.shared) else { return false };
        let callback = Arc::new(callback);
        let on_writer = callback.clone();
        shared.writer.set_metric_callback(move |info| on_writer(info));
        if shared.writer.get_database_backend() == DbBackend::Sqlite {
            shared.reader.set_metric_callback(move |info| callback(info));
        } else {
            // One pool: the writer's callback already sees every statement.
            shared.reader = shared.writer.clone();
        }
        true
    }

    /// The same database, seen by `module` (the name the open-transaction rule reports).
    pub fn for_module(&self, module: &'static str) -> Self {
        Self { shared: self.shared.clone(), module }
    }

    pub fn module(&self) -> &'static str {
        self.module
    }

    /// For reads that need not see a write of the caller's that is still uncommitted: on SQLite
    /// a pool of readers beside the writer (WAL: a read sees everything committed before it
    /// began), on PostgreSQL the pool.
    pub fn reader(&self) -> &DatabaseConnection {
        self.shared.open.check(self.module);
        &self.shared.reader
    }

    /// For writes outside a transaction (one statement), and the few reads that must not run
    /// beside a writer (migrations, bulk loads).
    pub fn writer(&self) -> &DatabaseConnection {
        self.shared.open.check(self.module);
        &self.shared.writer
    }

    /// Begins a transaction on the writer. While it is open, this task may not touch another
    /// module's `Db`, which it only could by calling that module's API: with one SQLite writer a
    /// call that writes would wait on this transaction. Debug builds (every test) panic when a
    /// module breaks the rule; release builds log it as an error.
    pub async fn begin(&self) -> Result<Txn, DbErr> {
        self.shared.open.check(self.module);
        let txn = self.shared.writer.begin().await?;
        let open = self.shared.open.opened(self.module);
        Ok(Txn { txn, _open: open })
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Now, to the millisecond, from the clock.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// Now in milliseconds since the Unix epoch, from the clock.
    pub fn now_millis(&self) -> i64 {
        self.shared.clock.now_millis()
    }

    pub fn backend(&self) -> DbBackend {
        self.shared.writer.get_database_backend()
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend() == DbBackend::Sqlite
    }

    /// Closes the pools (tests that reopen the same database file, shutdown).
    pub async fn close(self) -> Result<(), DbErr> {
        let Shared { writer, reader, .. } = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            // Still shared: the last clone's drop closes the pools.
            Err(_) => return Ok(()),
        };
        if writer.get_database_backend() == DbBackend::Sqlite {
            reader.close().await?;
        }
        writer.close().await
    }
}

fn common_options(url: &str, config: &DatabaseConfig) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        // sqlx logs every statement at INFO otherwise; statements are counted in metrics.
        .sqlx_logging(true)
        .sqlx_logging_level(tracing::log::LevelFilter::Debug)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs.max(1)))
        // No round trip before each statement: a broken connection fails its statement and is
        // replaced; pinging every checkout doubled the statements of a cheap read.
        .test_before_acquire(false);
    options
}

fn sqlite_options(url: &str, config: &DatabaseConfig, connections: u32, reader: bool) -> ConnectOptions {
    let mut options = common_options(url, config);
    options.max_connections(connections).min_connections(1);
    let busy = Duration::from_millis(config.sqlite_busy_timeout_ms);
    // Applied by sqlx to every connection it opens, so they hold after a connection is recycled.
    options.map_sqlx_sqlite_opts(move |opts: SqliteConnectOptions| {
        let opts = opts
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy)
            .foreign_keys(true);
        if reader {
            // A reader that tried to write would take SQLite's write lock beside our writer.
            opts.pragma("query_only", "ON")
        } else {
            opts
        }
    });
    options
}

/// A transaction on the writer, counted as open for the rule in [`Db::begin`] until it is
/// committed, rolled back or dropped (dropping rolls back).
pub struct Txn {
    txn: DatabaseTransaction,
    _open: rule::OpenGuard,
}

impl Txn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Whether this node should do a periodic clean-up now: when `every_ms` have passed since
/// `last` (ms on the `Db`'s clock), and only for the one caller that moves `last` on.
fn due_now(last: &std::sync::atomic::AtomicI64, now: i64, every_ms: i64) -> bool {
    use std::sync::atomic::Ordering;
    let before = last.load(Ordering::Relaxed);
    now.saturating_sub(before) >= every_ms && last.compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}
