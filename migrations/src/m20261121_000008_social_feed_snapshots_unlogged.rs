//! social: ranking snapshots become a cache the database need not make durable.
//!
//! Storing a snapshot is on every first page's critical path. On PostgreSQL the table becomes
//! `UNLOGGED`: its inserts write no WAL, so each one commits in a single round trip without
//! waiting for a WAL flush. A crash empties the table, which only expires the cursors handed
//! out before it (`CURSOR_EXPIRED`: the client loads the first page again), and the table is
//! not copied to streaming replicas, which never serve it.
//!
//! Ids are made by the application (time-ordered, with random low bits) instead of a sequence:
//! an unlogged sequence restarts after a crash, and a restarted sequence would hand an old
//! cursor's id to a new snapshot. The table is recreated empty: snapshots live minutes, so
//! this expires only the cursors of the moment of the upgrade.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000008_social_feed_snapshots_unlogged"
    }
}

#[derive(DeriveIden)]
enum SocialFeedSnapshots {
    Table,
    Id,
    ViewerId,
    Feed,
    Items,
    CreatedAt,
}

const CREATED_INDEX: &str = "idx_social_feed_snapshots_created";

/// The snapshot table, with the primary key either made by the application or by the database.
fn create_table(app_made_ids: bool) -> TableCreateStatement {
    let mut id = ColumnDef::new(SocialFeedSnapshots::Id);
    id.big_integer().not_null().primary_key();
    if !app_made_ids {
        id.auto_increment();
    }
    Table::create()
        .table(SocialFeedSnapshots::Table)
        .col(id)
        // NULL for anonymous viewers of Recommended.
        .col(ColumnDef::new(SocialFeedSnapshots::ViewerId).big_integer().null())
        // 1 = Friends, 2 = Recommended
        .col(ColumnDef::new(SocialFeedSnapshots::Feed).small_integer().not_null())
        // The ranked items, JSON.
        .col(ColumnDef::new(SocialFeedSnapshots::Items).text().not_null())
        .col(
            ColumnDef::new(SocialFeedSnapshots::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

async fn recreate(manager: &SchemaManager<'_>, app_made_ids: bool) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(SocialFeedSnapshots::Table).if_exists().to_owned())
        .await?;
    manager.create_table(create_table(app_made_ids)).await?;
    manager
        .create_index(
            Index::create()
                .name(CREATED_INDEX)
                .table(SocialFeedSnapshots::Table)
                .col(SocialFeedSnapshots::CreatedAt)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, true).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            // Empty, so this rewrites nothing; the primary key and index follow the table.
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE social_feed_snapshots SET UNLOGGED")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, false).await
    }
}
