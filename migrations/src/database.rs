//! Opening the database and bringing its schema up to date (server, CLI, tests).

use kanjian_db::{DatabaseConfig, Db};
use kanjian_kernel::Clock;
use sea_orm::DbErr;

use sea_orm_migration::MigratorTrait;

/// Opens `url` (see [`Db::connect`]) and applies the history `M` gives. The server's is
/// `AllMigrations` (this crate's and every module's own); a database the server migrated must
/// only be opened with it, or the modules' applied migrations look missing.
pub async fn connect_and_migrate_with<M: MigratorTrait>(
    url: &str,
    config: &DatabaseConfig,
    clock: Clock,
) -> Result<Db, DbErr> {
    let db = Db::connect(url, config, clock).await?;
    M::up(db.writer(), None).await?;
    Ok(db)
}

/// A fresh database for one test with this crate's migrations (no module's own), on the system
/// clock.
#[cfg(feature = "testing")]
#[allow(clippy::expect_used)] // test support: failing loudly is the point
pub async fn migrated(database: &kanjian_db::testing::TestDatabase) -> Db {
    migrated_with_clock(database, Clock::system()).await
}

/// A fresh, migrated database for one test, reading time from `clock`.
#[cfg(feature = "testing")]
#[allow(clippy::expect_used)]
pub async fn migrated_with_clock(database: &kanjian_db::testing::TestDatabase, clock: Clock) -> Db {
    connect_and_migrate_with::<crate::Migrator>(&database.url, &DatabaseConfig::default(), clock)
        .await
        .expect("open and migrate the test database")
}
