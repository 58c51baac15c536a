//! The database section of the configuration (`[database]`, `KANJIAN_DATABASE__*`).

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://…`; unset means a SQLite file in the data dir.
    pub url: Option<SecretString>,
    /// PostgreSQL: the most connections in the pool (at least 2).
    pub max_connections: u32,
    /// PostgreSQL: connections kept open when idle.
    pub min_connections: u32,
    /// SQLite: read connections beside the one writer.
    pub sqlite_readers: u32,
    /// SQLite: how long a statement waits for a lock held by another process (`kanjian seed`,
    /// `kanjian migrate`) before it fails.
    pub sqlite_busy_timeout_ms: u64,
    /// How long a use case waits for a free connection before it fails.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            min_connections: 1,
            sqlite_readers: 4,
            sqlite_busy_timeout_ms: 10_000,
            acquire_timeout_secs: 30,
        }
    }
}
