//! Opening the database the same way everywhere (server, CLI, tests).

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

/// `sqlite://path?mode=rwc` or `postgres://…`.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(true)
        .sqlx_logging_level(tracing::log::LevelFilter::Debug)
        .acquire_timeout(Duration::from_secs(30))
        // SQLite allows one writer; one connection avoids "database is locked" between our
        // own connections, and WAL keeps readers in other processes unblocked.
        .max_connections(if sqlite { 1 } else { max_connections.max(2) })
        .min_connections(1);
    let db = Database::connect(options).await?;
    if sqlite {
        for pragma in [
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA busy_timeout = 10000",
            "PRAGMA foreign_keys = ON",
        ] {
            db.execute_unprepared(pragma).await?;
        }
    }
    Ok(db)
}

/// Connects and brings the schema up to date.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    use sea_orm_migration::MigratorTrait;
    let db = connect(url, max_connections).await?;
    crate::Migrator::up(&db, None).await?;
    Ok(db)
}
