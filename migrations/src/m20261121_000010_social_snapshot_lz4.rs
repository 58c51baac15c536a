//! social: ranking snapshots are compressed with lz4 instead of pglz on PostgreSQL.
//!
//! A snapshot's items (about 13 KB of JSON for 300 ranked items) are compressed as they are
//! stored, on every first page's critical path. Measured on the bench world (2 000 real
//! snapshots): pglz, PostgreSQL's default, took 0.4–0.6 ms a snapshot (6 % of the database's
//! CPU on Friends first pages, by perf); lz4 takes 0.09 ms for 7.7 KB on disk instead of
//! 6.6 KB. Storing them uncompressed (storage `EXTERNAL`) would save another 0.02 ms at 14 KB
//! each, and snapshots pile up for hours.
//!
//! lz4 is optional when PostgreSQL is built (Debian's packages and the official images have
//! it): a server without it keeps pglz. Snapshots stored before keep their compression; they
//! expire within hours. SQLite stores the text as it is, so there is nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000010_social_snapshot_lz4"
    }
}

/// Whether this PostgreSQL server was built with lz4.
async fn has_lz4(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<bool>(0)?,
        None => false,
    })
}

async fn set_compression(manager: &SchemaManager<'_>, method: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE social_feed_snapshots ALTER COLUMN items SET COMPRESSION {method}"
        ))
        .await
        .map(|_| ())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres && has_lz4(manager).await? {
            set_compression(manager, "lz4").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            // Back to the server's default_toast_compression (pglz unless configured).
            set_compression(manager, "default").await?;
        }
        Ok(())
    }
}
