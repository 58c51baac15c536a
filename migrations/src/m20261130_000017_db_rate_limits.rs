//! db: the rate limits every module shares (`kanjian_db::rate_limit`). One row per limited thing
//! (`<module>:<action>:<max>/<window>:<subject>`) with its GCRA arrival time in milliseconds
//! since the epoch; a row whose time has passed means the same as no row, and is pruned.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000017_db_rate_limits"
    }
}

#[derive(DeriveIden)]
enum DbRateLimits {
    Table,
    Name,
    TatMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DbRateLimits::Table)
                    .col(ColumnDef::new(DbRateLimits::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(DbRateLimits::TatMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by time.
        manager
            .create_index(
                Index::create()
                    .name("db_rate_limits_tat_ms")
                    .table(DbRateLimits::Table)
                    .col(DbRateLimits::TatMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DbRateLimits::Table).to_owned()).await
    }
}
