//! Opening the database and bringing its schema up to date (server, CLI, tests).

use kanjian_db::{DatabaseConfig, Db};
use kanjian_kernel::Clock;
use sea_orm::DbErr;

/// Opens `url` (see [`Db::connect`]) and applies every pending migration on the writer.
pub async fn connect_and_migrate(url: &str, config: &DatabaseConfig, clock: Clock) -> Result<Db, DbErr> {
    use sea_orm_migration::MigratorTrait;
    let db = Db::connect(url, config, clock).await?;
    crate::Migrator::up(db.writer(), None).await?;
    Ok(db)
}

/// A fresh, migrated database for one test, on the system clock.
#[cfg(feature = "testing")]
#[allow(clippy::expect_used)] // test support: failing loudly is the point
pub async fn migrated(database: &kanjian_db::testing::TestDatabase) -> Db {
    migrated_with_clock(database, Clock::system()).await
}

/// A fresh, migrated database for one test, reading time from `clock`.
#[cfg(feature = "testing")]
#[allow(clippy::expect_used)]
pub async fn migrated_with_clock(database: &kanjian_db::testing::TestDatabase, clock: Clock) -> Db {
    connect_and_migrate(&database.url, &DatabaseConfig::default(), clock)
        .await
        .expect("open and migrate the test database")
}
